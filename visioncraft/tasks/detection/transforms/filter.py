"""``FilterAnnotations``: drop ground-truth instances too small to learn from (after crops and resizes).

The arguments and behaviour are MMDetection's, so its configs (the LSJ recipes, every ``RandomCrop`` pipeline) use
it unchanged: an instance stays when its box is wider than ``min_gt_bbox_wh[0]`` and taller than
``min_gt_bbox_wh[1]`` (``by_box``) and its mask covers at least ``min_gt_mask_area`` pixels (``by_mask``). When no
instance stays, ``keep_empty=True`` drops the whole sample (the dataset fetches another; the name is upstream's),
``keep_empty=False`` keeps it with no instances.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from visioncraft.data import BaseTransform
from visioncraft.registry import TRANSFORMS

__all__ = ['FilterAnnotations']

#: the per-instance keys filtered together
_INSTANCE_KEYS = ('gt_bboxes', 'gt_bboxes_labels', 'gt_masks', 'gt_ignore_flags')


@TRANSFORMS.register_module()
class FilterAnnotations(BaseTransform):
    """Keep the instances whose box (``by_box``) and / or mask (``by_mask``) is large enough.

    Args:
        min_gt_bbox_wh: (w, h): a box must be strictly wider and taller, in pixels.
        min_gt_mask_area: the least mask area, in pixels.
        by_box: test the boxes (``gt_bboxes``, N x 4 xyxy pixels).
        by_mask: test the masks (``gt_masks``).
        keep_empty: when nothing stays, drop the sample (True) or keep it without instances (False).
    """

    def __init__(self, min_gt_bbox_wh: Sequence[float] = (1, 1), min_gt_mask_area: int = 1, by_box: bool = True,
                 by_mask: bool = False, keep_empty: bool = True) -> None:
        if not (by_box or by_mask):
            raise ValueError('FilterAnnotations: by_box and by_mask are both False: nothing would be tested')
        if len(min_gt_bbox_wh) != 2:
            raise ValueError(f'FilterAnnotations: min_gt_bbox_wh must be (w, h), got {min_gt_bbox_wh!r}')
        self.min_gt_bbox_wh = tuple(float(v) for v in min_gt_bbox_wh)
        self.min_gt_mask_area = min_gt_mask_area
        self.by_box, self.by_mask, self.keep_empty = by_box, by_mask, keep_empty

    def transform(self, results: dict) -> dict | None:
        if results.get('gt_bboxes') is None:
            raise KeyError('FilterAnnotations: the sample has no gt_bboxes; put it after LoadAnnotations')
        boxes = np.asarray(results['gt_bboxes'], dtype=np.float32).reshape(-1, 4)
        if len(boxes) == 0:
            return results
        keep = np.ones(len(boxes), dtype=bool)
        if self.by_box:
            keep &= (boxes[:, 2] - boxes[:, 0] > self.min_gt_bbox_wh[0]) & \
                    (boxes[:, 3] - boxes[:, 1] > self.min_gt_bbox_wh[1])
        if self.by_mask:
            masks = results.get('gt_masks')
            if masks is None:
                raise KeyError('FilterAnnotations(by_mask=True): the sample has no gt_masks; load them with '
                               'LoadAnnotations(with_mask=True)')
            keep &= np.asarray(masks.areas) >= self.min_gt_mask_area
        if not keep.any() and self.keep_empty:
            return None
        index = np.nonzero(keep)[0]
        for key in _INSTANCE_KEYS:
            value = results.get(key)
            if value is None:
                continue
            results[key] = value[index] if hasattr(value, '__getitem__') and not isinstance(value, list) \
                else [value[i] for i in index]
        return results
