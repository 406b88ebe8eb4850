"""Parity with torchvision's fcos_resnet50_fpn: converted weights give the same detections and losses."""
from __future__ import annotations

import pytest
import torch

from conftest import build_converted, randomise_batchnorm, seeded_images, small_tv_detector
from conftest import sharpen_fcos_head
from visioncraft.structures import DataSample, InstanceData
from visioncraft.tasks.detection.models.convert_torchvision import fcos_from_torchvision, torchvision_fcos_config


def _randomise(tv_model, images):
    """Make a random-init torchvision FCOS produce varied, confident detections: BN statistics from real
    activations, then a sharpened head (conftest.sharpen_fcos_head)."""
    g = torch.Generator().manual_seed(1)
    randomise_batchnorm(tv_model.backbone.body, tv_model.transform(images)[0].tensors, g)
    sharpen_fcos_head(tv_model.head, g)


@pytest.fixture(scope='module')
def models_and_images():
    tv = small_tv_detector('fcos', 128, 256)
    # resized by torchvision to 128 x 256, 128 x 192 and 128 x 200; the padded batch (128 x 256) divides by
    # 128, so torchvision's derived strides equal the nominal 8 ... 128.
    images = seeded_images([(96, 192), (100, 150), (128, 200)])
    _randomise(tv, images)
    tv.eval()
    ours = build_converted(torchvision_fcos_config(num_classes=91, frozen_bn=False),
                           fcos_from_torchvision(tv.state_dict()))
    # exact arithmetic for the comparison: ResNet's speed options (BN folded into the convs, channels-last)
    # change float rounding (~1e-6 relative), which a random-init ResNet-50 amplifies
    for option in ('fold_bn', 'channels_last'):
        if hasattr(ours.backbone, option):
            setattr(ours.backbone, option, False)
    ours.eval()
    return tv, ours, images


def test_converter_rejects_unknown_keys():
    with pytest.raises(KeyError, match='fcos_from_torchvision'):
        fcos_from_torchvision({'head.classification_head.conv.2.weight': torch.zeros(1)})


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
        out = ours(batch.tensors, samples, mode='predict')
    box_diff, score_diff, n = 0.0, 0.0, 0
    for det, sample in zip(tv_dets, out):
        pred = sample.pred_instances
        assert len(det['scores']) == len(pred) > 5
        assert len(pred.labels.unique()) > 2  # varied detections, not one class everywhere
        assert len(pred.scores.unique()) == len(pred)  # no ties: one order to compare in
        o_tv = det['scores'].argsort(descending=True, stable=True)
        o_us = pred.scores.argsort(descending=True, stable=True)
        assert torch.equal(det['labels'][o_tv], pred.labels[o_us])
        box_diff = max(box_diff, (det['boxes'][o_tv] - pred.bboxes[o_us]).abs().max().item())
        score_diff = max(score_diff, (det['scores'][o_tv] - pred.scores[o_us]).abs().max().item())
        n += len(pred)
    print(f'FCOS parity: max |box diff| = {box_diff:.2e} px, max |score diff| = {score_diff:.2e} over {n} detections')
    assert box_diff < 1e-3 and score_diff < 1e-4


def test_training_losses_match_torchvision(models_and_images):
    """Two images of the same size (torchvision normalises per image; ours per batch: equal here), boxes of
    several sizes so that several pyramid levels and overlapping boxes (smallest area wins) are exercised."""
    from torchvision.models.detection.image_list import ImageList
    tv, ours, images = models_and_images
    with torch.no_grad():
        batch, _ = tv.transform([images[0], images[0].flip(-1)])
        x = batch.tensors
        feats = list(tv.backbone(x).values())
        head_out = tv.head(feats)
        anchors = tv.anchor_generator(ImageList(x, batch.image_sizes), feats)
        per_level = [f.shape[2] * f.shape[3] for f in feats]
        targets = [dict(boxes=torch.tensor([[10.3, 12.1, 90.7, 70.2], [120.5, 3.4, 251.1, 125.6],
                                            [5.2, 80.9, 40.4, 126.3], [20.1, 20.6, 60.2, 50.8]]),
                        labels=torch.tensor([1, 17, 90, 5])),
                   dict(boxes=torch.tensor([[30.6, 40.2, 47.9, 61.1], [0.5, 0.5, 220.5, 127.5]]),
                        labels=torch.tensor([3, 3]))]
        tv_loss = tv.compute_loss(targets, head_out, anchors, per_level)
        samples = [DataSample(gt_instances=InstanceData(bboxes=t['boxes'], labels=t['labels'])) for t in targets]
        our_loss = ours(x, samples, mode='loss')
    print({k: float(v) for k, v in tv_loss.items()}, {k: float(v) for k, v in our_loss.items()})
    assert float(tv_loss['bbox_regression']) > 0.05 and float(tv_loss['bbox_ctrness']) > 0.05
    torch.testing.assert_close(our_loss['loss_cls'], tv_loss['classification'], rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(our_loss['loss_bbox'], tv_loss['bbox_regression'], rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(our_loss['loss_centerness'], tv_loss['bbox_ctrness'], rtol=1e-5, atol=1e-6)


def test_convert_command_for_fcos(models_and_images, tmp_path):
    from visioncraft.engine.checkpoint import extract_state_dict, load_checkpoint_file
    from visioncraft.tasks.detection.models.convert_torchvision import main
    tv, ours, _ = models_and_images
    src, dst = tmp_path / 'fcos_tv.pth', tmp_path / 'fcos_vc.pth'
    torch.save(tv.state_dict(), src)
    main(['--arch', 'fcos', str(src), str(dst)])
    state = extract_state_dict(load_checkpoint_file(dst))
    assert set(state) == set(ours.state_dict())
    torch.testing.assert_close(state['bbox_head.conv_centerness.weight'], ours.bbox_head.conv_centerness.weight)
