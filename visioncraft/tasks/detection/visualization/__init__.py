"""Drawing detection and instance-segmentation samples."""
from .det_visualizer import DetLocalVisualizer, show_result

__all__ = ['DetLocalVisualizer', 'show_result']
