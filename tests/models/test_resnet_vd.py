"""ResNetV1d ("vd"): deep 3x3 stem and average-pool shortcut downsampling."""
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from visioncraft.models.backbones import ResNet, ResNetV1d
from visioncraft.registry import MODELS


def _randomise_bn(model):
    g = torch.Generator().manual_seed(0)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.copy_(torch.randn(m.num_features, generator=g) * 0.1)
            m.running_var.copy_(torch.rand(m.num_features, generator=g) + 0.5)
            m.weight.data.copy_(torch.rand(m.num_features, generator=g) + 0.5)
            m.bias.data.copy_(torch.randn(m.num_features, generator=g) * 0.1)


@pytest.mark.parametrize('depth,channels', [(18, [64, 128, 256, 512]), (50, [256, 512, 1024, 2048])])
def test_resnet_v1d_layout_and_shapes(depth, channels):
    torch.manual_seed(0)
    m = MODELS.build(dict(type='ResNetV1d', depth=depth))
    assert isinstance(m, ResNetV1d) and not hasattr(m, 'conv1')
    convs = [c for c in m.stem if isinstance(c, nn.Conv2d)]
    assert [(c.kernel_size, c.stride, c.out_channels) for c in convs] == [
        ((3, 3), (2, 2), 32), ((3, 3), (1, 1), 32), ((3, 3), (1, 1), 64)]
    for name in ('layer2', 'layer3', 'layer4'):
        ds = getattr(m, name)[0].downsample
        assert isinstance(ds[0], nn.AvgPool2d) and ds[1].stride == (1, 1)
    # odd sizes work (ceil_mode pooling keeps the shortcut and the strided 3x3 conv the same size)
    outs = m(torch.randn(1, 3, 97, 75))
    assert [o.shape[1] for o in outs] == channels == m.out_channels
    assert [o.shape[-2:] for o in outs] == [torch.Size([25, 19]), torch.Size([13, 10]), torch.Size([7, 5]),
                                           torch.Size([4, 3])]


def test_avg_down_shortcut_is_pool_then_conv():
    torch.manual_seed(0)
    m = ResNetV1d(depth=18).eval()
    _randomise_bn(m)
    block = m.layer2[0]
    x = torch.randn(1, 64, 15, 13)
    ds = block.downsample
    want = F.batch_norm(F.conv2d(F.avg_pool2d(x, 2, 2, ceil_mode=True, count_include_pad=False), ds[1].weight),
                        ds[2].running_mean, ds[2].running_var, ds[2].weight, ds[2].bias, False, 0.0, ds[2].eps)
    assert torch.allclose(ds(x), want, atol=1e-6)


def test_resnet_v1d_folded_equals_unfolded_and_freezes_stem():
    torch.manual_seed(0)
    plain = ResNetV1d(depth=18, norm_eval=True, frozen_stages=1).eval()
    _randomise_bn(plain)
    folded = ResNetV1d(depth=18, norm_eval=True, frozen_stages=1, fold_bn=True).eval()
    folded.load_state_dict(plain.state_dict())
    x = torch.randn(2, 3, 64, 96)
    for a, b in zip(plain(x), folded(x)):
        assert torch.allclose(a, b, atol=1e-4, rtol=1e-4)
    assert not any(p.requires_grad for p in plain.stem.parameters())
    assert not any(p.requires_grad for p in plain.layer1.parameters())
    assert all(p.requires_grad for p in plain.layer2.parameters())


def test_resnet_v1d_differs_from_plain_and_rejects_plain_flags():
    assert 'stem.0.weight' in ResNetV1d(depth=18).state_dict()
    assert 'conv1.weight' in ResNet(depth=18).state_dict()
    with pytest.raises(ValueError, match='always has avg_down=True'):
        ResNetV1d(depth=18, avg_down=False)


def test_resnet_v1d_with_dcn_trains_a_step():
    torch.manual_seed(0)
    m = ResNetV1d(depth=18, dcn=dict(type='DCNv2'), stage_with_dcn=(False, True, True, True), norm_eval=False)
    sum(o.mean() for o in m(torch.randn(2, 3, 64, 64))).backward()
    assert m.stem[0].weight.grad is not None and m.layer4[0].conv2.weight.grad is not None
