"""Box-overlap losses (registered in MODELS): IoU and generalized IoU between aligned box pairs.

Called like every loss here: ``loss(pred, target, weight=None, avg_factor=None)`` (see
:mod:`visioncraft.models.losses.basic` for the reduction). ``pred`` and ``target``: float N x 4 boxes,
``xyxy`` in the same units (pixels, or any common scale: both losses are scale-invariant); ``weight``:
float N (one per box pair, e.g. FCOS's centerness targets). Element-wise result: float N.
"""
from __future__ import annotations

import torch

from ...registry import MODELS
from .basic import _WeightedLoss

__all__ = ['IoULoss', 'GIoULoss', 'aligned_box_iou']

_IOU_MODES = ('linear', 'square', 'log')


def aligned_box_iou(pred: torch.Tensor, target: torch.Tensor, eps: float = 1e-6,
                    generalized: bool = False) -> torch.Tensor:
    """IoU (or GIoU with ``generalized``) of ``pred[i]`` with ``target[i]``: float N x 4 xyxy -> float N.

    ``union`` and the enclosing box's area are clamped from below by ``eps``, so degenerate boxes give 0
    (GIoU: a finite value in [-1, 1]) instead of NaN.
    """
    if pred.shape != target.shape or pred.shape[-1:] != (4,):
        raise ValueError(f'aligned_box_iou: pred and target must both be N x 4, got {tuple(pred.shape)} and '
                         f'{tuple(target.shape)}')
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


@MODELS.register_module()
class IoULoss(_WeightedLoss):
    """IoU loss (Yu et al., "UnitBox", 2016): ``mode='log'``: ``-log(IoU)`` (IoU clamped to ``eps``),
    ``'linear'``: ``1 - IoU``, ``'square'``: ``1 - IoU^2``. See the module docstring for shapes."""

    def __init__(self, mode: str = 'log', eps: float = 1e-6, reduction: str = 'mean', loss_weight: float = 1.0) -> None:
        super().__init__(reduction, loss_weight)
        if mode not in _IOU_MODES:
            raise ValueError(f'IoULoss mode must be one of {_IOU_MODES}, got {mode!r}')
        self.mode, self.eps = mode, float(eps)

    def elementwise(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        iou = aligned_box_iou(pred, target, eps=self.eps)
        if self.mode == 'linear':
            return 1 - iou
        if self.mode == 'square':
            return 1 - iou ** 2
        return -iou.clamp(min=self.eps).log()


@MODELS.register_module()
class GIoULoss(_WeightedLoss):
    """Generalized IoU loss (Rezatofighi et al., 2019): ``1 - GIoU``, in [0, 2]. See the module docstring."""

    def __init__(self, eps: float = 1e-6, reduction: str = 'mean', loss_weight: float = 1.0) -> None:
        super().__init__(reduction, loss_weight)
        self.eps = float(eps)

    def elementwise(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return 1 - aligned_box_iou(pred, target, eps=self.eps, generalized=True)
