"""Samplers (registered in TASK_UTILS): pick the anchors / proposals that a two-stage detector trains on.

Boxes are float ``xyxy`` in absolute pixels of the network input.
"""
from __future__ import annotations

import torch

from visioncraft.registry import TASK_UTILS

from .assigners import AssignResult

__all__ = ['RandomSampler', 'SamplingResult']


class SamplingResult:
    """The sampled priors of one image.

    Attributes:
        pos_inds, neg_inds: int64 indices into the (gt-augmented) priors.
        pos_priors, neg_priors: float P x 4 / Q x 4 boxes (xyxy).
        pos_assigned_gt_inds: int64 P, index of each positive's gt box.
        pos_gt_bboxes: float P x 4, the matched gt boxes.
        pos_gt_labels: int64 P (only when labels were given to :meth:`RandomSampler.sample`).
        priors: all the priors sampled from (the gt boxes first when ``add_gt_as_proposals``).
    """

    def __init__(self, pos_inds: torch.Tensor, neg_inds: torch.Tensor, priors: torch.Tensor,
                 gt_inds: torch.Tensor, gt_bboxes: torch.Tensor, gt_labels: torch.Tensor | None) -> None:
        self.pos_inds, self.neg_inds, self.priors = pos_inds, neg_inds, priors
        self.pos_priors, self.neg_priors = priors[pos_inds], priors[neg_inds]
        self.pos_assigned_gt_inds = gt_inds[pos_inds]
        if gt_bboxes.numel():
            self.pos_gt_bboxes = gt_bboxes[self.pos_assigned_gt_inds]
        else:
            self.pos_gt_bboxes = gt_bboxes.new_zeros((0, 4))
        self.pos_gt_labels = gt_labels[self.pos_assigned_gt_inds] if gt_labels is not None else None

    @property
    def bboxes(self) -> torch.Tensor:
        """The sampled boxes, positives first: (P + Q) x 4."""
        return torch.cat([self.pos_priors, self.neg_priors])

    def __repr__(self) -> str:
        return f'SamplingResult(num_pos={len(self.pos_inds)}, num_neg={len(self.neg_inds)})'


@TASK_UTILS.register_module()
class RandomSampler:
    """Uniformly sample up to ``num`` priors, at most ``num * pos_fraction`` of them positive; negatives fill
    the rest (at most ``neg_pos_ub`` times the positives when ``neg_pos_ub >= 0``).

    The draw is torchvision's ``BalancedPositiveNegativeSampler``: one ``torch.randperm`` over the positive
    candidates, then one over the negatives, so with the same RNG state both pick the same priors (ignored
    priors, ``gt_inds == -2``, are never sampled).

    Args:
        num: priors per image (RPN 256, R-CNN 512).
        pos_fraction: largest share of positives (RPN 0.5, R-CNN 0.25).
        neg_pos_ub: upper bound of negatives per positive; -1 for none.
        add_gt_as_proposals: put the gt boxes in front of the priors (so every gt is a positive); used
            by the R-CNN stage, where the caller must assign the gt-augmented priors (see
            :meth:`augment`).
    """

    def __init__(self, num: int, pos_fraction: float, neg_pos_ub: float = -1,
                 add_gt_as_proposals: bool = True) -> None:
        if num <= 0 or not 0.0 <= pos_fraction <= 1.0:
            raise ValueError(f'RandomSampler: need num > 0 and 0 <= pos_fraction <= 1, got num={num}, '
                             f'pos_fraction={pos_fraction}')
        self.num, self.pos_fraction = int(num), float(pos_fraction)
        self.neg_pos_ub, self.add_gt_as_proposals = neg_pos_ub, bool(add_gt_as_proposals)

    def augment(self, priors: torch.Tensor, gt_bboxes: torch.Tensor) -> torch.Tensor:
        """The priors to assign and sample from: ``cat([gt_bboxes, priors])`` with ``add_gt_as_proposals``."""
        if self.add_gt_as_proposals and gt_bboxes.numel():
            return torch.cat([gt_bboxes.to(priors.dtype), priors])
        return priors

    def sample(self, assign_result: AssignResult, priors: torch.Tensor, gt_bboxes: torch.Tensor,
               gt_labels: torch.Tensor | None = None) -> SamplingResult:
        """Sample from ``priors`` (K x 4, already :meth:`augment`-ed) assigned by ``assign_result`` (K)."""
        gt_inds = assign_result.gt_inds
        if gt_inds.shape[0] != priors.shape[0]:
            raise ValueError(f'RandomSampler: {gt_inds.shape[0]} assignments for {priors.shape[0]} priors '
                             '(assign the augment()-ed priors)')
        pos = torch.nonzero(gt_inds >= 0).flatten()
        neg = torch.nonzero(gt_inds == AssignResult.NEGATIVE).flatten()
        num_pos = min(int(self.num * self.pos_fraction), pos.numel())
        num_neg = min(self.num - num_pos, neg.numel())
        if self.neg_pos_ub >= 0:
            num_neg = min(num_neg, int(self.neg_pos_ub * max(num_pos, 1)))
        pos = pos[torch.randperm(pos.numel(), device=pos.device)[:num_pos]]
        neg = neg[torch.randperm(neg.numel(), device=neg.device)[:num_neg]]
        return SamplingResult(pos, neg, priors, gt_inds, gt_bboxes, gt_labels)
