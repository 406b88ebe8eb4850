"""Visualizer: sends scalars and images to its backends, and draws data samples.

Task visualizers subclass :class:`Visualizer` and override :meth:`draw_sample` (boxes, polygons,
keypoints...). The base one writes the ground-truth and predicted labels on the image.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from ..fileio.image import imwrite
from ..registry import VISBACKENDS, VISUALIZERS
from ..structures import DataSample, to_numpy

__all__ = ['Visualizer', 'to_numpy', 'rgb_uint8', 'draw_polygons']


def draw_polygons(img: np.ndarray, polygons: Any, color: tuple, thickness: int = 2, *, scale: Any = None,
                  line_type: int | None = None) -> np.ndarray:
    """Draw closed ``polygons`` (each a flat or N x 2 sequence of x, y pixels; a tensor works too) on ``img`` in
    place and return it. Vertices are multiplied by ``scale`` (a number or (sx, sy)) when given and rounded to
    the nearest pixel (half to even); ``line_type`` is OpenCV's (default ``cv2.LINE_8``)."""
    import cv2  # OpenCV loads on the first drawing, not with the package
    color = tuple(int(v) for v in color)
    for p in polygons:
        xy = to_numpy(p).astype(np.float64).reshape(-1, 2)
        if scale is not None:
            xy = xy * scale
        cv2.polylines(img, [np.rint(xy).astype(np.int32)], True, color, int(thickness),
                      cv2.LINE_8 if line_type is None else line_type)
    return img


def rgb_uint8(image: Any, who: str) -> np.ndarray:
    """An image to draw on: H x W x 3 uint8, C-contiguous (grey is repeated to 3 channels, an alpha channel
    dropped, other dtypes clipped to 0..255). Anything else is an error naming ``who``."""
    img = to_numpy(image)
    if img.ndim == 2:
        img = np.repeat(img[..., None], 3, axis=-1)
    if img.ndim != 3 or img.shape[-1] not in (3, 4):
        raise ValueError(f'{who}: expected an H x W x 3 RGB image, got shape {img.shape}')
    img = img[..., :3]
    if img.dtype != np.uint8:
        img = np.clip(img, 0, 255).astype(np.uint8)
    return np.ascontiguousarray(img)


@VISUALIZERS.register_module()
class Visualizer:
    """Args:
        vis_backends: backend configs, e.g. ``[dict(type='LocalVisBackend'), dict(type='TensorboardVisBackend')]``.
        save_dir: the backends' folder (the runner sets ``<log_dir>/vis_data``).
        name: for messages.
    """

    def __init__(self, vis_backends: list[dict] | None = None, save_dir: str | Path | None = None,
                 name: str = 'visualizer') -> None:
        self.name = name
        self.backends = [VISBACKENDS.build(b, key_path=f'visualizer.vis_backends.{i}')
                         for i, b in enumerate(vis_backends or [])]
        self.dataset_meta: dict[str, Any] = {}
        self._warned_show = False
        if save_dir is not None:
            self.set_save_dir(save_dir)

    def set_save_dir(self, save_dir: str | Path) -> None:
        for b in self.backends:
            b.set_save_dir(save_dir)

    def add_config(self, config_text: str) -> None:
        for b in self.backends:
            b.add_config(config_text)

    def add_scalars(self, scalars: dict[str, float], step: int = 0) -> None:
        for b in self.backends:
            b.add_scalars(scalars, step)

    def add_image(self, name: str, image: np.ndarray, step: int = 0) -> None:
        """``image``: HxWx3 uint8 RGB."""
        for b in self.backends:
            b.add_image(name, image, step)

    def close(self) -> None:
        for b in self.backends:
            b.close()

    # -- drawing --------------------------------------------------------------------------------
    def _label_name(self, label: Any) -> str:
        idx = int(label.item() if hasattr(label, 'item') else label)
        classes = self.dataset_meta.get('classes')
        return classes[idx] if classes and 0 <= idx < len(classes) else str(idx)

    def draw_sample(self, image: np.ndarray, data_sample: DataSample | None, *, draw_gt: bool = True,
                    draw_pred: bool = True, pred_score_thr: float = 0.3) -> np.ndarray:
        """Return a copy of ``image`` (HxWx3 uint8 RGB) with the sample's labels drawn on it."""
        import cv2
        img = np.ascontiguousarray(image.copy())
        scale = max(img.shape[0], img.shape[1]) / 256
        if scale < 1:  # small images: enlarge so the text is readable
            f = int(np.ceil(1 / scale))
            img = cv2.resize(img, (img.shape[1] * f, img.shape[0] * f), interpolation=cv2.INTER_NEAREST)
        lines = int(draw_gt and data_sample is not None and 'gt_label' in data_sample) + \
            int(draw_pred and data_sample is not None and 'pred_label' in data_sample)
        if lines:  # a dark strip keeps the text readable on any background
            img[:4 + 16 * lines] = (img[:4 + 16 * lines] * 0.35).astype(img.dtype)
        y = 14
        if draw_gt and data_sample is not None and 'gt_label' in data_sample:
            cv2.putText(img, f'gt: {self._label_name(data_sample.gt_label)}', (2, y), cv2.FONT_HERSHEY_SIMPLEX,
                        0.45, (80, 255, 80), 1, cv2.LINE_AA)
            y += 16
        if draw_pred and data_sample is not None and 'pred_label' in data_sample:
            text = f'pred: {self._label_name(data_sample.pred_label)}'
            if 'pred_score' in data_sample:
                score = data_sample.pred_score
                score = float(score.max()) if hasattr(score, 'max') else float(score)
                text += f' {score:.2f}'
            cv2.putText(img, text, (2, y), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (255, 90, 90), 1, cv2.LINE_AA)
        return img

    def show(self, image: np.ndarray, win_name: str = 'image', wait_time: float = 0) -> None:
        """Show an RGB image in a window; without a display, warn once and return."""
        import cv2
        if not os.environ.get('DISPLAY') and not os.environ.get('WAYLAND_DISPLAY'):
            if not self._warned_show:
                import logging
                logging.getLogger('visioncraft').warning(
                    '--show needs a display, and none is set (DISPLAY is empty): use --show-dir DIR to '
                    'write the pictures to files instead')
                self._warned_show = True
            return
        try:
            cv2.imshow(win_name, image[..., ::-1])
            cv2.waitKey(max(int(wait_time * 1000), 1) if wait_time > 0 else 0)
        except cv2.error as exc:
            if not self._warned_show:
                import logging
                logging.getLogger('visioncraft').warning(
                    f'cannot open a window ({exc.msg.strip()}); opencv-python-headless has no GUI. '
                    'Use --show-dir DIR, or install opencv-python for windows.')
                self._warned_show = True

    def add_datasample(self, name: str, image: np.ndarray, data_sample: DataSample | None = None, *,
                       draw_gt: bool = True, draw_pred: bool = True, show: bool = False, wait_time: float = 0,
                       out_file: str | Path | None = None, pred_score_thr: float = 0.3, step: int = 0) -> np.ndarray:
        """Draw ``data_sample`` on ``image``; show it, write it to ``out_file``, or else to the backends."""
        drawn = self.draw_sample(image, data_sample, draw_gt=draw_gt, draw_pred=draw_pred,
                                 pred_score_thr=pred_score_thr)
        if show:
            self.show(drawn, win_name=name, wait_time=wait_time)
        if out_file is not None:
            imwrite(out_file, np.ascontiguousarray(drawn[..., ::-1]), type(self).__name__)
        elif not show:
            self.add_image(name, drawn, step)
        return drawn
