"""Text-detection visualizer."""
from .textdet_visualizer import TextDetLocalVisualizer  # noqa: F401
