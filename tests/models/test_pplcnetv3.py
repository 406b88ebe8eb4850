"""PPLCNetV3 (PP-OCRv4's backbone): the training form folds exactly into the deploy form, both layouts have the
declared shapes, and the PP-OCRv4 detector / recogniser / direction classifier train (loss, backward) from their
configs."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import visioncraft  # noqa: F401  (fills the registries)
from visioncraft.config import Config
from visioncraft.fileio.package_data import find_package_file
from visioncraft.models.backbones.pplcnetv3 import LearnableRepLayer, PPLCNetV3, reparameterize_model
from visioncraft.registry import MODELS
from visioncraft.structures import DataSample, InstanceData


def _randomise(model: torch.nn.Module, seed: int = 0) -> None:
    """Non-trivial BatchNorm statistics and affine values, so a wrong fold shows."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.copy_(torch.randn(m.num_features, generator=g) * 0.1)
                m.running_var.copy_(torch.rand(m.num_features, generator=g) + 0.5)
                m.weight.copy_(torch.rand(m.num_features, generator=g) + 0.5)
                m.bias.copy_(torch.randn(m.num_features, generator=g) * 0.1)
            elif type(m).__name__ == 'LearnableAffineBlock':
                m.scale.copy_(torch.rand(1, generator=g) + 0.5)
                m.bias.copy_(torch.randn(1, generator=g) * 0.1)


@pytest.mark.parametrize('det,shape', [(True, (2, 3, 64, 96)), (False, (2, 3, 48, 64))])
def test_reparameterize_keeps_the_function_and_matches_the_deploy_layout(det, shape):
    torch.manual_seed(0)
    net = PPLCNetV3(scale=0.5, det=det, conv_kxk_num=2)
    _randomise(net)
    net.eval()
    x = torch.randn(*shape)
    with torch.no_grad():
        before = net(x)
        net.reparameterize()
        after = net(x)
    assert all(m.deploy and not hasattr(m, 'conv_kxk') for m in net.modules() if isinstance(m, LearnableRepLayer))
    for b, a in zip(before, after):
        assert b.shape == a.shape
        assert torch.allclose(b, a, rtol=1e-4, atol=1e-4 * float(b.abs().max())), float((b - a).abs().max())
    deploy = PPLCNetV3(scale=0.5, det=det, conv_kxk_num=2, deploy=True)
    assert set(deploy.state_dict()) == set(net.state_dict())  # a folded checkpoint loads into deploy=True
    deploy.load_state_dict(net.state_dict())
    deploy.eval()
    with torch.no_grad():
        assert all(torch.equal(a, d) for a, d in zip(after, deploy(x)))


def test_shapes_and_declared_outputs():
    det = PPLCNetV3(scale=0.75, det=True, deploy=True)
    assert det.out_channels == [12, 18, 42, 360] and det.strides == [4, 8, 16, 32]
    outs = det(torch.zeros(1, 3, 64, 96))
    assert [tuple(o.shape) for o in outs] == [(1, 12, 16, 24), (1, 18, 8, 12), (1, 42, 4, 6), (1, 360, 2, 3)]
    rec = PPLCNetV3(scale=0.95, deploy=True)
    assert rec.out_channels == [480]
    assert tuple(rec(torch.zeros(1, 3, 48, 320))[0].shape) == (1, 480, 1, 40)
    # strided depthwise layers skip the activation only for the integer stride 2 (as PaddleOCR)
    strides = {m.stride: m.act is None for m in rec.modules() if isinstance(m, LearnableRepLayer)}
    assert strides[(2, 1)] is False and strides[(1, 2)] is False
    assert all(m.act is None for m in det.modules() if isinstance(m, LearnableRepLayer) and m.stride == 2)


def _model_cfg(name: str) -> dict:
    return Config.fromfile(str(find_package_file(f'configs/_base_/models/{name}.py'))).model.to_dict()


def _finite_backward(losses: dict, model: torch.nn.Module) -> None:
    total = sum(v for k, v in losses.items() if 'loss' in k)
    assert math.isfinite(float(total.detach()))
    total.backward()
    missing = [n for n, p in model.named_parameters() if p.requires_grad and p.grad is None]
    assert not missing, missing[:5]


def test_ppocrv4_detector_trains_in_both_forms():
    quad = np.array([8, 20, 56, 20, 56, 40, 8, 40], np.float32)
    samples = [DataSample(gt_instances=InstanceData(polygons=[quad], ignored=torch.tensor([False])),
                          metainfo=dict(img_shape=(64, 64), ori_shape=(64, 64))) for _ in range(2)]
    for deploy in (False, True):
        cfg = _model_cfg('ppocrv4_mobile_det')
        cfg['backbone'].update(scale=0.5, conv_kxk_num=1, deploy=deploy)
        cfg['det_head']['codec']['min_text_size'] = 3
        model = MODELS.build(cfg)
        model.train()
        _finite_backward(model(torch.randn(2, 3, 64, 64), samples, mode='loss'), model)
        reparameterize_model(model)
        model.eval()
        with torch.no_grad():
            assert model(torch.randn(1, 3, 64, 64), mode='tensor').shape == (1, 64, 64)


def test_ppocrv4_recogniser_trains_with_ctc():
    cfg = _model_cfg('ppocrv4_mobile_rec')
    cfg['backbone'].update(scale=0.5, conv_kxk_num=1)
    model = MODELS.build(cfg)
    assert model.decoder.codec.num_classes == 6625
    model.train()
    samples = [DataSample(gt_text=t, metainfo=dict(img_shape=(48, 96), valid_ratio=1.0)) for t in ('ab', '中文')]
    _finite_backward(model(torch.randn(2, 3, 48, 96), samples, mode='loss'), model)


def test_direction_classifier_trains_and_predicts():
    model = MODELS.build(_model_cfg('ppocr_mobile_v2.0_cls'))
    model.train()
    samples = [DataSample(gt_label=torch.tensor([i])) for i in (0, 1)]
    _finite_backward(model(torch.randn(2, 3, 48, 96), samples, mode='loss'), model)
    model.eval()
    with torch.no_grad():
        out = model(torch.randn(2, 3, 48, 96), mode='predict')
    assert [p.pred_label_name in ('0', '180') for p in out] == [True, True]
