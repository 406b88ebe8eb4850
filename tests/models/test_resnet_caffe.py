"""ResNet style='caffe': the stride on the first 1x1 conv; same parameters, so caffe-layout weights load."""
from __future__ import annotations

import pytest
import torch

from visioncraft.models.backbones.resnet import ResNet


def test_caffe_style_moves_the_stride_and_keeps_the_state_dict():
    torch.manual_seed(0)
    kw = dict(depth=50, num_stages=2, out_indices=(0, 1))
    pt, caffe = ResNet(style='pytorch', **kw), ResNet(style='caffe', **kw)
    for name in ('layer2',):
        block = getattr(caffe, name)[0]
        assert block.conv1.stride == (2, 2) and block.conv2.stride == (1, 1)
        assert getattr(pt, name)[0].conv2.stride == (2, 2)
    assert caffe.layer1[0].conv1.stride == (1, 1)
    sd = pt.state_dict()
    assert {k: v.shape for k, v in sd.items()} == {k: v.shape for k, v in caffe.state_dict().items()}
    caffe.load_state_dict(sd)  # a caffe-layout checkpoint has the same keys and shapes
    caffe.eval()
    pt.eval()
    x = torch.rand(1, 3, 64, 64)
    a, b = pt(x), caffe(x)
    assert [t.shape for t in a] == [t.shape for t in b]
    assert not torch.allclose(a[-1], b[-1])  # a different computation with the same weights


def test_unknown_style_is_an_error():
    with pytest.raises(ValueError, match="ResNet style must be 'pytorch'.*or 'caffe'.*got 'tf'"):
        ResNet(depth=18, style='tf')
