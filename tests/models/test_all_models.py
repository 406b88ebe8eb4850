"""Every registered model, forward and backward (STYLE example 13).

A model class registered in MODELS that is a BaseModel must have a tiny config here: the first test
fails when one is added without it, so no model ships untested.
"""
from __future__ import annotations

import math

import pytest
import torch

import visioncraft  # noqa: F401  (fills the registries)
from conftest import det_batch, tiny_retinanet
from conftest import det_batch_with_masks, pose_batch_maker, tiny_faster_rcnn, tiny_mask_rcnn
from visioncraft.models import BaseModel
from visioncraft.registry import MODELS
from visioncraft.structures import DataSample


def _cls_batch(n=3, size=32):
    g = torch.Generator().manual_seed(0)
    return dict(inputs=[torch.randint(0, 255, (3, size, size), dtype=torch.uint8, generator=g) for _ in range(n)],
                data_samples=[DataSample(gt_label=torch.tensor([i % 4])) for i in range(n)])


# name -> (tiny config, batch maker, prediction field every output sample must carry)
TINY = {
    'TinyClassifier': (dict(type='TinyClassifier', num_classes=4, widths=(8, 16),
                            data_preprocessor=dict(type='ImgDataPreprocessor', mean=[127.5] * 3, std=[64.0] * 3)),
                       _cls_batch, 'pred_label'),
    'RetinaNet': (tiny_retinanet(), det_batch, 'pred_instances'),
    'SingleStageDetector': (tiny_retinanet(type='SingleStageDetector'), det_batch, 'pred_instances'),
}

# FCOS: the tiny RetinaNet's backbone and neck with a 2-conv GroupNorm FCOSHead (8 groups of the 32 channels).
TINY['FCOS'] = (tiny_retinanet(type='FCOS', train_cfg=None,
                               bbox_head=dict(type='FCOSHead', num_classes=3, feat_channels=32, stacked_convs=2,
                                              norm_cfg=dict(type='GN', num_groups=8))),
                det_batch, 'pred_instances')

# Two-stage detectors: ResNet-18, 32-channel FPN, RPN and small RoI heads (the mask batch mixes bitmaps / polygons).
TINY['FasterRCNN'] = (tiny_faster_rcnn(), det_batch, 'pred_instances')
TINY['TwoStageDetector'] = (tiny_faster_rcnn(type='TwoStageDetector'), det_batch, 'pred_instances')
TINY['MaskRCNN'] = (tiny_mask_rcnn(), det_batch_with_masks, 'pred_instances')

# Text detection: DBNet (ResNet-18, 32-wide FPNC), batches of 64 x 64 images with one text quad + one ignored quad.
import numpy as np  # noqa: E402
from visioncraft.structures import InstanceData  # noqa: E402


def _textdet_batch(n=2, size=64):
    quads = [np.array([8, 20, 56, 20, 56, 40, 8, 40], np.float32), np.array([2, 2, 20, 2, 20, 10, 2, 10], np.float32)]
    samples = [DataSample(gt_instances=InstanceData(
        polygons=list(quads), bboxes=torch.tensor([[8., 20, 56, 40], [2, 2, 20, 10]]),
        labels=torch.zeros(2, dtype=torch.int64), ignored=torch.tensor([False, True]), texts=['ab', '###']),
        metainfo=dict(img_shape=(size, size), ori_shape=(size, size), scale_factor=(1.0, 1.0)))
        for _ in range(n)]
    g = torch.Generator().manual_seed(0)
    return dict(inputs=[torch.randint(0, 255, (3, size, size), dtype=torch.uint8, generator=g) for _ in range(n)],
                data_samples=samples)


TINY['DBNet'] = (dict(type='DBNet', backbone=dict(type='ResNet', depth=18, norm_eval=False),
                      neck=dict(type='FPNC', lateral_channels=32, out_channels=8), det_head=dict(type='DBHead')),
                 _textdet_batch, 'pred_instances')


# Text recognition: CRNN (narrow MiniVGG, 16-unit BiLSTMs, CTC over the 36-character dictionary) on grey 32 x 64
# words; EncoderDecoderRecognizer is the same without encoder (the CTC head reads the conv features).
def _textrecog_batch(n=2):
    g = torch.Generator().manual_seed(0)
    return dict(inputs=[torch.randint(0, 255, (1, 32, 64), dtype=torch.uint8, generator=g) for _ in range(n)],
                data_samples=[DataSample(metainfo=dict(img_shape=(32, 64), valid_ratio=1.0 - 0.25 * i),
                                         gt_text=['Ab1', 'cd'][i % 2]) for i in range(n)])


