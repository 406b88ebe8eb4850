"""Geometric / photometric transforms move the image and every geometric key together."""
from __future__ import annotations

import numpy as np
import pytest

import visioncraft  # noqa: F401  (fills the registries)
from visioncraft.data import Compose
from visioncraft.data.geometric import (Pad, PhotoMetricDistortion, RandomChoiceResize, RandomCrop, RandomResize,
                                        Resize, rescale_size)
from visioncraft.data.loading import RandomFlip
from visioncraft.registry import TRANSFORMS
from visioncraft.structures import BitmapMasks, PolygonMasks


def rect_poly(x1, y1, x2, y2):
    return np.array([x1, y1, x2, y1, x2, y2, x1, y2], dtype=np.float64)


def make_results(h=48, w=64, boxes=((8, 8, 28, 24), (30, 20, 54, 40)), polygon_masks=False):
    boxes = np.array(boxes, dtype=np.float32).reshape(-1, 4)
    img = np.random.RandomState(0).randint(0, 255, (h, w, 3)).astype(np.uint8)
    if polygon_masks:
        masks = PolygonMasks([[rect_poly(*b)] for b in boxes], h, w)
    else:
        arr = np.zeros((len(boxes), h, w), dtype=np.uint8)
        for i, (x1, y1, x2, y2) in enumerate(boxes.astype(int)):
            arr[i, y1:y2, x1:x2] = 1
        masks = BitmapMasks(arr, h, w)
    return dict(img=img, img_shape=(h, w), ori_shape=(h, w), gt_bboxes=boxes,
                gt_bboxes_labels=np.arange(len(boxes), dtype=np.int64),
                gt_ignore_flags=np.zeros(len(boxes), dtype=np.bool_), gt_masks=masks)


# -- resize ---------------------------------------------------------------------------------------
def test_keep_ratio_resize_math():
    # the (1333, 800) bound fits a landscape and a portrait image alike
    assert rescale_size((640, 480), (1333, 800)) == (1067, 800)
    assert rescale_size((480, 640), (1333, 800)) == (800, 1067)
    assert rescale_size((2000, 500), (1333, 800)) == (1333, 333)
    assert rescale_size((100, 50), 1.5) == (150, 75)
    r = Resize(scale=(100, 60), keep_ratio=True)(make_results())  # 64x48 -> factor min(100/64, 60/48) = 1.25
    assert r['img'].shape == (60, 80, 3) and r['img_shape'] == (60, 80) and r['scale'] == (80, 60)
    assert r['scale_factor'] == pytest.approx((1.25, 1.25))
    np.testing.assert_allclose(r['gt_bboxes'], np.array([[8, 8, 28, 24], [30, 20, 54, 40]]) * 1.25)
    assert (r['gt_masks'].height, r['gt_masks'].width) == (60, 80)
    r = Resize(scale=(100, 60), keep_ratio=True)(make_results(h=64, w=48, boxes=((0, 0, 10, 10),)))
    assert r['img_shape'] == (80, 60)  # portrait: the same factor, 1.25


def test_resize_no_keep_ratio_and_scale_factor_compose():
    r = Resize(scale=(32, 96))(make_results())
    assert r['img_shape'] == (96, 32) and r['scale_factor'] == pytest.approx((0.5, 2.0))
    np.testing.assert_allclose(r['gt_bboxes'][0], [4, 16, 14, 48])
    r = Resize(scale_factor=2.0)(r)  # scale_factor is the product of all resizes so far
    assert r['img_shape'] == (192, 64) and r['scale_factor'] == pytest.approx((1.0, 4.0))
    with pytest.raises(ValueError):
        Resize()
    with pytest.raises(ValueError):
        Resize(scale=(10, 10), interpolation='fancy')


