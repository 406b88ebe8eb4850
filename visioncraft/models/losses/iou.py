"""Box-overlap losses (registered in MODELS) between aligned box pairs: IoU, generalized IoU (GIoU),
distance IoU (DIoU), complete IoU (CIoU) and bounded IoU.

Called like every loss here: ``loss(pred, target, weight=None, avg_factor=None, reduction_override=None)`` (see
:mod:`visioncraft.models.losses.basic` for the reduction). ``pred`` and ``target``: float N x 4 boxes,
``xyxy`` in the same units (pixels, or any common scale; the losses are scale-invariant up to their ``eps``).
Element-wise result: float N (``BoundedIoULoss``: N x 4, one term per coordinate). ``weight``: float N, one per
box pair (e.g. FCOS's centerness targets), or N x 4 (a box head's per-coordinate weights), which the N-valued
losses average over the last axis, as MMDetection.

The formulas, ``eps`` defaults and clamps are MMDetection 3.x's, so its configs train the same:

* ``IoULoss``: IoU with the union clamped from below by ``eps``, then the IoU clamped to ``eps``;
* ``GIoULoss``: ``1 - GIoU`` with the union and the enclosing box's area clamped to ``eps``;
* ``DIoULoss`` / ``CIoULoss``: ``union + eps`` and ``diagonal^2 + eps``; CIoU's aspect term uses
  ``h + eps``, its trade-off ``alpha`` is computed without gradient and is 0 where IoU <= 0.5, and the CIoU is
  clamped to [-1, 1] (torchvision's ``complete_box_iou_loss`` differs in each of these); one deliberate
  difference: ``alpha`` is 0 where ``v`` is 0, so identical boxes give 0, not MMDetection's NaN;
* ``BoundedIoULoss`` (Tychsen-Smith & Petersson, 2018): per-coordinate bounds, target treated as constant,
  smooth-L1 with ``beta``.
"""
from __future__ import annotations

import math

import torch

from ...registry import MODELS
from .basic import _WeightedLoss, weighted_reduce

__all__ = ['IoULoss', 'GIoULoss', 'DIoULoss', 'CIoULoss', 'BoundedIoULoss', 'aligned_box_iou']

_IOU_MODES = ('linear', 'square', 'log')


def _check_pairs(pred: torch.Tensor, target: torch.Tensor, who: str) -> None:
    if pred.shape != target.shape or pred.shape[-1:] != (4,):
        raise ValueError(f'{who}: pred and target must both be N x 4 xyxy boxes, got {tuple(pred.shape)} and '
                         f'{tuple(target.shape)}')


def aligned_box_iou(pred: torch.Tensor, target: torch.Tensor, eps: float = 1e-6,
                    generalized: bool = False) -> torch.Tensor:
    """IoU (or GIoU with ``generalized``) of ``pred[i]`` with ``target[i]``: float N x 4 xyxy -> float N.

    ``union`` and the enclosing box's area are clamped from below by ``eps``, so degenerate boxes give 0
    (GIoU: a finite value in [-1, 1]) instead of NaN.
    """
    _check_pairs(pred, target, 'aligned_box_iou')
    lt = torch.max(pred[..., :2], target[..., :2])
    rb = torch.min(pred[..., 2:], target[..., 2:])
    wh = (rb - lt).clamp(min=0)
    overlap = wh[..., 0] * wh[..., 1]
    area_p = (pred[..., 2] - pred[..., 0]) * (pred[..., 3] - pred[..., 1])
    area_t = (target[..., 2] - target[..., 0]) * (target[..., 3] - target[..., 1])
    union = (area_p + area_t - overlap).clamp(min=eps)
    iou = overlap / union
    if not generalized:
        return iou
    enclose_wh = (torch.max(pred[..., 2:], target[..., 2:]) - torch.min(pred[..., :2], target[..., :2])).clamp(min=0)
    enclose = (enclose_wh[..., 0] * enclose_wh[..., 1]).clamp(min=eps)
    return iou - (enclose - union) / enclose


