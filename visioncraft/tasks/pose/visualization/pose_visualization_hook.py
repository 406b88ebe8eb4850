"""PoseVisualizationHook: MMPose's hook name and arguments over the shared :class:`VisualizationHook`.

Top-down test samples are one person each, so several samples share an image: each test picture is written as
``<image stem>_<annotation id>.png`` (``id`` metainfo; a running index when absent) instead of ``<stem>.png``,
so the persons of one image do not overwrite each other.
"""
from __future__ import annotations

from visioncraft.engine.hooks.visualization_hook import VisualizationHook
from visioncraft.registry import HOOKS

__all__ = ['PoseVisualizationHook']


@HOOKS.register_module(['PoseVisualizationHook', 'mmpose.PoseVisualizationHook'])
class PoseVisualizationHook(VisualizationHook):
    """Args: those of :class:`VisualizationHook`, plus MMPose's ``enable`` (= ``draw``) and ``kpt_thr``
    (= ``score_thr``: keypoints scoring below it are not drawn). ``backend_args``: as for :class:`VisualizationHook` (local files only)."""

    def __init__(self, draw: bool = False, interval: int = 50, score_thr: float | None = None, show: bool = False,
                 wait_time: float = 0.0, test_out_dir: str | None = None, out_dir: str | None = None, *,
                 enable: bool = False, kpt_thr: float | None = None, backend_args: dict | None = None) -> None:
        if score_thr is None:
            score_thr = 0.3 if kpt_thr is None else kpt_thr
        super().__init__(draw=draw or enable, interval=interval, score_thr=float(score_thr), show=show,
                         wait_time=wait_time, test_out_dir=test_out_dir, out_dir=out_dir, backend_args=backend_args)

    def test_picture_name(self, sample) -> str:
        """``<image stem>_<annotation id>``: a top-down sample is one person, and an image holds several."""
        inst = sample.metainfo.get('id')
        return f'{super().test_picture_name(sample)}_{inst if inst is not None else self._test_index}'
