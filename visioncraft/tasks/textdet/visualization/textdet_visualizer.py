"""TextDetLocalVisualizer: draw ground-truth and predicted text polygons side by side."""
from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from visioncraft.registry import VISUALIZERS
from visioncraft.structures import DataSample, to_numpy
from visioncraft.visualization import Visualizer, draw_polygons

__all__ = ['TextDetLocalVisualizer']


@VISUALIZERS.register_module()
class TextDetLocalVisualizer(Visualizer):
    """Draws ``gt_instances.polygons`` (green, left panel) and ``pred_instances.polygons`` (red, right panel)
    of a text-detection :class:`DataSample` on the ORIGINAL image (H x W x 3 uint8 RGB).

    Frames: predictions are in original-image pixels (the data contract) and are drawn as they are. Ground
    truth is drawn as it is too: test pipelines load the annotations after the resize (the data contract, and
    the frame HmeanIOUMetric compares in), so it is in original pixels although ``img_shape`` differs from
    ``ori_shape``. With ``rescale_gt=True`` (a pipeline that loads the annotations before the resize, so they
    are in ``img_shape`` pixels) it is divided by the metainfo's ``scale_factor`` (w, h) when ``img_shape``
    differs from ``ori_shape``. Do-not-care ground truths (``ignored``) are drawn in ``ignore_color``. With both ground
    truth and predictions the output is ``H x 2W`` (gt left, predictions right); with one, ``H x W``. Images
    whose longer side is under ``min_draw_size`` are enlarged by an integer factor first.
    """

    def __init__(self, vis_backends: list[dict] | None = None, save_dir: str | Path | None = None,
                 name: str = 'visualizer', *, gt_color: Sequence[int] = (0, 255, 0),
                 pred_color: Sequence[int] = (255, 0, 0), ignore_color: Sequence[int] = (128, 128, 128),
                 line_width: int | None = None, draw_text: bool = True, min_draw_size: int = 256,
                 rescale_gt: bool = False) -> None:
        super().__init__(vis_backends=vis_backends, save_dir=save_dir, name=name)
        self.gt_color, self.pred_color = tuple(gt_color), tuple(pred_color)
        self.ignore_color = tuple(ignore_color)
        self.line_width, self.draw_text, self.min_draw_size = line_width, draw_text, int(min_draw_size)
        self.rescale_gt = bool(rescale_gt)

    def draw_sample(self, image: np.ndarray, data_sample: DataSample | None, *, draw_gt: bool = True,
                    draw_pred: bool = True, pred_score_thr: float = 0.3) -> np.ndarray:
        """Return the drawing (uint8 RGB; see the class docstring for panels and frames). Predictions scoring
        below ``pred_score_thr`` are not drawn."""
        import cv2
        img = to_numpy(image)
        if img.ndim == 2:
            img = np.repeat(img[..., None], 3, axis=-1)
        if img.ndim != 3 or img.shape[2] < 3:
            raise ValueError(f'TextDetLocalVisualizer: expected an H x W x 3 RGB image, got shape {img.shape}')
        img = np.ascontiguousarray(np.clip(img[..., :3], 0, 255).astype(np.uint8))
        h, w = img.shape[:2]
        factor = math.ceil(self.min_draw_size / max(h, w)) if 0 < max(h, w) < self.min_draw_size else 1
        if factor > 1:
            img = cv2.resize(img, (w * factor, h * factor), interpolation=cv2.INTER_NEAREST)
        lw = self.line_width or max(1, round(max(img.shape[:2]) / 400))
        meta = {} if data_sample is None else data_sample.metainfo
        panels = []
        gt = None if data_sample is None else data_sample.get('gt_instances')
        if draw_gt and gt is not None:
            scale = np.ones(2)
            sf, ori, cur = meta.get('scale_factor'), meta.get('ori_shape'), meta.get('img_shape')
            if self.rescale_gt and sf is not None and ori is not None and cur is not None \
                    and tuple(ori[:2]) != tuple(cur[:2]):
                scale = 1.0 / np.asarray(sf, dtype=np.float64).reshape(-1)[:2]
            polys = list(gt.get('polygons') or [])
            ign = gt.get('ignored')
            ign = np.zeros(len(polys), bool) if ign is None else to_numpy(ign).astype(bool).reshape(-1)
            colors = [self.ignore_color if i else self.gt_color for i in ign]
            texts = gt.get('texts') if self.draw_text else None
            panels.append(self._draw(img.copy(), polys, scale * factor, colors, texts, lw))
        pred = None if data_sample is None else data_sample.get('pred_instances')
        if draw_pred and pred is not None:
            polys = list(pred.get('polygons') or [])
            scores = pred.get('scores')
            keep = range(len(polys)) if scores is None else \
                np.nonzero(to_numpy(scores).reshape(-1) >= pred_score_thr)[0].tolist()
            labels = None if scores is None or not self.draw_text else \
                [f'{float(to_numpy(scores).reshape(-1)[i]):.2f}' for i in keep]
            panels.append(self._draw(img.copy(), [polys[i] for i in keep], np.full(2, float(factor)),
                                     [self.pred_color] * len(keep), labels, lw))
        if not panels:
            return img.copy()
        return np.ascontiguousarray(np.concatenate(panels, axis=1))

    @staticmethod
    def _draw(img: np.ndarray, polys: list, scale: np.ndarray, colors: list, texts: list | None,
              lw: int) -> np.ndarray:
        import cv2
        for k, (p, c) in enumerate(zip(polys, colors)):
            draw_polygons(img, [p], c, lw, scale=scale, line_type=cv2.LINE_AA if lw > 1 else cv2.LINE_8)
            xy = np.rint(to_numpy(p).astype(np.float64).reshape(-1, 2) * scale).astype(np.int32)
            if texts is not None and k < len(texts) and texts[k]:
                x, y = int(xy[:, 0].min()), int(max(xy[:, 1].min() - 2, 10))
                cv2.putText(img, str(texts[k]), (x, y), cv2.FONT_HERSHEY_SIMPLEX, 0.4, tuple(int(v) for v in c), 1,
                            cv2.LINE_AA)
        return img
