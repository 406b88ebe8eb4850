"""One model assembly (visioncraft.models.assembly): parts sized from what the part before them declares
(``output_shape()`` first), a neck whose explicit ``in_channels`` contradict the backbone named in the error, and
every task family (detection, text detection, text recognition, pose) wired through :func:`assemble`."""
from __future__ import annotations

import importlib

import pytest
from torch import nn

from conftest import TINY_CRNN, TINY_DBNET, tiny_retinanet
from visioncraft.models import assembly
from visioncraft.models.assembly import Features, assemble, feature_shape
from visioncraft.models.backbones.base import FeatureSpec
from visioncraft.registry import MODELS


class _Declared(nn.Module):
    out_channels = [999]  # output_shape() wins over the attributes

    def output_shape(self):
        return [FeatureSpec(8, 4), FeatureSpec(16, 8)]


def test_feature_shape_prefers_output_shape_then_attributes():
    assert feature_shape(_Declared()) == Features([8, 16], [4, 8])
    m = nn.Module()
    m.out_channels = 24  # a single output (a sequence encoder)
    assert feature_shape(m) == Features([24], None)
    assert feature_shape(nn.Identity()) == Features([], None)
    assert Features([8, 16]).pick('first') == 8 and Features([8, 16]).pick('last') == 16
    assert Features([8, 16]).pick('all') == [8, 16] and Features().pick('last') is None


def test_parts_are_sized_from_the_part_before():
    parts = assemble('Tiny', backbone=dict(type='ResNet', depth=18, out_indices=(1, 2, 3)),
                     neck=dict(type='FPN', out_channels=32, num_outs=3),
                     head=dict(type='RetinaHead', num_classes=3, feat_channels=32, stacked_convs=1))
    assert list(parts.neck.in_channels) == [128, 256, 512]
    assert [c.in_channels for c in parts.neck.lateral_convs] == [128, 256, 512]
    assert list(parts.neck.strides) == [8, 16, 32]  # an FPN also gets the backbone's strides (in_strides)
    assert parts.features == Features([32, 32, 32], [8, 16, 32])
    first_conv = next(m for m in parts.head.modules() if isinstance(m, nn.Conv2d))
    assert first_conv.in_channels == 32  # the head: the first level's channels


def test_a_neck_that_contradicts_the_backbone_is_named():
    with pytest.raises(ValueError, match=r'Tiny: neck.in_channels=\[64, 128\] but the backbone outputs '
                                         r'\[128, 256, 512\] channels'):
        assemble('Tiny', backbone=dict(type='ResNet', depth=18, out_indices=(1, 2, 3)),
                 neck=dict(type='FPN', in_channels=[64, 128], out_channels=32, num_outs=3))


POSE = dict(type='TopdownPoseEstimator', backbone=dict(type='ResNet', depth=18, num_stages=2, out_indices=(1,)),
            head=dict(type='HeatmapHead', out_channels=3, deconv_out_channels=(16,), deconv_kernel_sizes=(4,),
                      decoder=dict(type='MSRAHeatmap', input_size=(48, 64), heatmap_size=(12, 16), sigma=1.0)))


@pytest.mark.parametrize('module, cfg', [
    ('visioncraft.tasks.detection.models.detectors', tiny_retinanet()),
    ('visioncraft.tasks.textdet.models.dbnet', TINY_DBNET),
    ('visioncraft.tasks.textrecog.models.recognizer', TINY_CRNN),
    ('visioncraft.tasks.pose.models.estimator', POSE),
])
def test_every_family_is_wired_by_assemble(module, cfg, monkeypatch):
    calls = []

    def spy(*args, **kwargs):
        calls.append(kwargs)
        return assembly.assemble(*args, **kwargs)

    monkeypatch.setattr(importlib.import_module(module), 'assemble', spy)
    model = MODELS.build(cfg)
    assert len(calls) == 1, f'{type(model).__name__} did not go through assemble()'
