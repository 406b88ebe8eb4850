"""TextRecogLocalVisualizer: a word image with its ground-truth and predicted text written under it."""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from visioncraft.registry import VISUALIZERS
from visioncraft.structures import DataSample
from visioncraft.visualization import Visualizer

__all__ = ['TextRecogLocalVisualizer']


@VISUALIZERS.register_module()
class TextRecogLocalVisualizer(Visualizer):
    """Draws a text-recognition :class:`DataSample`: the word image (H x W x 3 uint8 RGB, or H x W grey), enlarged
    to ``min_height`` pixels high, above one strip per text: ``gt_text`` in ``gt_color`` and ``pred_text`` with
    its ``pred_score`` in ``pred_color`` (the image is widened when a text needs more room). Texts are drawn with
    OpenCV's Hershey font, so characters outside ASCII show as '?'."""

    def __init__(self, vis_backends: list[dict] | None = None, save_dir: str | Path | None = None,
                 name: str = 'visualizer', *, gt_color: Sequence[int] = (0, 160, 0),
                 pred_color: Sequence[int] = (220, 0, 0), min_height: int = 64) -> None:
        super().__init__(vis_backends=vis_backends, save_dir=save_dir, name=name)
        self.gt_color, self.pred_color, self.min_height = tuple(gt_color), tuple(pred_color), int(min_height)

    def draw_sample(self, image: np.ndarray, data_sample: DataSample | None, *, draw_gt: bool = True,
                    draw_pred: bool = True, pred_score_thr: float = 0.0) -> np.ndarray:
        """Return the drawing (uint8 RGB, (image height + 24 per text) x max(width, text width))."""
        import cv2
        img = np.asarray(image)
        if img.ndim == 2:
            img = np.repeat(img[..., None], 3, axis=-1)
        if img.ndim != 3 or img.shape[2] < 3:
            raise ValueError(f'TextRecogLocalVisualizer: expected an H x W (x 3) image, got shape {img.shape}')
        img = np.ascontiguousarray(np.clip(img[..., :3], 0, 255).astype(np.uint8))
        h, w = img.shape[:2]
        if 0 < h < self.min_height:
            f = self.min_height / h
            img = cv2.resize(img, (max(1, round(w * f)), self.min_height), interpolation=cv2.INTER_LINEAR)
        lines = []
        sample = DataSample() if data_sample is None else data_sample
        if draw_gt and sample.get('gt_text') is not None:
            lines.append((f'gt: {sample.gt_text}', self.gt_color))
        if draw_pred and sample.get('pred_text') is not None:
            score = sample.get('pred_score')
            text = f'pred: {sample.pred_text}' + ('' if score is None else f' ({float(score):.2f})')
            lines.append((text, self.pred_color))
        if not lines:
            return img
        font, scale = cv2.FONT_HERSHEY_SIMPLEX, 0.6
        width = max([img.shape[1]] + [cv2.getTextSize(t.encode('ascii', 'replace').decode(), font, scale, 1)[0][0] + 8
                                      for t, _ in lines])
        canvas = np.full((img.shape[0] + 24 * len(lines), width, 3), 255, np.uint8)
        canvas[:img.shape[0], :img.shape[1]] = img
        for k, (text, colour) in enumerate(lines):
            y = img.shape[0] + 24 * k + 17
            cv2.putText(canvas, text.encode('ascii', 'replace').decode(), (4, y), font, scale,
                        tuple(int(c) for c in colour), 1, cv2.LINE_AA)
        return canvas
