"""HRNet and CSPNeXt backbones: output shapes and declared specs, parameter counts of the published models,
MMPose / MMDetection parameter names, frozen_stages, norm_eval, with_cp and argument errors."""
from __future__ import annotations

import pytest
import torch
from torch import nn

import visioncraft  # noqa: F401  (fills the registries)
from visioncraft.models.backbones import CSPNeXt, HRNet
from visioncraft.registry import MODELS


def hrnet_extra(w: int, stage1=(4, 64), blocks: int = 4, modules=(1, 4, 3), multiscale_output: bool = False) -> dict:
    """MMPose's HRNet-W{w} ``extra`` (its configs' layout); smaller ``stage1`` / ``blocks`` / ``modules`` for tests."""
    return dict(
        stage1=dict(num_modules=1, num_branches=1, block='BOTTLENECK', num_blocks=(stage1[0],),
                    num_channels=(stage1[1],)),
        stage2=dict(num_modules=modules[0], num_branches=2, block='BASIC', num_blocks=(blocks,) * 2,
                    num_channels=(w, 2 * w)),
        stage3=dict(num_modules=modules[1], num_branches=3, block='BASIC', num_blocks=(blocks,) * 3,
                    num_channels=(w, 2 * w, 4 * w)),
        stage4=dict(num_modules=modules[2], num_branches=4, block='BASIC', num_blocks=(blocks,) * 4,
                    num_channels=(w, 2 * w, 4 * w, 8 * w), multiscale_output=multiscale_output))


def tiny_hrnet(**kw) -> HRNet:
    multiscale = kw.pop('multiscale_output', False)
    return HRNet(hrnet_extra(4, stage1=(1, 8), blocks=1, modules=(1, 1, 2), multiscale_output=multiscale), **kw)


def n_params(*modules: nn.Module) -> int:
    return sum(p.numel() for m in modules for p in m.parameters())


# ------------------------------------------------------------------------------------------------------------------
# HRNet
# ------------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize('width, published', [(32, 28.54e6), (48, 63.60e6)])
def test_hrnet_parameter_count_matches_the_published_top_down_models(width, published):
    # MMPose's model zoo: td-hm_hrnet-w32 256x192 28.54 M, w48 63.60 M parameters (backbone + 1x1 conv to 17 maps)
    backbone = MODELS.build(dict(type='HRNet', extra=hrnet_extra(width)))
    final = nn.Conv2d(backbone.out_channels[-1], 17, 1)
    assert backbone.out_channels == [width] and backbone.strides == [4]
    assert abs(n_params(backbone, final) - published) / published < 0.01


def test_hrnet_state_dict_uses_mmpose_names():
    keys = set(tiny_hrnet().state_dict())
    for key in ('conv1.weight', 'bn1.running_var', 'conv2.weight', 'bn2.weight', 'layer1.0.conv3.weight',
                'layer1.0.bn3.weight', 'layer1.0.downsample.0.weight', 'layer1.0.downsample.1.weight',
                'transition1.0.0.weight', 'transition1.0.1.weight', 'transition1.1.0.0.weight',
                'transition2.2.0.0.weight', 'transition3.3.0.1.weight',
                'stage2.0.branches.0.0.conv1.weight', 'stage2.0.branches.1.0.bn2.bias',
                'stage2.0.fuse_layers.0.1.0.weight', 'stage2.0.fuse_layers.1.0.0.0.weight',
                'stage3.0.fuse_layers.2.0.1.0.weight', 'stage3.0.fuse_layers.2.0.0.0.weight',
                'stage4.0.fuse_layers.3.0.2.1.weight', 'stage4.1.fuse_layers.0.3.0.weight'):
        assert key in keys, key
    # the last module with multiscale_output=False fuses only the highest-resolution branch
    assert not any(k.startswith('stage4.1.fuse_layers.1.') for k in keys)
    assert any(k.startswith('stage4.0.fuse_layers.1.') for k in keys)


