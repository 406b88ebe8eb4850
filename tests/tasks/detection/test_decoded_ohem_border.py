"""Box-head options from MMDetection's Faster R-CNN configs: ``reg_decoded_bbox`` (IoU-family losses on decoded
boxes), ``OHEMSampler`` (hard RoIs) and ``train_cfg.rpn.allowed_border`` (anchors outside the image)."""
from __future__ import annotations

import pytest
import torch

import visioncraft  # noqa: F401  (fills the registries)
from visioncraft.registry import MODELS, TASK_UTILS
from visioncraft.structures import DataSample, InstanceData
from visioncraft.tasks.detection.models import AssignResult
from visioncraft.tasks.detection.models.box_ops import anchors_inside
from visioncraft.tasks.detection.models.roi_heads import bbox2roi


def _bbox_head(**over):
    cfg = dict(type='Shared2FCBBoxHead', num_classes=3, in_channels=4, roi_feat_size=2, fc_out_channels=8,
               reg_decoded_bbox=True, loss_bbox=dict(type='GIoULoss', loss_weight=2.0))
    return MODELS.build({**cfg, **over})


def _sample(boxes, labels, shape=(64, 64)):
    return DataSample(metainfo=dict(img_shape=shape, ori_shape=shape, scale_factor=(1.0, 1.0)),
                      gt_instances=InstanceData(bboxes=torch.tensor(boxes, dtype=torch.float32),
                                                labels=torch.tensor(labels)))


# -- reg_decoded_bbox ---------------------------------------------------------------------------------------
def test_bbox_head_loss_on_decoded_boxes():
    torch.manual_seed(0)
    head = _bbox_head()
    rois = torch.tensor([[0.0, 0.0, 10.0, 10.0], [5.0, 5.0, 25.0, 15.0], [30.0, 30.0, 40.0, 50.0]])
    gts = torch.tensor([[1.0, 1.0, 11.0, 12.0], [4.0, 6.0, 24.0, 18.0], [0.0, 0.0, 1.0, 1.0]])
    labels = torch.tensor([2, 0, 3])  # two positives (classes 2 and 0), one background
    cls_score, bbox_pred = torch.randn(3, 4), torch.randn(3, 12) * 0.1
    targets = head.regression_targets(rois[:2], gts[:2])
    assert torch.equal(targets, gts[:2])  # decoded mode regresses the gt boxes themselves
    losses = head.loss(cls_score, bbox_pred, labels, targets, pos_priors=rois[:2])
    deltas = torch.stack([bbox_pred[0, 8:12], bbox_pred[1, 0:4]])  # each positive's own class
    decoded = head.bbox_coder.decode(rois[:2], deltas)
    expect = 2.0 * MODELS.build(dict(type='GIoULoss', reduction='none'))(decoded, gts[:2]).sum() / 3
    torch.testing.assert_close(losses['loss_bbox'], expect)
    # zero deltas: the boxes are the RoIs, so an RoI equal to its gt box costs nothing
    zero = head.loss(cls_score, torch.zeros(3, 12), labels, gts[:2], pos_priors=gts[:2])['loss_bbox']
    assert float(zero) < 1e-6
    with pytest.raises(ValueError, match='pos_priors'):
        head.loss(cls_score, bbox_pred, labels, targets)
    # without the flag the same head compares deltas (the encoded targets)
    plain = _bbox_head(reg_decoded_bbox=False, loss_bbox=dict(type='L1Loss'))
    torch.testing.assert_close(plain.regression_targets(rois[:2], gts[:2]), plain.bbox_coder.encode(rois[:2], gts[:2]))


def _roi_head(sampler):
    return MODELS.build(dict(
        type='StandardRoIHead',
        bbox_roi_extractor=dict(type='SingleRoIExtractor', out_channels=4, featmap_strides=[4],
                                roi_layer=dict(type='RoIAlign', output_size=2, sampling_ratio=0)),
        bbox_head=dict(type='Shared2FCBBoxHead', num_classes=3, in_channels=4, roi_feat_size=2, fc_out_channels=8,
                       reg_decoded_bbox=True, loss_bbox=dict(type='CIoULoss', loss_weight=12.0)),
        train_cfg=dict(sampler=sampler)))


def test_roi_head_trains_with_decoded_boxes_and_ohem():
    torch.manual_seed(0)
    roi = _roi_head(dict(type='OHEMSampler', num=16, pos_fraction=0.25))
    feats = [torch.randn(2, 4, 16, 16, requires_grad=True)]
    samples = [_sample([[4.0, 4.0, 30.0, 40.0]], [1]), _sample([[10.0, 8.0, 50.0, 30.0], [2, 2, 20, 20]], [0, 2])]
    proposals = [InstanceData(bboxes=_random_boxes(40, seed)) for seed in (1, 2)]
    losses = roi.loss(feats, proposals, samples)
    total = losses['loss_cls'] + losses['loss_bbox']
    assert torch.isfinite(total) and float(losses['loss_bbox'].detach()) > 0
    total.backward()
    assert torch.isfinite(feats[0].grad).all() and feats[0].grad.abs().sum() > 0