def test_resize_clips_boxes_and_moves_points():
    res = make_results(boxes=((50, 40, 70, 60),))  # sticks out of the 64x48 image
    res['gt_keypoints'] = np.array([[[10, 20, 2], [60, 40, 1]]], dtype=np.float32)
    res['gt_polygons'] = [np.array([0, 0, 64, 0, 64, 48], dtype=np.float32)]
    r = Resize(scale_factor=0.5)(res)
    np.testing.assert_allclose(r['gt_bboxes'], [[25, 20, 32, 24]])
    np.testing.assert_allclose(r['gt_keypoints'], [[[5, 10, 2], [30, 20, 1]]])
    np.testing.assert_allclose(r['gt_polygons'][0], [0, 0, 32, 0, 32, 24])
    r = Resize(scale_factor=0.5, clip_object_border=False)(make_results(boxes=((50, 40, 70, 60),)))
    np.testing.assert_allclose(r['gt_bboxes'], [[25, 20, 35, 30]])


def test_random_resize_and_choice():
    np.random.seed(0)
    t = RandomResize(scale=[(100, 40), (100, 60)], keep_ratio=True)
    heights = set()
    for _ in range(20):
        r = t(make_results())
        h, w = r['img_shape']
        assert 40 <= h <= 60 and w <= 100 and abs(w / h - 64 / 48) < 0.05
        heights.add(h)
    assert len(heights) > 3
    t = RandomResize(scale=(64, 48), ratio_range=(0.5, 1.0))
    for _ in range(10):
        h, w = t(make_results())['img_shape']
        assert 24 <= h <= 48 and 32 <= w <= 64
    t = RandomChoiceResize(scales=[(32, 24), (128, 96)], keep_ratio=True)
    assert {t(make_results())['img_shape'] for _ in range(20)} == {(24, 32), (96, 128)}
    with pytest.raises(ValueError):
        RandomResize(scale=(10, 10))


# -- flip -----------------------------------------------------------------------------------------
@pytest.mark.parametrize('direction', ['horizontal', 'vertical', 'diagonal'])
@pytest.mark.parametrize('polygon_masks', [False, True])
def test_flip_moves_masks_with_boxes(direction, polygon_masks):
    r = RandomFlip(prob=1.0, direction=direction)(make_results(polygon_masks=polygon_masks))
    assert r['flip'] and r['flip_direction'] == direction
    np.testing.assert_array_equal(r['gt_masks'].get_bboxes(), r['gt_bboxes'])
    if direction == 'horizontal':
        np.testing.assert_array_equal(r['gt_bboxes'][0], [36, 8, 56, 24])


def test_flip_keypoints_polygons_and_flip_indices():
    res = make_results()
    res['gt_keypoints'] = np.array([[[10, 5, 1], [20, 6, 0], [30, 7, 1]]], dtype=np.float32)
    res['gt_keypoints_visible'] = np.array([[1.0, 0.0, 0.5]], dtype=np.float32)
    res['gt_polygons'] = [np.array([1, 2, 3, 4, 5, 6], dtype=np.float32)]
    res['flip_indices'] = [2, 1, 0]
    img = res['img'].copy()
    r = RandomFlip(prob=1.0)(res)
    np.testing.assert_array_equal(r['img'], img[:, ::-1])
    # x -> 64 - x, then keypoint k takes the place of flip_indices[k]
    np.testing.assert_allclose(r['gt_keypoints'], [[[34, 7, 1], [44, 6, 0], [54, 5, 1]]])
    np.testing.assert_allclose(r['gt_keypoints_visible'], [[0.5, 0.0, 1.0]])
    np.testing.assert_allclose(r['gt_polygons'][0], [63, 2, 61, 4, 59, 6])
    res = make_results()
    res['gt_keypoints'] = np.array([[[10, 5], [20, 6]]], dtype=np.float32)
    r = RandomFlip(prob=1.0, direction='vertical')(res)
    np.testing.assert_allclose(r['gt_keypoints'], [[[10, 43], [20, 42]]])
    r = RandomFlip(prob=0.0)(make_results())
    assert r['flip'] is False and r['flip_direction'] is None


