"""Text-recognition transforms: output shapes, widths bounds, valid_ratio, PaddleOCR's RecResizeImg, the
augmentations on grey and colour images, and packing (gt_text, metainfo)."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import visioncraft  # noqa: F401
from visioncraft.data import Compose
from visioncraft.registry import TRANSFORMS


def _sample(h, w, c=None, texts=('hello',)):
    shape = (h, w) if c is None else (h, w, c)
    img = np.random.default_rng(0).integers(0, 255, shape, dtype=np.uint8)
    return dict(img=img, img_shape=(h, w), ori_shape=(h, w), img_path=f'img_{h}x{w}.jpg',
                instances=[dict(text=t) for t in texts])


@pytest.mark.parametrize('h, w, kwargs, out_w', [
    (16, 40, dict(height=32), 80),                                   # keeps the aspect ratio
    (16, 41, dict(height=32, width_divisor=16), 96),                 # ceil(82 / 16) * 16
    (64, 20, dict(height=32, min_width=32), 32),                      # raised to min_width
    (10, 200, dict(height=32, max_width=128, width_divisor=4), 128),  # squeezed to max_width
])
def test_rescale_to_height(h, w, kwargs, out_w):
    r = TRANSFORMS.build(dict(type='RescaleToHeight', **kwargs))(_sample(h, w, 3))
    assert r['img'].shape == (32, out_w, 3) and r['img_shape'] == (32, out_w)
    assert r['scale_factor'] == pytest.approx((out_w / w, 32 / h))


def test_rescale_to_height_bad_arguments():
    with pytest.raises(ValueError, match='min_width 64 > max_width 32'):
        TRANSFORMS.build(dict(type='RescaleToHeight', height=32, min_width=64, max_width=32))
    with pytest.raises(ValueError, match='not a multiple of width_divisor'):
        TRANSFORMS.build(dict(type='RescaleToHeight', height=32, max_width=100, width_divisor=16))


def test_pad_to_width_sets_valid_ratio_and_keeps_wide_images():
    pad = TRANSFORMS.build(dict(type='PadToWidth', width=100, pad_val=7))
    r = pad(dict(img=np.full((32, 40), 200, np.uint8), img_shape=(32, 40)))
    assert r['img'].shape == (32, 100) and r['img_shape'] == (32, 100) and r['pad_shape'] == (32, 100)
    assert r['valid_ratio'] == pytest.approx(0.4) and (r['img'][:, 40:] == 7).all() and (r['img'][:, :40] == 200).all()
    wide = pad(dict(img=np.zeros((32, 120, 3), np.uint8), img_shape=(32, 120)))
    assert wide['img'].shape == (32, 120, 3) and wide['valid_ratio'] == 1.0


@pytest.mark.parametrize('w, resized_w', [(50, 100), (200, 320), (30, 60)])
def test_rec_resize_img_like_paddleocr(w, resized_w):
    t = TRANSFORMS.build(dict(type='RecResizeImg', image_shape=[3, 32, 320]))
    r = t(_sample(16, w, 3))
    assert r['img'].shape == (32, 320, 3) and r['valid_ratio'] == pytest.approx(min(1.0, resized_w / 320))
    assert (r['img'][:, resized_w:] == 127).all()
    stretched = TRANSFORMS.build(dict(type='RecResizeImg', image_shape=[3, 32, 100], padding=False))(_sample(16, w, 3))
    assert stretched['img'].shape == (32, 100, 3) and stretched['valid_ratio'] == 1.0
    with pytest.raises(ValueError, match='expects 3 channels'):
        t(_sample(16, w))


def test_augmentations_keep_shape_and_dtype_on_grey_and_colour():
    blur = TRANSFORMS.build(dict(type='RandomGaussianBlur', prob=1.0, sigma=(1.0, 1.0)))
    jitter = TRANSFORMS.build(dict(type='RandomBrightnessContrast', brightness=0.5, contrast=0.5, prob=1.0,
                                   invert_prob=1.0))
    for c in (None, 3):
        s = _sample(20, 50, c)
        before = s['img'].copy()
        out = jitter(blur(s))['img']
        assert out.shape == before.shape and out.dtype == np.uint8 and not np.array_equal(out, before)
    bright = TRANSFORMS.build(dict(type='RandomBrightnessContrast', brightness=0.0, contrast=0.0, prob=1.0,
                                   invert_prob=1.0))
    img = np.arange(60, dtype=np.uint8).reshape(6, 10)
    assert np.array_equal(bright(dict(img=img.copy()))['img'], 255 - img)   # factors 1: only the inversion
    with pytest.raises(ValueError, match='sigma'):
        TRANSFORMS.build(dict(type='RandomGaussianBlur', sigma=(2.0, 1.0)))


def test_pipeline_packs_grey_word_with_text_and_valid_ratio():
    pipe = Compose([dict(type='LoadOCRAnnotations', with_text=True),
                    dict(type='RescaleToHeight', height=32, max_width=128, width_divisor=4),
                    dict(type='PadToWidth', width=128),
                    dict(type='PackTextRecogInputs')])
    out = pipe(_sample(16, 30, texts=('Word',)))
    x, s = out['inputs'], out['data_samples']
    assert x.dtype == torch.uint8 and tuple(x.shape) == (1, 32, 128)
    assert s.gt_text == 'Word' and s.metainfo['valid_ratio'] == pytest.approx(60 / 128)
    assert s.metainfo['img_shape'] == (32, 128) and s.metainfo['ori_shape'] == (16, 30)
    colour = Compose([dict(type='PackTextRecogInputs')])(dict(img=np.zeros((32, 50, 3), np.uint8), img_path='x'))
    assert tuple(colour['inputs'].shape) == (3, 32, 50) and colour['data_samples'].metainfo['valid_ratio'] == 1.0
    assert 'gt_text' not in colour['data_samples']                 # no annotations: inference
    with pytest.raises(ValueError, match='has 2 texts'):
        Compose([dict(type='LoadOCRAnnotations', with_text=True), dict(type='PackTextRecogInputs')])(
            _sample(8, 8, texts=('a', 'b')))
