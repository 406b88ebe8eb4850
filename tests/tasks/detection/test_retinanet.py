"""RetinaNet parts (anchors, codec, assigner, losses, head, detector, preprocessor) and its configs."""
from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
from torchvision.models.detection import _utils as tv_utils
from torchvision.models.detection.anchor_utils import AnchorGenerator as TVAnchorGenerator
from torchvision.models.detection.image_list import ImageList
from torchvision.ops import sigmoid_focal_loss

from conftest import det_batch, tiny_retinanet
from visioncraft.config import Config
from visioncraft.engine.optim import OptimWrapper
from visioncraft.registry import MODELS, TASK_UTILS, TRANSFORMS
from visioncraft.structures import DataSample, InstanceData
from visioncraft.tasks.detection.models import (AnchorGenerator, DeltaXYWHBBoxCoder, MaxIoUAssigner,
                                                RetinaNet)
from visioncraft.tasks.detection.models.convert_torchvision import TORCHVISION_ANCHOR_SIZES

REPO = Path(__file__).resolve().parents[3]


# -- anchors, codec, assigner -----------------------------------------------------------------------
def test_anchor_generator_mmdet_style_sizes():
    gen = TASK_UTILS.build(dict(type='AnchorGenerator', octave_base_scale=4, scales_per_octave=3,
                                ratios=[0.5, 1.0, 2.0], strides=[8, 16, 32, 64, 128]))
    assert gen.num_base_anchors == 9
    assert gen.sizes[0] == pytest.approx([32, 32 * 2 ** (1 / 3), 32 * 2 ** (2 / 3)])
    priors = gen.grid_priors([(4, 6), (2, 3), (1, 2), (1, 1), (1, 1)])
    assert [len(p) for p in priors] == [4 * 6 * 9, 2 * 3 * 9, 2 * 9, 9, 9]
    # ratio 1, first scale, at cell (0, 1): centred at (8, 0), 32 x 32
    torch.testing.assert_close(priors[0][9 + 3], torch.tensor([-8.0, -16.0, 24.0, 16.0]))
    w, h = priors[0][0, 2] - priors[0][0, 0], priors[0][0, 3] - priors[0][0, 1]
    assert float(h / w) == pytest.approx(0.5)  # ratio = h / w