@pytest.mark.parametrize('size', [(64, 64), (64, 96)])
def test_hrnet_output_shapes_single_and_multiscale(size):
    h, w = size
    x = torch.randn(2, 3, h, w)
    net = tiny_hrnet().eval()
    (out,) = net(x)
    assert out.shape == (2, 4, h // 4, w // 4)
    net = tiny_hrnet(multiscale_output=True).eval()
    outs = net(x)
    assert [tuple(o.shape) for o in outs] == [(2, 4 * 2 ** b, h // 4 // 2 ** b, w // 4 // 2 ** b) for b in range(4)]
    assert [(s.channels, s.stride) for s in net.output_shape()] == [(4, 4), (8, 8), (16, 16), (32, 32)]


def test_hrnet_frozen_stages_and_norm_eval():
    net = tiny_hrnet(frozen_stages=2)
    net.train()
    frozen = [net.conv1, net.bn1, net.conv2, net.bn2, net.layer1, net.transition1, net.stage2, net.transition2]
    assert all(not p.requires_grad for m in frozen for p in m.parameters())
    assert all(p.requires_grad for m in (net.stage3, net.transition3, net.stage4) for p in m.parameters())
    assert not net.bn1.training and not net.stage2[0].branches[0][0].bn1.training
    assert net.stage3[0].branches[0][0].bn1.training

    net = tiny_hrnet(norm_eval=True)
    before = net.stage3[0].branches[0][0].bn1.running_mean.clone()
    net.train()
    net(torch.randn(2, 3, 32, 32))
    assert all(not m.training for m in net.modules() if isinstance(m, nn.BatchNorm2d))
    assert torch.equal(net.stage3[0].branches[0][0].bn1.running_mean, before)


def test_hrnet_with_cp_gives_the_same_outputs_and_gradients():
    torch.manual_seed(0)
    plain = tiny_hrnet(multiscale_output=True)
    cp = tiny_hrnet(multiscale_output=True, with_cp=True)
    cp.load_state_dict(plain.state_dict())
    x = torch.randn(2, 3, 32, 32)
    grads = []
    for net in (plain, cp):
        net.train()
        xi = x.clone().requires_grad_(True)
        outs = net(xi)
        sum((o * (i + 1)).sum() for i, o in enumerate(outs)).backward()
        grads.append((outs, xi.grad, {n: p.grad.clone() for n, p in net.named_parameters()}))
    (o1, gx1, gp1), (o2, gx2, gp2) = grads
    assert all(torch.allclose(a, b, atol=1e-5) for a, b in zip(o1, o2))
    assert torch.allclose(gx1, gx2, atol=1e-5)
    assert gp1.keys() == gp2.keys() and all(torch.allclose(gp1[k], gp2[k], atol=1e-5) for k in gp1)


def test_hrnet_zero_init_residual():
    net = tiny_hrnet(zero_init_residual=True)
    assert float(net.layer1[0].bn3.weight.detach().abs().sum()) == 0.0
    assert float(net.stage4[0].branches[3][0].bn2.weight.detach().abs().sum()) == 0.0
    assert float(tiny_hrnet().layer1[0].bn3.weight.detach().abs().sum()) > 0


def test_hrnet_pretrained_checkpoint_loads_by_mmpose_names(tmp_path):
    src = tiny_hrnet()
    state = {f'backbone.{k}': v for k, v in src.state_dict().items()}
    state['head.final_layer.weight'] = torch.zeros(3, 4, 1, 1)
    torch.save(dict(state_dict=state), tmp_path / 'pose.pth')
    net = tiny_hrnet(init_cfg=dict(type='Pretrained', checkpoint=str(tmp_path / 'pose.pth'), prefix='backbone.'))
    net.init_weights()
    for k, v in src.state_dict().items():
        assert torch.equal(net.state_dict()[k], v), k


@pytest.mark.parametrize('change, match', [
    (lambda e: e.pop('stage3'), "missing 'stage3'"),
    (lambda e: e['stage2'].update(block='RESIDUAL'), 'BASIC'),
    (lambda e: e['stage2'].update(num_channels=(4,)), r'stage2.num_channels needs num_branches=2'),
    (lambda e: e['stage1'].update(num_branches=2, num_blocks=(1, 1), num_channels=(8, 8)), 'stage1.num_branches'),
])
def test_hrnet_bad_extra_is_named(change, match):
    extra = hrnet_extra(4, stage1=(1, 8), blocks=1, modules=(1, 1, 1))
    change(extra)
    with pytest.raises(ValueError, match=match):
        HRNet(extra)


# ------------------------------------------------------------------------------------------------------------------
# CSPNeXt
# ------------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize('deepen, widen, published', [(0.167, 0.375, 3.34e6), (0.33, 0.5, 5.47e6),
                                                       (0.67, 0.75, 13.59e6)])
def test_rtmpose_parameter_counts_match_the_published_models(deepen, widen, published):
    # RTMPose-t / -s / -m 256x192 (MMPose's model zoo): CSPNeXt + RTMCCHead, 3.34 M / 5.47 M / 13.59 M parameters
    backbone = CSPNeXt(deepen_factor=deepen, widen_factor=widen, out_indices=(4,))
    head = MODELS.build(dict(type='RTMCCHead', in_channels=backbone.out_channels[-1], out_channels=17,
                             input_size=(192, 256), in_featuremap_size=(6, 8), final_layer_kernel_size=7,
                             gau_cfg=dict(hidden_dims=256, s=128, expansion_factor=2, dropout_rate=0., drop_path=0.,
                                          act_fn='SiLU', use_rel_bias=False, pos_enc=False)))
    assert abs(n_params(backbone, head) - published) / published < 0.01


def test_cspnext_state_dict_uses_mmdet_names_and_layout():
    net = CSPNeXt(deepen_factor=0.33, widen_factor=0.25)
    keys = set(net.state_dict())
    for key in ('stem.0.conv.weight', 'stem.2.bn.running_mean', 'stage1.0.conv.weight',
                'stage1.1.main_conv.conv.weight',
                'stage1.1.short_conv.bn.weight', 'stage1.1.final_conv.conv.weight',
                'stage1.1.blocks.0.conv1.conv.weight', 'stage1.1.blocks.0.conv2.depthwise_conv.conv.weight',
                'stage1.1.blocks.0.conv2.pointwise_conv.bn.weight', 'stage1.1.attention.fc.weight',
                'stage1.1.attention.fc.bias', 'stage4.1.conv1.conv.weight', 'stage4.1.conv2.conv.weight',
                'stage4.2.final_conv.conv.weight'):
        assert key in keys, key
    assert len(net.stage2[1].blocks) == 2 and len(net.stage4[2].blocks) == 1          # round(6 * .33), round(3 * .33)
    assert net.stage1[1].blocks[0].add_identity and not net.stage4[2].blocks[0].add_identity
    assert net.stage1[1].blocks[0].conv2.depthwise_conv.conv.kernel_size == (5, 5)
    assert net.stem[0].bn.eps == 0.001 and net.stem[0].bn.momentum == 0.03
    sync = CSPNeXt(widen_factor=0.25, deepen_factor=0.33, norm_cfg=dict(type='SyncBN'))
    assert sync.stem[0].bn.eps == 1e-5 and isinstance(sync.stem[0].activate, nn.SiLU)


@pytest.mark.parametrize('arch, out_indices', [('P5', (0, 1, 2, 3, 4)), ('P6', (3, 4, 5))])
def test_cspnext_output_shapes(arch, out_indices):
    net = CSPNeXt(arch=arch, deepen_factor=0.33, widen_factor=0.125, out_indices=out_indices).eval()
    x = torch.randn(1, 3, 64, 128)
    outs = net(x)
    widths = {'P5': [8, 16, 32, 64, 128], 'P6': [8, 16, 32, 64, 96, 128]}[arch]
    assert [s.channels for s in net.output_shape()] == [widths[i] for i in out_indices]
    assert [tuple(o.shape) for o in outs] == [(1, widths[i], 64 // 2 ** (i + 1), 128 // 2 ** (i + 1))
                                              for i in out_indices]


def test_cspnext_frozen_stages_norm_eval_and_channel_attention():
    net = CSPNeXt(deepen_factor=0.33, widen_factor=0.125, frozen_stages=1, norm_eval=False)
    net.train()
    assert all(not p.requires_grad for m in (net.stem, net.stage1) for p in m.parameters())
    assert all(p.requires_grad for p in net.stage2.parameters())
    assert not net.stage1[0].bn.training and net.stage2[0].bn.training
    net = CSPNeXt(deepen_factor=0.33, widen_factor=0.125, norm_eval=True)
    net.train()
    assert all(not m.training for m in net.modules() if isinstance(m, nn.BatchNorm2d))
    plain = CSPNeXt(deepen_factor=0.33, widen_factor=0.125, channel_attention=False)
    assert not any('attention' in k for k in plain.state_dict())
    # channel attention scales each channel by hardsigmoid(fc(mean)) in [0, 1]
    att = net.stage1[1].attention
    x = torch.rand(2, att.fc.in_channels, 5, 5)
    w = nn.functional.hardsigmoid(att.fc(x.mean(dim=(2, 3), keepdim=True)))
    assert torch.allclose(att(x), x * w)


def test_cspnext_backward_reaches_every_parameter_and_errors_are_named():
    net = CSPNeXt(deepen_factor=0.33, widen_factor=0.125, out_indices=(4,))
    net(torch.randn(2, 3, 64, 64))[0].sum().backward()
    assert all(p.grad is not None for p in net.parameters())
    with pytest.raises(ValueError, match="arch must be one of"):
        CSPNeXt(arch='P7')
    with pytest.raises(ValueError, match='out_indices'):
        CSPNeXt(out_indices=(5,))
    with pytest.raises(ValueError, match='norm_cfg type'):
        CSPNeXt(norm_cfg=dict(type='GN'))
