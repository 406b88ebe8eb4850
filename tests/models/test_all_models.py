"""Every registered model, forward and backward (STYLE example 13).

A model class registered in MODELS that is a BaseModel must have a tiny config here: the first test
fails when one is added without it, so no model ships untested.
"""
from __future__ import annotations

import math

import pytest
import torch

import visioncraft  # noqa: F401  (fills the registries)
from visioncraft.models import BaseModel
from visioncraft.registry import MODELS
from visioncraft.structures import DataSample, InstanceData


def _cls_batch(n=3, size=32):
    g = torch.Generator().manual_seed(0)
    return dict(inputs=[torch.randint(0, 255, (3, size, size), dtype=torch.uint8, generator=g) for _ in range(n)],
                data_samples=[DataSample(gt_label=torch.tensor([i % 4])) for i in range(n)])


def _det_batch(n=2, size=64):
    g = torch.Generator().manual_seed(0)
    inputs, samples = [], []
    for i in range(n):
        h, w = size, size - 8 * i
        inputs.append(torch.randint(0, 255, (3, h, w), dtype=torch.uint8, generator=g))
        boxes = torch.tensor([[4.0, 6.0, 30.0, 40.0], [20.0, 10.0, 50.0, 30.0]])[: 1 + i % 2]
        samples.append(DataSample(metainfo=dict(img_shape=(h, w), ori_shape=(h, w), scale_factor=(1.0, 1.0)),
                                  gt_instances=InstanceData(bboxes=boxes, labels=torch.tensor([0, 2])[: len(boxes)])))
    return dict(inputs=inputs, data_samples=samples)


_RETINA = dict(
    data_preprocessor=dict(type='DetDataPreprocessor', mean=[123.675, 116.28, 103.53], std=[58.395, 57.12, 57.375],
                           bgr_to_rgb=True, pad_size_divisor=32),
    backbone=dict(type='ResNet', depth=18, frozen_stages=1),
    neck=dict(type='FPN', out_channels=32, start_level=1, add_extra_convs='on_input', num_outs=5),
    bbox_head=dict(type='RetinaHead', num_classes=3, feat_channels=32, stacked_convs=2,
                   anchor_generator=dict(type='AnchorGenerator', octave_base_scale=4, scales_per_octave=3,
                                         ratios=[0.5, 1.0, 2.0], strides=[8, 16, 32, 64, 128])),
    train_cfg=dict(assigner=dict(type='MaxIoUAssigner', pos_iou_thr=0.5, neg_iou_thr=0.4, min_pos_iou=0)),
    test_cfg=dict(nms_pre=100, score_thr=0.0, nms=dict(type='nms', iou_threshold=0.5), max_per_img=10),
)

# name -> (tiny config, batch maker, prediction field every output sample must carry)
TINY = {
    'TinyClassifier': (dict(type='TinyClassifier', num_classes=4, widths=(8, 16),
                            data_preprocessor=dict(type='ImgDataPreprocessor', mean=[127.5] * 3, std=[64.0] * 3)),
                       _cls_batch, 'pred_label'),
    'RetinaNet': (dict(type='RetinaNet', **_RETINA), _det_batch, 'pred_instances'),
    'SingleStageDetector': (dict(type='SingleStageDetector', **_RETINA), _det_batch, 'pred_instances'),
}


def _registered_models() -> list[str]:
    return [n for n in MODELS.names() if isinstance(MODELS.get(n), type) and issubclass(MODELS.get(n), BaseModel)]


def test_every_registered_model_has_a_tiny_config_here():
    missing = sorted(set(_registered_models()) - set(TINY))
    assert not missing, f'add a tiny config for {missing} to tests/models/test_all_models.py'


@pytest.mark.parametrize('name', sorted(TINY))
def test_forward_backward_predict(name):
    cfg, make_batch, field = TINY[name]
    torch.manual_seed(0)
    model = MODELS.build(cfg)
    model.train()
    data = model.data_preprocessor(make_batch(), training=True)
    losses = model(**data, mode='loss')
    total = sum(v.mean() for k, v in losses.items() if 'loss' in k)
    assert math.isfinite(float(total.detach())), losses
    total.backward()
    trainable = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    no_grad = [n for n, p in trainable if p.grad is None]
    assert trainable and not no_grad, f'{name}: parameters without gradient: {no_grad[:5]}'
    model.eval()
    with torch.no_grad():
        out = model.test_step(make_batch())
        raw = model(**model.data_preprocessor(make_batch(), training=False), mode='tensor')
    assert len(out) == len(make_batch()['inputs']) and all(field in s for s in out)
    assert raw is not None