def test_anchor_generator_matches_torchvision():
    tv = TVAnchorGenerator(tuple(tuple(s) for s in TORCHVISION_ANCHOR_SIZES), ((0.5, 1.0, 2.0),) * 5)
    ours = AnchorGenerator(strides=[8, 16, 32, 64, 128], sizes=TORCHVISION_ANCHOR_SIZES, round_base_anchors=True)
    feats = [torch.zeros(1, 1, 256 // s, 384 // s) for s in (8, 16, 32, 64, 128)]
    ref = tv(ImageList(torch.zeros(1, 3, 256, 384), [(256, 384)]), feats)[0]
    got = torch.cat(ours.grid_priors([f.shape[-2:] for f in feats]))
    assert torch.equal(got, ref)


def test_box_coder_round_trip_and_torchvision():
    coder = DeltaXYWHBBoxCoder()
    anchors = torch.tensor([[0.0, 0.0, 10.0, 20.0], [5.0, 5.0, 40.0, 25.0]])
    gt = torch.tensor([[1.0, 2.0, 12.0, 18.0], [0.0, 10.0, 30.0, 30.0]])
    deltas = coder.encode(anchors, gt)
    tv = tv_utils.BoxCoder(weights=(1.0, 1.0, 1.0, 1.0))
    torch.testing.assert_close(deltas, tv.encode_single(gt, anchors))
    torch.testing.assert_close(coder.decode(anchors, deltas), gt)
    torch.testing.assert_close(coder.decode(anchors, deltas * 3), tv.decode_single(deltas * 3, anchors))
    stds = DeltaXYWHBBoxCoder(target_stds=[0.1, 0.1, 0.2, 0.2])
    torch.testing.assert_close(stds.encode(anchors, gt), deltas / torch.tensor([0.1, 0.1, 0.2, 0.2]))
    torch.testing.assert_close(stds.decode(anchors, stds.encode(anchors, gt)), gt)
    assert coder.decode(anchors, deltas, max_shape=(15, 20)).amax(0).tolist()[2:] == [20.0, 15.0]


def test_max_iou_assigner_matches_torchvision_matcher():
    g = torch.Generator().manual_seed(3)
    xy = torch.rand(300, 2, generator=g) * 80
    anchors = torch.cat([xy, xy + 8 + torch.rand(300, 2, generator=g) * 30], 1)
    gts = torch.tensor([[10.0, 10.0, 40.0, 50.0], [50.0, 20.0, 90.0, 60.0], [2.0, 70.0, 9.0, 75.0]])
    ours = MaxIoUAssigner(pos_iou_thr=0.5, neg_iou_thr=0.4).assign(anchors, gts)
    from torchvision.ops import box_iou
    ref = tv_utils.Matcher(0.5, 0.4, allow_low_quality_matches=True)(box_iou(gts, anchors))
    assert torch.equal(ours.gt_inds, ref)  # -1 / -2 codes coincide with torchvision's
    assert ours.num_pos > 0 and (ours.gt_inds == -2).any()
    empty = MaxIoUAssigner().assign(anchors, torch.zeros(0, 4))
    assert (empty.gt_inds == -1).all()
    with pytest.raises(ValueError, match='ignore_iof_thr'):  # ignored regions: tests/.../test_assigners.py
        MaxIoUAssigner(ignore_iof_thr=1.5)


def test_losses():
    pred = torch.randn(6, 3)
    labels = torch.tensor([0, 1, 2, 3, 3, 1])  # 3 = background
    onehot = torch.nn.functional.one_hot(labels, 4)[:, :3].float()
    focal = MODELS.build(dict(type='FocalLoss', gamma=2.0, alpha=0.25, loss_weight=2.0))
    ref = sigmoid_focal_loss(pred, onehot, reduction='sum') / 4
    torch.testing.assert_close(focal(pred, labels, avg_factor=4), 2 * ref)
    torch.testing.assert_close(focal(pred, onehot, avg_factor=4), 2 * ref)
    a, b = torch.randn(5, 4), torch.randn(5, 4)
    l1 = MODELS.build(dict(type='L1Loss', loss_weight=0.5))
    torch.testing.assert_close(l1(a, b), 0.5 * (a - b).abs().mean())
    torch.testing.assert_close(l1(a, b, avg_factor=2.0), 0.5 * (a - b).abs().sum() / 2)
    sl1 = MODELS.build(dict(type='SmoothL1Loss', beta=0.5))
    torch.testing.assert_close(sl1(a, b), torch.nn.functional.smooth_l1_loss(a, b, beta=0.5))


# -- preprocessor, detector ------------------------------------------------------------------------
def test_det_data_preprocessor_pads_and_sets_metainfo():
    pre = MODELS.build(dict(type='DetDataPreprocessor', mean=[0, 0, 0], std=[1, 1, 1], bgr_to_rgb=True))
    imgs = [torch.zeros(3, 40, 50, dtype=torch.uint8), torch.zeros(3, 33, 70, dtype=torch.uint8)]
    imgs[0][0] = 7  # B channel -> last after BGR->RGB
    samples = [DataSample(), DataSample(metainfo=dict(img_shape=(33, 70)))]
    out = pre(dict(inputs=imgs, data_samples=samples))
    assert out['inputs'].shape == (2, 3, 64, 96)
    assert out['inputs'][0, 2, 0, 0] == 7 and out['inputs'][0, 2, 50, 0] == 0
    samples = out['data_samples']
    assert samples[0].batch_input_shape == (64, 96) and samples[0].pad_shape == (64, 96)
    assert samples[0].img_shape == (40, 50) and samples[1].img_shape == (33, 70)


def test_retinanet_loss_predict_tensor_modes():
    torch.manual_seed(0)
    model = MODELS.build(tiny_retinanet())
    assert isinstance(model, RetinaNet) and model.bbox_head.cls_convs[0].in_channels == 32
    data = model.data_preprocessor(det_batch(), training=True)
    losses = model(**data, mode='loss')
    assert set(losses) == {'loss_cls', 'loss_bbox'} and all(torch.isfinite(v) for v in losses.values())
    cls_scores, bbox_preds = model(data['inputs'], mode='tensor')
    assert len(cls_scores) == 5 and cls_scores[0].shape == (2, 9 * 3, 8, 8) and bbox_preds[0].shape == (2, 36, 8, 8)
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
        # rescaled by scale_factor 2 into the ORIGINAL image, and clipped to it
        assert float(pred.bboxes[:, 0::2].max()) <= ow and float(pred.bboxes[:, 1::2].max()) <= oh


def test_predict_rescales_by_scale_factor():
    torch.manual_seed(0)
    model = MODELS.build(tiny_retinanet()).eval()
    data = model.data_preprocessor(det_batch(n=1), training=False)
    with torch.no_grad():
        feats = model.extract_feat(data['inputs'])
        raw = model.bbox_head.predict(feats, data['data_samples'], rescale=False)[0]
        scaled = model.bbox_head.predict(feats, data['data_samples'], rescale=True)[0]
    torch.testing.assert_close(scaled.bboxes, (raw.bboxes / 2).clamp(max=32))
    torch.testing.assert_close(scaled.scores, raw.scores)


def test_retinanet_trains_two_iterations():
    torch.manual_seed(0)
    model = MODELS.build(tiny_retinanet())
    model.init_weights()
    model.train()
    optim = OptimWrapper(torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.01, momentum=0.9))
    before = model.bbox_head.retina_cls.weight.detach().clone()
    logs = [model.train_step(det_batch(), optim) for _ in range(2)]
    for log in logs:
        assert set(log) >= {'loss', 'loss_cls', 'loss_bbox'} and all(math.isfinite(v) for v in log.values())
    assert not torch.equal(before, model.bbox_head.retina_cls.weight)
    assert not model.backbone.conv1.weight.requires_grad  # frozen_stages=1


def test_image_without_boxes_trains():
    model = MODELS.build(tiny_retinanet())
    batch = det_batch(n=1)
    batch['data_samples'][0].gt_instances = InstanceData(bboxes=torch.zeros(0, 4), labels=torch.zeros(0).long())
    losses = model(**model.data_preprocessor(batch, training=True), mode='loss')
    assert float(losses['loss_bbox'].detach()) == 0 and float(losses['loss_cls'].detach()) > 0


def test_neck_channel_mismatch_is_an_error():
    with pytest.raises(ValueError, match='backbone outputs'):
        MODELS.build(tiny_retinanet(neck=dict(type='FPN', in_channels=[256, 512, 1024, 2048], out_channels=32,
                                              start_level=1, add_extra_convs='on_input', num_outs=5)))
    with pytest.raises(ValueError, match='strides'):
        MODELS.build(tiny_retinanet(neck=dict(type='FPN', out_channels=32, start_level=1, num_outs=4)))


# -- configs ---------------------------------------------------------------------------------------
def test_retinanet_config_builds():
    cfg = Config.fromfile(REPO / 'configs/retinanet/retinanet_r50_fpn_1x_coco.py')
    assert cfg.model.backbone.init_cfg.checkpoint == 'torchvision://resnet50'
    assert cfg.optim_wrapper.optimizer.lr == 0.01 and cfg.optim_wrapper.optimizer.momentum == 0.9
    assert cfg.train_cfg.max_epochs == 12 and cfg.auto_scale_lr.base_batch_size == 16
    assert cfg.param_scheduler[1].milestones == [8, 11]
    assert cfg.train_dataloader.dataset.type == 'CocoDataset' and cfg.val_evaluator.type == 'CocoMetric'
    for t in cfg.train_dataloader.dataset.pipeline:
        TRANSFORMS.build(t.to_dict() if hasattr(t, 'to_dict') else dict(t))
    model_cfg = cfg.model.to_dict() if hasattr(cfg.model, 'to_dict') else dict(cfg.model)
    model_cfg['backbone'].pop('init_cfg')  # no download in tests
    model = MODELS.build(model_cfg)
    assert isinstance(model, RetinaNet) and model.bbox_head.num_classes == 80
    assert model.neck.strides == [8, 16, 32, 64, 128] and model.bbox_head.test_cfg['max_per_img'] == 100
    base = Config.fromfile(REPO / 'configs/_base_/schedules/schedule_1x.py')
    assert base.optim_wrapper.optimizer.lr == 0.02 and base.param_scheduler[0].end == 500
