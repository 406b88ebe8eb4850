"""DCNv2 (ModulatedDeformConv2d) and ResNet(dcn=..., stage_with_dcn=...)."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from visioncraft.engine.checkpoint import load_model_weights
from visioncraft.models import ResNet
from visioncraft.models.layers import ModulatedDeformConv2d
from visioncraft.registry import MODELS

DCN = dict(type='DCNv2', deform_groups=1)


def _randomise_offsets(model: nn.Module, scale: float = 0.3) -> None:
    g = torch.Generator().manual_seed(3)
    for m in model.modules():
        if isinstance(m, ModulatedDeformConv2d):
            m.conv_offset.weight.data.uniform_(-scale, scale, generator=g)
            m.conv_offset.bias.data.uniform_(-scale, scale, generator=g)


@pytest.mark.parametrize('bias', [False, True])
@pytest.mark.parametrize('stride', [1, 2])
def test_zero_init_is_half_the_plain_conv(bias, stride):
    # offsets 0 and mask sigmoid(0) = 0.5: exactly 0.5 * conv(x, W) + b
    torch.manual_seed(0)
    m = ModulatedDeformConv2d(6, 10, 3, stride=stride, padding=1, bias=bias)
    x = torch.randn(2, 6, 11, 13)
    y = m(x)
    ref = 0.5 * F.conv2d(x, m.weight, None, stride, 1)
    if bias:
        ref = ref + m.bias.reshape(1, -1, 1, 1)
    assert y.shape == F.conv2d(x, m.weight, None, stride, 1).shape
    torch.testing.assert_close(y, ref, atol=1e-5, rtol=1e-5)
    assert not m.conv_offset.weight.any() and not m.conv_offset.bias.any()


def test_offsets_change_the_output_and_gradients_reach_conv_offset():
    torch.manual_seed(0)
    m = ModulatedDeformConv2d(4, 8, 3, padding=1, deform_groups=2, bias=False)
    x = torch.randn(1, 4, 9, 9)
    base = m(x).detach()
    m(x).square().sum().backward()
    assert m.conv_offset.weight.grad.abs().sum() > 0 and m.weight.grad.abs().sum() > 0
    _randomise_offsets(m)
    assert (m(x) - base).abs().max() > 1e-3


def test_channels_last_input_same_values_and_layout():
    torch.manual_seed(0)
    m = ModulatedDeformConv2d(8, 8, 3, padding=1)
    _randomise_offsets(m)
    x = torch.randn(2, 8, 10, 12)
    y_cl = m(x.contiguous(memory_format=torch.channels_last))
    assert y_cl.is_contiguous(memory_format=torch.channels_last)
    torch.testing.assert_close(y_cl, m(x), atol=1e-5, rtol=1e-5)


def test_low_precision_inputs_are_sampled_in_float32():
    # torchvision's CPU kernel has no bfloat16 path: under autocast (and for a bfloat16 model) the layer
    # samples in float32 and returns the input's dtype
    torch.manual_seed(0)
    m = ModulatedDeformConv2d(8, 8, 3, padding=1)
    _randomise_offsets(m)
    x = torch.randn(1, 8, 12, 12)
    ref = m(x)
    with torch.autocast('cpu', dtype=torch.bfloat16):
        y = m(x.to(torch.bfloat16))
    assert y.dtype == torch.bfloat16
    torch.testing.assert_close(y.float(), ref, atol=0.1, rtol=0.05)
    y2 = m.to(torch.bfloat16)(x.to(torch.bfloat16))
    assert y2.dtype == torch.bfloat16
    torch.testing.assert_close(y2.float(), ref, atol=0.1, rtol=0.05)
    net = ResNet(depth=18, dcn=DCN, stage_with_dcn=(False, True, False, False), num_stages=2,
                 out_indices=(1,))
    with torch.autocast('cpu', dtype=torch.bfloat16):
        out = net(torch.rand(1, 3, 32, 32))[0]
    out.float().mean().backward()
    assert net.layer2[0].conv2.conv_offset.weight.grad is not None


def test_registered_and_bad_args():
    m = MODELS.build(dict(type='DCNv2', in_channels=4, out_channels=4, kernel_size=3, padding=1))
    assert isinstance(m, ModulatedDeformConv2d)
    with pytest.raises(ValueError, match='deform_groups'):
        ModulatedDeformConv2d(6, 4, 3, deform_groups=4)


def test_resnet50_dcn_stages_shapes_and_gradients():
    torch.manual_seed(0)
    net = ResNet(depth=50, dcn=DCN, stage_with_dcn=(False, True, True, True))
    assert not any(isinstance(b.conv2, ModulatedDeformConv2d) for b in net.layer1)
    for name in ('layer2', 'layer3', 'layer4'):
        assert all(isinstance(b.conv2, ModulatedDeformConv2d) for b in getattr(net, name))
    assert net.layer2[0].conv2.stride == (2, 2)  # the stride stays on the (now deformable) 3x3 conv
    net.train()
    outs = net(torch.rand(1, 3, 64, 64))
    assert [tuple(o.shape) for o in outs] == [(1, 256, 16, 16), (1, 512, 8, 8), (1, 1024, 4, 4), (1, 2048, 2, 2)]
    sum(o.mean() for o in outs).backward()
    for name in ('layer2', 'layer3', 'layer4'):
        grad = getattr(net, name)[0].conv2.conv_offset.weight.grad
        assert grad is not None and grad.abs().sum() > 0, name


def test_plain_state_dict_loads_with_only_offset_keys_missing(tmp_path):
    plain = ResNet(depth=18)
    torch.save(plain.state_dict(), tmp_path / 'r18.pth')
    net = ResNet(depth=18, dcn=DCN, stage_with_dcn=(False, True, True, True))
    expected = sorted(f'layer{s}.{b}.conv2.conv_offset.{p}' for s in (2, 3, 4) for b in (0, 1)
                      for p in ('weight', 'bias'))
    report = load_model_weights(net, plain.state_dict())
    assert sorted(report.missing) == expected and not report.unexpected and not report.mismatched
    torch.testing.assert_close(net.layer3[1].conv2.weight, plain.layer3[1].conv2.weight)
    # the same through init_cfg (the Runner's path)
    net2 = ResNet(depth=18, dcn=DCN, stage_with_dcn=(False, True, True, True),
                  init_cfg=dict(type='Pretrained', checkpoint=str(tmp_path / 'r18.pth')))
    net2.init_weights()
    torch.testing.assert_close(net2.layer4[0].conv2.weight, plain.layer4[0].conv2.weight)
    # the non-DCN parts keep their names: a DCN model's state dict minus conv_offset loads into a plain one
    dcn_state = {k: v for k, v in net.state_dict().items() if 'conv_offset' not in k}
    assert set(dcn_state) == set(plain.state_dict())


@pytest.mark.parametrize('depth', [18, 50])
def test_fold_bn_and_channels_last_fall_back_for_dcn_blocks(depth):
    # fast paths (folded norms, channels-last) on a DCN ResNet must give the plain path's outputs
    torch.manual_seed(0)
    kw = dict(depth=depth, norm_cfg=dict(type='FrozenBN'), dcn=DCN, stage_with_dcn=(False, True, False, True))
    plain = ResNet(fold_bn=False, channels_last=False, **kw)
    g = torch.Generator().manual_seed(1)
    for m in plain.modules():
        if hasattr(m, 'running_var'):
            m.running_var.uniform_(0.5, 2.0, generator=g)
            m.running_mean.uniform_(-0.2, 0.2, generator=g)
    _randomise_offsets(plain, scale=0.05)
    fast = ResNet(fold_bn=True, channels_last=True, **kw)
    fast.load_state_dict(plain.state_dict())
    x = torch.rand(1, 3, 64, 80)
    with torch.no_grad():
        ref, got = plain.eval()(x), fast.eval()(x)
    for a, b in zip(ref, got):
        assert b.is_contiguous(memory_format=torch.channels_last)
        torch.testing.assert_close(b, a, atol=1e-4, rtol=1e-4)
    # and with gradients (the _FoldedConv path next to the unfolded DCN block)
    fast.train()
    fast(x)[-1].mean().backward()
    assert fast.layer2[0].conv2.conv_offset.weight.grad.abs().sum() > 0


def test_bad_dcn_config():
    with pytest.raises(ValueError, match='stage_with_dcn'):
        ResNet(depth=18, stage_with_dcn=(False, True, True, True))
    with pytest.raises(ValueError, match="'DCNv2'"):
        ResNet(depth=18, dcn=dict(type='DCN'), stage_with_dcn=(False, True, True, True))
    with pytest.raises(ValueError, match='one flag per stage'):
        ResNet(depth=18, dcn=DCN, stage_with_dcn=(True, True))
    with pytest.raises(ValueError, match='unknown keys'):
        ResNet(depth=18, dcn=dict(type='DCNv2', groups=2), stage_with_dcn=(False, True, True, True))
