"""init_detector / inference_detector / async_inference_detector and demo/image_demo.py on a tiny RetinaNet."""
from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from visioncraft.apis import async_inference_detector, inference_detector, init_detector
from visioncraft.config import Config
from visioncraft.registry import MODELS
from visioncraft.structures import DataSample

REPO = Path(__file__).resolve().parents[2]
H, W = 60, 90  # a non-square original, so rescaling to original pixels is exercised

CONFIG = """
model = dict(
    type='RetinaNet',
    data_preprocessor=dict(type='DetDataPreprocessor', mean=[123.675, 116.28, 103.53],
                           std=[58.395, 57.12, 57.375], bgr_to_rgb=True, pad_size_divisor=32),
    backbone=dict(type='ResNet', depth=18, frozen_stages=1,
                  init_cfg=dict(type='Pretrained', checkpoint='/nonexistent/never-loaded.pth')),
    neck=dict(type='FPN', out_channels=32, start_level=1, add_extra_convs='on_input', num_outs=5),
    bbox_head=dict(type='RetinaHead', num_classes=3, feat_channels=32, stacked_convs=2,
                   anchor_generator=dict(type='AnchorGenerator', octave_base_scale=4, scales_per_octave=3,
                                         ratios=[0.5, 1.0, 2.0], strides=[8, 16, 32, 64, 128])),
    test_cfg=dict(nms_pre=100, score_thr=0.0, nms=dict(type='nms', iou_threshold=0.5), max_per_img=10),
)
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(64, 64), keep_ratio=True),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='PackDetInputs'),
]
test_dataloader = dict(batch_size=2, dataset=dict(type='CocoDataset', pipeline=test_pipeline))
"""


@pytest.fixture(scope='module')
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp('det_api')
    cfg_path = root / 'tiny_retinanet.py'
    cfg_path.write_text(CONFIG)
    torch.manual_seed(0)
    model_cfg = Config.fromfile(cfg_path).model
    model_cfg.backbone.init_cfg = None
    model = MODELS.build(model_cfg)
    ckpt_path = root / 'tiny.pth'
    torch.save({'state_dict': model.state_dict(), 'meta': {'dataset_meta': {'classes': ['a', 'b', 'c']}}},
               ckpt_path)
    rng = np.random.default_rng(0)
    img = rng.integers(0, 255, (H, W, 3), dtype=np.uint8)
    img_path = root / 'img.png'
    cv2.imwrite(str(img_path), img)
    return dict(root=root, config=cfg_path, checkpoint=ckpt_path, img=img, img_path=img_path)


@pytest.fixture(scope='module')
def model(files):
    return init_detector(files['config'], str(files['checkpoint']), device='cpu')


def _check_preds(sample):
    assert isinstance(sample, DataSample)
    pred = sample.pred_instances
    assert len(pred) > 0
    boxes = pred.bboxes
    assert boxes.dtype == torch.float32 and boxes.shape[1] == 4
    assert (boxes[:, 0] >= 0).all() and (boxes[:, 1] >= 0).all()
    assert (boxes[:, 2] <= W + 1e-3).all() and (boxes[:, 3] <= H + 1e-3).all()
    assert ((pred.labels >= 0) & (pred.labels < 3)).all()
    assert tuple(sample.metainfo['ori_shape']) == (H, W)


def _same(a, b):
    for key in ('bboxes', 'scores', 'labels'):
        torch.testing.assert_close(getattr(a.pred_instances, key), getattr(b.pred_instances, key))


def test_init_detector_on_cpu(model, files):
    assert model.dataset_meta['classes'] == ['a', 'b', 'c']
    assert not model.training
    assert model.cfg.model.backbone.init_cfg is None
    assert next(model.parameters()).device.type == 'cpu'
    saved = torch.load(files['checkpoint'], weights_only=True)['state_dict']
    for key, value in model.state_dict().items():  # init_detector built a fresh model, then loaded these
        torch.testing.assert_close(value, saved[key])


def test_init_detector_without_checkpoint_uses_dataset_classes(files):
    cfg = Config.fromfile(files['config'])
    model = init_detector(cfg, None, device='cpu', cfg_options={'model.bbox_head.num_classes': 80})
    assert len(model.dataset_meta['classes']) == 80  # CocoDataset.METAINFO
    assert cfg.model.backbone.init_cfg is not None  # the caller's config is not modified


