"""FCOS parts (points, targets, regress ranges, centre sampling, losses, scoring), the detector and its configs."""
from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

from conftest import assert_gradient_step_lowers_loss, det_batch, tiny_retinanet
from visioncraft.config import Config
from visioncraft.engine.optim import OptimWrapper
from visioncraft.registry import MODELS, TASK_UTILS
from visioncraft.structures import DataSample, InstanceData
from visioncraft.tasks.detection.models import FCOS, FCOSHead, MlvlPointGenerator, RetinaNet
from visioncraft.tasks.detection.models.fcos_head import centerness_target

REPO = Path(__file__).resolve().parents[3]


def tiny_fcos(**head) -> dict:
    """ResNet-18, a 32-channel FPN (P3-P7) and a 2-conv GN head with 3 classes."""
    bbox_head = dict(type='FCOSHead', num_classes=3, feat_channels=32, stacked_convs=2,
                     norm_cfg=dict(type='GN', num_groups=8))
    bbox_head.update(head)
    return tiny_retinanet(type='FCOS', bbox_head=bbox_head, train_cfg=None,
                          test_cfg=dict(nms_pre=100, score_thr=0.0, nms=dict(type='nms', iou_threshold=0.5),
                                        max_per_img=10))


def _head(**kw) -> FCOSHead:
    cfg = dict(num_classes=2, in_channels=8, feat_channels=8, stacked_convs=1, norm_cfg=None)
    cfg.update(kw)
    return FCOSHead(**cfg)


# -- points, targets ------------------------------------------------------------------------------
def test_point_generator_offsets_and_order():
    gen = TASK_UTILS.build(dict(type='MlvlPointGenerator', strides=[8, 16]))
    p0, p1 = gen.grid_priors([(2, 3), (1, 2)])
    assert p0.tolist() == [[4, 4], [12, 4], [20, 4], [4, 12], [12, 12], [20, 12]]  # (y, x) order, cell centres
    assert p1.tolist() == [[8, 8], [24, 8]]
    corner = MlvlPointGenerator([8, 16], offset=0.0).grid_priors([(2, 3), (1, 2)], with_stride=True)
    assert corner[0][4].tolist() == [8, 8, 8] and corner[1][1].tolist() == [16, 0, 16]
    with pytest.raises(ValueError, match='2 levels'):
        gen.grid_priors([(2, 3)])


def _targets(head, sizes, boxes, labels):
    points = head.prior_generator.grid_priors(sizes)
    lbl, inds = head.get_targets(points, torch.tensor(boxes, dtype=torch.float32), torch.tensor(labels))
    return points, lbl, inds


def test_targets_inside_box_and_regress_ranges():
    head = _head(strides=[8, 16], regress_ranges=[(-1, 64), (64, 1e8)], center_sampling=False)
    # a 40 x 40 box: every level-0 point strictly inside it (x, y in 4..36) is positive; on level 1 the
    # farthest side is < 64 px away, outside that level's range
    points, lbl, inds = _targets(head, [(8, 8), (4, 4)], [[0, 0, 40, 40]], [1])
    n0 = 64
    pos = torch.nonzero(inds >= 0)[:, 0]
    assert len(pos) == 25 and int(pos.max()) < n0
    assert (lbl[pos] == 1).all() and (lbl[inds < 0] == 2).all()  # background = num_classes
    pts = torch.cat(points)[pos]
    assert float(pts.min()) == 4 and float(pts.max()) == 36
    # a 200 x 120 box in a 256 x 256 image: the points whose farthest side is > 64 px go to level 1
    points, lbl, inds = _targets(head, [(32, 32), (16, 16)], [[0, 0, 200, 120]], [0])
    pts = torch.cat(points)
    far = torch.stack([pts[:, 0], pts[:, 1], 200 - pts[:, 0], 120 - pts[:, 1]], 1).max(1).values
    inside = (pts[:, 0] > 0) & (pts[:, 0] < 200) & (pts[:, 1] > 0) & (pts[:, 1] < 120)
    level0 = torch.arange(len(pts)) < 32 * 32
    expected = inside & ((level0 & (far <= 64)) | (~level0 & (far >= 64)))
    assert expected[:1024].sum() == 0 and expected[1024:].sum() > 0  # all of them on level 1 here
    assert torch.equal(inds >= 0, expected)


