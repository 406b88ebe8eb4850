"""FCOSHead(dcn_on_last_conv=True): the last conv of both towers is a modulated deformable conv that starts as
half the plain conv (zero offsets, mask sigmoid(0) = 0.5), and trains (gradients reach the offset predictor)."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

import visioncraft  # noqa: F401
from visioncraft.models.layers.deform_conv import ModulatedDeformConv2d
from visioncraft.registry import MODELS


def _head(**over):
    cfg = dict(type='FCOSHead', num_classes=3, in_channels=8, feat_channels=16, stacked_convs=2, strides=[8, 16],
               regress_ranges=[(-1, 64), (64, 1e8)], norm_cfg=dict(type='GN', num_groups=4), dcn_on_last_conv=True)
    cfg.update(over)
    return MODELS.build(cfg)


def test_only_the_last_tower_conv_is_deformable():
    h = _head()
    for tower in (h.cls_convs, h.reg_convs):
        assert type(tower[0].conv) is torch.nn.Conv2d and isinstance(tower[1].conv, ModulatedDeformConv2d)
        assert torch.count_nonzero(tower[1].conv.conv_offset.weight) == 0
    assert not any(isinstance(m, ModulatedDeformConv2d) for m in _head(dcn_on_last_conv=False).modules())


def test_deformable_conv_starts_as_half_the_plain_conv_and_trains():
    torch.manual_seed(0)
    h = _head()
    conv = h.cls_convs[1].conv
    x = torch.rand(1, 16, 6, 6)
    ref = 0.5 * F.conv2d(x, conv.weight, None, padding=1) + (conv.bias.view(1, -1, 1, 1) if conv.bias is not None else 0)
    assert torch.allclose(conv(x), ref, atol=1e-5)
    feats = [torch.rand(1, 8, 8, 8), torch.rand(1, 8, 4, 4)]
    cls, reg, ctr = h(feats)
    assert [c.shape for c in cls] == [(1, 3, 8, 8), (1, 3, 4, 4)] and reg[0].shape == (1, 4, 8, 8)
    (sum(c.sum() for c in cls) + sum(r.sum() for r in reg)).backward()
    assert conv.conv_offset.weight.grad is not None and conv.conv_offset.weight.grad.abs().sum() > 0


def test_dcn_needs_a_tower():
    with pytest.raises(ValueError, match='dcn_on_last_conv'):
        _head(stacked_convs=0)
