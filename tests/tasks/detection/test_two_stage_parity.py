"""Parity with torchvision's fasterrcnn_resnet50_fpn / maskrcnn_resnet50_fpn (v1): converted weights give the
same detections and masks, and the same RPN training losses."""
from __future__ import annotations

from collections import OrderedDict

import pytest
import torch

from conftest import build_converted, randomise_batchnorm, seeded_images, small_tv_detector
from conftest import sharpen_rcnn_heads
from visioncraft.structures import DataSample, InstanceData
from visioncraft.tasks.detection.models.convert_torchvision import (fasterrcnn_from_torchvision,
                                                                    maskrcnn_from_torchvision,
                                                                    torchvision_fasterrcnn_config,
                                                                    torchvision_maskrcnn_config)


def _randomise(tv_model, images):
    """Make a random-init torchvision R-CNN give varied, confident detections: BN statistics from real
    activations, sharper objectness / classifier / regressor / mask logits, varied class biases."""
    g = torch.Generator().manual_seed(1)
    randomise_batchnorm(tv_model.backbone.body, tv_model.transform(images)[0].tensors, g)
    sharpen_rcnn_heads(tv_model, g)


def _build(arch):
    tv = small_tv_detector(arch, 96, 192)
    # resized by torchvision to 96 x 192, 96 x 144 and 96 x 150; the padded batch (96 x 192) divides by 32 and
    # gives even P5 grids, so torchvision's derived strides (image size // grid size) equal the nominal 4 ... 64
    # of our AnchorGenerator.
    images = seeded_images([(72, 144), (100, 150), (128, 200)])
    _randomise(tv, images)
    tv.eval()
    tv.rpn._post_nms_top_n = dict(training=2000, testing=200)  # fewer RoIs than 1000: a faster test
    cfg_fn, convert = ((torchvision_fasterrcnn_config, fasterrcnn_from_torchvision) if arch == 'fasterrcnn'
                       else (torchvision_maskrcnn_config, maskrcnn_from_torchvision))
    ours = build_converted(cfg_fn(num_classes=91, frozen_bn=False), convert(tv.state_dict()))
    ours.rpn_head.test_cfg['max_per_img'] = 200
    # Both detectors run on torchvision's ResNet-50-FPN features: the backbone and neck have their own parity
    # test (test_retinanet_parity.py) and may be optimised (folded norms, NHWC) at float-rounding cost, which
    # these deliberately extreme random heads would amplify; here the two-stage parts are compared exactly.
    ours.extract_feat = lambda x: tuple(tv.backbone(x).values())
    return tv, ours, images


@pytest.fixture(scope='module')
def faster():
    return _build('fasterrcnn')


@pytest.fixture(scope='module')
def mask():
    tv, ours, images = _build('maskrcnn')
    # the mask tower (four 256-channel convs on 14 x 14) dominates: 30 detections per image keep it quick
    tv.roi_heads.detections_per_img = 30
    ours.roi_head.test_cfg['max_per_img'] = 30
    return tv, ours, images


def _predict_both(tv, ours, images):
    with torch.no_grad():
        tv_dets = tv(images)
        batch, _ = tv.transform(images)  # the same normalised, resized, padded tensor for both
        samples = []
        for img, (h, w) in zip(images, batch.image_sizes):
            oh, ow = img.shape[-2:]
            samples.append(DataSample(metainfo=dict(ori_shape=(oh, ow), img_shape=(h, w),
                                                    scale_factor=(w / ow, h / oh))))
        out = ours(batch.tensors, samples, mode='predict')
    return tv_dets, [s.pred_instances for s in out]


def _matched(tv_dets, preds):
    """Per image, torchvision's detections and ours in the same order: each of torchvision's is paired with
    our detection of the same label (torchvision's minus 1: its background is class 0) and the nearest box,
    so near-equal scores of different classes may sort either way. Every pairing is one-to-one."""
    for det, pred in zip(tv_dets, preds):
        assert len(det['scores']) == len(pred) >= 20, (len(det['scores']), len(pred))
        dist = (det['boxes'][:, None] - pred.bboxes[None]).abs().amax(-1)
        dist[det['labels'][:, None] - 1 != pred.labels[None]] = float('inf')
        perm = dist.argmin(1)
        assert len(perm.unique()) == len(perm) and torch.isfinite(dist.min(1).values).all()
        yield det, pred[perm]


