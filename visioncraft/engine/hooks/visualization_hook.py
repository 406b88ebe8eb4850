"""VisualizationHook: draw predictions during validation and testing (``--show``, ``--show-dir``)."""
from __future__ import annotations

from pathlib import Path

import numpy as np

from ...fileio.backend import check_backend_args
from ...fileio.image import imread
from ...config.checks import check_int, key_path
from ...registry import HOOKS
from .hook import Hook, Priority

__all__ = ['VisualizationHook', 'sample_image']


def sample_image(data_sample, data_batch, i: int) -> np.ndarray | None:
    """The picture for sample ``i``: read from its ``img_path``, else taken from the batch's inputs."""
    path = data_sample.metainfo.get('img_path') if hasattr(data_sample, 'metainfo') else None
    if path:
        img = imread(path)
        if img is not None:
            return img[..., ::-1]
    inputs = data_batch.get('inputs') if isinstance(data_batch, dict) else None
    if inputs is None:
        return None
    x = inputs[i]
    arr = x.detach().cpu().numpy() if hasattr(x, 'detach') else np.asarray(x)
    if arr.ndim == 3 and arr.shape[0] in (1, 3):
        arr = arr.transpose(1, 2, 0)
    if arr.shape[-1] == 1:
        arr = np.repeat(arr, 3, axis=-1)
    if arr.dtype != np.uint8:
        arr = np.clip(arr, 0, 255).astype(np.uint8)
    return arr[..., ::-1].copy()  # the pipeline keeps OpenCV's BGR order


def _resolve(runner, path: str) -> Path:
    p = Path(path)
    return p if p.is_absolute() else Path(runner.log_dir) / p


@HOOKS.register_module()
class VisualizationHook(Hook):
    """Args:
        draw: draw at all (the CLI's ``--show`` / ``--show-dir`` turn it on).
        interval: during validation, draw the first sample of every ``interval``-th batch.
        show: show each picture in a window (needs a display).
        wait_time: seconds a shown picture stays (0: wait for a key).
        test_out_dir: during testing, write every picture to ``<log_dir>/<test_out_dir>/`` (or this path
            when absolute).
        out_dir: during validation, write the pictures there too (same path rule) instead of to the
            visualizer's backends.
        score_thr: passed to the visualizer (detections under it are not drawn).
        enable: MMOCR's and MMPose's name for ``draw`` (either turns drawing on).
        draw_gt, draw_pred: draw the ground truth / the predictions (MMOCR's arguments; both by default).
        backend_args: the file backend the images are read with (MMDetection / MMOCR): None or the local backend
            (``dict(backend='local')``); any other backend is an error naming it.
    """

    priority = Priority.NORMAL

    def __init__(self, draw: bool = False, interval: int = 50, score_thr: float = 0.3, show: bool = False,
                 wait_time: float = 0.0, test_out_dir: str | None = None, out_dir: str | None = None, *,
                 enable: bool = False, draw_gt: bool = True, draw_pred: bool = True,
                 backend_args: dict | None = None) -> None:
        check_backend_args(backend_args, type(self).__name__)
        self.draw = draw or enable or show or bool(test_out_dir) or bool(out_dir)
        self.draw_gt = bool(draw_gt)
        self.draw_pred = bool(draw_pred)
        self.out_dir = out_dir
        self.interval = check_int(interval, key_path('interval', 'VisualizationHook'), low=1)
        self.score_thr = score_thr
        self.show = show
        self.wait_time = wait_time
        self.test_out_dir = test_out_dir
        self._test_index = 0

    def after_val_iter(self, runner, batch_idx, data_batch=None, outputs=None) -> None:
        if not self.draw or batch_idx % self.interval != 0 or not outputs:
            return
        img = sample_image(outputs[0], data_batch, 0)
        if img is None:
            return
        name = Path(outputs[0].metainfo.get('img_path', f'val_{batch_idx}')).stem
        out_file = _resolve(runner, self.out_dir) / f'{name}_{runner.iter}.png' if self.out_dir else None
        runner.visualizer.add_datasample(f'val_img/{name}', img, outputs[0], show=self.show,
                                         wait_time=self.wait_time, out_file=out_file,
                                         pred_score_thr=self.score_thr, step=runner.iter,
                                         draw_gt=self.draw_gt, draw_pred=self.draw_pred)

    def test_picture_name(self, sample) -> str:
        """The test picture's file name (no suffix): the image's stem (``test_N`` without an image path)."""
        return Path(sample.metainfo.get('img_path') or f'test_{self._test_index}').stem

    def after_test_iter(self, runner, batch_idx, data_batch=None, outputs=None) -> None:
        if not self.draw or not outputs:
            return
        out_dir = _resolve(runner, self.test_out_dir) if self.test_out_dir else None
        for i, sample in enumerate(outputs):
            self._test_index += 1
            img = sample_image(sample, data_batch, i)
            if img is None:
                continue
            stem = self.test_picture_name(sample)
            out_file = out_dir / f'{stem}.png' if out_dir else None
            runner.visualizer.add_datasample(f'test_img/{stem}', img, sample, show=self.show,
                                             wait_time=self.wait_time, out_file=out_file,
                                             pred_score_thr=self.score_thr, step=self._test_index,
                                             draw_gt=self.draw_gt, draw_pred=self.draw_pred)
