"""Text-recognition visualizer."""
from .textrecog_visualizer import TextRecogLocalVisualizer  # noqa: F401
