"""FilterAnnotations (MMDetection's arguments): small boxes / masks go, with their labels, masks and flags; an
emptied sample is dropped (keep_empty=True) or kept without instances."""
from __future__ import annotations

import numpy as np
import pytest

from visioncraft.data import Compose
from visioncraft.structures.masks import BitmapMasks


def _results():
    masks = np.zeros((3, 20, 20), np.uint8)
    masks[0, :10, :10] = 1      # area 100
    masks[1, 0, 0] = 1          # area 1
    masks[2, 5:7, 5:7] = 1      # area 4
    return dict(gt_bboxes=np.array([[0, 0, 10, 10], [0, 0, 1, 5], [5, 5, 7, 7]], np.float32),
                gt_bboxes_labels=np.array([3, 4, 5]), gt_ignore_flags=np.array([False, True, False]),
                gt_masks=BitmapMasks(masks, 20, 20))


def test_by_box_keeps_strictly_larger_boxes():
    out = Compose([dict(type='FilterAnnotations', min_gt_bbox_wh=(1, 1))])(_results())
    assert out['gt_bboxes_labels'].tolist() == [3, 5]  # the 1-px-wide box is not wider than 1
    assert out['gt_ignore_flags'].tolist() == [False, False]
    assert len(out['gt_masks']) == 2 and out['gt_masks'].areas.tolist() == [100, 4]


def test_by_mask_and_box_together():
    t = Compose([dict(type='FilterAnnotations', min_gt_bbox_wh=(0, 0), min_gt_mask_area=5, by_mask=True)])
    assert t(_results())['gt_bboxes_labels'].tolist() == [3]


def test_emptied_sample_is_dropped_or_kept():
    big = dict(type='FilterAnnotations', min_gt_bbox_wh=(50, 50))
    assert Compose([big])(_results()) is None
    out = Compose([dict(big, keep_empty=False)])(_results())
    assert out['gt_bboxes'].shape == (0, 4) and len(out['gt_masks']) == 0


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match='by_box and by_mask'):
        Compose([dict(type='FilterAnnotations', by_box=False)])
    with pytest.raises(KeyError, match='gt_masks'):
        Compose([dict(type='FilterAnnotations', by_mask=True)])(dict(gt_bboxes=np.zeros((1, 4))))