_TINY_RECOG = dict(backbone=dict(type='MiniVGG', leaky_relu=False, input_channels=1, widths=(8, 8, 16, 16, 16, 16, 16)),
                   decoder=dict(type='CTCHead', codec=dict(type='CTCCodec', dictionary=dict(
                       type='Dictionary', builtin='lower_english_digits', case='lower'))))
TINY['CRNN'] = (dict(_TINY_RECOG, type='CRNN', encoder=dict(type='BiLSTMEncoder', hidden_channels=16)),
                _textrecog_batch, 'pred_text')
TINY['EncoderDecoderRecognizer'] = (dict(_TINY_RECOG, type='EncoderDecoderRecognizer'), _textrecog_batch, 'pred_text')
# NRTR: 16-wide modality transform, one encoder and one decoder layer, attention codec (start / end / padding).
TINY['NRTR'] = (dict(type='NRTR', backbone=dict(type='NRTRModalityTransform', in_channels=1, out_channels=16),
                     encoder=dict(type='NRTREncoder', n_layers=1, n_head=2, d_k=8, d_v=8, d_model=16, d_inner=16),
                     decoder=dict(type='NRTRDecoder', n_layers=1, d_embedding=16, n_head=2, d_k=8, d_v=8, d_model=16,
                                  d_inner=16, codec=dict(type='AttentionCodec', max_seq_len=6, dictionary=dict(
                                      type='Dictionary', builtin='lower_english_digits', case='lower',
                                      with_start=True, with_end=True, with_padding=True)))),
                _textrecog_batch, 'pred_text')



# SVTR (MMOCR 1.x's: the encoder reads the image, CTC decoder), 3 x 32 x 100 words, 16..32 wide, one block a stage.
def _svtr_batch(n=2):
    g = torch.Generator().manual_seed(0)
    return dict(inputs=[torch.randint(0, 255, (3, 32, 100), dtype=torch.uint8, generator=g) for _ in range(n)],
                data_samples=[DataSample(metainfo=dict(img_shape=(32, 100), valid_ratio=1.0),
                                         gt_text=['ab1', 'cd'][i % 2]) for i in range(n)])


TINY['SVTR'] = (dict(type='SVTR', preprocessor=None,
                     encoder=dict(type='SVTREncoder', img_size=[32, 100], in_channels=3, out_channels=24,
                                  embed_dims=[16, 24, 32], depth=[1, 1, 1], num_heads=[2, 2, 2],
                                  mixer_types=['Local'] * 2 + ['Global'], window_size=[[7, 11], [5, 9], [7, 11]],
                                  merging_types='Conv', prenorm=False, max_seq_len=25),
                     decoder=dict(type='SVTRDecoder', in_channels=24,
                                  module_loss=dict(type='CTCModuleLoss', letter_case='lower', zero_infinity=True),
                                  postprocessor=dict(type='CTCPostProcessor'),
                                  dictionary=dict(type='Dictionary', builtin='lower_english_digits', case='lower',
                                                  with_padding=True, with_unknown=True)),
                     data_preprocessor=dict(type='TextRecogDataPreprocessor', mean=[127.5], std=[127.5])),
                _svtr_batch, 'pred_text')

# MultiHeadRecognizer (PP-OCRv4's CTC + NRTR training branch): the tiny CTC recogniser plus a 1-layer, 16-wide NRTR
# decoder reading the backbone's features (loss: both branches; predict / tensor: the CTC branch).
TINY['MultiHeadRecognizer'] = (
    dict(_TINY_RECOG, type='MultiHeadRecognizer', gtc_dim=16,
         gtc_head=dict(type='NRTRDecoder', n_layers=1, d_embedding=16, n_head=2, d_k=8, d_v=8, d_model=16, d_inner=16,
                       codec=dict(type='AttentionCodec', max_seq_len=6, dictionary=dict(
                           type='Dictionary', builtin='lower_english_digits', case='lower', with_start=True,
                           with_end=True, with_padding=True)))),
    _textrecog_batch, 'pred_text')


# Top-down pose: 64 x 48 person crops with K=3 keypoints (0 central, 1 <-> 2 a left/right pair), packed as
# PackPoseInputs does; the targets are whatever the codec's encode returns (heatmaps -> gt_heatmaps, SimCC labels
# and keypoint_weights -> gt_instance_labels), so SimCC models can use the same maker with their codec.
# SimpleBaseline-style: ResNet-18 cut after stage 2 (stride 8), one 16-channel deconv -> 16 x 12 heatmaps; flip test.
TINY['TopdownPoseEstimator'] = (
    dict(type='TopdownPoseEstimator', backbone=dict(type='ResNet', depth=18, num_stages=2, out_indices=(1,)),
         head=dict(type='HeatmapHead', out_channels=3, deconv_out_channels=(16,), deconv_kernel_sizes=(4,),
                   decoder=dict(type='MSRAHeatmap', input_size=(48, 64), heatmap_size=(12, 16), sigma=1.0)),
         test_cfg=dict(flip_test=True)),
    pose_batch_maker(dict(type='MSRAHeatmap', input_size=(48, 64), heatmap_size=(12, 16), sigma=1.0)),
    'pred_instances')


