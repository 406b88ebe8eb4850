"""Anchor-to-ground-truth assignment (registered in TASK_UTILS): :class:`MaxIoUAssigner` and its result."""
from __future__ import annotations

import torch
from torchvision.ops import box_iou

from visioncraft.registry import TASK_UTILS

from .box_ops import box_iof

__all__ = ['AssignResult', 'MaxIoUAssigner']


class AssignResult:
    """Per-anchor assignment: ``gt_inds`` int64 K: ``>= 0`` index of the matched gt box (positive),
    ``-1`` negative (background), ``-2`` ignored (no classification loss); ``max_ious`` float K."""

    NEGATIVE = -1
    IGNORE = -2

    def __init__(self, gt_inds: torch.Tensor, max_ious: torch.Tensor) -> None:
        self.gt_inds, self.max_ious = gt_inds, max_ious

    @property
    def pos_mask(self) -> torch.Tensor:
        return self.gt_inds >= 0

    @property
    def num_pos(self) -> int:
        return int(self.pos_mask.sum())


@TASK_UTILS.register_module()
class MaxIoUAssigner:
    """Assign every anchor to the gt box it overlaps most (IoU), as torchvision's ``Matcher``.

    IoU >= ``pos_iou_thr``: positive; < ``neg_iou_thr``: negative; in between: ignored. With
    ``match_low_quality``, for every gt box the anchors of highest IoU with it (ties included; IoU must be
    > 0 and >= ``min_pos_iou``) become positive too, matched to *their own* best gt box (torchvision's
    ``allow_low_quality_matches``).

    Ignored gt regions (crowd boxes, ``data_sample.ignored_instances``): with ``ignore_iof_thr > 0`` and
    ``gt_bboxes_ignore`` given, an anchor that is not positive and whose intersection with some ignored box
    covers more than ``ignore_iof_thr`` of the anchor's own area (IoF) becomes ignored (-2: no loss), so the
    unlabelled objects in a crowd region are not trained as background. Unlike MMDetection's assigner,
    such an anchor can still be positive for a real gt box it matches.

    Args:
        pos_iou_thr, neg_iou_thr, min_pos_iou, match_low_quality: see above.
        ignore_iof_thr: IoF threshold for ignored regions; <= 0 (default -1) disables them.
    """

    def __init__(self, pos_iou_thr: float = 0.5, neg_iou_thr: float = 0.4, min_pos_iou: float = 0.0,
                 match_low_quality: bool = True, ignore_iof_thr: float = -1, gt_max_assign_all: bool = True) -> None:
        if not isinstance(neg_iou_thr, (int, float)):
            raise NotImplementedError('MaxIoUAssigner: neg_iou_thr must be a number (ranges are not supported)')
        if neg_iou_thr > pos_iou_thr:
            raise ValueError(f'MaxIoUAssigner: neg_iou_thr={neg_iou_thr} > pos_iou_thr={pos_iou_thr}')
        if ignore_iof_thr is not None and ignore_iof_thr > 1:
            raise ValueError(f'MaxIoUAssigner: ignore_iof_thr={ignore_iof_thr} > 1 would never ignore an anchor '
                             '(IoF is at most 1); use a value in (0, 1], or -1 to disable')
        if not gt_max_assign_all:
            raise NotImplementedError('MaxIoUAssigner: only gt_max_assign_all=True (all ties) is implemented')
        self.pos_iou_thr, self.neg_iou_thr = float(pos_iou_thr), float(neg_iou_thr)
        self.min_pos_iou, self.match_low_quality = float(min_pos_iou), bool(match_low_quality)
        self.ignore_iof_thr = -1.0 if ignore_iof_thr is None else float(ignore_iof_thr)

    def assign(self, anchors: torch.Tensor, gt_bboxes: torch.Tensor,
               gt_bboxes_ignore: torch.Tensor | None = None) -> AssignResult:
        """K x 4 anchors, G x 4 gt boxes, optional I x 4 ignored gt boxes (all xyxy) -> :class:`AssignResult`."""
        k = anchors.shape[0]
        if gt_bboxes.numel() == 0:
            gt_inds = torch.full((k,), AssignResult.NEGATIVE, dtype=torch.long, device=anchors.device)
            max_ious = anchors.new_zeros(k)
        else:
            ious = box_iou(gt_bboxes.to(anchors.dtype), anchors)  # G x K
            max_ious, best_gt = ious.max(dim=0)
            gt_inds = best_gt.clone()
            gt_inds[max_ious < self.neg_iou_thr] = AssignResult.NEGATIVE
            gt_inds[(max_ious >= self.neg_iou_thr) & (max_ious < self.pos_iou_thr)] = AssignResult.IGNORE
            if self.match_low_quality:
                best_per_gt = ious.max(dim=1).values  # G
                usable = (best_per_gt > 0) & (best_per_gt >= self.min_pos_iou)
                pairs = torch.nonzero((ious == best_per_gt[:, None]) & usable[:, None], as_tuple=True)
                gt_inds[pairs[1]] = best_gt[pairs[1]]
        if self.ignore_iof_thr > 0 and gt_bboxes_ignore is not None and gt_bboxes_ignore.numel() and k:
            iof = box_iof(anchors, gt_bboxes_ignore.to(anchors).reshape(-1, 4)).max(dim=1).values  # K
            gt_inds[(iof > self.ignore_iof_thr) & (gt_inds < 0)] = AssignResult.IGNORE
        return AssignResult(gt_inds, max_ious)
