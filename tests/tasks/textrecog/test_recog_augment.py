"""SVTR's word-image augmentations (MMOCR 1.x names): size, dtype and the must-hold facts of each."""
from __future__ import annotations

import numpy as np
import pytest

from visioncraft.registry import TRANSFORMS, import_builtin_modules
from visioncraft.tasks.textrecog.transforms.recog_augment import warp_by_points

import_builtin_modules()


def _img(h=32, w=100, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def test_reverse_pixels_is_255_minus_x_and_stays_uint8():
    img = _img()
    out = TRANSFORMS.build(dict(type='ReversePixels'))(dict(img=img.copy()))['img']
    assert out.dtype == np.uint8 and np.array_equal(out, 255 - img)


@pytest.mark.parametrize('h', [32, 3, 1])
def test_crop_height_keeps_width_and_crops_within_bounds(h):
    img = _img(h=h)
    t = TRANSFORMS.build(dict(type='CropHeight', min_pixels=1, max_pixels=8))
    tops = set()
    for seed in range(30):
        np.random.seed(seed)
        out = t(dict(img=img.copy()))
        new_h = out['img'].shape[0]
        assert out['img'].shape[1:] == (100, 3) and out['img'].dtype == np.uint8
        assert out['img_shape'] == out['img'].shape[:2]
        assert max(1, h - 8) <= new_h <= max(1, h - 1)
        cut = h - new_h
        if np.array_equal(out['img'], img[cut:]):
            tops.add('top')
        if np.array_equal(out['img'], img[:new_h]):
            tops.add('bottom')
    if h == 32:
        assert tops == {'top', 'bottom'}


@pytest.mark.parametrize('shape', [(32, 100, 3), (64, 256, 3), (12, 40, 3), (32, 100)])
def test_general_aug_keeps_size_and_dtype(shape):
    img = np.random.default_rng(0).integers(0, 256, shape, dtype=np.uint8)
    t = TRANSFORMS.build(dict(type='TextRecogGeneralAug'))
    for seed in range(3):
        np.random.seed(seed)
        out = t(dict(img=img.copy()))
        assert out['img'].shape == shape and out['img'].dtype == np.uint8 and out['img_shape'] == shape[:2]


def test_warp_with_unmoved_points_is_identity():
    img = _img(h=40, w=150)
    pts = [[0, 0], [150, 0], [150, 40], [0, 40], [75, 0], [75, 40]]
    assert np.array_equal(warp_by_points(img, pts, pts), img)


def test_image_content_jitter_keeps_shape_and_small_images():
    t = TRANSFORMS.build(dict(type='ImageContentJitter'))
    small = _img(h=10, w=50)
    np.random.seed(0)
    assert np.array_equal(t(dict(img=small.copy()))['img'], small)
    big = _img(h=300, w=400)
    np.random.seed(1)
    out = t(dict(img=big.copy()))['img']
    assert out.shape == big.shape and out.dtype == np.uint8


def test_imgaug_noise_and_rot90_as_svtr_uses_them():
    img = _img()
    noise = TRANSFORMS.build(dict(type='ImgAugWrapper', args=[dict(cls='AdditiveGaussianNoise', scale=0.1 ** 0.5)]))
    np.random.seed(0)
    out = noise(dict(img=img.copy()))['img']
    assert out.shape == img.shape and out.dtype == np.uint8
    assert np.abs(out.astype(int) - img).max() <= 3      # std 0.32 grey levels
    for k in (0, 1, 3):
        rot = TRANSFORMS.build(dict(type='ImgAugWrapper', args=[dict(cls='Rot90', k=k, keep_size=False)]))
        out = rot(dict(img=img.copy(), img_shape=(32, 100)))
        assert np.array_equal(out['img'], np.rot90(img, -k))      # imgaug turns clockwise
        assert out['img_shape'] == out['img'].shape[:2]


def test_rot90_moves_polygons_and_boxes_with_the_image():
    img = np.zeros((20, 30, 3), np.uint8)
    img[2:5, 10:20] = 255                       # a box x 10..20, y 2..5
    poly = np.array([10, 2, 20, 2, 20, 5, 10, 5], np.float32)
    t = TRANSFORMS.build(dict(type='Rot90', k=1, keep_size=False))
    out = t(dict(img=img, gt_polygons=[poly], gt_bboxes=np.array([[10, 2, 20, 5]], np.float32)))
    x1, y1, x2, y2 = out['gt_bboxes'][0]
    assert out['img'].shape == (30, 20, 3)
    ys, xs = np.nonzero(out['img'][..., 0])
    assert (xs.min(), ys.min(), xs.max() + 1, ys.max() + 1) == (x1, y1, x2, y2) == (15, 10, 18, 20)
    assert np.allclose(out['gt_polygons'][0].reshape(-1, 2).min(0), [15, 10])