def test_targets_boundary_inclusive_vs_strict():
    # point (4, 4) is exactly 64 px from the box's left side: MMDetection keeps it (<= 64), torchvision not
    box = [[-60, 0, 14, 8]]
    _, _, inds = _targets(_head(strides=[8], regress_ranges=[(-1, 64)], center_sampling=False), [(1, 2)], box, [0])
    assert inds.tolist() == [0, -1]  # point (12, 4): 72 px from the left side, out of range
    _, _, inds = _targets(_head(strides=[8], regress_ranges=[(0, 64)], center_sampling=False,
                                strict_regress_ranges=True), [(1, 2)], box, [0])
    assert inds.tolist() == [-1, -1]


def test_center_sampling_radius():
    # box centre (20, 20), stride 8, radius 1.5: points with |x - 20| < 12 and |y - 20| < 12 -> 3 x 3
    head = _head(strides=[8], regress_ranges=[(-1, 1e8)], center_sampling=True, center_sample_radius=1.5)
    points, _, inds = _targets(head, [(8, 8)], [[0, 0, 40, 40]], [0])
    pos = points[0][inds >= 0]
    assert len(pos) == 9 and set(pos[:, 0].tolist()) == {12.0, 20.0, 28.0}
    # the centre region is also cut by the box: a thin 6 px high box keeps only the points inside it
    points, _, inds = _targets(head, [(8, 8)], [[0, 0, 40, 6]], [0])
    assert points[0][inds >= 0].tolist() == [[12, 4], [20, 4], [28, 4]]
    wide = _head(strides=[8], regress_ranges=[(-1, 1e8)], center_sampling=True, center_sample_radius=2.5)
    assert int((_targets(wide, [(8, 8)], [[0, 0, 40, 40]], [0])[2] >= 0).sum()) == 25


def test_overlapping_boxes_go_to_the_smaller_one_and_empty_images():
    head = _head(strides=[8], regress_ranges=[(-1, 1e8)], center_sampling=False)
    points, lbl, inds = _targets(head, [(8, 8)], [[0, 0, 60, 60], [8, 8, 30, 30]], [0, 1])
    pts = points[0]
    in_small = (pts[:, 0] > 8) & (pts[:, 0] < 30) & (pts[:, 1] > 8) & (pts[:, 1] < 30)
    assert in_small.sum() == 9 and (inds[in_small] == 1).all() and (lbl[in_small] == 1).all()
    assert (inds[~in_small & (inds >= 0)] == 0).all()
    _, lbl, inds = _targets(head, [(8, 8)], [], [])
    assert (inds == -1).all() and (lbl == 2).all()


def test_centerness_target():
    t = centerness_target(torch.tensor([[1.0, 3.0, 3.0, 1.0], [2.0, 2.0, 2.0, 2.0]]))
    torch.testing.assert_close(t, torch.tensor([1 / 3, 1.0]))


# -- forward, loss, predict -----------------------------------------------------------------------
def test_forward_shapes_and_distance_modes():
    torch.manual_seed(0)
    feats = [torch.randn(2, 8, 6, 5), torch.randn(2, 8, 3, 3)]
    for norm_on_bbox in (True, False):
        head = _head(strides=[8, 16], regress_ranges=[(-1, 64), (64, 1e8)], norm_on_bbox=norm_on_bbox)
        cls, reg, ctr = head(feats)
        assert [tuple(c.shape) for c in cls] == [(2, 2, 6, 5), (2, 2, 3, 3)]
        assert [tuple(r.shape) for r in reg] == [(2, 4, 6, 5), (2, 4, 3, 3)]
        assert [tuple(c.shape) for c in ctr] == [(2, 1, 6, 5), (2, 1, 3, 3)]
        assert all((r >= 0).all() for r in reg)
    # norm_on_bbox: relu(scale * x) * stride; the per-level scale is learnable
    head = _head(strides=[8, 16], regress_ranges=[(-1, 64), (64, 1e8)])
    with torch.no_grad():
        head.scales[1].scale.fill_(2.0)
        raw = head.conv_reg(head.reg_convs[0](feats[1]))
        torch.testing.assert_close(head(feats)[1][1], (raw * 2).relu() * 16)
    on_cls = _head(strides=[8], regress_ranges=[(-1, 64)], centerness_on_reg=False)
    assert on_cls(feats[:1])[2][0].shape == (2, 1, 6, 5)
    with pytest.raises(ValueError, match='2 levels'):
        head(feats[:1])
    with pytest.raises(ValueError, match='num_groups'):
        _head(norm_cfg=dict(type='GN', num_groups=3))
    with pytest.raises(ValueError, match='score_mode'):
        _head(test_cfg=dict(score_mode='max'))