def test_inference_on_path_and_array_agree(model, files):
    from_path = inference_detector(model, files['img_path'])
    from_array = inference_detector(model, files['img'])
    _check_preds(from_path)
    _check_preds(from_array)
    _same(from_path, from_array)


def test_boxes_are_rescaled_to_the_original_image(model, files):
    out = inference_detector(model, files['img'])
    sw, sh = out.metainfo['scale_factor']
    h, w = out.metainfo['img_shape']
    assert (h, w) != (H, W)
    # The same image already at the network size goes through the model unchanged (scale 1), so its
    # boxes are the original-image boxes times the scale factor.
    small = cv2.resize(files['img'], (w, h), interpolation=cv2.INTER_LINEAR)
    ref = inference_detector(model, small)
    assert tuple(ref.metainfo['img_shape']) == (h, w)
    scale = torch.tensor([sw, sh, sw, sh], dtype=torch.float32)
    torch.testing.assert_close(out.pred_instances.bboxes * scale, ref.pred_instances.bboxes, rtol=1e-4, atol=1e-3)
    torch.testing.assert_close(out.pred_instances.scores, ref.pred_instances.scores)


def test_inference_on_list_keeps_length_and_order(model, files):
    other = np.ascontiguousarray(files['img'][::-1])
    out = inference_detector(model, [files['img_path'], other, files['img']])  # batch_size 2: two batches
    assert isinstance(out, list) and len(out) == 3
    for s in out:
        _check_preds(s)
    _same(out[0], out[2])
    _same(out[1], inference_detector(model, other))
    assert inference_detector(model, []) == []


def test_async_inference_equals_sync(model, files):
    sync = inference_detector(model, [files['img'], files['img_path']])
    got = asyncio.run(async_inference_detector(model, [files['img'], files['img_path']]))
    assert len(got) == 2
    for a, b in zip(got, sync):
        _same(a, b)
    single = asyncio.run(async_inference_detector(model, files['img']))
    _same(single, sync[0])


@pytest.mark.skipif(torch.cuda.is_available(), reason='checks the error raised when CUDA is missing')
def test_cuda_without_cuda_is_a_clear_error(files):
    with pytest.raises(RuntimeError, match="device='cpu'"):
        init_detector(files['config'], str(files['checkpoint']), device='cuda:0')


@pytest.mark.slow
def test_image_demo_writes_png(files):
    out = files['root'] / 'vis' / 'out.png'
    env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get('PYTHONPATH', ''))
    proc = subprocess.run(
        [sys.executable, str(REPO / 'demo' / 'image_demo.py'), str(files['img_path']), str(files['config']),
         str(files['checkpoint']), '--device', 'cpu', '--score-thr', '0.0', '--out-file', str(out),
         '--async-test'], env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    drawn = cv2.imread(str(out))
    assert drawn is not None and drawn.shape[2] == 3


def test_mismatched_checkpoint_is_an_error_unless_partial_is_allowed(files, caplog, monkeypatch):
    from visioncraft.fileio.checkpoint import PARTIAL_WEIGHTS_ENV, CheckpointFitError
    monkeypatch.delenv(PARTIAL_WEIGHTS_ENV, raising=False)
    five = {'model.bbox_head.num_classes': 5}
    with pytest.raises(CheckpointFitError) as err:  # the model would run with a random classifier
        init_detector(files['config'], str(files['checkpoint']), device='cpu', cfg_options=five)
    msg = str(err.value)
    assert str(files['checkpoint']) in msg and 'of another shape' in msg and 'retina_cls' in msg
    assert PARTIAL_WEIGHTS_ENV in msg and 'allow_partial=True' in msg
    # the explicit opt-outs: the argument, or the environment variable
    with caplog.at_level('WARNING', logger='visioncraft'):
        model = init_detector(files['config'], str(files['checkpoint']), device='cpu', cfg_options=five,
                              allow_partial=True)
    assert 'shape-mismatched' in caplog.text and 'retina_cls' in caplog.text
    assert model.dataset_meta['classes'] == ['a', 'b', 'c']
    monkeypatch.setenv(PARTIAL_WEIGHTS_ENV, '1')
    init_detector(files['config'], str(files['checkpoint']), device='cpu', cfg_options=five)
