"""ResNeXt, ResNet-152 and per-stage strides / dilations (MMDetection's argument and parameter names)."""
import pytest
import torch
import torchvision

from visioncraft.models.backbones import ResNet, ResNetV1d, ResNeXt
from visioncraft.registry import MODELS


def _x(size=64):
    return torch.randn(1, 3, size, size)


@pytest.mark.parametrize('groups,base_width,mid', [(32, 4, 128), (64, 4, 256), (32, 8, 256)])
def test_resnext_grouped_conv_shapes_and_keys(groups, base_width, mid):
    m = ResNeXt(depth=50, groups=groups, base_width=base_width).eval()
    sd = m.state_dict()
    # MMDetection's names (same as ResNet); the 3x3 conv is grouped: (width, width / groups, 3, 3)
    assert sd['layer1.0.conv2.weight'].shape == (mid, mid // groups, 3, 3)
    assert sd['layer1.0.conv1.weight'].shape == (mid, 64, 1, 1)
    assert sd['layer1.0.conv3.weight'].shape == (256, mid, 1, 1)
    for key in ('conv1.weight', 'bn1.running_mean', 'layer1.0.bn3.weight', 'layer2.0.downsample.0.weight',
                'layer2.0.downsample.1.running_var', 'layer4.2.conv3.weight'):
        assert key in sd, key
    assert m.layer1[0].conv2.groups == groups
    with torch.no_grad():
        outs = m(_x())
    assert [tuple(o.shape[1:]) for o in outs] == [(256, 16, 16), (512, 8, 8), (1024, 4, 4), (2048, 2, 2)]
    assert m.strides == [4, 8, 16, 32] and m.out_channels == [256, 512, 1024, 2048]


def test_resnext_matches_torchvision_resnext50_32x4d():
    m = ResNeXt(depth=50, groups=32, base_width=4)
    tv = torchvision.models.resnext50_32x4d(weights=None)
    ours = {k: v.shape for k, v in m.state_dict().items()}
    theirs = {k: v.shape for k, v in tv.state_dict().items() if not k.startswith('fc.')}
    assert ours == theirs


def test_resnext_groups_1_is_plain_resnet_and_registry():
    a = {k: v.shape for k, v in ResNeXt(depth=50).state_dict().items()}  # MMDetection default groups=1
    b = {k: v.shape for k, v in ResNet(depth=50).state_dict().items()}
    assert a == b
    m = MODELS.build(dict(type='ResNeXt', depth=50, groups=64, base_width=4, num_stages=4, out_indices=(0, 1, 2, 3),
                          frozen_stages=1, norm_cfg=dict(type='BN', requires_grad=True), norm_eval=True,
                          style='pytorch'))
    assert isinstance(m, ResNeXt) and len(m.layer3) == 6
    assert not any(p.requires_grad for p in m.layer1.parameters())


def test_resnext_bad_args():
    with pytest.raises(ValueError, match='depth'):
        ResNeXt(depth=18, groups=32)
    with pytest.raises(ValueError, match='groups'):
        ResNet(depth=50, groups=0)


@pytest.mark.parametrize('cls', [ResNet, ResNetV1d])
def test_depth_152_block_counts(cls):
    m = cls(depth=152)
    assert [len(getattr(m, f'layer{i}')) for i in range(1, 5)] == [3, 8, 36, 3]
    assert m.out_channels == [256, 512, 1024, 2048]


def test_dc5_strides_dilations():
    m = ResNet(depth=50, strides=(1, 2, 2, 1), dilations=(1, 1, 1, 2), out_indices=(3,), style='caffe').eval()
    assert m.strides == [16]
    with torch.no_grad():
        (out,) = m(_x())
    assert out.shape == (1, 2048, 4, 4)
    for block in m.layer4:
        assert block.conv2.dilation == (2, 2) and block.conv2.padding == (2, 2) and block.conv2.stride == (1, 1)
    assert m.layer4[0].downsample[0].stride == (1, 1)
    # the state dict is the default layout's: strides / dilations change no parameter shape
    assert {k: v.shape for k, v in m.state_dict().items()} == {k: v.shape for k, v in ResNet(depth=50).state_dict().items()}


def test_c4_three_stages_and_fold_bn_agree():
    m = ResNet(depth=50, num_stages=3, strides=(1, 2, 2), dilations=(1, 1, 1), out_indices=(2,),
               norm_cfg=dict(type='BN', requires_grad=False)).eval()
    assert m.strides == [16] and not hasattr(m, 'layer4')
    x = _x()
    with torch.no_grad():
        (out,) = m(x)
        m.fold_bn = True
        (folded,) = m(x)
    assert out.shape == (1, 1024, 4, 4)
    torch.testing.assert_close(folded, out, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize('norm', ['BN', 'FrozenBN'])
def test_basicblock_strides_dilations(norm):
    m = ResNet(depth=18, strides=(2, 2, 2, 1), dilations=(1, 1, 2, 4), norm_cfg=dict(type=norm)).eval()
    assert m.strides == [8, 16, 32, 32]
    assert m.layer1[0].downsample is not None  # a strided first stage needs a shortcut projection
    assert m.layer4[1].conv1.dilation == (4, 4) and m.layer4[1].conv2.dilation == (1, 1)
    with torch.no_grad():
        outs = m(_x())
    assert [o.shape[-1] for o in outs] == [8, 4, 2, 2]


def test_bad_strides():
    with pytest.raises(ValueError, match='strides'):
        ResNet(depth=50, strides=(1, 2))
    with pytest.raises(ValueError, match='dilations'):
        ResNet(depth=50, num_stages=3, dilations=(1, 0, 1))


def test_mmpose_scope_resnext_defaults_to_32x4d():
    from visioncraft.registry import default_scope
    with default_scope('mmpose'):
        m = MODELS.build(dict(type='ResNeXt', depth=50, out_indices=(3,)))
    assert m.groups == 32 and m.state_dict()['layer1.0.conv2.weight'].shape == (128, 4, 3, 3)
    with default_scope('mmdet'):
        assert MODELS.build(dict(type='ResNeXt', depth=50)).groups == 1  # MMDetection's default
