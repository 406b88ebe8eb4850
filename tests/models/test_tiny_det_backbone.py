"""TinyDetBackbone: declared outputs match the tensors, every parameter trains, bad arguments are named."""
from __future__ import annotations

import pytest
import torch
from torch import nn

from visioncraft.models import FPN, FeatureSpec
from visioncraft.models.backbones import TinyDetBackbone
from visioncraft.registry import MODELS


@pytest.mark.parametrize('norm', ['BN', 'GN'])
def test_outputs_match_declaration(norm):
    net = MODELS.build(dict(type='TinyDetBackbone', stem_channels=8, widths=(8, 16, 24, 32), depths=(1, 0, 2, 1),
                            out_indices=(0, 1, 2, 3), norm=norm, gn_groups=4))
    assert net.out_channels == [8, 16, 24, 32] and net.strides == [4, 8, 16, 32]
    assert net.output_shape() == [FeatureSpec(c, s) for c, s in zip([8, 16, 24, 32], [4, 8, 16, 32])]
    outs = net(torch.rand(2, 3, 64, 96))
    assert [tuple(o.shape) for o in outs] == [(2, c, 64 // s, 96 // s) for c, s in zip([8, 16, 24, 32],
                                                                                       [4, 8, 16, 32])]
    kinds = {type(m) for m in net.modules()}
    assert (nn.BatchNorm2d in kinds) == (norm == 'BN') and (nn.GroupNorm in kinds) == (norm == 'GN')
    # an odd input size rounds up, as a stride-2 3x3 conv with padding 1 does
    assert [tuple(o.shape[-2:]) for o in net(torch.rand(1, 3, 33, 33))] == [(9, 9), (5, 5), (3, 3), (2, 2)]


def test_out_indices_select_stages_and_later_stages_are_not_built():
    net = TinyDetBackbone(stem_channels=8, widths=(8, 16, 32, 64), depths=(1, 1, 1, 1), out_indices=(1, 2))
    assert len(net.stages) == 3
    assert net.output_shape() == [FeatureSpec(16, 8), FeatureSpec(32, 16)]
    assert [o.shape[1] for o in net(torch.rand(1, 3, 32, 32))] == [16, 32]


def test_every_parameter_gets_a_gradient_and_blocks_start_as_identity():
    torch.manual_seed(0)
    net = TinyDetBackbone(stem_channels=8, widths=(8, 16, 32), depths=(1, 1, 1), out_indices=(0, 1, 2)).train()
    block = net.stages[1][1]
    x = torch.rand(2, 16, 8, 8)
    torch.testing.assert_close(block(x), torch.relu(x))  # zero-initialised last norm: the block is relu(x)
    outs = net(torch.rand(2, 3, 32, 32))
    sum(o.square().mean() for o in outs).backward()
    no_grad = [n for n, p in net.named_parameters() if p.grad is None]
    assert not no_grad, no_grad
    assert all(torch.isfinite(p.grad).all() for p in net.parameters())


def test_feeds_an_fpn_through_its_declaration():
    net = TinyDetBackbone(stem_channels=8, widths=(8, 16, 32, 48), out_indices=(1, 2, 3))
    fpn = FPN(in_channels=net.out_channels, out_channels=16, num_outs=4, in_strides=net.strides,
              add_extra_convs='on_output')
    assert fpn.strides == [8, 16, 32, 64]
    outs = fpn(net(torch.rand(1, 3, 64, 64)))
    assert [tuple(o.shape) for o in outs] == [(1, 16, 8, 8), (1, 16, 4, 4), (1, 16, 2, 2), (1, 16, 1, 1)]


@pytest.mark.parametrize('kwargs,match', [
    (dict(widths=(8, 16), depths=(1,)), 'widths and depths'),
    (dict(widths=(8, 0), depths=(1, 1), out_indices=(1,)), 'widths and stem_channels'),
    (dict(widths=(8, 16), depths=(1, 1), out_indices=(2,)), 'out_indices'),
    (dict(widths=(8, 16), depths=(1, 1), out_indices=(1, 0)), 'out_indices'),
    (dict(widths=(8, 16), depths=(1, 1), out_indices=(1,), norm='LN'), 'norm'),
])
def test_bad_arguments_are_named(kwargs, match):
    with pytest.raises(ValueError, match=match):
        TinyDetBackbone(**kwargs)


def test_channels_last_gives_the_same_outputs_and_gradients_in_nhwc():
    torch.manual_seed(0)
    ref = TinyDetBackbone(stem_channels=8, widths=(8, 16), depths=(1, 1), out_indices=(0, 1)).train()
    nhwc = TinyDetBackbone(stem_channels=8, widths=(8, 16), depths=(1, 1), out_indices=(0, 1),
                           channels_last=True).train()
    nhwc.load_state_dict(ref.state_dict())  # the parameters keep their layout: checkpoints are interchangeable
    for net in (ref, nhwc):  # a non-zero last norm, so the residual branches count
        for m in net.modules():
            if isinstance(m, nn.BatchNorm2d):
                nn.init.constant_(m.weight, 0.5)
    x = torch.rand(2, 3, 40, 48)
    outs_ref, outs = ref(x), nhwc(x)
    assert all(o.is_contiguous(memory_format=torch.channels_last) and not o.is_contiguous() for o in outs)
    assert not any(o.is_contiguous(memory_format=torch.channels_last) for o in outs_ref)
    for a, b in zip(outs_ref, outs):
        torch.testing.assert_close(b, a, rtol=1e-4, atol=1e-5)
    sum(o.square().mean() for o in outs_ref).backward()
    sum(o.square().mean() for o in outs).backward()
    for (name, p), q in zip(ref.named_parameters(), nhwc.parameters()):
        torch.testing.assert_close(q.grad, p.grad, rtol=1e-3, atol=1e-5, msg=name)
