"""MobileNetV3 widen_factor: scaled, 8-divisible widths, declared outputs, width-checked pretrained loading."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from visioncraft.models.backbones import MobileNetV3
from visioncraft.registry import MODELS

# torchvision / MobileNet rounding: nearest multiple of 8, at least 8, never more than 10% below the target
_BASE = {'large': [16, 24, 40, 112, 960], 'small': [16, 16, 24, 48, 576]}


def _divisible(v: float, d: int = 8) -> int:
    new = max(d, int(v + d / 2) // d * d)
    return new + d if new < 0.9 * v else new


@pytest.mark.parametrize('arch', ['large', 'small'])
@pytest.mark.parametrize('widen_factor', [0.5, 0.75])
def test_widths_scaled_and_declared(arch, widen_factor):
    net = MODELS.build(dict(type='MobileNetV3', arch=arch, widen_factor=widen_factor, out_indices=(0, 1, 2, 3, 4)))
    # the final stage is the 1x1 conv to 6x the last block's (rounded) width
    last_in = _divisible((160 if arch == 'large' else 96) * widen_factor)
    expected = [_divisible(c * widen_factor) for c in _BASE[arch][:4]] + [6 * last_in]
    assert net.out_channels == expected
    with torch.no_grad():
        outs = net.eval()(torch.rand(1, 3, 64, 64))
    assert [o.shape[1] for o in outs] == expected
    for m in net.modules():
        if isinstance(m, nn.Conv2d) and m.in_channels != 3:
            assert m.in_channels % 8 == 0 and m.out_channels % 8 == 0, m


def test_large_x05_is_the_dbnet_backbone():
    net = MobileNetV3(arch='large', widen_factor=0.5, out_indices=(1, 2, 3, 4))
    assert net.out_channels == [16, 24, 56, 480] and net.strides == [4, 8, 16, 32]
    assert MobileNetV3(width_mult=0.5).out_channels == MobileNetV3(widen_factor=0.5).out_channels == [24, 56, 480]
    with pytest.raises(ValueError, match='disagree'):
        MobileNetV3(widen_factor=0.5, width_mult=0.75)
    with pytest.raises(ValueError, match='widen_factor must be > 0'):
        MobileNetV3(widen_factor=0)


def test_pretrained_of_other_width_is_refused_without_partial_load(tmp_path):
    full = MobileNetV3(arch='large', out_indices=(0, 1, 2, 3, 4))
    torch.save(full.state_dict(), tmp_path / 'x1.pth')
    half = MobileNetV3(arch='large', widen_factor=0.5, out_indices=(0, 1, 2, 3, 4),
                       init_cfg=dict(type='Pretrained', checkpoint=str(tmp_path / 'x1.pth')))
    before = {k: v.clone() for k, v in half.state_dict().items()}
    with pytest.raises(ValueError, match=r'widen_factor=0\.5.*other channel widths.*widen_factor ~ 1'):
        half.init_weights()
    for k, v in half.state_dict().items():
        assert torch.equal(v, before[k]), k
    # a checkpoint of the same width loads
    torch.manual_seed(1)
    src = MobileNetV3(arch='large', widen_factor=0.5, out_indices=(0, 1, 2, 3, 4))
    torch.save(src.state_dict(), tmp_path / 'x05.pth')
    half.init_cfg = dict(type='Pretrained', checkpoint=str(tmp_path / 'x05.pth'))
    half.init_weights()
    torch.testing.assert_close(half.features[3].block[0][0].weight, src.features[3].block[0][0].weight)
