"""Text-detection transforms: loading, packing, rotate, text-aware crop, side-limit resize, colour jitter."""
import numpy as np
import pytest
import torch

import visioncraft  # noqa: F401
from visioncraft.data import Compose
from visioncraft.registry import TRANSFORMS


def raw_sample(h=60, w=120):
    img = np.zeros((h, w, 3), np.uint8)
    img[10:20, 10:50] = 255
    instances = [dict(polygon=[10, 10, 50, 10, 50, 20, 10, 20], bbox=[10, 10, 50, 20], bbox_label=0, ignore=False,
                      text='a'),
                 dict(polygon=[70, 30, 100, 30, 110, 45, 100, 50, 70, 50], bbox_label=0, ignore=True, text='###'),
                 dict(polygon=[5, 40, 30, 40, 30, 55, 5, 55], bbox_label=0, ignore=False, text='c')]
    return dict(img=img, img_shape=(h, w), ori_shape=(h, w), img_path='x.jpg', instances=instances)


def load(results):
    return TRANSFORMS.build(dict(type='LoadOCRAnnotations', with_polygon=True, with_bbox=True, with_label=True,
                                 with_text=True))(results)


def test_load_and_pack_keep_ignored_instances():
    r = load(raw_sample())
    assert r['gt_ignore_flags'].tolist() == [False, True, False] and r['gt_texts'] == ['a', '###', 'c']
    assert r['gt_bboxes'].dtype == np.float32 and r['gt_bboxes'][1].tolist() == [70, 30, 110, 50]
    assert r['gt_bboxes_labels'].dtype == np.int64 and r['gt_polygons'][1].dtype == np.float32
    out = TRANSFORMS.build(dict(type='PackTextDetInputs'))(r)
    assert out['inputs'].shape == (3, 60, 120) and out['inputs'].dtype == torch.uint8
    gt = out['data_samples'].gt_instances
    assert len(gt) == 3 and gt.ignored.tolist() == [False, True, False] and gt.texts[2] == 'c'
    assert gt.bboxes.dtype == torch.float32 and gt.labels.dtype == torch.int64 and len(gt.polygons[1]) == 10
    assert out['data_samples'].metainfo['img_shape'] == (60, 120)


def test_load_only_polygons_and_bad_polygon():
    r = TRANSFORMS.build(dict(type='LoadOCRAnnotations'))(raw_sample())
    assert 'gt_polygons' in r and 'gt_bboxes' not in r and 'gt_texts' not in r
    out = TRANSFORMS.build(dict(type='PackTextDetInputs'))(r)
    assert out['data_samples'].gt_instances.bboxes[0].tolist() == [10, 10, 50, 20]
    bad = raw_sample()
    bad['instances'][0]['polygon'] = [1, 2, 3, 4]
    with pytest.raises(ValueError, match='x.jpg instance 0'):
        TRANSFORMS.build(dict(type='LoadOCRAnnotations'))(bad)


def test_shared_flip_and_resize_move_polygons_keep_alignment():
    pipe = Compose([dict(type='LoadOCRAnnotations', with_bbox=True, with_text=True),
                    dict(type='RandomFlip', prob=1.0), dict(type='Resize', scale=(240, 120), keep_ratio=True)])
    r = pipe(raw_sample())
    assert r['img'].shape == (120, 240, 3)
    np.testing.assert_allclose(r['gt_polygons'][0], 2 * np.array([110, 10, 70, 10, 70, 20, 110, 20]))
    assert r['gt_texts'] == ['a', '###', 'c']


def test_rotate_polygons_follow_the_image():
    np.random.seed(0)
    r = load(raw_sample())
    r = TRANSFORMS.build(dict(type='RandomRotate', max_angle=30, use_canvas=True))(r)
    angle = r['rotate_angle']
    assert angle != 0 and r['img'].shape[:2] == r['img_shape'] and r['img'].shape[1] > 120
    # the white block's centre moved where polygon 0's centre moved
    ys, xs = np.nonzero(r['img'][..., 0] > 128)
    cx, cy = r['gt_polygons'][0].reshape(-1, 2).mean(0)
    assert abs(xs.mean() - cx) < 1.5 and abs(ys.mean() - cy) < 1.5
    assert len(r['gt_polygons']) == 3 and r['gt_texts'] == ['a', '###', 'c']
    np.testing.assert_allclose(r['gt_bboxes'][0], [r['gt_polygons'][0][0::2].min(), r['gt_polygons'][0][1::2].min(),
                                                   r['gt_polygons'][0][0::2].max(), r['gt_polygons'][0][1::2].max()])


