"""Drawing detection and instance-segmentation samples."""
from .det_visualization_hook import DetVisualizationHook
from .det_visualizer import DetLocalVisualizer, show_result

__all__ = ['DetLocalVisualizer', 'DetVisualizationHook', 'show_result']
