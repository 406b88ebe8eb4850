"""MMOCR 1.x text-detection schema on our classes: TextDetDataPreprocessor, DBHead(module_loss=DBModuleLoss,
postprocessor=DBPostprocessor) -> DBCodec / DBLoss, DBPostprocessor's epsilon decoding, MMOCR's RandomCrop and
ConcatDataset(pipeline=...)."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import visioncraft  # noqa: F401
from visioncraft.registry import DATASETS, MODELS, TRANSFORMS, default_scope
from visioncraft.structures import DataSample, InstanceData
from visioncraft.tasks.textdet.models.db_head import mmocr_db_codec_and_loss


def test_textdet_data_preprocessor_pads_and_refuses_batch_augments():
    pre = MODELS.build(dict(type='TextDetDataPreprocessor', mean=[123.675, 116.28, 103.53], std=[58.395, 57.12, 57.375],
                            bgr_to_rgb=True, pad_size_divisor=32))
    out = pre(dict(inputs=[torch.zeros(3, 40, 50, dtype=torch.uint8), torch.zeros(3, 20, 70, dtype=torch.uint8)],
                   data_samples=[DataSample(), DataSample()]))
    assert out['inputs'].shape == (2, 3, 64, 96)
    assert out['data_samples'][0].metainfo['batch_input_shape'] == (64, 96)
    with pytest.raises(ValueError, match='batch_augments'):
        MODELS.build(dict(type='TextDetDataPreprocessor', batch_augments=[dict(type='X')]))


def test_db_module_loss_and_postprocessor_map_onto_codec_and_loss():
    codec, loss = mmocr_db_codec_and_loss(dict(type='DBModuleLoss', weight_prob=2.0),
                                          dict(type='DBPostprocessor', text_repr_type='quad', epsilon_ratio=0.002))
    assert codec['text_repr_type'] == 'quad' and codec['epsilon_ratio'] == 0.002
    assert codec['thresh'] == 0.3 and codec['box_thresh'] == 0.3 and codec['min_box_size'] == 5  # MMOCR defaults
    assert codec['min_text_size'] == 8 and loss['loss_prob_weight'] == 2.0 and loss['loss_thr_weight'] == 10.0
    with pytest.raises(ValueError, match='bogus'):
        mmocr_db_codec_and_loss(dict(type='DBModuleLoss', bogus=1), None)
    with pytest.raises(ValueError, match='min_text_area'):
        mmocr_db_codec_and_loss(None, dict(type='DBPostprocessor', min_text_area=3))
    with pytest.raises(ValueError, match="'DBPostprocessor'"):
        mmocr_db_codec_and_loss(None, dict(type='PSEPostprocessor'))
    with pytest.raises(ValueError, match='not both'):
        MODELS.build(dict(type='DBHead', in_channels=16, codec=dict(type='DBCodec'), module_loss=dict(type='DBModuleLoss')))
    with pytest.raises(ValueError, match='with_bias'):
        MODELS.build(dict(type='DBHead', in_channels=16, with_bias=True))


def test_mmocr_dbnet_builds_trains_and_predicts():
    model = MODELS.build(dict(
        type='DBNet',
        backbone=dict(type='mmdet.ResNet', depth=18, num_stages=4, out_indices=(0, 1, 2, 3), frozen_stages=-1,
                      norm_cfg=dict(type='BN', requires_grad=True), norm_eval=False, style='caffe', init_cfg=None),
        neck=dict(type='FPNC', in_channels=[64, 128, 256, 512], lateral_channels=32, out_channels=8),
        det_head=dict(type='DBHead', in_channels=32, module_loss=dict(type='DBModuleLoss'),
                      postprocessor=dict(type='DBPostprocessor', text_repr_type='quad')),
        data_preprocessor=dict(type='TextDetDataPreprocessor', mean=[123.675, 116.28, 103.53],
                               std=[58.395, 57.12, 57.375], bgr_to_rgb=True, pad_size_divisor=32)))
    assert model.det_head.codec.epsilon_ratio == 0.01 and model.det_head.codec.text_repr_type == 'quad'
    x = torch.rand(1, 3, 64, 64)
    poly = np.array([8, 8, 56, 8, 56, 40, 8, 40], np.float32)
    s = DataSample(metainfo=dict(img_shape=(64, 64), ori_shape=(64, 64)))
    s.gt_instances = InstanceData(polygons=[poly], ignored=torch.zeros(1, dtype=torch.bool))
    losses = model(x, [s], mode='loss')
    assert {'loss_prob', 'loss_thr', 'loss_db'} <= set(losses) and all(torch.isfinite(v) for v in losses.values())
    model.eval()
    with torch.no_grad():
        out = model(x, [DataSample(metainfo=dict(img_shape=(64, 64), ori_shape=(64, 64)))], mode='predict')
    assert 'polygons' in out[0].pred_instances


def test_epsilon_decoding_recovers_a_rectangle():
    codec = visioncraft.registry.TASK_UTILS.build(dict(type='DBCodec', thresh=0.3, box_thresh=0.3, unclip_ratio=1.5,
                                                       epsilon_ratio=0.01, text_repr_type='quad', min_box_size=3))
    prob = np.zeros((64, 96), np.float32)
    prob[20:40, 10:80] = 0.9  # one text kernel, 70 x 20 pixels
    polys, scores = codec.decode(torch.from_numpy(prob), scale_factor=(1.0, 1.0), ori_shape=(64, 96))
    assert len(polys) == 1 and polys[0].shape == (8,)
    xy = polys[0].reshape(4, 2)
    assert abs(float(scores[0]) - 0.9) < 1e-3  # mean probability inside the simplified contour
    # unclipping grows the kernel outward: the quad covers the kernel; as in MMOCR it is not clipped to ori_shape
    # (the kernel's left edge is at x = 10, and the grown quad reaches past x = 0)
    assert xy[:, 0].min() <= 10 and xy[:, 0].max() >= 79 and xy[:, 1].min() <= 20 and xy[:, 1].max() >= 39
    assert xy[:, 0].min() < 0 and np.allclose(xy, np.round(xy))  # whole pixels: pyclipper's integer grid
    with pytest.raises(ValueError, match='epsilon_ratio'):
        visioncraft.registry.TASK_UTILS.build(dict(type='DBCodec', epsilon_ratio=-1.0))


def test_mmocr_random_crop_keeps_whole_text():
    with default_scope('mmocr'):
        t = TRANSFORMS.build(dict(type='RandomCrop', min_side_ratio=0.3))
    assert type(t).__name__ == 'MMOCRRandomCrop'
    rng = np.random.default_rng(0)
    np.random.seed(0)
    poly = np.array([30, 30, 60, 30, 60, 50, 30, 50], np.float32)
    res = t(dict(img=rng.integers(0, 255, (100, 120, 3), dtype=np.uint8), img_shape=(100, 120),
                 gt_polygons=[poly], gt_bboxes=np.array([[30, 30, 60, 50]], np.float32),
                 gt_bboxes_labels=np.zeros(1, np.int64), gt_ignore_flags=np.zeros(1, bool)))
    h, w = res['img'].shape[:2]
    assert h >= 30 and w >= 36 and len(res['gt_polygons']) == 1
    xy = res['gt_polygons'][0].reshape(-1, 2)
    assert xy.min() >= 0 and xy[:, 0].max() <= w and xy[:, 1].max() <= h
    assert np.allclose(np.ptp(xy, axis=0), [30, 20])  # whole, not cut
    with pytest.raises(ValueError, match='min_side_ratio'):
        TRANSFORMS.build(dict(type='mmocr.RandomCrop', min_side_ratio=2))


class _ListDataset(torch.utils.data.Dataset):
    def __init__(self, items, name, pipeline=None):
        from visioncraft.data.transforms import Compose
        self.items, self.metainfo = items, dict(dataset_name=name, task_name='textrecog')
        self.pipeline = Compose(pipeline or [])

    def __len__(self):
        return len(self.items)

    def __getitem__(self, i):
        return self.pipeline(dict(v=self.items[i]))


def test_mmocr_concat_dataset_shares_its_pipeline():
    def double(r):
        return dict(v=r['v'] * 2)

    def neg(r):
        return dict(v=-r['v'])

    a, b = _ListDataset([1, 2], 'mj'), _ListDataset([3], 'st', pipeline=[neg])
    with default_scope('mmocr'):
        ds = DATASETS.build(dict(type='ConcatDataset', datasets=[a, b], pipeline=[double]))
    assert [ds[i]['v'] for i in range(3)] == [2, 4, -3]  # b keeps its own pipeline; dataset_name may differ
    forced = DATASETS.build(dict(type='mmocr.ConcatDataset', datasets=[_ListDataset([1], 'x'),
                                                                        _ListDataset([3], 'y', pipeline=[neg])],
                                 pipeline=[double], force_apply=True))
    assert [forced[i]['v'] for i in range(2)] == [2, 6]
    c = _ListDataset([5], 'z')
    c.metainfo['task_name'] = 'textdet'
    with pytest.raises(ValueError, match='task_name'):
        DATASETS.build(dict(type='mmocr.ConcatDataset', datasets=[_ListDataset([1], 'x'), c]))
    assert len(DATASETS.build(dict(type='mmocr.ConcatDataset', datasets=[_ListDataset([1], 'x'), c],
                                   verify_meta=False))) == 2
