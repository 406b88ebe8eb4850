"""Box helpers for detection heads: clipping to the image, intersection over foreground, and the NMS +
rescale ending of a dense head's post-processing. Boxes are float ``xyxy`` in absolute pixels."""
from __future__ import annotations

from collections.abc import Sequence

import torch
from torchvision.ops import batched_nms

from visioncraft.structures import InstanceData

__all__ = ['clip_boxes', 'box_iof', 'nms_and_rescale', 'anchors_inside']


def clip_boxes(boxes: torch.Tensor, shape: Sequence[int]) -> torch.Tensor:
    """Clamp xyxy ``boxes`` into an image of ``shape`` (h, w)."""
    h, w = int(shape[0]), int(shape[1])
    x = boxes[..., 0::2].clamp(min=0, max=w)
    y = boxes[..., 1::2].clamp(min=0, max=h)
    return torch.stack([x[..., 0], y[..., 0], x[..., 1], y[..., 1]], dim=-1)


def anchors_inside(anchors: torch.Tensor, shape: Sequence[int], allowed_border: float) -> torch.Tensor:
    """bool K: the xyxy ``anchors`` (K x 4) that lie within ``allowed_border`` pixels outside an image of
    ``shape`` (h, w): ``x1, y1 >= -allowed_border`` and ``x2 < w + allowed_border``, ``y2 < h + allowed_border``
    (MMDetection's ``anchor_inside_flags``). A negative ``allowed_border`` keeps every anchor."""
    if allowed_border < 0:
        return torch.ones(anchors.shape[0], dtype=torch.bool, device=anchors.device)
    h, w, b = float(shape[0]), float(shape[1]), float(allowed_border)
    return ((anchors[:, 0] >= -b) & (anchors[:, 1] >= -b) & (anchors[:, 2] < w + b)
            & (anchors[:, 3] < h + b))


def box_iof(boxes: torch.Tensor, regions: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """Intersection over the area of ``boxes`` ("foreground"): K x 4 and R x 4 xyxy -> float K x R in [0, 1].

    A degenerate box (zero area) has IoF 0 with everything.
    """
    lt = torch.max(boxes[:, None, :2], regions[None, :, :2])
    rb = torch.min(boxes[:, None, 2:], regions[None, :, 2:])
    wh = (rb - lt).clamp(min=0)
    inter = wh[..., 0] * wh[..., 1]
    area = ((boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])).clamp(min=eps)
    return inter / area[:, None]


def nms_and_rescale(boxes: torch.Tensor, scores: torch.Tensor, labels: torch.Tensor, iou_thr: float,
                    max_per_img: int, meta: dict | None = None, min_bbox_size: float = -1) -> InstanceData:
    """The end of a dense head's post-processing for one image (MMDetection's order): with ``meta``, the K
    candidates (``boxes`` K x 4 xyxy pixels of the network input, ``scores`` K, ``labels`` K) mapped to the
    original image (divided by ``scale_factor`` (w, h), clipped to ``ori_shape``); with ``min_bbox_size >= 0``
    only boxes wider and taller than it (in the pixels of the output: 0 drops the degenerate boxes that the
    clipping to the image makes); then class-wise NMS, the best ``max_per_img`` kept.
    Returns ``InstanceData(bboxes float32, scores float32, labels int64)``."""
    if meta is not None:
        sf = meta.get('scale_factor') or (1.0, 1.0)
        boxes = boxes / boxes.new_tensor([sf[0], sf[1], sf[0], sf[1]])
        if meta.get('ori_shape') is not None:
            boxes = clip_boxes(boxes, meta['ori_shape'])
    if min_bbox_size is not None and min_bbox_size >= 0:
        wide = ((boxes[:, 2] - boxes[:, 0]) > min_bbox_size) & ((boxes[:, 3] - boxes[:, 1]) > min_bbox_size)
        if not bool(wide.all()):
            boxes, scores, labels = boxes[wide], scores[wide], labels[wide]
    keep = batched_nms(boxes, scores, labels, iou_thr)[:max_per_img]
    boxes, scores, labels = boxes[keep], scores[keep], labels[keep]
    return InstanceData(bboxes=boxes.float(), scores=scores.float(), labels=labels.long())
