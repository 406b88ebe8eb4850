"""Cross-entropy losses (registered in MODELS): softmax over classes, per-class sigmoid, per-pixel mask.

Called like every loss here: ``loss(pred, target, weight=None, avg_factor=None)`` (see
:mod:`visioncraft.models.losses.basic` for the reduction).
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F

from ...registry import MODELS
from .basic import _WeightedLoss

__all__ = ['CrossEntropyLoss']


@MODELS.register_module()
class CrossEntropyLoss(_WeightedLoss):
    """Cross-entropy in MMDetection's three flavours.

    Args:
        use_sigmoid: per-class binary cross-entropy on logits (RPN objectness). ``target``: int64 N class
            indices where ``C`` (= ``pred.shape[1]``) means background (all-zero target row), or a float
            0/1 tensor shaped like ``pred``.
        use_mask: binary cross-entropy of mask logits (``pred`` R x H x W, the gt class's channel) against
            float 0/1 targets of the same shape (Mask R-CNN).
        Neither: softmax cross-entropy; ``pred`` float N x C logits, ``target`` int64 N in 0..C-1.
        class_weight: optional per-class weights (softmax only).
        ignore_index: target value that gets no loss (softmax only; default none).
        reduction, loss_weight: see :mod:`visioncraft.models.losses.basic`.
    """

    def __init__(self, use_sigmoid: bool = False, use_mask: bool = False, reduction: str = 'mean',
                 class_weight: Sequence[float] | None = None, ignore_index: int | None = None,
                 loss_weight: float = 1.0, avg_non_ignore: bool = False) -> None:
        super().__init__(reduction, loss_weight)
        if use_sigmoid and use_mask:
            raise ValueError('CrossEntropyLoss: use_sigmoid and use_mask are exclusive')
        if class_weight is not None and (use_sigmoid or use_mask):
            raise NotImplementedError('CrossEntropyLoss: class_weight is only implemented for softmax')
        self.use_sigmoid, self.use_mask = bool(use_sigmoid), bool(use_mask)
        self.class_weight = None if class_weight is None else [float(w) for w in class_weight]
        self.ignore_index = -100 if ignore_index is None else int(ignore_index)

    def elementwise(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        if self.use_sigmoid or self.use_mask:
            if target.shape != pred.shape:
                if target.dim() != 1 or pred.dim() != 2:
                    raise ValueError(f'CrossEntropyLoss(use_sigmoid): target must be N class indices or shaped '
                                     f'like pred {tuple(pred.shape)}, got {tuple(target.shape)}')
                target = F.one_hot(target.long(), pred.shape[1] + 1)[:, :pred.shape[1]]
            return F.binary_cross_entropy_with_logits(pred, target.to(pred.dtype), reduction='none')
        weight = None if self.class_weight is None else pred.new_tensor(self.class_weight)
        return F.cross_entropy(pred, target.long(), weight=weight, reduction='none', ignore_index=self.ignore_index)
