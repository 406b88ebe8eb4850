"""Pose visualizer: skeletons with keypoint scores."""
from .pose_visualization_hook import PoseVisualizationHook
from .pose_visualizer import SKELETON_STYLES, PoseLocalVisualizer, heatmaps_to_image

__all__ = ['PoseLocalVisualizer', 'PoseVisualizationHook', 'heatmaps_to_image', 'SKELETON_STYLES']
