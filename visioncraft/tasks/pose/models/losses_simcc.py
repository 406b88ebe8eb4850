"""Losses of the SimCC (coordinate-classification) heads."""
from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from visioncraft.registry import MODELS

__all__ = ['KLDiscretLoss']


@MODELS.register_module()
class KLDiscretLoss(nn.Module):
    """KL divergence between the SimCC target distributions and the predicted ones, per axis (Li et al., "SimCC",
    ECCV 2022; MMPose's ``KLDiscretLoss``).

    For each keypoint and each axis (x with Wx bins, y with Hy bins):
    ``p = softmax(beta * pred)``, ``t = softmax(label_beta * target)`` with ``label_softmax`` (else ``target``
    as given, which should then sum to 1), ``l = mean over the bins of t * (log t - log p)`` (0 where t = 0).
    The result is ``sum over samples, keypoints and both axes of w * l``, divided by K (the number of keypoints,
    not the batch: MMPose's normalisation, kept so that loss values and learning rates carry over).

    Args:
        beta: temperature of the prediction softmax (RTMPose: 10).
        label_softmax: soften the labels by a softmax (RTMPose: True, for its unnormalised Gaussian labels).
        label_beta: temperature of the label softmax.
        use_target_weight: weight each keypoint by ``keypoint_weights`` (else every weight is 1).
        mask: optional keypoint indices whose loss is multiplied by ``mask_weight``.
        mask_weight: see ``mask``.
        loss_weight: a final multiplier (1).

    ``forward(pred_simcc=(x (N, K, Wx), y (N, K, Hy)), gt_simcc=(same shapes), target_weight (N, K))`` ->
    scalar tensor.
    """

    def __init__(self, beta: float = 1.0, label_softmax: bool = False, label_beta: float = 10.0,
                 use_target_weight: bool = True, mask: Sequence[int] | None = None, mask_weight: float = 1.0,
                 loss_weight: float = 1.0) -> None:
        super().__init__()
        self.beta, self.label_softmax, self.label_beta = float(beta), bool(label_softmax), float(label_beta)
        self.use_target_weight = bool(use_target_weight)
        self.mask = None if mask is None else list(mask)
        self.mask_weight, self.loss_weight = float(mask_weight), float(loss_weight)

    def criterion(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """Per-row loss: ``logits``, ``labels`` (M, L) -> (M,) (mean over the L bins of the pointwise KL)."""
        log_p = F.log_softmax(logits * self.beta, dim=1)
        if self.label_softmax:
            labels = F.softmax(labels * self.label_beta, dim=1)
        return F.kl_div(log_p, labels, reduction='none').mean(dim=1)

    def forward(self, pred_simcc: Sequence[torch.Tensor], gt_simcc: Sequence[torch.Tensor],
                target_weight: torch.Tensor | None = None) -> torch.Tensor:
        if len(pred_simcc) != len(gt_simcc):
            raise ValueError(f'KLDiscretLoss: {len(pred_simcc)} predicted axes but {len(gt_simcc)} target axes')
        n, k, _ = pred_simcc[0].shape
        weight = None
        if self.use_target_weight:
            if target_weight is None:
                raise ValueError('KLDiscretLoss(use_target_weight=True) needs target_weight (N, K)')
            weight = target_weight.reshape(-1).to(pred_simcc[0].dtype)
        total = pred_simcc[0].new_zeros(())
        for pred, target in zip(pred_simcc, gt_simcc):
            if pred.shape != target.shape:
                raise ValueError(f'KLDiscretLoss: prediction {tuple(pred.shape)} and target {tuple(target.shape)} '
                                 'differ: the codec input_size * simcc_split_ratio must match the head')
            loss = self.criterion(pred.reshape(-1, pred.shape[-1]), target.reshape(-1, target.shape[-1]).to(pred))
            if weight is not None:
                loss = loss * weight
            if self.mask is not None:
                scale = torch.ones(k, dtype=loss.dtype, device=loss.device)
                scale[self.mask] = self.mask_weight
                loss = (loss.reshape(n, k) * scale).reshape(-1)
            total = total + loss.sum()
        return total / k * self.loss_weight