def test_faster_rcnn_detections_match_torchvision(faster):
    tv, ours, images = faster
    tv_dets, preds = _predict_both(tv, ours, images)
    box = score = 0.0
    n = 0
    for det, pred in _matched(tv_dets, preds):
        box = max(box, (det['boxes'] - pred.bboxes).abs().max().item())
        score = max(score, (det['scores'] - pred.scores).abs().max().item())
        n += len(pred)
        assert len(pred.labels.unique()) > 3 and pred.scores.max() > 0.3 and pred.scores.unique().numel() > 20
    print(f'faster r-cnn parity: max |box diff| = {box:.2e} px, max |score diff| = {score:.2e} over {n} detections')
    assert box < 1e-3 and score < 1e-5


def test_mask_rcnn_detections_and_masks_match_torchvision(mask):
    tv, ours, images = mask
    tv_dets, preds = _predict_both(tv, ours, images)
    box, worst_iou, differing, worst_pixels, n = 0.0, 1.0, 0, 0, 0
    for (det, pred), img in zip(_matched(tv_dets, preds), images):
        box = max(box, (det['boxes'] - pred.bboxes).abs().max().item())
        tv_masks = det['masks'][:, 0] >= 0.5  # torchvision returns probabilities; 0.5 is our threshold
        our_masks = pred.masks
        assert our_masks.dtype == torch.bool and our_masks.shape[1:] == img.shape[1:]
        inter = (tv_masks & our_masks).flatten(1).sum(1).float()
        union = (tv_masks | our_masks).flatten(1).sum(1).float()
        iou = torch.where(union > 0, inter / union.clamp(min=1), torch.ones_like(union))
        worst_iou = min(worst_iou, iou[union >= 100].min().item())
        wrong = (tv_masks != our_masks).flatten(1).sum(1)
        differing += int((wrong > 0).sum())
        worst_pixels = max(worst_pixels, int(wrong.max()))
        n += len(pred)
        assert int(our_masks.flatten(1).any(1).sum()) > len(pred) // 2  # most masks are not empty
    print(f'mask r-cnn parity: max |box diff| = {box:.2e} px; {differing} of {n} masks differ, in at most '
          f'{worst_pixels} pixels; worst IoU of masks of >= 100 pixels {worst_iou:.4f}')
    assert box < 1e-3
    # Equal up to a few pixels whose interpolated probability is within float32 rounding of 0.5 (or whose
    # box, 1e-5 px apart, truncates to another integer): the resize is torchvision's, computed as matrices.
    assert worst_iou > 0.99 and worst_pixels <= 3 and differing <= max(2, n // 50)


def test_rpn_training_losses_match_torchvision(faster):
    """With the same RNG state, our RandomSampler draws exactly torchvision's samples (one randperm over the
    positives, one over the negatives, per image), so the RPN losses are equal."""
    tv, ours, images = faster
    boxes = [torch.tensor([[10.0, 12.0, 90.0, 70.0], [120.0, 30.0, 200.0, 120.0], [5.0, 80.0, 40.0, 126.0]]),
             torch.tensor([[30.0, 20.0, 150.0, 110.0]])]
    with torch.no_grad():
        batch, _ = tv.transform(images[:2])
        feats = tv.backbone(batch.tensors)
        tv.rpn.train()
        torch.manual_seed(5)
        _, tv_loss = tv.rpn(batch, OrderedDict(feats), [dict(boxes=b) for b in boxes])
        tv.rpn.eval()
        samples = [DataSample(metainfo=dict(img_shape=s), gt_instances=InstanceData(bboxes=b, labels=torch.zeros(
            len(b), dtype=torch.long))) for s, b in zip(batch.image_sizes, boxes)]
        torch.manual_seed(5)
        our_loss = ours.rpn_head.loss(list(feats.values()), samples)
    torch.testing.assert_close(our_loss['loss_rpn_cls'], tv_loss['loss_objectness'], rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(our_loss['loss_rpn_bbox'], tv_loss['loss_rpn_box_reg'], rtol=1e-5, atol=1e-6)
