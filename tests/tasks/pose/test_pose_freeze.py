"""MMPose's "freeze a part of the model" recipe: ``paramwise_cfg.custom_keys={'backbone': dict(lr_mult=0,
decay_mult=0)}``. The frozen weights stay bit-identical through training steps (with AdamW's weight decay on),
while the head learns."""
from __future__ import annotations

import torch

import visioncraft  # noqa: F401  (fills the registries)
from conftest import pose_batch_maker
from visioncraft.engine.optim import build_optim_wrapper
from visioncraft.registry import MODELS


def test_custom_keys_lr_mult_zero_keeps_backbone_bit_identical():
    codec = dict(type='MSRAHeatmap', input_size=(48, 64), heatmap_size=(12, 16), sigma=1.0)
    torch.manual_seed(0)
    model = MODELS.build(dict(type='TopdownPoseEstimator',
                              backbone=dict(type='ResNet', depth=18, num_stages=2, out_indices=(1,)),
                              head=dict(type='HeatmapHead', out_channels=3, deconv_out_channels=(16,),
                                        deconv_kernel_sizes=(4,), decoder=codec)))
    make = pose_batch_maker(codec)
    wrapper = build_optim_wrapper(model, dict(
        type='OptimWrapper', optimizer=dict(type='AdamW', lr=1e-2, weight_decay=0.1),
        paramwise_cfg=dict(custom_keys={'backbone': dict(lr_mult=0, decay_mult=0)})))
    before = {k: v.detach().clone() for k, v in model.named_parameters()}
    model.train()
    for _ in range(5):
        model.train_step(make(2), wrapper)
    after = dict(model.named_parameters())
    frozen = [k for k in before if k.startswith('backbone.')]
    learned = [k for k in before if k.startswith('head.')]
    assert frozen and learned
    assert all(torch.equal(before[k], after[k]) for k in frozen)
    assert all(not after[k].requires_grad for k in frozen)
    assert any(not torch.equal(before[k], after[k]) for k in learned)
