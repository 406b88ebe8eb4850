"""DetLocalVisualizer: draw boxes, class names, scores and masks of detection samples.

What is drawn, and where:

* **Colours.** Ground truth (``gt_instances``) is drawn in green, predictions (``pred_instances``) in red,
  whatever the class: the ``test.py --show-dir`` convention of this project. Each instance gets its box,
  a label (class name from ``dataset_meta['classes']`` when set, else the class index; predictions add
  the score) on a filled background box, and its mask as a translucent fill of the same colour.
* **Panels.** When both ground truth and predictions are drawn (``draw_gt`` and ``draw_pred`` are True
  and the sample holds both fields), the result is two copies of the image side by side: ground truth on
  the left, predictions on the right (the right panel starts at ``x = W``; there is no separator). With
  only one of them, the result is one panel.
* **Score threshold.** Predictions with ``score >= pred_score_thr`` are drawn; predictions without
  ``scores`` are all drawn.
* **Frames.** Everything is drawn in the pixel frame of the image handed in, which is normally the
  ORIGINAL image read from ``img_path`` (what :class:`VisualizationHook` passes):

  - predictions are in original-image pixels (the data contract), and are drawn as they are;
  - packed ground truth is in the frame of the model's input (``img_shape``, after Resize / RandomFlip /
    Pad). It is mapped back: a flip recorded in the metainfo (``flip``, ``flip_direction``) is undone in
    the ``img_shape`` frame (``x -> W - x`` / ``y -> H - y``, as RandomFlip did it), then coordinates are
    divided by ``scale_factor`` (``(w_scale, h_scale)``; without it, by ``img_shape / ori_shape`` when
    both are known). Padding is at the bottom/right, so it moves no coordinate; padded masks are cropped
    to ``img_shape`` first. Test pipelines do not flip, so in practice only the rescale applies.
  - if the image handed in is not the original (its shape is ``img_shape`` or ``pad_shape``, e.g. a
    picture taken from the batch's inputs), the original-frame coordinates are scaled onto it by
    ``scale_factor``; any other size differing from ``ori_shape`` is scaled by the ratio of the sizes.
  - masks whose size differs from the drawing's are resized to it (nearest neighbour).
* **Size.** Line width and font scale grow with the image. Images whose longer side is under
  ``min_draw_size`` pixels are first enlarged by an integer factor (nearest neighbour) so the text stays
  readable, like the base :class:`Visualizer` does; coordinates are scaled with them.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from visioncraft.fileio.image import imwrite, read_image
from visioncraft.registry import VISUALIZERS
from visioncraft.structures import BitmapMasks, DataSample, InstanceData, PolygonMasks, rle_to_bitmap, to_numpy
from visioncraft.visualization import Visualizer, rgb_uint8

__all__ = ['DetLocalVisualizer', 'show_result', 'GT_COLOR', 'PRED_COLOR']

#: RGB colour of ground-truth boxes, labels and masks.
GT_COLOR = (0, 255, 0)
#: RGB colour of predicted boxes, labels and masks.
PRED_COLOR = (255, 0, 0)

_FONT = 0  # cv2.FONT_HERSHEY_SIMPLEX


def _pair(value: Any) -> tuple[float, float] | None:
    """``(w, h)``-style pair from a scale factor (a scalar means the same on both axes)."""
    if value is None:
        return None
    arr = to_numpy(value).astype(np.float64).reshape(-1)
    if arr.size == 1:
        return float(arr[0]), float(arr[0])
    return float(arr[0]), float(arr[1])


def _hw(value: Any) -> tuple[int, int] | None:
    if value is None:
        return None
    arr = to_numpy(value).reshape(-1)
    return (int(arr[0]), int(arr[1])) if arr.size >= 2 else None


def _mask_array(masks: Any) -> np.ndarray | None:
    """``N x H x W`` bool array from BitmapMasks, PolygonMasks, a tensor / array, or a list of COCO RLEs."""
    if masks is None:
        return None
    if isinstance(masks, (BitmapMasks, PolygonMasks)):
        arr = masks.to_ndarray()
    elif isinstance(masks, (list, tuple)):
        if not masks:
            return None
        arr = np.stack([rle_to_bitmap(m) if isinstance(m, dict) else to_numpy(m) for m in masks])
    else:
        arr = to_numpy(masks)
    if arr.ndim == 2:
        arr = arr[None]
    if arr.ndim != 3:
        raise ValueError(f'DetLocalVisualizer: masks must be N x H x W, got shape {arr.shape}')
    return arr.astype(bool)


def _resize_masks(masks: np.ndarray, hw: tuple[int, int]) -> np.ndarray:
    import cv2
    if len(masks) == 0:
        return np.zeros((0, *hw), dtype=bool)
    if masks.shape[1:] == tuple(hw):
        return masks
    out = [cv2.resize(m.astype(np.uint8), (hw[1], hw[0]), interpolation=cv2.INTER_NEAREST) for m in masks]
    return np.stack(out).astype(bool)


def _select(masks: Any, idx: np.ndarray) -> Any:
    if masks is None:
        return None
    if isinstance(masks, (list, tuple)):
        return [masks[int(i)] for i in idx]
    if hasattr(masks, 'detach'):
        import torch
        return masks[torch.as_tensor(idx, dtype=torch.long, device=masks.device)]
    return masks[idx]


@VISUALIZERS.register_module()
class DetLocalVisualizer(Visualizer):
    """Draws ``gt_instances`` (green) and ``pred_instances`` (red) of a detection :class:`DataSample`.

    Args:
        vis_backends, save_dir, name: as for :class:`Visualizer`.
        gt_color, pred_color: RGB colours of ground truth and predictions.
        alpha: opacity of mask fills (0: invisible, 1: solid).
        line_width: box line width in pixels; ``None`` picks it from the image size.
        font_scale: OpenCV font scale of the labels; ``None`` picks it from the image size.
        min_draw_size: images whose longer side is shorter are enlarged by an integer factor before
            drawing (0 turns this off).

    See the module docstring for panels, score threshold and coordinate frames.
    """

    def __init__(self, vis_backends: list[dict] | None = None, save_dir: str | Path | None = None,
                 name: str = 'visualizer', *, gt_color: Sequence[int] = GT_COLOR,
                 pred_color: Sequence[int] = PRED_COLOR, alpha: float = 0.5, line_width: int | None = None,
                 font_scale: float | None = None, min_draw_size: int = 256) -> None:
        super().__init__(vis_backends=vis_backends, save_dir=save_dir, name=name)
        if not 0.0 <= alpha <= 1.0:
            raise ValueError(f'DetLocalVisualizer: alpha must be in [0, 1], got {alpha}')
        self.gt_color = tuple(int(c) for c in gt_color)
        self.pred_color = tuple(int(c) for c in pred_color)
        self.alpha = float(alpha)
        self.line_width = line_width
        self.font_scale = font_scale
        self.min_draw_size = int(min_draw_size)

    # -- the public entry point -------------------------------------------------------------------
    def draw_sample(self, image: np.ndarray, data_sample: DataSample | None, draw_gt: bool = True,
                    draw_pred: bool = True, pred_score_thr: float = 0.3) -> np.ndarray:
        """Draw the sample's instances on a copy of ``image``.

        Args:
            image: H x W x 3 uint8 RGB, normally the original image read from ``img_path``.
            data_sample: a :class:`DataSample` with ``gt_instances`` (``bboxes`` float N x 4 xyxy pixels of
                the packed image, ``labels`` int N, optional ``masks``) and / or ``pred_instances``
                (``bboxes`` xyxy original-image pixels, ``scores``, ``labels``, optional ``masks``).
                ``None`` gives back a copy of the image.
            draw_gt, draw_pred: draw the ground truth / the predictions when present.
            pred_score_thr: predictions scoring below it are not drawn.

        Returns:
            H' x W' x 3 uint8 RGB: one panel, or ground truth (left) and predictions (right) side by side
            (``W' = 2 W``). ``H'``, ``W`` are larger than the input's for images under ``min_draw_size``.
        """
        import cv2
        img = self._as_rgb(image)
        meta = {} if data_sample is None else data_sample.metainfo
        in_hw = img.shape[:2]
        factor = 1
        if self.min_draw_size > 0 and 0 < max(in_hw) < self.min_draw_size:
            factor = math.ceil(self.min_draw_size / max(in_hw))
            img = cv2.resize(img, (in_hw[1] * factor, in_hw[0] * factor), interpolation=cv2.INTER_NEAREST)
        # original-image pixels -> pixels of the drawing
        sx, sy = self._original_to_image(meta, in_hw)
        to_draw = np.array([sx, sy, sx, sy], dtype=np.float64) * factor

        panels = []
        if draw_gt and data_sample is not None and 'gt_instances' in data_sample:
            gt = data_sample.gt_instances
            boxes = self._field(gt, 'bboxes')
            if boxes is not None:
                boxes = self._gt_boxes_to_original(boxes.reshape(-1, 4).astype(np.float64), meta) * to_draw
            masks = _mask_array(gt.get('masks'))
            if masks is not None:
                masks = _resize_masks(self._gt_masks_to_original(masks, meta), img.shape[:2])
            panels.append(self._draw_instances(img.copy(), boxes, self._field(gt, 'labels'), None, masks,
                                               self.gt_color))
        if draw_pred and data_sample is not None and 'pred_instances' in data_sample:
            pred = data_sample.pred_instances
            scores = self._field(pred, 'scores')
            n = len(pred)
            keep = np.arange(n) if scores is None else np.nonzero(scores.reshape(-1) >= pred_score_thr)[0]
            boxes = self._field(pred, 'bboxes')
            if boxes is not None:
                boxes = boxes.reshape(-1, 4).astype(np.float64)[keep] * to_draw
            labels = self._field(pred, 'labels')
            labels = None if labels is None else labels.reshape(-1)[keep]
            scores = None if scores is None else scores.reshape(-1)[keep]
            masks = _mask_array(_select(pred.get('masks'), keep))
            if masks is not None:
                masks = _resize_masks(masks, img.shape[:2])
            panels.append(self._draw_instances(img.copy(), boxes, labels, scores, masks, self.pred_color))
        if not panels:
            return img.copy()
        return np.ascontiguousarray(np.concatenate(panels, axis=1))

    # -- frames -----------------------------------------------------------------------------------
    @staticmethod
    def _original_to_image(meta: dict, image_hw: tuple[int, int]) -> tuple[float, float]:
        """(x, y) factors from original-image pixels to the pixels of the image handed in."""
        ori = _hw(meta.get('ori_shape'))
        if ori is None or ori == tuple(image_hw):
            return 1.0, 1.0
        scale = _pair(meta.get('scale_factor'))
        if scale is not None and tuple(image_hw) in (_hw(meta.get('img_shape')), _hw(meta.get('pad_shape'))):
            return scale
        return image_hw[1] / ori[1], image_hw[0] / ori[0]

    @staticmethod
    def _gt_scale(meta: dict) -> tuple[float, float] | None:
        scale = _pair(meta.get('scale_factor'))
        if scale is None:
            ori, cur = _hw(meta.get('ori_shape')), _hw(meta.get('img_shape'))
            if ori is not None and cur is not None and ori != cur:
                scale = (cur[1] / ori[1], cur[0] / ori[0])
        return scale

    def _gt_boxes_to_original(self, boxes: np.ndarray, meta: dict) -> np.ndarray:
        """Packed-frame xyxy boxes -> original-image pixels: undo the flip, then the resize."""
        boxes = boxes.copy()
        cur = _hw(meta.get('img_shape'))
        if meta.get('flip') and cur is not None:
            direction = meta.get('flip_direction') or 'horizontal'
            if direction in ('horizontal', 'diagonal'):
                boxes[:, [0, 2]] = cur[1] - boxes[:, [2, 0]]
            if direction in ('vertical', 'diagonal'):
                boxes[:, [1, 3]] = cur[0] - boxes[:, [3, 1]]
        scale = self._gt_scale(meta)
        if scale is not None:
            boxes /= np.array([scale[0], scale[1], scale[0], scale[1]], dtype=np.float64)
        return boxes

    @staticmethod
    def _gt_masks_to_original(masks: np.ndarray, meta: dict) -> np.ndarray:
        """Crop the padding and undo the flip; the caller resizes to the drawing."""
        cur = _hw(meta.get('img_shape'))
        if cur is None or len(masks) == 0:
            return masks
        if masks.shape[1] >= cur[0] and masks.shape[2] >= cur[1]:
            masks = masks[:, :cur[0], :cur[1]]
        if meta.get('flip') and masks.shape[1:] == cur:
            direction = meta.get('flip_direction') or 'horizontal'
            if direction in ('horizontal', 'diagonal'):
                masks = masks[:, :, ::-1]
            if direction in ('vertical', 'diagonal'):
                masks = masks[:, ::-1, :]
        return masks

    # -- drawing ----------------------------------------------------------------------------------
    @staticmethod
    def _as_rgb(image: np.ndarray) -> np.ndarray:
        return rgb_uint8(image, 'DetLocalVisualizer')

    @staticmethod
    def _field(instances: InstanceData, name: str) -> np.ndarray | None:
        value = instances.get(name)
        return None if value is None else to_numpy(value)

    def _sizes(self, hw: tuple[int, int]) -> tuple[int, float, int]:
        """(box line width, font scale, font thickness) for an image of ``hw``."""
        side = max(hw)
        lw = self.line_width if self.line_width is not None else max(1, round(side / 320))
        fs = self.font_scale if self.font_scale is not None else min(max(side / 1400, 0.4), 2.0)
        return int(lw), float(fs), max(1, round(fs * 1.5))

    def _draw_instances(self, img: np.ndarray, boxes: np.ndarray | None, labels: np.ndarray | None,
                        scores: np.ndarray | None, masks: np.ndarray | None, color: tuple[int, int, int]
                        ) -> np.ndarray:
        """Draw masks (translucent), then boxes, then labels, on ``img`` in place; return it."""
        import cv2
        h, w = img.shape[:2]
        if masks is not None and len(masks) and self.alpha > 0:
            col = np.array(color, dtype=np.float32)
            for m in masks:
                img[m] = (img[m].astype(np.float32) * (1 - self.alpha) + col * self.alpha).round().astype(np.uint8)
        if boxes is None:
            return img
        lw, fs, ft = self._sizes((h, w))
        lim = np.array([w, h, w, h], dtype=np.float64) + 2 * lw
        n = len(boxes)
        for i in range(n):
            x1, y1, x2, y2 = (int(round(v)) for v in np.clip(boxes[i], -2 * lw, lim))
            cv2.rectangle(img, (x1, y1), (x2, y2), color, lw, cv2.LINE_AA if lw > 1 else cv2.LINE_8)
        for i in range(n):
            parts = []
            if labels is not None and i < len(labels):
                parts.append(self._label_name(labels[i]))
            if scores is not None and i < len(scores):
                parts.append(f'{float(scores[i]):.2f}')
            if parts:
                x1, y1 = (int(round(v)) for v in np.clip(boxes[i, :2], 0, [w - 1, h - 1]))
                self._draw_label(img, ' '.join(parts), x1, y1, color, lw, fs, ft)
        return img

    @staticmethod
    def _draw_label(img: np.ndarray, text: str, x: int, y: int, color: tuple[int, int, int], lw: int,
                    fs: float, ft: int) -> None:
        """Text on a filled box at the box's top-left corner: above it when there is room, else inside."""
        import cv2
        h, w = img.shape[:2]
        (tw, th), base = cv2.getTextSize(text, _FONT, fs, ft)
        pad = max(1, ft)
        bw, bh = tw + 2 * pad, th + base + 2 * pad
        top = y - bh if y - bh >= 0 else min(y + lw, max(h - bh, 0))
        left = min(max(x - (lw // 2), 0), max(w - bw, 0))
        cv2.rectangle(img, (left, top), (left + bw - 1, top + bh - 1), color, -1)
        luminance = 0.299 * color[0] + 0.587 * color[1] + 0.114 * color[2]
        ink = (0, 0, 0) if luminance > 140 else (255, 255, 255)
        cv2.putText(img, text, (left + pad, top + pad + th), _FONT, fs, ink, ft, cv2.LINE_AA)


def show_result(image_or_path: np.ndarray | str | Path | None, data_sample: DataSample | InstanceData,
                out_file: str | Path | None = None, score_thr: float = 0.3,
                classes: Sequence[str] | None = None, *, draw_gt: bool = False) -> np.ndarray:
    """Draw a detection result in one call (the MMDet 2.x ``show_result`` habit).

    Args:
        image_or_path: H x W x 3 uint8 RGB array (H x W grayscale is accepted), or an image file; ``None``
            reads the sample's ``img_path``.
        data_sample: a :class:`DataSample` with ``pred_instances``, or the ``pred_instances``
            (:class:`InstanceData`) themselves; boxes in the image's pixels.
        out_file: where to write the drawing (PNG, JPEG...: the extension picks); folders are made.
        score_thr: predictions scoring below it are not drawn.
        classes: class names, indexed by label; else labels are written as numbers.
        draw_gt: also draw ``gt_instances`` (then the result is two panels, ground truth on the left).

    Returns:
        The drawing, H x W x 3 uint8 RGB (larger for images under 256 pixels; see DetLocalVisualizer).
    """
    import cv2
    if isinstance(data_sample, InstanceData):
        data_sample = DataSample(pred_instances=data_sample)
    if image_or_path is None:
        image_or_path = data_sample.metainfo.get('img_path')
        if image_or_path is None:
            raise ValueError('show_result: no image given and the sample has no img_path')
    if isinstance(image_or_path, (str, Path)):
        image = read_image(image_or_path, 'show_result')[0][..., ::-1]
    else:
        image = image_or_path
    vis = DetLocalVisualizer(name='show_result')
    if classes is not None:
        vis.dataset_meta = dict(classes=tuple(classes))
    drawn = vis.draw_sample(image, data_sample, draw_gt=draw_gt, draw_pred=True, pred_score_thr=score_thr)
    if out_file is not None:
        imwrite(out_file, np.ascontiguousarray(drawn[..., ::-1]), 'show_result')
    return drawn
