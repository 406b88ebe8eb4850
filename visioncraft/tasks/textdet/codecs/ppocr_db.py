"""PaddleOCR's DB post-processing (``DBPostProcess``, quad output) as its inference does it, in whole pixels.

:class:`~visioncraft.tasks.textdet.codecs.DBCodec` decodes the same maps in the pixel-centre frame, which this
library's metrics and crops use. This function reproduces the boxes PaddleOCR's OCR system gets from a map, so
:class:`~visioncraft.apis.ppocr_system.PPOCRSystem` behaves like PaddleOCR's ``TextSystem``:

1. binarise ``prob > thresh`` (optionally dilate with a 2 x 2 kernel); take the first ``max_candidates`` outer
   and inner contours (OpenCV's order);
2. per contour: its minimum-area rectangle (dropped when its short side is below ``min_size``); the score is the
   mean probability inside that rectangle (``'fast'``: its corners truncated to whole pixels and filled; ``'slow'``:
   the contour polygon itself); dropped below ``box_thresh``;
3. the rectangle grown by ``area * unclip_ratio / perimeter`` (a round-joined polygon offset), then its
   minimum-area rectangle again (dropped when its short side is below ``min_size + 2``);
4. the corners scaled from the map to the original image, rounded and clipped to ``[0, W]`` / ``[0, H]``.
"""
from __future__ import annotations

import cv2
import numpy as np

__all__ = ['ppocr_db_boxes']


def _mini_box(points: np.ndarray) -> tuple[np.ndarray, float]:
    """The minimum-area rectangle of ``points`` as 4 x 2 float32 corners (left pair first, each pair upper
    first, then the right pair lower-last, i.e. top-left, top-right, bottom-right, bottom-left for an upright box)
    and its short side."""
    rect = cv2.minAreaRect(points.reshape(-1, 2).astype(np.float32))
    pts = sorted(cv2.boxPoints(rect).tolist(), key=lambda p: p[0])
    left = (pts[0], pts[1]) if pts[1][1] > pts[0][1] else (pts[1], pts[0])   # (upper, lower)
    right = (pts[2], pts[3]) if pts[3][1] > pts[2][1] else (pts[3], pts[2])
    return np.array([left[0], right[0], right[1], left[1]], np.float32), float(min(rect[1]))


def _mean_inside(prob: np.ndarray, poly: np.ndarray) -> float:
    h, w = prob.shape
    x0 = int(np.clip(np.floor(poly[:, 0].min()), 0, w - 1))
    x1 = int(np.clip(np.ceil(poly[:, 0].max()), 0, w - 1))
    y0 = int(np.clip(np.floor(poly[:, 1].min()), 0, h - 1))
    y1 = int(np.clip(np.ceil(poly[:, 1].max()), 0, h - 1))
    mask = np.zeros((y1 - y0 + 1, x1 - x0 + 1), np.uint8)
    shifted = (poly - np.array([x0, y0], poly.dtype)).astype(np.int32)
    cv2.fillPoly(mask, shifted.reshape(1, -1, 2), 1)
    return float(cv2.mean(prob[y0:y1 + 1, x0:x1 + 1], mask)[0])


def _grow(box: np.ndarray, unclip_ratio: float) -> np.ndarray | None:
    import pyclipper
    area = abs(cv2.contourArea(box.astype(np.float32)))
    length = cv2.arcLength(box.astype(np.float32), True)
    if length <= 0:
        return None
    offset = pyclipper.PyclipperOffset()
    offset.AddPath(box.tolist(), pyclipper.JT_ROUND, pyclipper.ET_CLOSEDPOLYGON)
    paths = offset.Execute(area * unclip_ratio / length)
    if not paths:
        return None
    return np.concatenate([np.asarray(p, np.float32).reshape(-1, 2) for p in paths])


def ppocr_db_boxes(prob: np.ndarray, ori_shape: tuple[int, int], *, thresh: float = 0.3, box_thresh: float = 0.6,
                   max_candidates: int = 1000, unclip_ratio: float = 1.5, use_dilation: bool = False,
                   score_mode: str = 'fast', min_size: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """Quads from one H x W probability map (the resized image's region, no padding) as PaddleOCR's inference
    finds them.

    Args:
        prob: H x W float probabilities.
        ori_shape: (H0, W0) of the original image; the boxes are scaled to it.
        thresh, box_thresh, max_candidates, unclip_ratio, use_dilation, score_mode: PaddleOCR's
            ``DBPostProcess`` settings (its inference defaults).
        min_size: the smallest short side of a kept rectangle, in map pixels (PaddleOCR: 3).

    Returns:
        (boxes, scores): K x 4 x 2 int32 corners in original-image pixels (top-left, top-right, bottom-right,
        bottom-left for an upright box) and a K float32 array of scores.
    """
    if score_mode not in ('fast', 'slow'):
        raise ValueError(f"ppocr_db_boxes: score_mode must be 'fast' or 'slow', got {score_mode!r}")
    prob = np.asarray(prob, np.float32)
    if prob.ndim != 2:
        raise ValueError(f'ppocr_db_boxes: prob must be H x W, got shape {prob.shape}')
    h, w = prob.shape
    dst_h, dst_w = int(ori_shape[0]), int(ori_shape[1])
    bitmap = (prob > thresh).astype(np.uint8)
    if use_dilation:
        bitmap = cv2.dilate(bitmap, np.ones((2, 2), np.uint8))
    contours, _ = cv2.findContours(bitmap * 255, cv2.RETR_LIST, cv2.CHAIN_APPROX_SIMPLE)
    boxes, scores = [], []
    for contour in contours[:max_candidates]:
        box, short = _mini_box(contour)
        if short < min_size:
            continue
        score = _mean_inside(prob, box if score_mode == 'fast' else contour.reshape(-1, 2).astype(np.float32))
        if score < box_thresh:
            continue
        grown = _grow(box, unclip_ratio)
        if grown is None:
            continue
        box, short = _mini_box(grown)
        if short < min_size + 2:
            continue
        box[:, 0] = np.clip(np.round(box[:, 0] / w * dst_w), 0, dst_w)
        box[:, 1] = np.clip(np.round(box[:, 1] / h * dst_h), 0, dst_h)
        boxes.append(box.astype(np.int32))
        scores.append(score)
    return (np.stack(boxes) if boxes else np.zeros((0, 4, 2), np.int32)), np.asarray(scores, np.float32)
