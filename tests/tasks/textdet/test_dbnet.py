"""DBNet: FPNC / DBHead / DBLoss shapes, the detector's modes, and a tiny overfit of one synthetic image."""
from __future__ import annotations

import math

import cv2
import numpy as np
import pytest
import shapely
import torch

import visioncraft.tasks.textdet  # noqa: F401  (registers the text-detection modules)
from conftest import assert_gradient_step_lowers_loss, saved_state_dict
from visioncraft.registry import MODELS
from visioncraft.structures import DataSample, InstanceData


def tiny_dbnet(**over) -> dict:
    """ResNet-18 + a narrow FPNC + DBHead (the full widths train too slowly on 2 CPU cores)."""
    cfg = dict(type='DBNet',
               backbone=dict(type='ResNet', depth=18, out_indices=(0, 1, 2, 3), norm_eval=False),
               neck=dict(type='FPNC', lateral_channels=64, out_channels=16),
               det_head=dict(type='DBHead', codec=dict(type='DBCodec', unclip_ratio=None, box_thresh=0.5)))
    cfg.update(over)
    return cfg


def text_batch(n: int = 2, size: int = 96) -> dict:
    """``n`` images (3 x size x size uint8) with one bright rotated text bar each and one ignored bar, as
    ``PackTextDetInputs`` packs them."""
    inputs, samples = [], []
    for i in range(n):
        img = np.full((size, size, 3), 30, np.uint8)
        quad = cv2.boxPoints(((size / 2, size / 2 + 4 * i), (size * 0.6, size * 0.2), 10.0 * i)).astype(np.float32)
        ign = np.array([4, 4, 30, 4, 30, 14, 4, 14], np.float32)
        cv2.fillPoly(img, [quad.astype(np.int32)], (230, 230, 230))
        cv2.fillPoly(img, [ign.reshape(-1, 2).astype(np.int32)], (200, 200, 200))
        polys = [quad.reshape(-1), ign]
        boxes = torch.tensor([[p[0::2].min(), p[1::2].min(), p[0::2].max(), p[1::2].max()] for p in polys])
        gt = InstanceData(polygons=polys, bboxes=boxes.float(), labels=torch.zeros(2, dtype=torch.int64),
                          ignored=torch.tensor([False, True]), texts=['text', '###'])
        inputs.append(torch.from_numpy(img).permute(2, 0, 1).contiguous())
        samples.append(DataSample(gt_instances=gt, metainfo=dict(
            img_path=f'synthetic_{i}.jpg', ori_shape=(size, size), img_shape=(size, size),
            scale_factor=(1.0, 1.0), pad_shape=(size, size))))
    return dict(inputs=inputs, data_samples=samples)