def _hand_made_outputs():
    """One level (stride 8, 2 x 3 cells, 2 classes): only cell (y=1, x=2) is confident, for class 1."""
    cls = torch.full((1, 2, 2, 3), -10.0)
    cls[0, 1, 1, 2] = 2.0
    reg = torch.zeros(1, 4, 2, 3)
    reg[0, :, 1, 2] = torch.tensor([4.0, 2.0, 6.0, 8.0])
    ctr = torch.zeros(1, 1, 2, 3)
    return [cls], [reg], [ctr]


@pytest.mark.parametrize('mode', ['product', 'sqrt'])
def test_predict_scores_decoding_and_rescale(mode):
    head = _head(strides=[8], regress_ranges=[(-1, 1e8)],
                 test_cfg=dict(score_thr=0.1, nms_pre=10, max_per_img=5, score_mode=mode))
    sample = DataSample(metainfo=dict(img_shape=(16, 24), ori_shape=(8, 12), scale_factor=(2.0, 2.0)))
    out = head.predict_by_feat(*_hand_made_outputs(), [sample], rescale=False)[0]
    p = torch.sigmoid(torch.tensor(2.0)) * 0.5  # class probability x centerness sigmoid(0)
    assert out.labels.tolist() == [1]
    torch.testing.assert_close(out.scores, (p.sqrt() if mode == 'sqrt' else p).reshape(1))
    # the point of cell (1, 2) is (20, 12): box = (20 - 4, 12 - 2, 20 + 6, 12 + 8), clipped to 24 x 16
    torch.testing.assert_close(out.bboxes, torch.tensor([[16.0, 10.0, 24.0, 16.0]]))
    scaled = head.predict_by_feat(*_hand_made_outputs(), [sample], rescale=True)[0]
    torch.testing.assert_close(scaled.bboxes, torch.tensor([[8.0, 5.0, 12.0, 8.0]]))


def test_fcos_loss_predict_tensor_modes():
    torch.manual_seed(0)
    model = MODELS.build(tiny_fcos())
    assert isinstance(model, FCOS) and not isinstance(model, RetinaNet)
    assert model.bbox_head.cls_convs[0].conv.in_channels == 32
    data = model.data_preprocessor(det_batch(), training=True)
    losses = model(**data, mode='loss')
    assert set(losses) == {'loss_cls', 'loss_bbox', 'loss_centerness'}
    assert all(torch.isfinite(v) and float(v.detach()) > 0 for v in losses.values())
    cls, reg, ctr = model(data['inputs'], mode='tensor')
    assert len(cls) == 5 and cls[0].shape == (2, 3, 8, 8) and reg[0].shape == (2, 4, 8, 8)
    assert ctr[4].shape == (2, 1, 1, 1)
    model.eval()
    with torch.no_grad():
        out = model(**model.data_preprocessor(det_batch(), training=False), mode='predict')
    assert len(out) == 2
    for sample in out:
        pred = sample.pred_instances
        assert 0 < len(pred) <= 10
        assert pred.bboxes.dtype == torch.float32 and pred.scores.dtype == torch.float32
        assert pred.labels.dtype == torch.int64 and int(pred.labels.max()) < 3
        oh, ow = sample.ori_shape
        assert float(pred.bboxes[:, 0::2].max()) <= ow and float(pred.bboxes[:, 1::2].max()) <= oh
        assert (pred.bboxes[:, 2:] >= pred.bboxes[:, :2]).all()


def test_centerness_weighting_of_the_box_loss():
    torch.manual_seed(0)
    model = MODELS.build(tiny_fcos())
    data = model.data_preprocessor(det_batch(), training=True)
    with torch.no_grad():
        feats = model.extract_feat(data['inputs'])
        outs = model.bbox_head(feats)
        weighted = model.bbox_head.loss_by_feat(*outs, data['data_samples'])
        model.bbox_head.centerness_weighted_bbox_loss = False
        plain = model.bbox_head.loss_by_feat(*outs, data['data_samples'])
    torch.testing.assert_close(weighted['loss_cls'], plain['loss_cls'])
    assert not torch.allclose(weighted['loss_bbox'], plain['loss_bbox'])


