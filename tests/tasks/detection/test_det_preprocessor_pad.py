"""DetDataPreprocessor's MMDetection 3.x target padding (pad_mask / pad_seg)."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from visioncraft.structures import DataSample, InstanceData
from visioncraft.structures.masks import BitmapMasks
from visioncraft.tasks.detection.models.data_preprocessor import DetDataPreprocessor


def _batch():
    sample = DataSample()
    masks = BitmapMasks(np.ones((1, 30, 40), np.uint8), 30, 40)
    sample.gt_instances = InstanceData(bboxes=torch.tensor([[0., 0., 10., 10.]]), labels=torch.tensor([0]),
                                       masks=masks)
    return dict(inputs=[torch.zeros(3, 30, 40, dtype=torch.uint8)], data_samples=[sample])


def test_pad_mask_pads_to_the_batch_shape_in_training_only():
    pre = DetDataPreprocessor(pad_size_divisor=32, pad_mask=True, pad_seg=True, mask_pad_value=0,
                              seg_pad_value=255)
    out = pre(_batch(), training=True)
    masks = out['data_samples'][0].gt_instances.masks
    assert out['inputs'].shape[-2:] == (32, 64) and (masks.height, masks.width) == (32, 64)
    assert masks.masks[0, :30, :40].all() and not masks.masks[0, 30:].any()
    test = pre(_batch(), training=False)
    assert test['data_samples'][0].gt_instances.masks.width == 40


def test_boxtype2tensor_false_is_refused():
    with pytest.raises(ValueError, match='boxtype2tensor=False'):
        DetDataPreprocessor(boxtype2tensor=False)