def _random_boxes(n, seed):
    g = torch.Generator().manual_seed(seed)
    xy = torch.rand(n, 2, generator=g) * 40
    return torch.cat([xy, xy + 4 + torch.rand(n, 2, generator=g) * 20], dim=1)


# -- OHEM ---------------------------------------------------------------------------------------------------
def test_ohem_keeps_the_highest_loss_candidates():
    sampler = TASK_UTILS.build(dict(type='OHEMSampler', num=4, pos_fraction=0.5, add_gt_as_proposals=False))
    priors = torch.arange(10, dtype=torch.float32)[:, None] * torch.tensor([[1.0, 0.0, 1.0, 0.0]]) \
        + torch.tensor([[0.0, 0.0, 5.0, 5.0]])  # box i starts at x = i
    gt_inds = torch.tensor([0, -1, 0, -1, -1, 0, -1, -2, -1, 0])  # positives 0 2 5 9, negatives 1 3 4 6 8
    result = AssignResult(gt_inds, torch.zeros(10))
    loss_of_box = torch.tensor([0.1, 0.5, 0.9, 0.2, 0.8, 0.3, 0.7, 9.0, 0.05, 0.6])  # box 7 is ignored
    seen = []

    def loss_fn(boxes, labels):
        seen.append(labels.clone())
        return loss_of_box[boxes[:, 0].long()]
    res = sampler.sample(result, priors, torch.zeros(1, 4), torch.tensor([2]), loss_fn=loss_fn, background_label=3)
    assert sorted(res.pos_inds.tolist()) == [2, 9]  # the two hardest of 0 (0.1), 2 (0.9), 5 (0.3), 9 (0.6)
    assert sorted(res.neg_inds.tolist()) == [4, 6]  # the two hardest of 1 3 4 6 8; never the ignored 7
    assert seen[0].tolist() == [2, 2, 2, 2] and seen[1].tolist() == [3] * 5  # gt label / background
    # few candidates: all kept without asking for losses
    few = AssignResult(torch.tensor([0, -1, -1, -2]), torch.zeros(4))
    res = sampler.sample(few, priors[:4], torch.zeros(1, 4), torch.tensor([2]), loss_fn=lambda b, l: 1 / 0,
                         background_label=3)
    assert res.pos_inds.tolist() == [0] and sorted(res.neg_inds.tolist()) == [1, 2]
    with pytest.raises(ValueError, match='train_cfg.rcnn.sampler'):
        sampler.sample(result, priors, torch.zeros(1, 4), torch.tensor([2]))


def test_roi_head_ohem_picks_rois_with_the_highest_classification_loss():
    torch.manual_seed(1)
    roi = _roi_head(dict(type='OHEMSampler', num=8, pos_fraction=0.25, add_gt_as_proposals=False))
    feats = [torch.randn(1, 4, 16, 16)]
    sample = _sample([[4.0, 4.0, 30.0, 40.0]], [1])
    boxes = _random_boxes(60, 3)
    args = roi._hard_mining_args(feats, 0)
    # the loss_fn is the box head's per-RoI cross-entropy on these boxes
    labels = torch.full((60,), 3)
    cls_score, _ = roi.bbox_head(roi.bbox_roi_extractor(feats, bbox2roi([boxes])))
    torch.testing.assert_close(args['loss_fn'](boxes, labels), torch.nn.functional.cross_entropy(
        cls_score, labels, reduction='none'))
    gt = sample.gt_instances.bboxes
    assign = roi.assigner.assign(boxes, gt)
    res = roi.sampler.sample(assign, boxes, gt, sample.gt_instances.labels, **args)
    neg_all = torch.nonzero(assign.gt_inds == AssignResult.NEGATIVE).flatten()
    assert len(neg_all) > len(res.neg_inds) > 0
    with torch.no_grad():
        ce = args['loss_fn'](boxes[neg_all], torch.full((len(neg_all),), 3))
    picked = torch.isin(neg_all, res.neg_inds)
    assert float(ce[picked].min()) >= float(ce[~picked].max())


