"""MobileNetV3 backbone: declared outputs, torchvision equivalence, freezing, norm_eval, pretrained loading."""
from __future__ import annotations

import socket
from pathlib import Path

import pytest
import torch
import torchvision
from torch import nn

from visioncraft.models import FeatureSpec
from visioncraft.models.backbones import MobileNetV3
from visioncraft.models.backbones.pretrained import resolve_checkpoint_path
from visioncraft.registry import MODELS


@pytest.mark.parametrize('arch,channels', [('large', [16, 24, 40, 112, 960]), ('small', [16, 16, 24, 48, 576])])
def test_outputs_match_declaration(arch, channels):
    net = MODELS.build(dict(type='MobileNetV3', arch=arch, out_indices=(0, 1, 2, 3, 4))).eval()
    strides = [2, 4, 8, 16, 32]
    assert net.out_channels == channels and net.strides == strides
    assert net.output_shape() == [FeatureSpec(c, s) for c, s in zip(channels, strides)]
    with torch.no_grad():
        outs = net(torch.rand(1, 3, 64, 96))
    assert [tuple(o.shape) for o in outs] == [(1, c, 64 // s, 96 // s) for c, s in zip(channels, strides)]


def test_default_out_indices_and_truncation():
    net = MobileNetV3()  # large, stages 2-4: the three inputs of a P3-P7 FPN
    assert net.output_shape() == [FeatureSpec(40, 8), FeatureSpec(112, 16), FeatureSpec(960, 32)]
    short = MobileNetV3(arch='small', out_indices=(1, 2))
    assert len(short.features) == 4  # blocks after stage 2 are not built
    assert [o.shape[1] for o in short(torch.rand(1, 3, 32, 32))] == [16, 24]
    with pytest.raises(ValueError, match='arch'):
        MobileNetV3(arch='medium')
    with pytest.raises(ValueError, match='out_indices'):
        MobileNetV3(out_indices=(3, 2))
    with pytest.raises(ValueError, match='frozen_stages'):
        MobileNetV3(out_indices=(1, 2), frozen_stages=3)
    with pytest.raises(ValueError, match='norm_cfg'):
        MobileNetV3(norm_cfg=dict(type='GN'))
    with pytest.raises(ValueError, match='init_cfg'):
        MobileNetV3(init_cfg=dict(type='Kaiming'))


def test_matches_torchvision_features():
    torch.manual_seed(0)
    tv = torchvision.models.mobilenet_v3_large(weights=None).eval()
    ours = MobileNetV3(arch='large', out_indices=(2, 4)).eval()
    report = ours.load_state_dict({k: v for k, v in tv.state_dict().items() if k.startswith('features.')})
    assert not report.missing_keys and not report.unexpected_keys
    x = torch.rand(2, 3, 64, 64)
    with torch.no_grad():
        got = ours(x)
        torch.testing.assert_close(got[1], tv.features(x))
        torch.testing.assert_close(got[0], tv.features[:7](x))


def test_frozen_stages_and_norm_eval():
    net = MobileNetV3(arch='small', frozen_stages=2, norm_eval=True).train()
    frozen = [p for i in range(3) for p in net.stage(i).parameters()]
    assert frozen and not any(p.requires_grad for p in frozen)
    assert all(p.requires_grad for p in net.stage(3).parameters())
    assert all(not m.training for m in net.modules() if isinstance(m, nn.BatchNorm2d))
    before = net.stage(4)[0].block[0][1].running_mean.clone()
    out = net(torch.rand(2, 3, 32, 32))
    torch.testing.assert_close(net.stage(4)[0].block[0][1].running_mean, before)  # statistics untouched
    sum(o.sum() for o in out).backward()
    assert all(p.grad is None for p in frozen)
    assert net.stage(3)[0].block[0][0].weight.grad is not None
    free = MobileNetV3(arch='small', frozen_stages=-1, norm_eval=False).train()
    assert all(m.training for m in free.modules() if isinstance(m, nn.BatchNorm2d))
    assert all(p.requires_grad for p in free.parameters())


def test_frozen_bn_and_norm_requires_grad():
    from torchvision.ops import FrozenBatchNorm2d
    net = MobileNetV3(arch='small', norm_cfg=dict(type='FrozenBN'))
    bns = [m for m in net.modules() if isinstance(m, FrozenBatchNorm2d)]
    assert bns and all(m.eps == 0.001 for m in bns)
    net = MobileNetV3(arch='small', norm_cfg=dict(type='BN', requires_grad=False))
    assert not net.features[0][1].weight.requires_grad and net.features[0][0].weight.requires_grad


def test_pretrained_from_local_file(tmp_path):
    torch.manual_seed(1)
    tv = torchvision.models.mobilenet_v3_small(weights=None)
    path = tmp_path / 'mbv3_small.pth'
    torch.save(tv.state_dict(), path)  # a full classifier checkpoint: classifier.* must be skipped
    net = MODELS.build(dict(type='MobileNetV3', arch='small', out_indices=(1, 2, 3),
                            init_cfg=dict(type='Pretrained', checkpoint=str(path))))
    assert not torch.equal(net.features[5].block[0][0].weight, tv.features[5].block[0][0].weight)
    net.init_weights()
    torch.testing.assert_close(net.features[5].block[0][0].weight, tv.features[5].block[0][0].weight)
    torch.testing.assert_close(net.features[0][1].running_var, tv.features[0][1].running_var)
    # a detector checkpoint: the backbone taken out with prefix
    torch.save(dict(state_dict={f'backbone.{k}': v for k, v in tv.state_dict().items()}), tmp_path / 'det.pth')
    net2 = MobileNetV3(arch='small', init_cfg=dict(type='Pretrained', checkpoint=str(tmp_path / 'det.pth'),
                                                   prefix='backbone'))
    net2.init_weights()
    torch.testing.assert_close(net2.features[12][0].weight, tv.features[12][0].weight)


def test_torchvision_scheme_maps_to_weight_url():
    assert resolve_checkpoint_path('torchvision://mobilenet_v3_large') == \
        torchvision.models.MobileNet_V3_Large_Weights.IMAGENET1K_V1.url


def test_offline_pretrained_error_names_url_and_cache_path(tmp_path, monkeypatch):
    with socket.socket() as s:  # a loopback port nobody listens on
        s.bind(('127.0.0.1', 0))
        port = s.getsockname()[1]
    monkeypatch.setenv('TORCH_HOME', str(tmp_path / 'torch_home'))
    url = f'http://127.0.0.1:{port}/mobilenet_v3_large-test.pth'
    net = MobileNetV3(init_cfg=dict(type='Pretrained', checkpoint=url))
    with pytest.raises(RuntimeError) as info:
        net.init_weights()
    msg = str(info.value)
    expected = Path(tmp_path / 'torch_home' / 'hub' / 'checkpoints' / 'mobilenet_v3_large-test.pth')
    assert 'MobileNetV3-large' in msg and url in msg and str(expected) in msg, msg
