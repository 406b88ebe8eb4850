"""PoseVisualizationHook: MMPose's hook name and arguments over the shared :class:`VisualizationHook`.

Top-down test samples are one person each, so several samples share an image: each test picture is written as
``<image stem>_<annotation id>.png`` (``id`` metainfo; a running index when absent) instead of ``<stem>.png``,
so the persons of one image do not overwrite each other.
"""
from __future__ import annotations

from pathlib import Path

from visioncraft.engine.hooks.visualization_hook import VisualizationHook, _resolve, sample_image
from visioncraft.registry import HOOKS

__all__ = ['PoseVisualizationHook']


@HOOKS.register_module(['PoseVisualizationHook', 'mmpose.PoseVisualizationHook'])
class PoseVisualizationHook(VisualizationHook):
    """Args: those of :class:`VisualizationHook`, plus MMPose's ``enable`` (= ``draw``) and ``kpt_thr``
    (= ``score_thr``: keypoints scoring below it are not drawn). ``backend_args`` is accepted and ignored."""

    def __init__(self, draw: bool = False, interval: int = 50, score_thr: float | None = None, show: bool = False,
                 wait_time: float = 0.0, test_out_dir: str | None = None, out_dir: str | None = None, *,
                 enable: bool = False, kpt_thr: float | None = None, backend_args: dict | None = None) -> None:
        if score_thr is None:
            score_thr = 0.3 if kpt_thr is None else kpt_thr
        super().__init__(draw=draw or enable, interval=interval, score_thr=float(score_thr), show=show,
                         wait_time=wait_time, test_out_dir=test_out_dir, out_dir=out_dir)

    def after_test_iter(self, runner, batch_idx, data_batch=None, outputs=None) -> None:
        if not self.draw or not outputs:
            return
        out_dir = _resolve(runner, self.test_out_dir) if self.test_out_dir else None
        for i, sample in enumerate(outputs):
            self._test_index += 1
            img = sample_image(sample, data_batch, i)
            if img is None:
                continue
            stem = Path(sample.metainfo.get('img_path') or f'test_{self._test_index}').stem
            inst = sample.metainfo.get('id')
            name = f'{stem}_{inst if inst is not None else self._test_index}'
            out_file = out_dir / f'{name}.png' if out_dir else None
            runner.visualizer.add_datasample(f'test_img/{name}', img, sample, show=self.show,
                                             wait_time=self.wait_time, out_file=out_file,
                                             pred_score_thr=self.score_thr, step=self._test_index)
