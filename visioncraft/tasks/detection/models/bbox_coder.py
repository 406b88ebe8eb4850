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
    (its weights are 1 / stds). Decoding clamps ``dw``, ``dh`` into ``[-log(1 / wh_ratio_clip),
    log(1 / wh_ratio_clip)]`` (+-log(1000 / 16), MMDetection's ``delta2bbox``); torchvision's ``BoxCoder``
    clamps from above only (its ``bbox_xform_clip``): ``clamp_small=False``.

    Args:
        target_means, target_stds: per-coordinate normalisation of the deltas.
        wh_ratio_clip: smallest (and 1 / largest) size ratio the decoder's clamp allows (see above).
        clip_border: clip decoded boxes to ``max_shape`` when given.
        clamp_small: clamp ``dw``, ``dh`` from below too (boxes at least ``wh_ratio_clip`` times the anchor).
    """

    def __init__(self, target_means: Sequence[float] = (0.0, 0.0, 0.0, 0.0),
                 target_stds: Sequence[float] = (1.0, 1.0, 1.0, 1.0), wh_ratio_clip: float = 16 / 1000,
                 clip_border: bool = True, clamp_small: bool = True) -> None:
        if len(target_means) != 4 or len(target_stds) != 4:
            raise ValueError('DeltaXYWHBBoxCoder: target_means and target_stds need 4 values each')
        self.means = tuple(float(m) for m in target_means)
        self.stds = tuple(float(s) for s in target_stds)
        self.max_ratio = abs(math.log(wh_ratio_clip))
        self.clip_border = clip_border
        self.clamp_small = bool(clamp_small)

    def encode(self, anchors: torch.Tensor, gt_bboxes: torch.Tensor) -> torch.Tensor:
        """K x 4 anchors and their K x 4 target boxes (xyxy) -> K x 4 normalised deltas."""
        anchors = anchors.to(gt_bboxes.dtype)
        # centres as the corners' mean, sizes as their difference (MMDetection's float arithmetic, bit for bit)
        a_ctr, a_size = (anchors[:, :2] + anchors[:, 2:]) * 0.5, anchors[:, 2:] - anchors[:, :2]
        g_ctr, g_size = (gt_bboxes[:, :2] + gt_bboxes[:, 2:]) * 0.5, gt_bboxes[:, 2:] - gt_bboxes[:, :2]
        deltas = torch.cat([(g_ctr - a_ctr) / a_size, torch.log(g_size / a_size)], dim=1)
        means = deltas.new_tensor(self.means)
        stds = deltas.new_tensor(self.stds)
        return (deltas - means) / stds

    def decode(self, anchors: torch.Tensor, deltas: torch.Tensor,
               max_shape: Sequence[int] | None = None) -> torch.Tensor:
        """K x 4 anchors and K x 4 deltas -> K x 4 boxes (xyxy); clipped to ``max_shape`` (h, w) when given."""
        anchors = anchors.to(deltas.dtype)
        if self.means != (0.0, 0.0, 0.0, 0.0) or self.stds != (1.0, 1.0, 1.0, 1.0):
            deltas = deltas * deltas.new_tensor(self.stds) + deltas.new_tensor(self.means)
        a_ctr, a_size = (anchors[:, :2] + anchors[:, 2:]) * 0.5, anchors[:, 2:] - anchors[:, :2]
        low = -self.max_ratio if self.clamp_small else None
        d_size = deltas[:, 2:].clamp(min=low, max=self.max_ratio)
        ctr = a_ctr + a_size * deltas[:, :2]
        half = a_size * torch.exp(d_size) * 0.5
        boxes = torch.cat([ctr - half, ctr + half], dim=1)
        if max_shape is not None and self.clip_border:
            boxes = clip_boxes(boxes, max_shape)
        return boxes
