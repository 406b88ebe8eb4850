"""C4 two-stage detectors (MMDetection's ``*-caffe-c4`` configs): the ResNet stage as the RoI head's
``shared_head``, the plain ``BBoxHead`` with average pooling, and the Mask R-CNN C4 mask path (the mask head
reads the shared head's RoI features)."""
from __future__ import annotations

import pytest
import torch

import visioncraft  # noqa: F401  (fills the registries)
from conftest import det_batch, det_batch_with_masks
from visioncraft.registry import MODELS

FROZEN_BN = dict(type='BN', requires_grad=False)


def tiny_c4(mask: bool = False) -> dict:
    """A C4-shaped Faster / Mask R-CNN small enough for a CPU test: ResNet-18 cut after its first stage
    (stride 4, 64 channels), its second stage (128 channels, stride 2) as the shared head on 14 x 14 RoIs, an
    average-pooled linear box head, 3 classes (MMDetection's C4 cuts after stage 3 and shares stage 4)."""
    roi_head = dict(
        type='StandardRoIHead',
        shared_head=dict(type='ResLayer', depth=18, stage=1, stride=2, style='caffe', norm_cfg=FROZEN_BN,
                         norm_eval=True),
        bbox_roi_extractor=dict(type='SingleRoIExtractor', out_channels=64, featmap_strides=[4],
                                roi_layer=dict(type='RoIAlign', output_size=14, sampling_ratio=0)),
        bbox_head=dict(type='BBoxHead', with_avg_pool=True, roi_feat_size=7, in_channels=128, num_classes=3,
                       loss_bbox=dict(type='L1Loss')))
    if mask:
        roi_head.update(mask_roi_extractor=None,
                        mask_head=dict(type='FCNMaskHead', num_convs=0, in_channels=128, conv_out_channels=16,
                                       num_classes=3))
    return dict(
        type='MaskRCNN' if mask else 'FasterRCNN',
        data_preprocessor=dict(type='DetDataPreprocessor', mean=[103.53, 116.28, 123.675], std=[1.0, 1.0, 1.0],
                               bgr_to_rgb=False, pad_size_divisor=32),
        backbone=dict(type='ResNet', depth=18, num_stages=1, strides=(1,), dilations=(1,),
                      out_indices=(0,), frozen_stages=0, norm_cfg=FROZEN_BN, norm_eval=True, style='caffe'),
        rpn_head=dict(type='RPNHead', in_channels=64, feat_channels=32,
                      anchor_generator=dict(type='AnchorGenerator', scales=[4, 8], ratios=[0.5, 1.0, 2.0],
                                            strides=[4])),
        roi_head=roi_head,
        train_cfg=dict(rpn=dict(sampler=dict(type='RandomSampler', num=64, pos_fraction=0.5,
                                             add_gt_as_proposals=False)),
                       rpn_proposal=dict(nms_pre=200, max_per_img=50, nms=dict(type='nms', iou_threshold=0.7)),
                       rcnn=dict(sampler=dict(type='RandomSampler', num=16, pos_fraction=0.25),
                                 **(dict(mask_size=14) if mask else {}))),
        test_cfg=dict(rpn=dict(nms_pre=200, max_per_img=30, nms=dict(type='nms', iou_threshold=0.7)),
                      rcnn=dict(score_thr=0.0, nms=dict(type='nms', iou_threshold=0.5), max_per_img=10)))


@pytest.mark.parametrize('mask', [False, True], ids=['faster', 'mask'])
def test_c4_detector_trains_and_predicts(mask):
    torch.manual_seed(0)
    model = MODELS.build(tiny_c4(mask))
    model.train()
    assert not model.roi_head.shared_head.layer2[0].bn1.training  # norm_eval keeps the BN statistics fixed
    data = model.data_preprocessor(det_batch_with_masks() if mask else det_batch(), training=True)
    losses = model(**data, mode='loss')
    expected = {'loss_rpn_cls', 'loss_rpn_bbox', 'loss_cls', 'loss_bbox', 'acc'} | ({'loss_mask'} if mask else set())
    assert expected <= set(losses)
    total = sum(v.sum() for k, v in losses.items() if k.startswith('loss'))
    assert torch.isfinite(total)
    total.backward()
    shared = model.roi_head.shared_head.layer2
    assert shared[1].conv2.weight.grad is not None and shared[1].conv2.weight.grad.abs().sum() > 0
    assert model.roi_head.bbox_head.fc_cls.weight.grad.abs().sum() > 0
    if mask:
        assert model.roi_head.mask_head.conv_logits.weight.grad.abs().sum() > 0

    model.eval()
    with torch.no_grad():
        data = model.data_preprocessor(det_batch_with_masks() if mask else det_batch(), training=False)
        out = model(**data, mode='predict')
        cls_score, bbox_pred, *rest = model(data['inputs'], mode='tensor')[1]
    for sample in out:
        pred = sample.pred_instances
        assert pred.bboxes.shape[1] == 4 and pred.labels.max() < 3 and len(pred) <= 10
        if mask:
            assert pred.masks.shape[1:] == tuple(sample.metainfo['ori_shape'][:2])
    assert cls_score.shape[1] == 4 and bbox_pred.shape[1] == 12
    if mask:
        assert rest[0].shape[1:] == (3, 14, 14)  # 14 x 14 RoIs -> 7 x 7 after the shared head -> 14 x 14 masks


def test_c4_parameter_names_and_shapes_follow_mmdetection():
    """MMDetection's R-50 C4 RoI head: ``shared_head.layer4.*`` (ResNet layer4, stride on conv1 in caffe
    style) and a ``BBoxHead`` of two linear layers on the 2048 pooled channels."""
    shared = MODELS.build(dict(type='ResLayer', depth=50, stage=3, stride=2, style='caffe', norm_cfg=FROZEN_BN))
    names = set(shared.state_dict())
    assert {'layer4.0.conv1.weight', 'layer4.0.downsample.0.weight', 'layer4.0.downsample.1.running_var',
            'layer4.2.conv3.weight', 'layer4.2.bn3.bias'} <= names and not any(k.startswith('layer4.3') for k in names)
    assert shared.layer4[0].conv1.stride == (2, 2) and shared.layer4[0].conv2.stride == (1, 1)
    assert not any(p.requires_grad for n, p in shared.named_parameters() if '.bn' in n or 'downsample.1' in n)
    x = torch.randn(2, 1024, 14, 14)
    assert shared(x).shape == (2, 2048, 7, 7)
    head = MODELS.build(dict(type='BBoxHead', with_avg_pool=True, roi_feat_size=7, in_channels=2048, num_classes=80))
    assert {k: tuple(v.shape) for k, v in head.state_dict().items()} == {
        'fc_cls.weight': (81, 2048), 'fc_cls.bias': (81,), 'fc_reg.weight': (320, 2048), 'fc_reg.bias': (320,)}
    feats = torch.randn(3, 2048, 7, 7)
    cls_score, _ = head(feats)
    torch.testing.assert_close(cls_score, feats.mean((2, 3)) @ head.fc_cls.weight.T + head.fc_cls.bias)
    flat = MODELS.build(dict(type='BBoxHead', roi_feat_size=7, in_channels=8, num_classes=2))
    assert flat.fc_cls.weight.shape == (3, 8 * 49)
    with pytest.raises(ValueError, match='shared_head.style'):
        MODELS.build(dict(type='ResLayer', depth=50, style='tf'))
    with pytest.raises(NotImplementedError, match='with_cls'):
        MODELS.build(dict(type='BBoxHead', with_cls=False))