# HRNet top-down heatmaps (H4b): a 4-wide HRNet whose stride-4 branch gives the 16 x 12 heatmaps through a 1x1 conv.
_TINY_HRNET_EXTRA = dict(
    stage1=dict(num_modules=1, num_branches=1, block='BOTTLENECK', num_blocks=(1,), num_channels=(8,)),
    stage2=dict(num_modules=1, num_branches=2, block='BASIC', num_blocks=(1, 1), num_channels=(4, 8)),
    stage3=dict(num_modules=1, num_branches=3, block='BASIC', num_blocks=(1, 1, 1), num_channels=(4, 8, 16)),
    stage4=dict(num_modules=1, num_branches=4, block='BASIC', num_blocks=(1, 1, 1, 1), num_channels=(4, 8, 16, 32)))
TINY['TopdownPoseEstimator-HRNet'] = (
    dict(type='TopdownPoseEstimator', backbone=dict(type='HRNet', extra=_TINY_HRNET_EXTRA),
         head=dict(type='HeatmapHead', out_channels=3, deconv_out_channels=None,
                   decoder=dict(type='MSRAHeatmap', input_size=(48, 64), heatmap_size=(12, 16), sigma=1.0)),
         test_cfg=dict(flip_test=True)),
    pose_batch_maker(dict(type='MSRAHeatmap', input_size=(48, 64), heatmap_size=(12, 16), sigma=1.0)),
    'pred_instances')
# RTMPose-style (H4b): an eighth-width CSPNeXt (stride 32: a 2 x 2 map of the 48 x 64 crop), RTMCCHead, SimCC labels.
_TINY_SIMCC = dict(type='SimCCLabel', input_size=(48, 64), sigma=(2.0, 2.0), simcc_split_ratio=2.0, normalize=False)
TINY['TopdownPoseEstimator-RTMPose'] = (
    dict(type='TopdownPoseEstimator',
         backbone=dict(type='CSPNeXt', deepen_factor=0.167, widen_factor=0.125, out_indices=(4,)),
         head=dict(type='RTMCCHead', out_channels=3, input_size=(48, 64), in_featuremap_size=(2, 2),
                   final_layer_kernel_size=7, gau_cfg=dict(hidden_dims=16, s=8),
                   loss=dict(type='KLDiscretLoss', use_target_weight=True, beta=10., label_softmax=True),
                   decoder=_TINY_SIMCC),
         test_cfg=dict(flip_test=True)),
    pose_batch_maker(_TINY_SIMCC), 'pred_instances')

# PP-OCR's text-direction classifier (the mobile v2.0 cls network at x0.35) on 48 x 64 crops, labels 0 / 180.
TINY['TextDirectionClassifier'] = (
    dict(type='TextDirectionClassifier', backbone=dict(type='PPMobileNetV3', model_name='small', scale=0.35)),
    lambda n=3: dict(inputs=[torch.randint(0, 255, (3, 48, 64), dtype=torch.uint8) for _ in range(n)],
                     data_samples=[DataSample(gt_label=torch.tensor([i % 2])) for i in range(n)]),
    'pred_label')


def _registered_models() -> list[str]:
    return [n for n in MODELS.names() if isinstance(MODELS.get(n), type) and issubclass(MODELS.get(n), BaseModel)]


def test_every_registered_model_has_a_tiny_config_here():
    missing = sorted(set(_registered_models()) - set(TINY))
    assert not missing, f'add a tiny config for {missing} to tests/models/test_all_models.py'


@pytest.mark.parametrize('name', sorted(TINY))
def test_forward_backward_predict(name):
    cfg, make_batch, field = TINY[name]
    torch.manual_seed(0)
    model = MODELS.build(cfg)
    model.train()
    data = model.data_preprocessor(make_batch(), training=True)
    losses = model(**data, mode='loss')
    total = sum(v.mean() for k, v in losses.items() if 'loss' in k)
    assert math.isfinite(float(total.detach())), losses
    total.backward()
    trainable = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    no_grad = [n for n, p in trainable if p.grad is None]
    assert trainable and not no_grad, f'{name}: parameters without gradient: {no_grad[:5]}'
    model.eval()
    with torch.no_grad():
        out = model.test_step(make_batch())
        raw = model(**model.data_preprocessor(make_batch(), training=False), mode='tensor')
    assert len(out) == len(make_batch()['inputs']) and all(field in s for s in out)
    assert raw is not None