def test_tiny_fcos_trains_with_falling_loss():
    """A MobileNetV3-Small FCOS (also checks the backbone inside a detector) on one fixed batch: a gradient step
    lowers the summed losses by their first-order amount (see ``conftest.gradient_step``; no assertion on a
    training trajectory, so it holds on every CPU and thread count), and 8 train_steps log finite losses."""
    torch.manual_seed(0)
    cfg = tiny_fcos()
    cfg['backbone'] = dict(type='MobileNetV3', arch='small', out_indices=(2, 3, 4), frozen_stages=0)
    cfg['neck']['start_level'] = 0
    model = MODELS.build(cfg)
    model.init_weights()
    model.train()
    data = model.data_preprocessor(det_batch(), training=True)
    assert_gradient_step_lowers_loss(model, lambda: sum(v for k, v in model(**data, mode='loss').items()
                                                        if k.startswith('loss')))
    optim = OptimWrapper(torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.01, momentum=0.9),
                         clip_grad=dict(max_norm=35, norm_type=2))
    logs = [model.train_step(det_batch(), optim) for _ in range(8)]
    for log in logs:
        assert set(log) >= {'loss', 'loss_cls', 'loss_bbox', 'loss_centerness'}
        assert all(math.isfinite(v) for v in log.values())
    assert not model.backbone.features[0][0].weight.requires_grad  # frozen_stages=0: the stem


def test_image_without_boxes_trains():
    model = MODELS.build(tiny_fcos())
    batch = det_batch(n=1)
    batch['data_samples'][0].gt_instances = InstanceData(bboxes=torch.zeros(0, 4), labels=torch.zeros(0).long())
    losses = model(**model.data_preprocessor(batch, training=True), mode='loss')
    assert float(losses['loss_bbox'].detach()) == 0 and float(losses['loss_centerness'].detach()) == 0
    assert float(losses['loss_cls'].detach()) > 0
    sum(losses.values()).backward()
    assert model.bbox_head.conv_reg.weight.grad is not None


def test_stride_mismatch_is_an_error():
    with pytest.raises(ValueError, match='strides'):
        MODELS.build(tiny_fcos(strides=[8, 16, 32, 64, 256]))
    with pytest.raises(ValueError, match='prior_generator'):
        MODELS.build(tiny_fcos(prior_generator=dict(type='MlvlPointGenerator', strides=[4, 8, 16, 32, 64])))


# -- configs ---------------------------------------------------------------------------------------
def _model_cfg(cfg) -> dict:
    return cfg.model.to_dict() if hasattr(cfg.model, 'to_dict') else dict(cfg.model)


def test_fcos_config_builds():
    cfg = Config.fromfile(REPO / 'configs/fcos/fcos_r50_fpn_1x_coco.py')
    assert cfg.model.backbone.init_cfg.checkpoint == 'torchvision://resnet50'
    assert cfg.optim_wrapper.optimizer.lr == 0.01 and cfg.optim_wrapper.clip_grad.max_norm == 35
    assert cfg.optim_wrapper.paramwise_cfg.bias_lr_mult == 2.0
    assert cfg.param_scheduler[0].type == 'LinearLR' and cfg.param_scheduler[0].end == 500
    assert cfg.param_scheduler[1].milestones == [8, 11] and cfg.train_cfg.max_epochs == 12
    model_cfg = _model_cfg(cfg)
    model_cfg['backbone'].pop('init_cfg')  # no download in tests
    model = MODELS.build(model_cfg)
    head = model.bbox_head
    assert isinstance(model, FCOS) and head.num_classes == 80 and head.center_sampling and head.norm_on_bbox
    assert head.centerness_on_reg and isinstance(head.cls_convs[0].norm, torch.nn.GroupNorm)
    assert type(head.loss_bbox).__name__ == 'GIoULoss' and head.test_cfg['nms']['iou_threshold'] == 0.6
    assert model.neck.strides == [8, 16, 32, 64, 128] and model.neck.add_extra_convs == 'on_output'


def test_retinanet_mobilenetv3_config_builds_and_runs():
    cfg = Config.fromfile(REPO / 'configs/retinanet/retinanet_mobilenetv3-large_fpn_1x_coco.py')
    model_cfg = _model_cfg(cfg)
    assert model_cfg['backbone']['init_cfg']['checkpoint'] == 'torchvision://mobilenet_v3_large'
    assert 'depth' not in model_cfg['backbone']  # _delete_ replaced the ResNet settings
    model_cfg['backbone'].pop('init_cfg')
    model = MODELS.build(model_cfg).eval()
    assert isinstance(model, RetinaNet) and model.backbone.out_channels == [40, 112, 960]
    assert model.neck.strides == [8, 16, 32, 64, 128]
    with torch.no_grad():
        cls, _ = model(torch.zeros(1, 3, 128, 128), mode='tensor')
    assert [tuple(c.shape[-2:]) for c in cls] == [(16, 16), (8, 8), (4, 4), (2, 2), (1, 1)]