# -- crop -----------------------------------------------------------------------------------------
def test_random_crop_drops_boxes_outside_and_keeps_keys_aligned():
    np.random.seed(1)
    res = make_results(boxes=((2, 2, 10, 10), (40, 30, 60, 46), (20, 20, 30, 30)))
    res['gt_keypoints'] = np.array([[[5, 5]], [[50, 40]], [[25, 25]]], dtype=np.float32)
    res['gt_polygons'] = [rect_poly(2, 2, 10, 10), rect_poly(40, 30, 60, 46), rect_poly(20, 20, 30, 30)]
    res['gt_bboxes_labels'] = np.array([7, 8, 9])
    # a 64x48 image cropped to 32x24 at a forced offset: patch the RNG draws
    t = RandomCrop(crop_size=(32, 24))
    state = np.random.get_state()
    offsets = iter([0, 0])  # oy, ox
    np.random.randint, orig = (lambda *a, **k: next(offsets)), np.random.randint
    try:
        r = t(res)
    finally:
        np.random.randint = orig
        np.random.set_state(state)
    assert r['img'].shape == (24, 32, 3) and r['img_shape'] == (24, 32) and r['crop_offset'] == (0, 0)
    assert r['gt_bboxes_labels'].tolist() == [7, 9]  # the box at (40, 30) fell outside
    np.testing.assert_array_equal(r['gt_bboxes'], [[2, 2, 10, 10], [20, 20, 30, 24]])  # clipped
    assert len(r['gt_masks']) == 2 and len(r['gt_ignore_flags']) == 2 and len(r['gt_polygons']) == 2
    np.testing.assert_array_equal(r['gt_masks'].get_bboxes(), r['gt_bboxes'])
    np.testing.assert_array_equal(r['gt_keypoints'][:, 0], [[5, 5], [25, 25]])


def test_random_crop_none_when_no_box_left_unless_allowed():
    res = lambda: make_results(boxes=((60, 44, 64, 48),))  # noqa: E731  bottom-right corner only
    np.random.seed(0)
    dropped = [RandomCrop(crop_size=(16, 16))(res()) is None for _ in range(30)]
    assert any(dropped)
    for _ in range(10):
        r = RandomCrop(crop_size=(16, 16), allow_negative_crop=True)(res())
        assert r is not None and len(r['gt_bboxes']) == len(r['gt_masks']) == len(r['gt_bboxes_labels'])
    empty = make_results(boxes=())
    assert RandomCrop(crop_size=(16, 16))(empty) is None
    assert RandomCrop(crop_size=(16, 16), allow_negative_crop=True)(make_results(boxes=())) is not None


def test_random_crop_options():
    np.random.seed(3)
    for _ in range(10):
        res = make_results(boxes=((0, 0, 64, 48),))
        r = RandomCrop(crop_size=(0.5, 0.5), crop_type='relative')(res)
        assert r['img_shape'] == (24, 32)
        r = RandomCrop(crop_size=(10, 20), crop_type='absolute_range')(make_results(boxes=((0, 0, 64, 48),)))
        assert 10 <= r['img_shape'][0] <= 20 and 10 <= r['img_shape'][1] <= 20
        r = RandomCrop(crop_size=(0.5, 0.5), crop_type='relative_range')(make_results(boxes=((0, 0, 64, 48),)))
        assert 24 <= r['img_shape'][0] <= 48 and 32 <= r['img_shape'][1] <= 64
    # recompute_bbox: boxes come from the cropped masks (here a loose box around a smaller mask)
    res = make_results(boxes=((0, 0, 64, 48),))
    arr = np.zeros((1, 48, 64), dtype=np.uint8)
    arr[0, 10:20, 12:30] = 1
    res['gt_masks'] = BitmapMasks(arr, 48, 64)
    r = RandomCrop(crop_size=(64, 48), recompute_bbox=True)(res)
    np.testing.assert_array_equal(r['gt_bboxes'], [[12, 10, 30, 20]])
    # no clipping: coordinates are kept, boxes entirely outside are still dropped
    r = RandomCrop(crop_size=(64, 48), bbox_clip_border=False)(make_results(boxes=((-5, -5, 10, 10),)))
    np.testing.assert_array_equal(r['gt_bboxes'], [[-5, -5, 10, 10]])
    with pytest.raises(ValueError):
        RandomCrop(crop_size=(2, 2), crop_type='relative')
    with pytest.raises(ValueError):
        RandomCrop(crop_size=(2, 2), crop_type='weird')


