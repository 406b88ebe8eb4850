"""Samplers (registered in TASK_UTILS): pick the anchors / proposals that a two-stage detector trains on.

Boxes are float ``xyxy`` in absolute pixels of the network input.
"""
from __future__ import annotations

from collections.abc import Callable

import torch

from visioncraft.registry import TASK_UTILS

from .assigners import AssignResult

__all__ = ['RandomSampler', 'OHEMSampler', 'SamplingResult']


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


#: ``loss_fn(boxes K x 4 xyxy, labels int64 K) -> float K``: every box's loss under the current model
LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


@TASK_UTILS.register_module()
class OHEMSampler(RandomSampler):
    """Online hard example mining (Shrivastava et al., 2016): the same counts as :class:`RandomSampler`, but
    where there are more candidates than places, the positives (and the negatives) with the HIGHEST loss under
    the current model are kept instead of a random draw (``torch.topk``).

    The loss comes from the caller: :meth:`sample` takes ``loss_fn(boxes, labels)``, which
    :class:`StandardRoIHead` gives as the box head's per-RoI classification loss (``loss_cls``, no gradient),
    a positive scored against its gt label, a negative against the background. Used as
    ``train_cfg.rcnn.sampler``; where no ``loss_fn`` is given (e.g. an RPN sampler) it is an error.

    Args:
        num, pos_fraction, neg_pos_ub, add_gt_as_proposals: as :class:`RandomSampler`.
        loss_key: which loss ranks the candidates; only ``'loss_cls'`` (MMDetection's default).
        context: accepted for MMDetection compatibility (its RoI head passes itself); unused here.
    """

    #: :class:`StandardRoIHead` passes ``loss_fn`` to samplers that set this
    needs_loss_fn = True

    def __init__(self, num: int, pos_fraction: float, neg_pos_ub: float = -1, add_gt_as_proposals: bool = True,
                 loss_key: str = 'loss_cls', context: object = None) -> None:
        super().__init__(num, pos_fraction, neg_pos_ub, add_gt_as_proposals)
        if loss_key != 'loss_cls':
            raise NotImplementedError(f"OHEMSampler: only loss_key='loss_cls' is implemented, got {loss_key!r}")
        self.loss_key = loss_key

    @staticmethod
    def _hardest(inds: torch.Tensor, k: int, boxes: torch.Tensor, labels: torch.Tensor,
                 loss_fn: LossFn) -> torch.Tensor:
        """The ``k`` of ``inds`` whose boxes have the highest loss (all of them when there are no more)."""
        if inds.numel() <= k:
            return inds
        with torch.no_grad():
            loss = loss_fn(boxes, labels)
        if loss.shape != (inds.numel(),):
            raise ValueError(f'OHEMSampler: loss_fn must return one loss per box ({inds.numel()}), '
                             f'got shape {tuple(loss.shape)}')
        return inds[loss.topk(k).indices]

    def sample(self, assign_result: AssignResult, priors: torch.Tensor, gt_bboxes: torch.Tensor,
               gt_labels: torch.Tensor | None = None, *, loss_fn: LossFn | None = None,
               background_label: int | None = None) -> SamplingResult:
        """Sample from ``priors`` (K x 4, already :meth:`augment`-ed) assigned by ``assign_result`` (K).
        ``loss_fn``: see the class docstring; ``background_label``: the label the negatives are scored with
        (the box head's ``num_classes``); ``gt_labels``: int64, one per gt box (the positives' labels)."""
        gt_inds = assign_result.gt_inds
        if gt_inds.shape[0] != priors.shape[0]:
            raise ValueError(f'OHEMSampler: {gt_inds.shape[0]} assignments for {priors.shape[0]} priors '
                             '(assign the augment()-ed priors)')
        if loss_fn is None or background_label is None or gt_labels is None:
            raise ValueError('OHEMSampler.sample needs loss_fn, background_label and gt_labels: use it as '
                             'train_cfg.rcnn.sampler of a StandardRoIHead (it ranks RoIs by the box head\'s loss)')
        pos = torch.nonzero(gt_inds >= 0).flatten()
        neg = torch.nonzero(gt_inds == AssignResult.NEGATIVE).flatten()
        num_pos = min(int(self.num * self.pos_fraction), pos.numel())
        pos = self._hardest(pos, num_pos, priors[pos], gt_labels[gt_inds[pos]].long(), loss_fn)
        num_neg = min(self.num - num_pos, neg.numel())
        if self.neg_pos_ub >= 0:
            num_neg = min(num_neg, int(self.neg_pos_ub * max(num_pos, 1)))
        neg_labels = torch.full((neg.numel(),), int(background_label), dtype=torch.long, device=neg.device)
        neg = self._hardest(neg, num_neg, priors[neg], neg_labels, loss_fn)
        return SamplingResult(pos, neg, priors, gt_inds, gt_bboxes, gt_labels)
