"""DetVisualizationHook: MMDetection 3.x's name for the shared :class:`VisualizationHook` (its default runtime
lists it). The arguments are the same (``draw``, ``interval``, ``score_thr``, ``show``, ``wait_time``,
``test_out_dir``, ``backend_args``)."""
from __future__ import annotations

from visioncraft.engine.hooks.visualization_hook import VisualizationHook
from visioncraft.registry import HOOKS

__all__ = ['DetVisualizationHook']


@HOOKS.register_module(['DetVisualizationHook', 'mmdet.DetVisualizationHook'])
class DetVisualizationHook(VisualizationHook):
    """:class:`VisualizationHook` under MMDetection's name: draws detections scoring at least ``score_thr``."""