def test_rotate_without_canvas_clips_and_drops():
    r = load(raw_sample())
    r['gt_polygons'].append(np.array([0, 0, 3, 0, 3, 3, 0, 3], np.float32))  # a corner box, rotated out
    r['gt_ignore_flags'] = np.append(r['gt_ignore_flags'], False)
    r['gt_texts'].append('corner')
    r['gt_bboxes'] = np.concatenate([r['gt_bboxes'], [[0, 0, 3, 3]]]).astype(np.float32)
    r['gt_bboxes_labels'] = np.append(r['gt_bboxes_labels'], 0)
    np.random.seed(1)
    r = TRANSFORMS.build(dict(type='RandomRotate', max_angle=90, use_canvas=False))(r)
    assert r['img'].shape == (60, 120, 3)
    h, w = 60, 120
    n = len(r['gt_polygons'])
    assert n == len(r['gt_texts']) == len(r['gt_ignore_flags']) == len(r['gt_bboxes']) == len(r['gt_bboxes_labels'])
    assert 'corner' not in r['gt_texts']
    for p in r['gt_polygons']:
        xy = p.reshape(-1, 2)
        assert xy.min() >= -1e-3 and xy[:, 0].max() <= w + 1e-3 and xy[:, 1].max() <= h + 1e-3


def test_text_random_crop_never_cuts_text():
    for seed in range(20):
        np.random.seed(seed)
        r = load(raw_sample())
        before = {t: p.reshape(-1, 2) for t, p in zip(r['gt_texts'], r['gt_polygons'])}
        r = TRANSFORMS.build(dict(type='TextDetRandomCrop', target_size=None, min_crop_side_ratio=0.1))(r)
        assert any(not f for f in r['gt_ignore_flags'])  # a crop keeps some real text
        h, w = r['img'].shape[:2]
        assert len(r['gt_polygons']) == len(r['gt_texts']) == len(r['gt_bboxes'])
        for t, p in zip(r['gt_texts'], r['gt_polygons']):
            xy = p.reshape(-1, 2)
            assert xy.min() >= 0 and xy[:, 0].max() <= w and xy[:, 1].max() <= h
            shift = before[t] - xy  # a whole, uncut polygon: the same shape, only moved
            assert np.allclose(shift, shift[0])


def test_text_random_crop_target_size_pads():
    np.random.seed(3)
    r = TRANSFORMS.build(dict(type='TextDetRandomCrop', target_size=(64, 64)))(load(raw_sample()))
    assert r['img'].shape == (64, 64, 3) and r['img_shape'] == (64, 64)
    for p in r['gt_polygons']:
        assert p.max() <= 64


@pytest.mark.parametrize('limit, kind, hw, expected', [
    (960, 'max', (1000, 2000), (480, 960)), (960, 'max', (100, 200), (96, 192)),
    (736, 'min', (500, 1000), (736, 1472)), (736, 'min', (1000, 1300), (992, 1312)), (32, 'max', (5, 300), (32, 32))])
def test_det_resize_for_test(limit, kind, hw, expected):
    t = TRANSFORMS.build(dict(type='DetResizeForTest', limit_side_len=limit, limit_type=kind))
    assert t.target_hw(*hw) == expected


def test_det_resize_moves_polygons_and_scale_factor():
    r = load(raw_sample(60, 120))
    r = TRANSFORMS.build(dict(type='DetResizeForTest', limit_side_len=64, limit_type='min'))(r)
    assert r['img'].shape[:2] == (64, 128) and r['scale_factor'] == pytest.approx((128 / 120, 64 / 60))
    np.testing.assert_allclose(r['gt_polygons'][0][:2], [10 * 128 / 120, 10 * 64 / 60], rtol=1e-5)
    with pytest.raises(ValueError, match='limit_type'):
        TRANSFORMS.build(dict(type='DetResizeForTest', limit_type='long'))


def test_color_jitter_changes_only_the_image():
    np.random.seed(0)
    r = load(raw_sample())
    img = np.random.randint(0, 256, (60, 120, 3), dtype=np.uint8)
    r['img'] = img.copy()
    polys = [p.copy() for p in r['gt_polygons']]
    out = TRANSFORMS.build(dict(type='ColorJitter', brightness=32 / 255, saturation=0.5))(r)
    assert out['img'].dtype == np.uint8 and out['img'].shape == img.shape and not np.array_equal(out['img'], img)
    assert all(np.array_equal(a, b) for a, b in zip(polys, out['gt_polygons']))
    same = TRANSFORMS.build(dict(type='ColorJitter'))(dict(img=img.copy()))
    assert np.array_equal(same['img'], img)


def test_empty_image_packs_and_crops():
    r = raw_sample()
    r['instances'] = []
    r = load(r)
    np.random.seed(0)
    r = TRANSFORMS.build(dict(type='TextDetRandomCrop', target_size=None))(r)
    out = TRANSFORMS.build(dict(type='PackTextDetInputs'))(r)
    gt = out['data_samples'].gt_instances
    assert len(gt) == 0 and tuple(gt.bboxes.shape) == (0, 4) and gt.ignored.dtype == torch.bool


def test_crop_keeps_whole_image_when_text_spans_it():
    r = raw_sample()
    r['instances'] = [dict(polygon=[0, 0, 120, 0, 120, 60, 0, 60], ignore=False, text='all')]
    r = TRANSFORMS.build(dict(type='TextDetRandomCrop', target_size=None))(load(r))
    assert r['img'].shape[:2] == (60, 120) and r['gt_texts'] == ['all']
