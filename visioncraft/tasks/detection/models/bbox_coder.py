"""The R-CNN box codec (registered in TASK_UTILS): boxes <-> deltas relative to anchors / proposals."""
from __future__ import annotations

import math
from collections.abc import Sequence

import torch

from visioncraft.registry import TASK_UTILS

from .box_ops import clip_boxes

__all__ = ['DeltaXYWHBBoxCoder']


@TASK_UTILS.register_module()
class DeltaXYWHBBoxCoder:
    """The R-CNN box codec: ``dx = (gx - ax) / aw``, ``dy = (gy - ay) / ah``, ``dw = log(gw / aw)``,
    ``dh = log(gh / ah)`` (centres and sizes, widths = x2 - x1), then ``(d - target_means) / target_stds``.

    ``target_stds = (1, 1, 1, 1)`` is torchvision RetinaNet's ``BoxCoder(weights=(1, 1, 1, 1))``
    (its weights are 1 / stds). Decoding clamps ``dw``, ``dh`` from above at ``log(1 / wh_ratio_clip)``
    (log(1000 / 16), torchvision's ``bbox_xform_clip``).

    Args:
        target_means, target_stds: per-coordinate normalisation of the deltas.
        wh_ratio_clip: smallest ratio the decoder's clamp allows (see above).
    """

    def __init__(self, target_means: Sequence[float] = (0.0, 0.0, 0.0, 0.0),
                 target_stds: Sequence[float] = (1.0, 1.0, 1.0, 1.0), wh_ratio_clip: float = 16 / 1000,
                 clip_border: bool = True) -> None:
        if len(target_means) != 4 or len(target_stds) != 4:
            raise ValueError('DeltaXYWHBBoxCoder: target_means and target_stds need 4 values each')
        self.means = tuple(float(m) for m in target_means)
        self.stds = tuple(float(s) for s in target_stds)
        self.max_ratio = abs(math.log(wh_ratio_clip))
        self.clip_border = clip_border

    def encode(self, anchors: torch.Tensor, gt_bboxes: torch.Tensor) -> torch.Tensor:
        """K x 4 anchors and their K x 4 target boxes (xyxy) -> K x 4 normalised deltas."""
        aw = anchors[:, 2] - anchors[:, 0]
        ah = anchors[:, 3] - anchors[:, 1]
        ax = anchors[:, 0] + 0.5 * aw
        ay = anchors[:, 1] + 0.5 * ah
        gw = gt_bboxes[:, 2] - gt_bboxes[:, 0]
        gh = gt_bboxes[:, 3] - gt_bboxes[:, 1]
        gx = gt_bboxes[:, 0] + 0.5 * gw
        gy = gt_bboxes[:, 1] + 0.5 * gh
        deltas = torch.stack([(gx - ax) / aw, (gy - ay) / ah, torch.log(gw / aw), torch.log(gh / ah)], dim=1)
        means = deltas.new_tensor(self.means)
        stds = deltas.new_tensor(self.stds)
        return (deltas - means) / stds

    def decode(self, anchors: torch.Tensor, deltas: torch.Tensor,
               max_shape: Sequence[int] | None = None) -> torch.Tensor:
        """K x 4 anchors and K x 4 deltas -> K x 4 boxes (xyxy); clipped to ``max_shape`` (h, w) when given."""
        anchors = anchors.to(deltas.dtype)
        if self.means != (0.0, 0.0, 0.0, 0.0) or self.stds != (1.0, 1.0, 1.0, 1.0):
            deltas = deltas * deltas.new_tensor(self.stds) + deltas.new_tensor(self.means)
        aw = anchors[:, 2] - anchors[:, 0]
        ah = anchors[:, 3] - anchors[:, 1]
        ax = anchors[:, 0] + 0.5 * aw
        ay = anchors[:, 1] + 0.5 * ah
        dw = deltas[:, 2].clamp(max=self.max_ratio)
        dh = deltas[:, 3].clamp(max=self.max_ratio)
        cx = deltas[:, 0] * aw + ax
        cy = deltas[:, 1] * ah + ay
        half_w = 0.5 * (torch.exp(dw) * aw)
        half_h = 0.5 * (torch.exp(dh) * ah)
        boxes = torch.stack([cx - half_w, cy - half_h, cx + half_w, cy + half_h], dim=1)
        if max_shape is not None and self.clip_border:
            boxes = clip_boxes(boxes, max_shape)
        return boxes
