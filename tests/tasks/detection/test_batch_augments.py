"""BatchFixedSizePad (MMDetection's LSJ batch augmentation): pads the batch bottom/right to the fixed size, never
crops, and moves the samples' shapes and masks with it."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from visioncraft.registry import MODELS
from visioncraft.structures import DataSample, InstanceData
from visioncraft.structures.masks import BitmapMasks


def _samples(h, w):
    masks = BitmapMasks(np.ones((1, h, w), np.uint8), h, w)
    return [DataSample(metainfo=dict(batch_input_shape=(h, w), pad_shape=(h, w)),
                       gt_instances=InstanceData(bboxes=torch.zeros(1, 4), labels=torch.zeros(1, dtype=torch.long),
                                                 masks=masks))]


def test_pads_to_the_fixed_size_with_masks():
    pad = MODELS.build(dict(type='BatchFixedSizePad', size=(48, 64), img_pad_value=-1.0, pad_mask=True))
    x = torch.rand(1, 3, 40, 50)
    out, samples = pad(x, _samples(40, 50))
    assert out.shape == (1, 3, 48, 64)
    assert torch.equal(out[..., :40, :50], x) and (out[..., 40:, :] == -1).all() and (out[..., 50:] == -1).all()
    assert samples[0].get('batch_input_shape') == (48, 64) == samples[0].get('pad_shape')
    m = samples[0].gt_instances.masks
    assert (m.height, m.width) == (48, 64) and m.areas.tolist() == [40 * 50]


def test_never_crops_and_keeps_a_large_batch():
    pad = MODELS.build(dict(type='BatchFixedSizePad', size=(32, 32)))
    x = torch.rand(2, 3, 40, 20)
    out, _ = pad(x, None)
    assert out.shape == (2, 3, 40, 32)  # the height already exceeds 32: only the width grows
    same, _ = pad(torch.rand(1, 3, 32, 40), None)
    assert same.shape == (1, 3, 32, 40)


def test_semantic_maps_are_refused():
    with pytest.raises(ValueError, match='pad_seg'):
        MODELS.build(dict(type='BatchFixedSizePad', size=(32, 32), pad_seg=True))


def test_det_data_preprocessor_runs_batch_augments_in_training_only():
    pre = MODELS.build(dict(type='DetDataPreprocessor', mean=[0, 0, 0], std=[1, 1, 1], pad_size_divisor=1,
                            batch_augments=[dict(type='BatchFixedSizePad', size=(48, 64))]))
    data = dict(inputs=[torch.zeros(3, 40, 50, dtype=torch.uint8)], data_samples=_samples(40, 50))
    assert pre(dict(data), training=True)['inputs'].shape == (1, 3, 48, 64)
    data = dict(inputs=[torch.zeros(3, 40, 50, dtype=torch.uint8)], data_samples=_samples(40, 50))
    assert pre(dict(data), training=False)['inputs'].shape == (1, 3, 40, 50)