# -- pad ------------------------------------------------------------------------------------------
def test_pad_size_divisor_size_square_and_values():
    r = Pad(size_divisor=32)(make_results(h=40, w=70))
    assert r['img'].shape == (64, 96, 3) and r['pad_shape'] == (64, 96)
    assert r['img_shape'] == (40, 70)  # the valid region
    assert r['gt_masks'].masks.shape == (2, 64, 96) and r['img'][40:].sum() == 0
    np.testing.assert_array_equal(r['gt_masks'].get_bboxes(), r['gt_bboxes'])
    r = Pad(size=(80, 50), pad_val=dict(img=(1, 2, 3)))(make_results())
    assert r['img'].shape == (50, 80, 3) and r['img'][49, 79].tolist() == [1, 2, 3]
    r = Pad(pad_to_square=True, pad_val=7)(make_results())
    assert r['pad_shape'] == (64, 64) and r['img'][60, 0, 0] == 7
    res = make_results()
    res['gt_seg_map'] = np.zeros((48, 64), dtype=np.uint8)
    r = Pad(size=(64, 50))(res)
    assert r['gt_seg_map'].shape == (50, 64) and r['gt_seg_map'][49, 0] == 255
    with pytest.raises(ValueError, match='larger than the pad size'):
        Pad(size=(10, 10))(make_results())
    with pytest.raises(ValueError):
        Pad()


# -- photometric ----------------------------------------------------------------------------------
def test_photometric_distortion_is_seeded_and_keeps_dtype():
    base = make_results()['img']
    outs = []
    for _ in range(2):
        np.random.seed(5)
        outs.append(PhotoMetricDistortion()(dict(img=base.copy()))['img'])
    np.testing.assert_array_equal(outs[0], outs[1])
    assert outs[0].dtype == np.uint8 and outs[0].shape == base.shape
    np.random.seed(0)
    changed = [not np.array_equal(PhotoMetricDistortion()(dict(img=base.copy()))['img'], base) for _ in range(8)]
    assert sum(changed) >= 6
    out = PhotoMetricDistortion()(dict(img=base.astype(np.float32)))['img']
    assert out.dtype == np.float32
    # hue and saturation only: a gray image stays gray
    gray = np.full((4, 4, 3), 100, dtype=np.uint8)
    np.random.seed(1)
    out = PhotoMetricDistortion(brightness_delta=0, contrast_range=(1, 1))(dict(img=gray))['img']
    np.testing.assert_array_equal(out, gray)


# -- everything together --------------------------------------------------------------------------
@pytest.mark.parametrize('polygon_masks', [False, True])
def test_resize_flip_crop_pad_keep_masks_and_boxes_together(polygon_masks):
    pipeline = Compose([dict(type='Resize', scale_factor=2.0), dict(type='RandomFlip', prob=1.0),
                        dict(type='RandomCrop', crop_size=(80, 60)), dict(type='Pad', size_divisor=32)])
    np.random.seed(0)
    kept = 0
    for _ in range(5):
        r = pipeline(make_results(polygon_masks=polygon_masks))
        if r is None:
            continue
        kept += 1
        assert r['img'].shape[:2] == r['pad_shape'] == (64, 96) and r['img_shape'] == (60, 80)
        assert r['scale_factor'] == pytest.approx((2.0, 2.0)) and r['flip']
        masks = r['gt_masks'].to_bitmap() if polygon_masks else r['gt_masks']
        assert (masks.height, masks.width) == (64, 96)
        np.testing.assert_allclose(masks.get_bboxes(), r['gt_bboxes'], atol=1.0 if polygon_masks else 0)
        assert len(r['gt_bboxes']) == len(r['gt_bboxes_labels']) == len(r['gt_ignore_flags']) == len(masks)
    assert kept >= 3


def test_transforms_are_registered():
    for name in ('Resize', 'RandomResize', 'RandomChoiceResize', 'RandomCrop', 'Pad', 'PhotoMetricDistortion',
                 'RandomFlip', 'LoadAnnotations', 'PackDetInputs'):
        assert TRANSFORMS.get(name) is not None
    t = TRANSFORMS.build(dict(type='RandomResize', scale=[(10, 10), (20, 20)], keep_ratio=True))
    assert 'RandomResize' in repr(t)