class _BoxPairLoss(_WeightedLoss):
    """A loss with one value per box pair: an N x 4 ``weight`` is averaged to N first."""

    def forward(self, pred: torch.Tensor, target: torch.Tensor, weight: torch.Tensor | None = None,
                avg_factor: float | torch.Tensor | None = None, reduction_override: str | None = None) -> torch.Tensor:
        _check_pairs(pred, target, type(self).__name__)
        if weight is not None and weight.dim() > 1:
            if weight.shape != pred.shape:
                raise ValueError(f'{type(self).__name__}: weight must be N or N x 4 like pred {tuple(pred.shape)}, '
                                 f'got {tuple(weight.shape)}')
            weight = weight.mean(-1)
        loss = self.elementwise(pred, target)
        return self.loss_weight * weighted_reduce(loss, weight, reduction_override or self.reduction, avg_factor)


@MODELS.register_module()
class IoULoss(_BoxPairLoss):
    """IoU loss (Yu et al., "UnitBox", 2016) on IoU clamped to ``eps``: ``mode='log'``: ``-log(IoU)``,
    ``'linear'``: ``1 - IoU``, ``'square'``: ``1 - IoU^2``. ``linear=True`` is MMDetection's older spelling
    of ``mode='linear'``. See the module docstring for shapes."""

    def __init__(self, linear: bool = False, eps: float = 1e-6, reduction: str = 'mean', loss_weight: float = 1.0,
                 mode: str = 'log') -> None:
        super().__init__(reduction, loss_weight)
        if mode not in _IOU_MODES:
            raise ValueError(f'IoULoss mode must be one of {_IOU_MODES}, got {mode!r}')
        self.mode, self.eps = 'linear' if linear else mode, float(eps)

    def elementwise(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        iou = aligned_box_iou(pred, target, eps=self.eps).clamp(min=self.eps)
        if self.mode == 'linear':
            return 1 - iou
        if self.mode == 'square':
            return 1 - iou ** 2
        return -iou.log()


@MODELS.register_module()
class GIoULoss(_BoxPairLoss):
    """Generalized IoU loss (Rezatofighi et al., 2019): ``1 - GIoU``, in [0, 2]. See the module docstring."""

    def __init__(self, eps: float = 1e-6, reduction: str = 'mean', loss_weight: float = 1.0) -> None:
        super().__init__(reduction, loss_weight)
        self.eps = float(eps)

    def elementwise(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return 1 - aligned_box_iou(pred, target, eps=self.eps, generalized=True)


def _distance_terms(pred: torch.Tensor, target: torch.Tensor, eps: float
                    ) -> tuple[torch.Tensor, torch.Tensor]:
    """(IoU with ``union + eps``, squared centre distance / (enclosing diagonal^2 + eps)): float N each."""
    lt = torch.max(pred[:, :2], target[:, :2])
    rb = torch.min(pred[:, 2:], target[:, 2:])
    wh = (rb - lt).clamp(min=0)
    overlap = wh[:, 0] * wh[:, 1]
    area_p = (pred[:, 2] - pred[:, 0]) * (pred[:, 3] - pred[:, 1])
    area_t = (target[:, 2] - target[:, 0]) * (target[:, 3] - target[:, 1])
    iou = overlap / (area_p + area_t - overlap + eps)
    enclose = (torch.max(pred[:, 2:], target[:, 2:]) - torch.min(pred[:, :2], target[:, :2])).clamp(min=0)
    diag2 = enclose[:, 0] ** 2 + enclose[:, 1] ** 2 + eps
    centre2 = (((target[:, :2] + target[:, 2:]) - (pred[:, :2] + pred[:, 2:])) ** 2).sum(-1) / 4
    return iou, centre2 / diag2


@MODELS.register_module()
class DIoULoss(_BoxPairLoss):
    """Distance IoU loss (Zheng et al., 2020): ``1 - IoU + d^2 / c^2`` (d: centre distance, c: diagonal of the
    enclosing box), in [0, 2). See the module docstring."""

    def __init__(self, eps: float = 1e-6, reduction: str = 'mean', loss_weight: float = 1.0) -> None:
        super().__init__(reduction, loss_weight)
        self.eps = float(eps)

    def elementwise(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        iou, dist = _distance_terms(pred, target, self.eps)
        return 1 - iou + dist


@MODELS.register_module()
class CIoULoss(_BoxPairLoss):
    """Complete IoU loss (Zheng et al., 2021): ``1 - clamp(IoU - d^2 / c^2 - alpha * v, -1, 1)`` with the
    aspect term ``v = 4 / pi^2 * (atan(w_t / h_t) - atan(w_p / h_p))^2`` and ``alpha = v / (1 - IoU + v)``
    where IoU > 0.5, else 0 (no gradient through ``alpha``). See the module docstring."""

    def __init__(self, eps: float = 1e-6, reduction: str = 'mean', loss_weight: float = 1.0) -> None:
        super().__init__(reduction, loss_weight)
        self.eps = float(eps)

    def elementwise(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        iou, dist = _distance_terms(pred, target, self.eps)
        w_p, h_p = pred[:, 2] - pred[:, 0], pred[:, 3] - pred[:, 1] + self.eps
        w_t, h_t = target[:, 2] - target[:, 0], target[:, 3] - target[:, 1] + self.eps
        v = (4 / math.pi ** 2) * (torch.atan(w_t / h_t) - torch.atan(w_p / h_p)) ** 2
        with torch.no_grad():
            # v = 0 gives alpha = 0 (MMDetection's 0 / 0 is NaN for identical boxes, where 1 - IoU rounds to 0)
            alpha = torch.where((iou > 0.5) & (v > 0), v / (1 - iou + v).clamp(min=torch.finfo(v.dtype).tiny),
                                torch.zeros_like(v))
        return 1 - (iou - (dist + alpha * v)).clamp(min=-1.0, max=1.0)


@MODELS.register_module()
class BoundedIoULoss(_WeightedLoss):
    """Bounded IoU loss (Tychsen-Smith & Petersson, "Improving Object Localization with Fitness NMS and Bounded
    IoU Loss", 2018): for each coordinate the upper bound of the IoU when only that coordinate is off,

    ``1 - max((w_t - 2|dx|) / (w_t + 2|dx| + eps), 0)`` (y alike), ``1 - min(w_t / (w_p + eps), w_p / (w_t + eps))``
    (h alike), each through a smooth L1 with ``beta`` (``0.5 x^2 / beta`` below ``beta``, ``x - beta / 2`` above).

    The target is a constant (no gradient). Element-wise result: float N x 4 (dx, dy, dw, dh); a ``weight`` of N
    values applies to all four, N x 4 per coordinate; ``avg_factor`` divides the sum of all 4N terms.
    """

    def __init__(self, beta: float = 0.2, eps: float = 1e-3, reduction: str = 'mean',
                 loss_weight: float = 1.0) -> None:
        super().__init__(reduction, loss_weight)
        if beta <= 0:
            raise ValueError(f'BoundedIoULoss beta must be > 0, got {beta}')
        self.beta, self.eps = float(beta), float(eps)

    def elementwise(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        _check_pairs(pred, target, 'BoundedIoULoss')
        p_ctr, p_wh = (pred[:, :2] + pred[:, 2:]) * 0.5, pred[:, 2:] - pred[:, :2]
        with torch.no_grad():
            t_ctr, t_wh = (target[:, :2] + target[:, 2:]) * 0.5, target[:, 2:] - target[:, :2]
        d = (t_ctr - p_ctr).abs()
        loss_ctr = 1 - torch.clamp((t_wh - 2 * d) / (t_wh + 2 * d + self.eps), min=0)
        loss_wh = 1 - torch.min(t_wh / (p_wh + self.eps), p_wh / (t_wh + self.eps))
        x = torch.cat([loss_ctr, loss_wh], dim=-1)  # N x 4: dx, dy, dw, dh
        return torch.where(x < self.beta, 0.5 * x * x / self.beta, x - 0.5 * self.beta)

    def forward(self, pred: torch.Tensor, target: torch.Tensor, weight: torch.Tensor | None = None,
                avg_factor: float | torch.Tensor | None = None, reduction_override: str | None = None) -> torch.Tensor:
        if weight is not None and weight.dim() == 1:
            weight = weight[:, None]
        return super().forward(pred, target, weight, avg_factor, reduction_override)
