"""Two-stage detection parts: sampler, RoI extractor, mask targets and pasting, RPN proposals, and tiny
Faster / Mask R-CNN models trained and evaluated through the Runner on the synthetic shapes."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torchvision.models.detection.roi_heads import paste_masks_in_image
from torchvision.ops import MultiScaleRoIAlign

import visioncraft  # noqa: F401  (fills the registries)
from conftest import (assert_gradient_step_lowers_loss, det_batch, det_batch_with_masks, tiny_faster_rcnn,
                      tiny_mask_rcnn, train_losses)
from visioncraft.engine import Runner
from visioncraft.registry import MODELS, TASK_UTILS
from visioncraft.structures import BitmapMasks, InstanceData, PolygonMasks
from visioncraft.data.synthetic.det_shapes import DET_SHAPE_CLASSES, generate_det_shapes
from visioncraft.tasks.detection.models import AssignResult
from visioncraft.tasks.detection.models.roi_heads import bbox2roi, mask_targets, paste_masks


# -- sampler ----------------------------------------------------------------------------------------
def test_random_sampler_counts_ignores_and_gt_proposals():
    sampler = TASK_UTILS.build(dict(type='RandomSampler', num=20, pos_fraction=0.25, add_gt_as_proposals=True))
    gt = torch.tensor([[0.0, 0.0, 10.0, 10.0], [20.0, 20.0, 40.0, 40.0]])
    priors = torch.rand(100, 4) * 50
    priors[:, 2:] += priors[:, :2]
    aug = sampler.augment(priors, gt)
    assert aug.shape == (102, 4) and torch.equal(aug[:2], gt)  # gt boxes first
    gt_inds = torch.full((102,), AssignResult.NEGATIVE)
    gt_inds[:2] = torch.tensor([0, 1])
    gt_inds[2:12] = 1  # 12 positive candidates
    gt_inds[12:40] = AssignResult.IGNORE  # never sampled
    torch.manual_seed(0)
    res = sampler.sample(AssignResult(gt_inds, torch.zeros(102)), aug, gt, torch.tensor([3, 7]))
    assert len(res.pos_inds) == 5 and len(res.neg_inds) == 15  # 25 % of 20, the rest negatives
    assert (res.pos_inds < 12).all() and (res.neg_inds >= 40).all()
    assert torch.equal(res.pos_gt_labels, torch.tensor([3, 7])[gt_inds[res.pos_inds]])
    assert torch.equal(res.pos_gt_bboxes, gt[gt_inds[res.pos_inds]]) and res.bboxes.shape == (20, 4)
    torch.manual_seed(0)
    again = sampler.sample(AssignResult(gt_inds, torch.zeros(102)), aug, gt, torch.tensor([3, 7]))
    assert torch.equal(again.pos_inds, res.pos_inds) and torch.equal(again.neg_inds, res.neg_inds)
    # few negatives: all of them; neg_pos_ub caps negatives per positive
    few = gt_inds.clone()
    few[45:] = AssignResult.IGNORE
    res = sampler.sample(AssignResult(few, torch.zeros(102)), aug, gt)
    assert len(res.neg_inds) == 5 and res.pos_gt_labels is None
    capped = TASK_UTILS.build(dict(type='RandomSampler', num=20, pos_fraction=0.25, neg_pos_ub=1))
    assert len(capped.sample(AssignResult(gt_inds, torch.zeros(102)), aug, gt).neg_inds) == 5
    with pytest.raises(ValueError, match='augment'):
        sampler.sample(AssignResult(gt_inds, torch.zeros(102)), priors, gt)
    with pytest.raises(ValueError, match='pos_fraction'):
        TASK_UTILS.build(dict(type='RandomSampler', num=10, pos_fraction=1.5))


# -- RoI extractor ----------------------------------------------------------------------------------
def test_roi_extractor_level_mapping():
    mmdet = MODELS.build(dict(type='SingleRoIExtractor', out_channels=8, featmap_strides=[4, 8, 16, 32]))
    sides = torch.tensor([20.0, 111.0, 113.0, 223.0, 225.0, 447.0, 449.0, 2000.0])
    rois = torch.stack([torch.zeros_like(sides), torch.zeros_like(sides), torch.zeros_like(sides), sides, sides], 1)
    assert mmdet.map_roi_levels(rois).tolist() == [0, 0, 1, 1, 2, 2, 3, 3]  # finest_scale 56: < 112, 224, 448
    tv_style = MODELS.build(dict(type='SingleRoIExtractor', out_channels=8, featmap_strides=[4, 8, 16, 32],
                                 canonical_scale=224, canonical_level=4))
    # 224 px -> level 4 (P4): the same bands as finest_scale 56 up to the epsilon's place
    assert tv_style.map_roi_levels(rois).tolist() == [0, 0, 1, 1, 2, 2, 3, 3]
    pooler = MultiScaleRoIAlign(['0', '1', '2', '3'], 7, 2)
    boxes = [torch.tensor([[1.0, 2.0, 30.0, 40.0], [0.0, 0.0, 120.0, 100.0]]), torch.tensor([[10.0, 5.0, 60.0, 63.0]])]
    g = torch.Generator().manual_seed(0)
    feats = [torch.randn(2, 8, 128 // s, 128 // s, generator=g) for s in (4, 8, 16, 32)]
    tv_out = pooler(dict(zip('0123', feats)), boxes, [(128, 128), (128, 128)])
    assert torch.equal(tv_style.map_roi_levels(bbox2roi(boxes)), pooler.map_levels(boxes).flatten().long())
    ours = MODELS.build(dict(type='SingleRoIExtractor', out_channels=8, featmap_strides=[4, 8, 16, 32],
                             canonical_scale=224, roi_layer=dict(type='RoIAlign', output_size=7, sampling_ratio=2,
                                                                 aligned=False)))
    torch.testing.assert_close(ours(feats, bbox2roi(boxes)), tv_out)
    with pytest.raises(ValueError, match='out_channels'):
        MODELS.build(dict(type='SingleRoIExtractor', out_channels=16))(feats, bbox2roi(boxes))
    with pytest.raises(ValueError, match='unknown keys'):
        MODELS.build(dict(type='SingleRoIExtractor', roi_layer=dict(type='RoIAlign', spatial_scale=2)))


# -- masks ------------------------------------------------------------------------------------------
def test_mask_targets_from_bitmaps_and_polygons():
    h, w = 40, 50
    square = [[10.0, 10.0, 30.0, 10.0, 30.0, 30.0, 10.0, 30.0]]  # a 20 x 20 square
    triangle = [[0.0, 0.0, 20.0, 0.0, 0.0, 20.0]]
    polys = PolygonMasks([square, triangle], h, w)
    bitmaps = BitmapMasks(polys.to_ndarray(), h, w)
    boxes = torch.tensor([[10.0, 10.0, 30.0, 30.0], [0.0, 0.0, 20.0, 20.0], [20.0, 10.0, 40.0, 30.0]])
    gt_inds = torch.tensor([0, 1, 0])
    t_poly = mask_targets(polys, gt_inds, boxes, 28)
    t_bits = mask_targets(bitmaps, gt_inds, boxes, 28)
    assert t_poly.shape == (3, 28, 28) and torch.equal(t_poly, t_bits)
    assert set(t_poly.unique().tolist()) <= {0.0, 1.0}
    assert t_poly[0].all()  # the box is the square: all inside
    assert t_poly[2, :, :14].all() and not t_poly[2, :, 14:].any()  # half of this box covers the square
    tri = t_poly[1]
    assert tri[0, 0] == 1 and tri[-1, -1] == 0 and abs(float(tri.mean()) - 0.5) < 0.06  # the lower-left half
    assert mask_targets(polys, gt_inds[:0], boxes[:0], 28).shape == (0, 28, 28)


def test_paste_masks_matches_torchvision():
    g = torch.Generator().manual_seed(0)
    probs = torch.rand(40, 28, 28, generator=g)
    xy = torch.rand(40, 2, generator=g) * 60
    boxes = torch.cat([xy, xy + torch.rand(40, 2, generator=g) * 70 + 0.5], 1)
    boxes[:, 0::2] = boxes[:, 0::2].clamp(max=119.0)
    boxes[:, 1::2] = boxes[:, 1::2].clamp(max=89.0)
    expected = paste_masks_in_image(probs[:, None], boxes, (90, 120))[:, 0] >= 0.5
    ours = paste_masks(probs, boxes, (90, 120), chunk_pixels=90 * 120 * 7)  # several chunks
    assert ours.dtype == torch.bool and torch.equal(ours, expected)
    assert paste_masks(probs[:0], boxes[:0], (90, 120)).shape == (0, 90, 120)


# -- RPN ----------------------------------------------------------------------------------------------
def test_rpn_proposals_per_image_equal_a_single_image_run():
    torch.manual_seed(0)
    model = MODELS.build(tiny_faster_rcnn())
    model.eval()
    data = model.data_preprocessor(det_batch(n=2), training=False)
    with torch.no_grad():
        feats = model.extract_feat(data['inputs'])
        both = model.rpn_head.predict(feats, data['data_samples'])
        for i, sample in enumerate(data['data_samples']):
            one = model.rpn_head.predict([f[i:i + 1] for f in feats], [sample])[0]
            torch.testing.assert_close(one.bboxes, both[i].bboxes)
            h, w = sample.metainfo['img_shape']
            b = both[i].bboxes
            assert len(b) <= 50 and (b[:, 2] <= w).all() and (b[:, 3] <= h).all() and (b >= 0).all()
            assert (both[i].scores[:-1] >= both[i].scores[1:]).all()


def test_two_stage_modes_and_config_errors():
    torch.manual_seed(0)
    model = MODELS.build(tiny_mask_rcnn())
    data = model.data_preprocessor(det_batch_with_masks(), training=True)
    losses = model(**data, mode='loss')
    assert set(losses) == {'loss_rpn_cls', 'loss_rpn_bbox', 'loss_cls', 'loss_bbox', 'acc', 'loss_mask'}
    assert all(math.isfinite(float(v.detach())) for v in losses.values())
    model.eval()
    with torch.no_grad():
        rpn_outs, roi_outs = model(data['inputs'], mode='tensor')
        out = model.test_step(det_batch_with_masks())
    assert len(rpn_outs[0]) == 5 and len(roi_outs) == 3 and roi_outs[0].shape[1] == 4  # 3 classes + background
    # the mask head on the first 100 RoIs (of every proposal the box head scores), as MMDetection counts FLOPs
    assert len(roi_outs[2]) == min(100, len(roi_outs[0]))
    model.roi_head.tensor_mode_mask_rois = 7
    with torch.no_grad():
        _, (cls_score, _, mask_pred) = model(data['inputs'], mode='tensor')
    assert len(cls_score) > 7 and len(mask_pred) == 7
    del model.roi_head.tensor_mode_mask_rois
    for sample in out:
        pred = sample.pred_instances
        oh, ow = sample.metainfo['ori_shape']
        assert pred.masks.dtype == torch.bool and pred.masks.shape[1:] == (oh, ow) and len(pred.masks) == len(pred)
        assert (pred.bboxes[:, 2] <= ow).all() and (pred.bboxes[:, 3] <= oh).all() and len(pred) <= 10
    with pytest.raises(ValueError, match='unknown keys'):
        MODELS.build(tiny_faster_rcnn(train_cfg=dict(rcn=dict())))
    with pytest.raises(ValueError, match='allowed_border'):
        MODELS.build(tiny_faster_rcnn(train_cfg=dict(rpn=dict(allowed_border='0'))))
    cfg = tiny_mask_rcnn()  # no mask_roi_extractor: the masks share the box extractor (MMDetection's C4 configs)
    cfg['roi_head'] = dict(cfg['roi_head'], mask_roi_extractor=None)
    assert MODELS.build(cfg).roi_head.share_roi_extractor
    with pytest.raises(ValueError, match='strides'):
        MODELS.build(tiny_faster_rcnn(neck=dict(type='FPN', out_channels=32, num_outs=4)))


def test_image_without_boxes_trains():
    torch.manual_seed(0)
    model = MODELS.build(tiny_mask_rcnn())
    batch = det_batch_with_masks(n=2)
    batch['data_samples'][0].gt_instances = InstanceData(bboxes=torch.zeros(0, 4), labels=torch.zeros(0).long(),
                                                         masks=BitmapMasks(np.zeros((0, 64, 64), np.uint8), 64, 64))
    losses = model(**model.data_preprocessor(batch, training=True), mode='loss')
    sum(v for k, v in losses.items() if 'loss' in k).backward()
    assert all(math.isfinite(float(v.detach())) for v in losses.values())


# -- end to end: Runner on the synthetic shapes ---------------------------------------------------------
@pytest.fixture(scope='module')
def det_shapes(tmp_path_factory):
    return generate_det_shapes(tmp_path_factory.mktemp('two_stage') / 'shapes', num_train=8, num_val=4,
                               image_size=(64, 64), max_objects=2, object_size=(14, 30), seed=5)


def _runner_cfg(root, work_dir, model, metric):
    ds = dict(type='CocoDataset', data_root=str(root), metainfo=dict(classes=DET_SHAPE_CLASSES))
    train_pipeline = [dict(type='LoadImageFromFile'), dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
                      dict(type='PackDetInputs')]
    loader = dict(batch_size=2, num_workers=0)
    val = dict(loader, sampler=dict(type='DefaultSampler', shuffle=False),
               dataset=dict(ds, ann_file='annotations/instances_val.json', pipeline=train_pipeline, test_mode=True))
    return dict(
        work_dir=str(work_dir), model=model,
        train_dataloader=dict(loader, sampler=dict(type='DefaultSampler', shuffle=True),
                              dataset=dict(ds, ann_file='annotations/instances_train.json', pipeline=train_pipeline)),
        val_dataloader=val, val_cfg=dict(),
        val_evaluator=dict(type='CocoMetric', ann_file=str(root / 'annotations/instances_val.json'),
                           metric=metric),
        train_cfg=dict(by_epoch=True, max_epochs=3, val_interval=3),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.01, momentum=0.9, weight_decay=1e-4)),
        default_hooks=dict(logger=dict(type='LoggerHook', interval=1), checkpoint=dict(type='CheckpointHook',
                                                                                        interval=100)),
        randomness=dict(seed=3),
    )


@pytest.mark.parametrize('kind', ['faster', 'mask'])
def test_tiny_two_stage_trains_and_evaluates_with_the_runner(kind, det_shapes, tmp_path):
    model = tiny_mask_rcnn() if kind == 'mask' else tiny_faster_rcnn()
    for head in ('bbox_head', 'mask_head'):
        if head in model['roi_head']:
            model['roi_head'][head]['num_classes'] = len(DET_SHAPE_CLASSES)
    model['test_cfg']['rcnn'] = dict(model['test_cfg']['rcnn'], score_thr=0.01, max_per_img=20)
    metric = ['bbox', 'segm'] if kind == 'mask' else 'bbox'
    runner = Runner(_runner_cfg(det_shapes, tmp_path / kind, model, metric))
    before = {k: v.detach().clone() for k, v in runner.model.state_dict().items()}
    runner.train()
    losses = train_losses(tmp_path / kind)
    assert len(losses) == 12 and all(math.isfinite(v) for v in losses.values())
    # the 12 SGD steps moved every head (that they lower the loss is test_tiny_two_stage_gradient_step_lowers_
    # the_loss's, which does not depend on a training trajectory)
    after = runner.model.state_dict()
    for head in ('rpn_head.', 'roi_head.bbox_head.', 'roi_head.mask_head.'):
        moved = [k for k in before if k.startswith(head) and not torch.equal(before[k], after[k])]
        assert moved or not any(k.startswith(head) for k in before), head
    metrics = runner.val()
    assert 0 <= metrics['coco/bbox_mAP'] <= 1
    if kind == 'mask':
        assert 0 <= metrics['coco/segm_mAP'] <= 1
    else:
        assert 'coco/segm_mAP' not in metrics


@pytest.mark.parametrize('kind', ['faster', 'mask'])
def test_tiny_two_stage_gradient_step_lowers_the_loss(kind):
    """A gradient step of the tiny Faster / Mask R-CNN lowers the summed RPN and RoI losses by their first-order
    amount (see ``conftest.gradient_step``), the RoI head's proposals fixed at the starting point (a proposal
    entering or leaving the top-k would change which RoIs are sampled). This, not a loss curve, is how the two-stage
    detectors show they learn: it holds on every CPU and thread count."""
    torch.manual_seed(0)
    model = MODELS.build(tiny_mask_rcnn() if kind == 'mask' else tiny_faster_rcnn())
    model.init_weights()
    model.train()
    data = model.data_preprocessor(det_batch_with_masks() if kind == 'mask' else det_batch(), training=True)
    torch.manual_seed(0)
    with torch.no_grad():
        _, proposals = model.rpn_head.loss_and_predict(model.extract_feat(data['inputs']), data['data_samples'])

    def loss():
        feats = model.extract_feat(data['inputs'])
        losses, _ = model.rpn_head.loss_and_predict(feats, data['data_samples'])
        losses.update(model.roi_head.loss(feats, proposals, data['data_samples']))
        assert (kind == 'mask') == ('loss_mask' in losses)
        return sum(v for k, v in losses.items() if k.startswith('loss'))

    assert_gradient_step_lowers_loss(model, loss)


# -- converter --------------------------------------------------------------------------------------
def test_converter_moves_background_last_and_cli(tmp_path):
    from visioncraft.engine.checkpoint import load_checkpoint_file
    from visioncraft.tasks.detection.models.convert_torchvision import (fasterrcnn_from_torchvision, main,
                                                                        maskrcnn_from_torchvision)
    cls_w = torch.arange(4.0)[:, None].expand(4, 3).clone()  # row k = class k, class 0 = background
    reg_w = torch.arange(16.0)[:, None].expand(16, 3).clone()
    tv = {'module.rpn.head.conv.weight': torch.zeros(2, 2, 3, 3),  # old layout, DDP prefix
          'rpn.head.cls_logits.bias': torch.zeros(3),
          'roi_heads.box_predictor.cls_score.weight': cls_w,
          'roi_heads.box_predictor.cls_score.bias': torch.arange(4.0),
          'roi_heads.box_predictor.bbox_pred.weight': reg_w}
    out = fasterrcnn_from_torchvision(tv)
    assert set(out) == {'rpn_head.rpn_conv.weight', 'rpn_head.rpn_cls.bias', 'roi_head.bbox_head.fc_cls.weight',
                        'roi_head.bbox_head.fc_cls.bias', 'roi_head.bbox_head.fc_reg.weight'}
    assert out['roi_head.bbox_head.fc_cls.bias'].tolist() == [1.0, 2.0, 3.0, 0.0]
    assert out['roi_head.bbox_head.fc_cls.weight'][:, 0].tolist() == [1.0, 2.0, 3.0, 0.0]
    assert out['roi_head.bbox_head.fc_reg.weight'][:, 0].tolist() == list(range(4, 16))
    masks = maskrcnn_from_torchvision({'roi_heads.mask_head.mask_fcn1.weight': torch.zeros(1),
                                       'roi_heads.mask_head.3.0.bias': torch.zeros(1),
                                       'roi_heads.mask_predictor.mask_fcn_logits.bias': torch.arange(4.0)})
    assert set(masks) == {'roi_head.mask_head.convs.0.weight', 'roi_head.mask_head.convs.3.bias',
                          'roi_head.mask_head.conv_logits.bias'}
    assert masks['roi_head.mask_head.conv_logits.bias'].tolist() == [1.0, 2.0, 3.0]
    with pytest.raises(KeyError, match='fasterrcnn_resnet50_fpn v1'):
        fasterrcnn_from_torchvision({'roi_heads.box_head.0.0.weight': torch.zeros(1)})  # a v2 checkpoint
    src, dst = tmp_path / 'tv.pth', tmp_path / 'ours.pth'
    torch.save(tv, src)
    main(['--arch', 'fasterrcnn', str(src), str(dst)])
    saved = load_checkpoint_file(str(dst))['state_dict']
    assert torch.equal(saved['roi_head.bbox_head.fc_cls.bias'], out['roi_head.bbox_head.fc_cls.bias'])
    with pytest.raises(SystemExit):
        main(['--arch', 'yolo', str(src), str(dst)])


@pytest.mark.parametrize('kind', ['bbox', 'mask'])
def test_no_proposals_give_no_detections(kind):
    """An RPN that proposes nothing (e.g. every score below its threshold) leaves the RoI head zero RoIs: empty
    predictions, not a crash in reshaping R x (C x 4) box deltas with R = 0."""
    torch.manual_seed(0)
    model = MODELS.build(tiny_mask_rcnn() if kind == 'mask' else tiny_faster_rcnn())
    model.eval()
    data = model.data_preprocessor(det_batch(n=2), training=False)
    with torch.no_grad():
        feats = model.extract_feat(data['inputs'])
        none = [InstanceData(bboxes=torch.zeros(0, 4), scores=torch.zeros(0)) for _ in data['data_samples']]
        results = model.roi_head.predict(feats, none, data['data_samples'])
    assert len(results) == 2
    for res in results:
        assert res.bboxes.shape == (0, 4) and res.scores.shape == (0,) and res.labels.shape == (0,)
        if kind == 'mask':
            assert len(res.masks) == 0