# -- allowed_border -----------------------------------------------------------------------------------------
def test_anchors_inside():
    anchors = torch.tensor([[0.0, 0.0, 10.0, 10.0], [-2.0, 0.0, 8.0, 8.0], [0.0, 0.0, 20.0, 10.0],
                            [5.0, 5.0, 19.9, 9.0]])
    assert anchors_inside(anchors, (10, 20), 0).tolist() == [False, False, False, True]  # x2 < w, y2 < h
    assert anchors_inside(anchors, (10, 20), 2).tolist() == [True, True, True, True]
    assert anchors_inside(anchors, (10, 20), -1).all()


def _rpn(border):
    return MODELS.build(dict(type='RPNHead', in_channels=4, feat_channels=4,
                             anchor_generator=dict(type='AnchorGenerator', scales=[4], ratios=[1.0], strides=[8]),
                             train_cfg=dict(allowed_border=border,
                                            sampler=dict(type='RandomSampler', num=32, pos_fraction=0.5,
                                                         add_gt_as_proposals=False))))


@pytest.mark.parametrize('kind', ['rpn', 'retina'])
def test_allowed_border_drops_anchors_outside_the_image(kind):
    torch.manual_seed(0)
    if kind == 'rpn':
        head = _rpn(0)
    else:
        head = MODELS.build(dict(type='RetinaHead', num_classes=2, in_channels=4, feat_channels=4, stacked_convs=1,
                                 anchor_generator=dict(type='AnchorGenerator', octave_base_scale=4,
                                                       scales_per_octave=1, ratios=[1.0], strides=[8]),
                                 train_cfg=dict(allowed_border=0)))
    samples = [_sample([[2.0, 2.0, 40.0, 30.0]], [1], shape=(48, 56))]  # the padded input is 64 x 64
    c = 1 if kind == 'rpn' else 2
    cls, reg = [torch.randn(1, c, 8, 8)], [torch.randn(1, 4, 8, 8) * 0.1]
    anchors = head.anchor_generator.grid_priors([(8, 8)])[0]
    outside = ~anchors_inside(anchors, (48, 56), 0)
    assert 0 < int(outside.sum()) < len(anchors)
    seen = []
    if kind == 'rpn':
        sample_fn = head.sampler.sample
        head.sampler.sample = lambda res, priors, gt: seen.append(priors) or sample_fn(res, priors, gt)
    torch.manual_seed(1)
    before = head.loss_by_feat(cls, reg, samples)
    # anchor order (y, x, anchor): change the predictions of the outside anchors only -> same losses
    cls2, reg2 = cls[0].clone(), reg[0].clone()
    mask = outside.view(8, 8)
    cls2[0, :, mask] += 5.0
    reg2[0, :, mask] -= 1.0
    torch.manual_seed(1)
    after = head.loss_by_feat([cls2], [reg2], samples)
    for k in before:
        torch.testing.assert_close(before[k], after[k])
    if kind == 'rpn':
        assert len(seen[0]) == int((~outside).sum()) and anchors_inside(seen[0], (48, 56), 0).all()
        # without the border every anchor is a candidate, and the outside ones change the loss
        free = _rpn(-1)
        torch.manual_seed(1)
        a = free.loss_by_feat(cls, reg, samples)
        torch.manual_seed(1)
        b = free.loss_by_feat([cls2], [reg2], samples)
        assert not torch.allclose(a['loss_rpn_cls'], b['loss_rpn_cls'])


def test_allowed_border_must_be_a_number():
    with pytest.raises(ValueError, match='allowed_border'):
        _rpn('zero')


def test_retina_head_regresses_decoded_boxes():
    head = MODELS.build(dict(type='RetinaHead', num_classes=2, in_channels=4, feat_channels=4, stacked_convs=1,
                             anchor_generator=dict(type='AnchorGenerator', octave_base_scale=4, scales_per_octave=1,
                                                   ratios=[1.0], strides=[8]),
                             reg_decoded_bbox=True, loss_bbox=dict(type='GIoULoss')))
    samples = [_sample([[2.0, 2.0, 40.0, 30.0], [30.0, 30.0, 60.0, 62.0]], [1, 0])]
    reg = torch.randn(1, 4, 8, 8) * 0.2
    losses = head.loss_by_feat([torch.randn(1, 2, 8, 8)], [reg], samples)
    anchors = head.anchor_generator.grid_priors([(8, 8)])[0]
    gt = samples[0].gt_instances.bboxes
    gt_inds = head.assigner.assign(anchors, gt).gt_inds
    pos = gt_inds >= 0
    decoded = head.bbox_coder.decode(anchors[pos], reg[0].permute(1, 2, 0).reshape(-1, 4)[pos])
    expect = MODELS.build(dict(type='GIoULoss', reduction='sum'))(decoded, gt[gt_inds[pos]]) / int(pos.sum())
    torch.testing.assert_close(losses['loss_bbox'], expect)
