"""Parity with torchvision's retinanet_resnet50_fpn: converted weights give the same detections."""
from __future__ import annotations

import pytest
import torch

from conftest import build_converted, randomise_batchnorm, seeded_images, small_tv_detector
from conftest import sharpen_retinanet_head
from visioncraft.structures import DataSample
from visioncraft.tasks.detection.models.convert_torchvision import (retinanet_from_torchvision,
                                                                    torchvision_retinanet_config)


def _randomise(tv_model, images):
    """Make a random-init torchvision RetinaNet produce varied, confident detections: BN statistics from
    real activations, sharper classifier and regressor weights, varied class biases."""
    g = torch.Generator().manual_seed(1)
    randomise_batchnorm(tv_model.backbone.body, tv_model.transform(images)[0].tensors, g)
    sharpen_retinanet_head(tv_model.head, g)


@pytest.fixture(scope='module')
def models_and_images():
    tv = small_tv_detector('retinanet', 128, 256)
    # resized by torchvision to 128 x 256, 128 x 192 (scale 1.28) and 128 x 200; the padded batch (128 x 256)
    # divides by 128, so torchvision's derived strides (image size // grid size) equal the nominal 8 ... 128
    # that our AnchorGenerator uses.
    images = seeded_images([(96, 192), (100, 150), (128, 200)])
    _randomise(tv, images)
    tv.eval()
    ours = build_converted(torchvision_retinanet_config(num_classes=91, frozen_bn=False),
                           retinanet_from_torchvision(tv.state_dict()))
    return tv, ours, images


def _compare(tv_dets, ours_samples, top_k=50):
    stats = dict(box=0.0, score=0.0, n=0)
    for det, sample in zip(tv_dets, ours_samples):
        pred = sample.pred_instances
        assert len(det['scores']) == len(pred) > 5
        k = min(top_k, len(pred))
        o_tv = det['scores'].argsort(descending=True, stable=True)[:k]
        o_us = pred.scores.argsort(descending=True, stable=True)[:k]
        assert torch.equal(det['labels'][o_tv], pred.labels[o_us])
        stats['box'] = max(stats['box'], (det['boxes'][o_tv] - pred.bboxes[o_us]).abs().max().item())
        stats['score'] = max(stats['score'], (det['scores'][o_tv] - pred.scores[o_us]).abs().max().item())
        stats['n'] += k
    return stats


def test_detections_match_torchvision(models_and_images):
    tv, ours, images = models_and_images
    with torch.no_grad():
        tv_dets = tv(images)
        batch, _ = tv.transform(images)  # the same normalised, resized, padded tensor for both
        samples = []
        for img, (h, w) in zip(images, batch.image_sizes):
            oh, ow = img.shape[-2:]
            samples.append(DataSample(metainfo=dict(ori_shape=(oh, ow), img_shape=(h, w),
                                                    scale_factor=(w / ow, h / oh))))
        ours.bbox_head.test_cfg['max_per_img'] = tv.detections_per_img
        out = ours(batch.tensors, samples, mode='predict')
    stats = _compare(tv_dets, out)
    print(f"parity: max |box diff| = {stats['box']:.2e} px, max |score diff| = {stats['score']:.2e} "
          f"over {stats['n']} detections")
    assert stats['box'] < 1e-3 and stats['score'] < 1e-4


def test_training_losses_match_torchvision(models_and_images):
    """One image (torchvision normalises per image, we per batch: the same for a batch of one)."""
    from torchvision.models.detection.image_list import ImageList
    from visioncraft.structures import InstanceData
    tv, ours, images = models_and_images
    with torch.no_grad():
        batch, _ = tv.transform(images[:1])
        x = batch.tensors
        feats = list(tv.backbone(x).values())
        head_out = tv.head(feats)
        anchors = tv.anchor_generator(ImageList(x, batch.image_sizes), feats)
        boxes = torch.tensor([[10.0, 12.0, 90.0, 70.0], [120.0, 30.0, 200.0, 120.0], [5.0, 80.0, 40.0, 126.0]])
        labels = torch.tensor([1, 17, 90])
        tv_loss = tv.compute_loss([dict(boxes=boxes, labels=labels)], head_out, anchors)
        sample = DataSample(gt_instances=InstanceData(bboxes=boxes, labels=labels))
        our_loss = ours(x, [sample], mode='loss')
    torch.testing.assert_close(our_loss['loss_cls'], tv_loss['classification'], rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(our_loss['loss_bbox'], tv_loss['bbox_regression'], rtol=1e-5, atol=1e-6)
