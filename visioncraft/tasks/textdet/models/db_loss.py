"""DBNet's loss: balanced BCE (3:1 hard negatives) on the probability map, dice on the approximate binary map,
masked L1 on the threshold map."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from visioncraft.registry import MODELS

__all__ = ['DBLoss']


@MODELS.register_module()
class DBLoss(nn.Module):
    """``loss = alpha * L_prob + beta * L_thr + L_db`` (paper and MMOCR: alpha 5, beta 10).

    Args:
        loss_prob_weight: alpha, weight of the balanced BCE on the probability (shrink) map.
        loss_thr_weight: beta, weight of the L1 on the threshold map.
        loss_db_weight: weight of the dice loss on the approximate binary map.
        negative_ratio: at most this many negatives per positive enter the BCE (hardest first).
        eps: numerical guard.
    """

    def __init__(self, loss_prob_weight: float = 5.0, loss_thr_weight: float = 10.0, loss_db_weight: float = 1.0,
                 negative_ratio: float = 3.0, eps: float = 1e-6) -> None:
        super().__init__()
        self.loss_prob_weight = loss_prob_weight
        self.loss_thr_weight = loss_thr_weight
        self.loss_db_weight = loss_db_weight
        self.negative_ratio = negative_ratio
        self.eps = eps

    def balanced_bce(self, pred: torch.Tensor, gt: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """BCE over all positives and the ``negative_ratio * #positives`` hardest negatives (all tensors
        N x H x W float; ``pred`` probabilities)."""
        positive = gt * mask
        negative = (1 - gt) * mask
        n_pos = int(positive.sum())
        n_neg = min(int(negative.sum()), int(n_pos * self.negative_ratio))
        with torch.autocast(device_type=pred.device.type, enabled=False):
            loss = F.binary_cross_entropy(pred.float().clamp(self.eps, 1 - self.eps), gt.float(), reduction='none')
        pos_loss = (loss * positive).sum()
        neg_loss = (loss * negative).flatten()
        if n_neg > 0:
            neg_loss = neg_loss.topk(n_neg).values.sum()
        else:
            neg_loss = neg_loss.sum() * 0
        return (pos_loss + neg_loss) / (n_pos + n_neg + self.eps)

    def dice(self, pred: torch.Tensor, gt: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        inter = (pred * gt * mask).sum()
        union = (pred * mask).sum() + (gt * mask).sum() + self.eps
        return 1 - 2 * inter / union

    def forward(self, prob: torch.Tensor, thr: torch.Tensor, binary: torch.Tensor,
                targets: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Args: ``prob``, ``thr``, ``binary``: N x H x W predictions in [0, 1]; ``targets``: N x H x W
        ``shrink_map``, ``shrink_mask``, ``thr_map``, ``thr_mask`` (see :meth:`DBCodec.encode`).

        Returns ``dict(loss_prob, loss_thr, loss_db)``, each already weighted.
        """
        for k in ('shrink_map', 'shrink_mask', 'thr_map', 'thr_mask'):
            if k not in targets:
                raise KeyError(f'DBLoss: targets lack {k!r} (have {sorted(targets)})')
            if targets[k].shape != prob.shape:
                raise ValueError(f'DBLoss: targets[{k!r}] has shape {tuple(targets[k].shape)}, '
                                 f'predictions {tuple(prob.shape)}')
        gt, mask = targets['shrink_map'], targets['shrink_mask']
        loss_prob = self.balanced_bce(prob, gt, mask)
        loss_db = self.dice(binary, gt, mask)
        thr_mask = targets['thr_mask']
        loss_thr = ((thr - targets['thr_map']).abs() * thr_mask).sum() / (thr_mask.sum() + self.eps)
        return dict(loss_prob=self.loss_prob_weight * loss_prob, loss_thr=self.loss_thr_weight * loss_thr,
                    loss_db=self.loss_db_weight * loss_db)
