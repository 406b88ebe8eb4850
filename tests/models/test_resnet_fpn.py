"""ResNet backbone and FPN neck: shapes, declared outputs, freezing, pretrained loading."""
from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest
import torch
import torchvision
from torch import nn

from visioncraft.models import FPN, FeatureSpec, ResNet
from visioncraft.models.backbones.resnet import resolve_checkpoint_path
from visioncraft.registry import MODELS


@pytest.mark.parametrize('depth,channels', [(18, [64, 128, 256, 512]), (50, [256, 512, 1024, 2048])])
def test_resnet_outputs_match_declaration(depth, channels):
    net = MODELS.build(dict(type='ResNet', depth=depth, out_indices=(0, 1, 2, 3)))
    assert net.out_channels == channels and net.strides == [4, 8, 16, 32]
    assert net.output_shape() == [FeatureSpec(c, s) for c, s in zip(channels, [4, 8, 16, 32])]
    outs = net(torch.rand(1, 3, 64, 96))
    assert [tuple(o.shape) for o in outs] == [(1, c, 64 // s, 96 // s) for c, s in zip(channels, [4, 8, 16, 32])]


def test_resnet_out_indices_and_stages():
    net = ResNet(depth=18, num_stages=3, out_indices=(1, 2))
    assert not hasattr(net, 'layer4')
    assert net.output_shape() == [FeatureSpec(128, 8), FeatureSpec(256, 16)]
    assert len(net(torch.rand(1, 3, 32, 32))) == 2
    with pytest.raises(ValueError, match='out_indices'):
        ResNet(depth=18, num_stages=3, out_indices=(3,))
    with pytest.raises(ValueError, match='depth'):
        ResNet(depth=20)


def test_resnet_matches_torchvision_features():
    torch.manual_seed(0)
    tv = torchvision.models.resnet18(weights=None).eval()
    ours = ResNet(depth=18).eval()
    report = ours.load_state_dict({k: v for k, v in tv.state_dict().items() if not k.startswith('fc.')})
    assert not report.missing_keys and not report.unexpected_keys
    x = torch.rand(2, 3, 64, 64)
    ref = tv.layer4(tv.layer3(tv.layer2(tv.layer1(tv.maxpool(tv.relu(tv.bn1(tv.conv1(x))))))))
    torch.testing.assert_close(ours(x)[-1], ref)


def test_frozen_stages_and_norm_eval():
    net = ResNet(depth=18, frozen_stages=1, norm_eval=True)
    net.train()
    assert not any(p.requires_grad for p in net.conv1.parameters())
    assert not any(p.requires_grad for p in net.layer1.parameters())
    assert all(p.requires_grad for p in net.layer2.parameters())
    assert all(not m.training for m in net.modules() if isinstance(m, nn.BatchNorm2d))
    net2 = ResNet(depth=18, frozen_stages=-1, norm_eval=False).train()
    assert all(m.training for m in net2.modules() if isinstance(m, nn.BatchNorm2d))
    # frozen parts stay frozen after .train(); norm_eval keeps the running statistics unchanged
    before = net.layer3[0].bn1.running_mean.clone()
    net(torch.rand(2, 3, 32, 32))
    torch.testing.assert_close(net.layer3[0].bn1.running_mean, before)


def test_frozen_bn_and_norm_requires_grad():
    from torchvision.ops import FrozenBatchNorm2d
    net = ResNet(depth=18, norm_cfg=dict(type='FrozenBN'))
    assert isinstance(net.bn1, FrozenBatchNorm2d)
    net = ResNet(depth=18, norm_cfg=dict(type='BN', requires_grad=False))
    assert not net.bn1.weight.requires_grad and net.conv1.weight.requires_grad
    with pytest.raises(ValueError, match='norm_cfg'):
        ResNet(depth=18, norm_cfg=dict(type='GN'))


def test_pretrained_from_local_file(tmp_path):
    torch.manual_seed(1)
    tv = torchvision.models.resnet18(weights=None)
    path = tmp_path / 'r18.pth'
    torch.save(tv.state_dict(), path)
    net = MODELS.build(dict(type='ResNet', depth=18, init_cfg=dict(type='Pretrained', checkpoint=str(path))))
    assert not torch.equal(net.conv1.weight, tv.conv1.weight)
    net.init_weights()
    torch.testing.assert_close(net.layer4[1].conv2.weight, tv.layer4[1].conv2.weight)


def test_torchvision_scheme_maps_to_weight_url():
    url = resolve_checkpoint_path('torchvision://resnet50')
    assert url == torchvision.models.ResNet50_Weights.IMAGENET1K_V1.url
    assert resolve_checkpoint_path('/some/file.pth') == '/some/file.pth'


def test_offline_pretrained_error_names_url_and_cache_path(tmp_path, monkeypatch):
    with socket.socket() as s:  # a loopback port nobody listens on
        s.bind(('127.0.0.1', 0))
        port = s.getsockname()[1]
    monkeypatch.setenv('TORCH_HOME', str(tmp_path / 'torch_home'))
    url = f'http://127.0.0.1:{port}/resnet18-test.pth'
    net = ResNet(depth=18, init_cfg=dict(type='Pretrained', checkpoint=url))
    with pytest.raises(RuntimeError) as info:
        net.init_weights()
    msg = str(info.value)
    expected = Path(tmp_path / 'torch_home' / 'hub' / 'checkpoints' / 'resnet18-test.pth')
    assert url in msg and str(expected) in msg, msg
    assert not expected.exists()


@pytest.mark.parametrize('extra', [False, 'on_input', 'on_lateral', 'on_output'])
def test_fpn_shapes_and_strides(extra):
    backbone = ResNet(depth=18)
    fpn = FPN(in_channels=backbone.out_channels, out_channels=16, start_level=1, add_extra_convs=extra, num_outs=5)
    outs = fpn(backbone(torch.rand(1, 3, 128, 96)))
    assert fpn.strides == [8, 16, 32, 64, 128] and fpn.out_channels == [16] * 5
    assert [tuple(o.shape[-2:]) for o in outs] == [(16, 12), (8, 6), (4, 3), (2, 2), (1, 1)]
    assert all(o.shape[1] == 16 for o in outs)


def test_fpn_matches_torchvision_with_p6p7():
    from torchvision.ops.feature_pyramid_network import FeaturePyramidNetwork, LastLevelP6P7
    torch.manual_seed(0)
    for use_p5, mode, c_extra in [(True, 'on_output', 8), (False, 'on_input', 32)]:
        tv = FeaturePyramidNetwork([8, 16, 32], 8, extra_blocks=LastLevelP6P7(c_extra, 8)).eval()
        assert tv.extra_blocks.use_P5 == use_p5
        ours = FPN([8, 16, 32], 8, num_outs=5, add_extra_convs=mode, relu_before_extra_convs=True)
        sd = {}
        for i in range(3):
            for t in ('weight', 'bias'):
                sd[f'lateral_convs.{i}.{t}'] = tv.inner_blocks[i][0].state_dict()[t]
                sd[f'fpn_convs.{i}.{t}'] = tv.layer_blocks[i][0].state_dict()[t]
                if i < 2:
                    sd[f'fpn_convs.{3 + i}.{t}'] = getattr(tv.extra_blocks, f'p{6 + i}').state_dict()[t]
        ours.load_state_dict(sd)
        feats = [torch.rand(1, 8, 16, 20), torch.rand(1, 16, 8, 10), torch.rand(1, 32, 4, 5)]
        ref = list(tv({str(i): f for i, f in enumerate(feats)}).values())
        got = ours(feats)
        assert len(got) == len(ref) == 5
        for a, b in zip(got, ref):
            torch.testing.assert_close(a, b)


def test_fpn_rejects_bad_arguments():
    with pytest.raises(ValueError, match='add_extra_convs'):
        FPN([8, 16], 8, num_outs=3, add_extra_convs='on_nothing')
    with pytest.raises(ValueError, match='num_outs'):
        FPN([8, 16, 32], 8, num_outs=2)
