"""Pose visualizer: skeletons with keypoint scores."""
