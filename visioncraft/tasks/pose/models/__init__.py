"""Pose models: top-down estimator, heads, losses, backbones (HRNet, CSPNeXt)."""