def test_fpnc_shapes_and_asf():
    neck = MODELS.build(dict(type='FPNC', in_channels=[8, 16, 32, 64], lateral_channels=16, out_channels=4))
    feats = [torch.rand(2, c, 32 // 2 ** i, 40 // 2 ** i) for i, c in enumerate([8, 16, 32, 64])]
    (out,) = neck(feats)
    assert out.shape == (2, 16, 32, 40) and neck.out_channels == [16]
    assert MODELS.build(dict(type='FPNC', in_channels=[8, 16, 32, 64]))(feats)[0].shape[1] == 256
    # DBNet++ adaptive scale fusion: same output shape, one attention map in (0, 1) per level; with the
    # attention's last conv zeroed every weight is sigmoid(0) = 0.5, so the output is half the plain FPNC's
    asf = MODELS.build(dict(type='FPNC', in_channels=[8, 16, 32, 64], lateral_channels=16, out_channels=4,
                            asf_cfg=dict(attention_type='ScaleChannelSpatial'))).eval()
    plain = MODELS.build(dict(type='FPNC', in_channels=[8, 16, 32, 64], lateral_channels=16, out_channels=4))
    plain.load_state_dict({k: v for k, v in asf.state_dict().items() if not k.startswith('asf_')})
    plain.eval()
    with torch.no_grad():
        weights = asf.asf_attn(torch.rand(2, 16, 32, 40))
        assert weights.shape == (2, 4, 32, 40) and 0 < weights.min() and weights.max() < 1
        assert asf(feats)[0].shape == (2, 16, 32, 40)
        assert not torch.allclose(asf(feats)[0], 0.5 * plain(feats)[0], atol=1e-4)
        asf.asf_attn.attention_wise.weight.zero_()
        assert torch.allclose(asf(feats)[0], 0.5 * plain(feats)[0], atol=1e-6)
    with pytest.raises(ValueError, match='attention_type'):
        MODELS.build(dict(type='FPNC', in_channels=[8], asf_cfg=dict(attention_type='Other')))


def test_head_shapes_and_binary_map():
    head = MODELS.build(dict(type='DBHead', in_channels=16))
    x = torch.rand(2, 16, 8, 10)
    assert head(x).shape == (2, 32, 40)
    prob, thr, binary = head((x,), with_threshold=True)
    assert torch.allclose(binary, torch.sigmoid(50 * (prob - thr)), atol=1e-5)


def test_loss_terms():
    loss = MODELS.build(dict(type='DBLoss'))
    gt = torch.zeros(1, 20, 20)
    gt[0, 5:10, 5:10] = 1
    t = dict(shrink_map=gt, shrink_mask=torch.ones_like(gt), thr_map=torch.full_like(gt, 0.3),
             thr_mask=torch.ones_like(gt))
    perfect = loss(gt.clamp(0.01, 0.99), t['thr_map'], gt, t)
    assert perfect['loss_db'] < 1e-3 and perfect['loss_thr'] < 1e-6 and perfect['loss_prob'] < 5 * 0.02
    wrong = loss(1 - gt.clamp(0.01, 0.99), t['thr_map'] + 0.1, 1 - gt, t)
    assert wrong['loss_thr'] == pytest.approx(10 * 0.1, rel=1e-4) and wrong['loss_db'] > 0.99
    # hard negative mining: 25 positives -> 75 negatives; a wrong negative outside the top-75 set does not
    # change the loss, a hard one does
    pred = gt.clamp(0.01, 0.99).clone()
    pred[0, 15, 15] = 0.9
    assert loss.balanced_bce(pred, gt, t['shrink_mask']) > loss.balanced_bce(gt.clamp(0.01, 0.99), gt,
                                                                              t['shrink_mask'])
    with pytest.raises(KeyError, match='thr_mask'):
        loss(gt, gt, gt, {k: v for k, v in t.items() if k != 'thr_mask'})


def test_modes_and_errors():
    torch.manual_seed(0)
    model = MODELS.build(tiny_dbnet())
    data = model.data_preprocessor(text_batch(), training=True)
    assert data['inputs'].shape == (2, 3, 96, 96)
    losses = model(**data, mode='loss')
    assert set(losses) == {'loss_prob', 'loss_thr', 'loss_db'}
    assert all(math.isfinite(float(v.detach())) for v in losses.values())
    model.eval()
    assert model(data['inputs'], mode='tensor').shape == (2, 96, 96)
    out = model.test_step(text_batch())
    assert all(isinstance(s.pred_instances.scores, torch.Tensor) for s in out)
    with pytest.raises(ValueError, match='mode'):
        model(data['inputs'], mode='bad')
    with pytest.raises(ValueError, match='neck.in_channels'):
        MODELS.build(tiny_dbnet(neck=dict(type='FPNC', in_channels=[1, 2, 3, 4])))


def _iou(a, b):
    pa, pb = shapely.Polygon(a.reshape(-1, 2)).buffer(0), shapely.Polygon(b.reshape(-1, 2)).buffer(0)
    return pa.intersection(pb).area / pa.union(pb).area


def small_dbnet() -> dict:
    """:func:`tiny_dbnet` on the 4-level TinyDetBackbone of conftest's TINY_DBNET (a few hundred kB of weights, so
    that its trained weights can be saved with the tests)."""
    return tiny_dbnet(backbone=dict(type='TinyDetBackbone', stem_channels=8, widths=(16, 24, 32, 48),
                                    depths=(1, 1, 1, 1), out_indices=(0, 1, 2, 3)),
                      neck=dict(type='FPNC', in_channels=[16, 24, 32, 48], lateral_channels=16, out_channels=8),
                      det_head=dict(type='DBHead', in_channels=32,
                                    codec=dict(type='DBCodec', unclip_ratio=None, box_thresh=0.5)))


def test_overfit_one_image():
    """DBNet learns one 96 x 96 image: a gradient step of the ResNet-18 DBNet lowers the summed DB losses by
    their first-order amount (see ``conftest.gradient_step``), and a small DBNet overfit on the image (weights
    saved by tests/data/make_test_weights.py) decodes a polygon that overlaps the ground truth with IoU > 0.5
    (0.894, and still with every weight perturbed by 1e-4 relative noise). Neither depends on a training
    trajectory, so both hold on every CPU and thread count."""
    torch.manual_seed(0)
    model = MODELS.build(tiny_dbnet())
    assert_gradient_step_lowers_loss(
        model, lambda: sum(model(**model.data_preprocessor(text_batch(n=1), training=True), mode='loss').values()))
    small = MODELS.build(small_dbnet())
    small.load_state_dict(saved_state_dict('dbnet_one_image'))
    small.eval()
    batch = text_batch(n=1)
    with torch.no_grad():
        pred = small.test_step(batch)[0].pred_instances
    gt = batch['data_samples'][0].gt_instances.polygons[0]
    best = max((_iou(p, gt) for p in pred.polygons), default=0.0)
    assert best > 0.5, (best, len(pred.polygons))


def test_icdar2015_config_builds():
    """The MMOCR-named config inherits the model base and builds a 12.3 M-parameter DBNet (no weights loaded)."""
    from pathlib import Path

    from visioncraft.config import Config
    root = Path(__file__).resolve().parents[3]
    cfg = Config.fromfile(str(root / 'configs/textdet/dbnet/dbnet_resnet18_fpnc_1200e_icdar2015.py'))
    model_cfg = dict(cfg.model)
    model_cfg['backbone'] = dict(model_cfg['backbone'], init_cfg=None)
    model = MODELS.build(model_cfg).eval()
    assert 12.0e6 < sum(p.numel() for p in model.parameters()) < 12.7e6
    assert model.det_head.codec.unclip_ratio == 1.5 and model.data_preprocessor.pad_size_divisor == 32
    with torch.no_grad():
        assert model(torch.rand(1, 3, 64, 96), mode='tensor').shape == (1, 64, 96)
