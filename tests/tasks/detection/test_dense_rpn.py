"""A one-stage head as the RPN of a two-stage detector (MMDetection's ``faster-rcnn_r50_fpn_fcos-rpn``): FCOSHead
proposes boxes of one class, its losses carry an ``rpn_`` prefix, and the R-CNN stage trains on its proposals."""
from __future__ import annotations

import pytest
import torch

import visioncraft  # noqa: F401  (fills the registries)
from conftest import det_batch, tiny_faster_rcnn
from visioncraft.registry import MODELS


def tiny_fcos_rpn(**rpn) -> dict:
    head = dict(type='FCOSHead', num_classes=1, feat_channels=32, stacked_convs=1, strides=[4, 8, 16, 32, 64])
    return tiny_faster_rcnn(rpn_head={**head, **rpn})


def test_fcos_head_as_rpn_trains_and_predicts():
    torch.manual_seed(0)
    model = MODELS.build(tiny_fcos_rpn())
    assert model.dense_rpn and model.rpn_head.num_classes == 1
    assert model.rpn_head.test_cfg['score_thr'] == 0.0  # test_cfg.rpn has none: every point may propose
    assert 'rpn_head.conv_centerness.weight' in model.state_dict()
    model.train()
    data = model.data_preprocessor(det_batch(), training=True)
    losses = model(**data, mode='loss')
    assert {'rpn_loss_cls', 'rpn_loss_bbox', 'rpn_loss_centerness', 'loss_cls', 'loss_bbox'} <= set(losses)
    total = sum(v for k, v in losses.items() if 'loss' in k)
    assert torch.isfinite(total)
    total.backward()
    assert model.rpn_head.conv_cls.weight.grad.abs().sum() > 0
    assert model.roi_head.bbox_head.fc_cls.weight.grad is not None
    model.eval()
    with torch.no_grad():
        samples = model(**model.data_preprocessor(det_batch(), training=False), mode='predict')
        rpn_outs, (cls_score, _) = model(data['inputs'], mode='tensor')
    assert len(rpn_outs) == 3 and cls_score.shape[1] == 4
    for s in samples:
        assert len(s.pred_instances) <= 10 and s.pred_instances.labels.max() < 3


def test_dense_rpn_proposals_in_input_pixels_and_num_classes_forced_to_one():
    with pytest.warns(UserWarning, match='num_classes=3 set to 1'):
        model = MODELS.build(tiny_fcos_rpn(num_classes=3))
    model.eval()
    data = model.data_preprocessor(det_batch(), training=False)
    with torch.no_grad():
        feats = model.extract_feat(data['inputs'])
        proposals = model.rpn_head.predict(feats, data['data_samples'], rescale=False)
    for p, s in zip(proposals, data['data_samples']):
        h, w = s.metainfo['img_shape']
        assert len(p) == 50 and (p.labels == 0).all()  # test_cfg.rpn.max_per_img of tiny_faster_rcnn
        assert (p.bboxes[:, 2] <= w).all() and (p.bboxes[:, 3] <= h).all()


def test_mmdet_scope_fcos_head_takes_mmdetection_defaults():
    from visioncraft.registry import default_scope
    small = dict(type='FCOSHead', num_classes=1, in_channels=32, feat_channels=32, stacked_convs=1)
    ours = MODELS.build(small)
    with default_scope('mmdet'):  # an MMDetection 3.x config file: the original FCOS head unless it says otherwise
        theirs = MODELS.build(small)
        given = MODELS.build(dict(small, norm_on_bbox=True, strides=[8, 16, 32, 64, 128]))
    assert (ours.center_sampling, ours.norm_on_bbox, ours.centerness_on_reg) == (True, True, True)
    assert (theirs.center_sampling, theirs.norm_on_bbox, theirs.centerness_on_reg) == (False, False, False)
    assert theirs.strides == [4, 8, 16, 32, 64] and type(theirs.loss_bbox).__name__ == 'IoULoss'
    assert given.norm_on_bbox and given.strides == [8, 16, 32, 64, 128]
