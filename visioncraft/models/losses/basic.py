"""Element-wise losses with a ``loss_weight``, optional per-element ``weight`` and an ``avg_factor``.

Every loss here is called as ``loss(pred, target, weight=None, avg_factor=None)`` and reduces the
element-wise values as follows: ``avg_factor`` given -> ``sum / avg_factor`` (e.g. the number of positive
anchors); otherwise by ``reduction`` ('mean', 'sum' or 'none'). The result is multiplied by ``loss_weight``.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torchvision.ops import sigmoid_focal_loss

from ...registry import MODELS

__all__ = ['FocalLoss', 'L1Loss', 'SmoothL1Loss', 'weighted_reduce']

_REDUCTIONS = ('none', 'mean', 'sum')


def weighted_reduce(loss: torch.Tensor, weight: torch.Tensor | None = None, reduction: str = 'mean',
                    avg_factor: float | torch.Tensor | None = None) -> torch.Tensor:
    """Multiply by ``weight`` (broadcast), then reduce (see the module docstring)."""
    if weight is not None:
        loss = loss * weight
    if avg_factor is not None:
        if reduction == 'none':
            return loss
        if reduction != 'mean':
            raise ValueError("avg_factor can only be used with reduction='mean'")
        return loss.sum() / avg_factor
    if reduction == 'mean':
        return loss.mean() if loss.numel() else loss.sum()
    if reduction == 'sum':
        return loss.sum()
    return loss


class _WeightedLoss(nn.Module):
    def __init__(self, reduction: str = 'mean', loss_weight: float = 1.0) -> None:
        super().__init__()
        if reduction not in _REDUCTIONS:
            raise ValueError(f'{type(self).__name__} reduction must be one of {_REDUCTIONS}, got {reduction!r}')
        self.reduction, self.loss_weight = reduction, float(loss_weight)

    def elementwise(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def forward(self, pred: torch.Tensor, target: torch.Tensor, weight: torch.Tensor | None = None,
                avg_factor: float | torch.Tensor | None = None, reduction_override: str | None = None) -> torch.Tensor:
        loss = self.elementwise(pred, target)
        return self.loss_weight * weighted_reduce(loss, weight, reduction_override or self.reduction, avg_factor)


@MODELS.register_module()
class FocalLoss(_WeightedLoss):
    """Sigmoid focal loss (Lin et al., 2017): ``-alpha_t (1 - p_t)^gamma log(p_t)`` per class.

    Args:
        use_sigmoid: must be True (a softmax focal loss is not implemented).
        gamma: focusing parameter.
        alpha: weight of the positive class (1 - alpha for negatives); a negative value disables it.
        reduction, loss_weight: see the module docstring.

    ``pred``: float N x C logits. ``target``: either int64 N class indices where ``C`` (= num_classes)
    means background, or a float N x C 0/1 matrix.
    """

    def __init__(self, use_sigmoid: bool = True, gamma: float = 2.0, alpha: float = 0.25, reduction: str = 'mean',
                 loss_weight: float = 1.0) -> None:
        super().__init__(reduction, loss_weight)
        if not use_sigmoid:
            raise NotImplementedError('FocalLoss: only use_sigmoid=True is implemented')
        self.gamma, self.alpha = float(gamma), float(alpha)

    def elementwise(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        if target.dim() == 1:  # class indices, num_classes = background
            num_classes = pred.shape[-1]
            target = F.one_hot(target.long(), num_classes + 1)[:, :num_classes]
        return sigmoid_focal_loss(pred, target.to(pred.dtype), alpha=self.alpha, gamma=self.gamma, reduction='none')


@MODELS.register_module()
class L1Loss(_WeightedLoss):
    """``|pred - target|`` element-wise. ``pred``, ``target``: float tensors of the same shape."""

    def elementwise(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return (pred - target).abs()


@MODELS.register_module()
class SmoothL1Loss(_WeightedLoss):
    """Huber-like loss: ``0.5 d^2 / beta`` for ``|d| < beta``, else ``|d| - 0.5 beta`` (``d = pred - target``)."""

    def __init__(self, beta: float = 1.0, reduction: str = 'mean', loss_weight: float = 1.0) -> None:
        super().__init__(reduction, loss_weight)
        if beta < 0:
            raise ValueError(f'SmoothL1Loss beta must be >= 0, got {beta}')
        self.beta = float(beta)

    def elementwise(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return F.smooth_l1_loss(pred, target, reduction='none', beta=self.beta)
