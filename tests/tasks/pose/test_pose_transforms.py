"""Top-down pose transforms: centre/scale, flip, half body, bbox jitter, affine (+ warp matrices), targets,
keypoint conversion, packing."""
import cv2
import numpy as np
import pytest
import torch

from visioncraft.data import Compose
from visioncraft.registry import KEYPOINT_CODECS, TRANSFORMS
from visioncraft.tasks.pose.datasets import parse_pose_metainfo
from visioncraft.tasks.pose.transforms import (GenerateTarget, GetBBoxCenterScale, KeypointConverter, LoadImage,
                                               PackPoseInputs, PoseRandomFlip, RandomBBoxTransform, RandomHalfBody,
                                               TopdownAffine, get_udp_warp_matrix, get_warp_matrix)
from visioncraft.tasks.pose.transforms.warp import invert_affine, transform_points

COCO = parse_pose_metainfo(dict(from_file='configs/_base_/datasets/coco.py'))
AIC = parse_pose_metainfo(dict(from_file='configs/_base_/datasets/aic.py'))


@KEYPOINT_CODECS.register_module(name='_H2TestCodec')
class FakeCodec:
    """Heatmaps of zeros with a one at each keypoint's rounded cell (stride ``stride``)."""

    def __init__(self, input_size=(48, 64), stride=4):
        self.w, self.h = input_size[0] // stride, input_size[1] // stride
        self.stride = stride

    def encode(self, keypoints, keypoints_visible=None):
        k = keypoints.shape[1]
        heatmaps = np.zeros((k, self.h, self.w), np.float32)
        for j, (x, y) in enumerate(keypoints[0]):
            cx, cy = int(round(x / self.stride)), int(round(y / self.stride))
            if 0 <= cx < self.w and 0 <= cy < self.h:
                heatmaps[j, cy, cx] = 1
        return dict(heatmaps=heatmaps, keypoint_weights=np.asarray(keypoints_visible, np.float32).copy())


def _sample(k=17, w=100, h=80):
    rng = np.random.default_rng(0)
    img = rng.integers(0, 255, (h, w, 3), dtype=np.uint8)
    kpts = np.stack([rng.uniform(20, 70, k), rng.uniform(10, 60, k)], axis=1)[None].astype(np.float32)
    vis = np.ones((1, k), np.float32)
    vis[0, 3] = 0
    return dict(img=img, img_shape=(h, w), ori_shape=(h, w), bbox=np.array([[15, 5, 75, 70]], np.float32),
                bbox_score=np.ones(1, np.float32), keypoints=kpts, keypoints_visible=vis, id=7, img_id=3,
                category_id=1, img_path='x.jpg', flip_indices=list(COCO['flip_indices']),
                upper_body_ids=COCO['upper_body_ids'], lower_body_ids=COCO['lower_body_ids'],
                dataset_keypoint_weights=COCO['dataset_keypoint_weights'], dataset_name='coco')


def test_load_image_from_array_and_path(tmp_path):
    img = np.full((6, 9, 3), 7, np.uint8)
    out = LoadImage()(dict(img=img))
    assert out['img'] is img and out['img_shape'] == (6, 9) and out['ori_shape'] == (6, 9)
    cv2.imwrite(str(tmp_path / 'a.png'), img)
    out = LoadImage()(dict(img_path=str(tmp_path / 'a.png')))
    assert out['img'].shape == (6, 9, 3) and out['img'][0, 0, 0] == 7
    with pytest.raises(OSError, match='missing.png does not exist'):
        LoadImage()(dict(img_path=str(tmp_path / 'missing.png')))


def test_get_bbox_center_scale():
    out = GetBBoxCenterScale(padding=1.25)(dict(bbox=np.array([[10, 20, 50, 100]], np.float32)))
    np.testing.assert_allclose(out['bbox_center'], [[30, 60]])
    np.testing.assert_allclose(out['bbox_scale'], [[50, 100]])
    assert out['bbox_center'].dtype == np.float32 and out['bbox_scale'].shape == (1, 2)
    # MPII gives centre and scale: only the padding applies
    out = GetBBoxCenterScale()(dict(bbox_center=np.array([[5., 5.]]), bbox_scale=np.array([[8., 8.]])))
    np.testing.assert_allclose(out['bbox_scale'], [[10, 10]])


@pytest.mark.parametrize('direction', ['horizontal', 'vertical', 'diagonal'])
def test_flip_twice_is_identity(direction):
    s = GetBBoxCenterScale()(_sample())
    orig = {k: np.copy(v) for k, v in s.items() if isinstance(v, np.ndarray)}
    flip = PoseRandomFlip(prob=1.0, direction=direction)
    once = flip({k: (np.copy(v) if isinstance(v, np.ndarray) else v) for k, v in s.items()})
    assert once['flip'] and once['flip_direction'] == direction
    assert not np.array_equal(once['keypoints'], orig['keypoints'])
    twice = flip(once)
    for key in ('img', 'bbox', 'bbox_center', 'keypoints', 'keypoints_visible'):
        np.testing.assert_allclose(twice[key], orig[key], atol=1e-4, err_msg=key)


def test_horizontal_flip_mirrors_and_swaps_pairs():
    s = _sample()
    w = s['img'].shape[1]
    img, kpts, vis = s['img'].copy(), s['keypoints'].copy(), s['keypoints_visible'].copy()
    out = PoseRandomFlip(prob=1.0)(s)
    np.testing.assert_array_equal(out['img'], img[:, ::-1])
    # left_eye (1) becomes right_eye (2) at the mirrored x; the invisible left_ear (3) becomes right_ear (4)
    np.testing.assert_allclose(out['keypoints'][0, 2], [w - 1 - kpts[0, 1, 0], kpts[0, 1, 1]])
    np.testing.assert_allclose(out['keypoints'][0, 0], [w - 1 - kpts[0, 0, 0], kpts[0, 0, 1]])  # nose stays
    assert out['keypoints_visible'][0, 4] == 0 and out['keypoints_visible'][0, 3] == 1 and vis[0, 3] == 0
    np.testing.assert_allclose(out['bbox'], [[w - 1 - 75, 5, w - 1 - 15, 70]])
    assert PoseRandomFlip(prob=0.0)(_sample())['flip'] is False
    with pytest.raises(KeyError, match='flip_indices'):
        PoseRandomFlip(prob=1.0)({**_sample(), 'flip_indices': None})
    assert isinstance(TRANSFORMS.build(dict(type='mmpose.RandomFlip', prob=1.0)), PoseRandomFlip)


def test_random_half_body_centres_on_a_half():
    s = GetBBoxCenterScale()(_sample())
    s['keypoints_visible'][:] = 1
    np.random.seed(3)
    out = RandomHalfBody(prob=1.0, upper_prioritized_prob=1.0, padding=1.0)(s)
    upper = s['keypoints'][0, COCO['upper_body_ids']]
    np.testing.assert_allclose(out['bbox_center'][0], upper.mean(0), rtol=1e-5)
    np.testing.assert_allclose(out['bbox_scale'][0], upper.max(0) - upper.min(0), rtol=1e-5)
    few = GetBBoxCenterScale()(_sample())
    few['keypoints_visible'][:, 4:] = 0  # 3 visible keypoints < min_total_keypoints: unchanged
    before = few['bbox_center'].copy()
    np.testing.assert_array_equal(RandomHalfBody(prob=1.0)(few)['bbox_center'], before)


def test_random_bbox_transform_ranges():
    np.random.seed(0)
    t = RandomBBoxTransform(shift_factor=0.2, shift_prob=1.0, scale_factor=(0.5, 1.5), rotate_factor=40,
                            rotate_prob=1.0)
    rots, factors, shifts = [], [], []
    for _ in range(200):
        out = t(dict(bbox_center=np.array([[50., 50.]], np.float32), bbox_scale=np.array([[20., 40.]], np.float32)))
        rots.append(out['bbox_rotation'][0])
        factors.append(out['bbox_scale'][0, 0] / 20)
        shifts.append((out['bbox_center'][0] - 50) / [20, 40])
        assert out['bbox_rotation'].dtype == np.float32 and out['bbox_rotation'].shape == (1,)
        assert out['bbox_scale'][0, 0] / 20 == pytest.approx(out['bbox_scale'][0, 1] / 40)
    assert max(np.abs(rots)) <= 40 and max(np.abs(rots)) > 20
    assert 0.5 <= min(factors) and max(factors) <= 1.5 and np.ptp(factors) > 0.5
    assert np.abs(shifts).max() <= 0.2 + 1e-6
    still = RandomBBoxTransform(shift_prob=0, scale_prob=0, rotate_prob=0)(
        dict(bbox_center=np.array([[5., 6.]]), bbox_scale=np.array([[7., 8.]])))
    np.testing.assert_allclose(still['bbox_scale'], [[7, 8]])
    assert still['bbox_rotation'].tolist() == [0.0]


def test_warp_matrices():
    center, scale = np.array([40., 30.]), np.array([20., 40.])
    m = get_warp_matrix(center, scale, 0, (48, 64))
    assert m.dtype == np.float32 and m.shape == (2, 3)
    np.testing.assert_allclose(transform_points(center, m), [24, 32], atol=1e-5)
    np.testing.assert_allclose(transform_points(np.array([30., 30.]), m), [0, 32], atol=1e-5)  # left edge
    u = get_udp_warp_matrix(center, scale, 0, (48, 64))
    np.testing.assert_allclose(transform_points(center, u), [23.5, 31.5], atol=1e-5)
    np.testing.assert_allclose(transform_points(np.array([50., 50.]), u), [47, 63], atol=1e-4)
    r = get_warp_matrix(center, np.array([20., 20.]), 90, (20, 20))
    # rot = 90: what lies right of the centre appears above the output centre
    np.testing.assert_allclose(transform_points(center + [5, 0], r), [10, 5], atol=1e-4)
    for mat in (r, get_udp_warp_matrix(center, scale, 33, (48, 64))):
        back = transform_points(transform_points(np.array([12., 34.]), mat), invert_affine(mat))
        np.testing.assert_allclose(back, [12, 34], atol=1e-3)
    np.testing.assert_allclose(get_warp_matrix(center, scale, 20, (48, 64), inv=True),
                               invert_affine(get_warp_matrix(center, scale, 20, (48, 64))), atol=1e-5)
    shifted = get_warp_matrix(center, scale, 0, (48, 64), shift=(0.5, 0.0))
    np.testing.assert_allclose(transform_points(center + [10, 0], shifted), [24, 32], atol=1e-5)
    loose = get_warp_matrix(center, np.array([20., 20.]), 0, (48, 64), fix_aspect_ratio=False)
    np.testing.assert_allclose(transform_points(center + [10, 10], loose), [48, 64], atol=1e-4)
    with pytest.raises(ValueError, match='positive'):
        get_warp_matrix(center, np.array([0., 5.]), 0, (4, 4))


@pytest.mark.parametrize('use_udp', [False, True])
@pytest.mark.parametrize('rot', [0.0, 30.0])
def test_topdown_affine_keypoints_follow_the_image(use_udp, rot):
    h, w = 90, 120
    kpt = np.array([70.3, 40.6], np.float32)
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    blob = np.exp(-((xs - kpt[0]) ** 2 + (ys - kpt[1]) ** 2) / (2 * 2.0 ** 2)).astype(np.float32)
    s = dict(img=np.dstack([blob] * 3), bbox_center=np.array([[60., 45.]], np.float32),
             bbox_scale=np.array([[40., 60.]], np.float32), bbox_rotation=np.array([rot], np.float32),
             keypoints=kpt[None, None], keypoints_visible=np.ones((1, 1), np.float32))
    out = TopdownAffine(input_size=(48, 64), use_udp=use_udp)(s)
    assert out['img'].shape == (64, 48, 3) and out['img_shape'] == (64, 48) and out['input_size'] == (48, 64)
    sc = out['bbox_scale'][0]
    assert sc[0] / sc[1] == pytest.approx(48 / 64) and sc[1] == pytest.approx(60)  # widened to the aspect
    np.testing.assert_allclose(out['input_center'], [60, 45])
    np.testing.assert_allclose(out['input_scale'], sc)
    np.testing.assert_allclose(out['keypoints'], kpt[None, None])  # image-pixel keypoints unchanged
    warped = out['img'][..., 0]
    yy, xx = np.mgrid[0:64, 0:48]
    centroid = np.array([(warped * xx).sum(), (warped * yy).sum()]) / warped.sum()
    tk = out['transformed_keypoints']
    assert tk.shape == (1, 1, 2) and tk.dtype == np.float32
    np.testing.assert_allclose(tk[0, 0], centroid, atol=0.05)
    if rot == 0 and not use_udp:  # the estimator's mapping back to image pixels
        back = tk[0, 0] / np.array([48, 64]) * sc + out['input_center'] - 0.5 * sc
        np.testing.assert_allclose(back, kpt, atol=1e-3)


def _topdown_pipeline(encoder, **target_kwargs):
    return Compose([dict(type='GetBBoxCenterScale'), dict(type='TopdownAffine', input_size=(48, 64)),
                    dict(type='GenerateTarget', encoder=encoder, **target_kwargs), dict(type='PackPoseInputs')])


def test_generate_target_and_pack_with_fake_codec():
    out = _topdown_pipeline(dict(type='_H2TestCodec'), use_dataset_keypoint_weights=True)(_sample())
    inputs, ds = out['inputs'], out['data_samples']
    assert inputs.dtype == torch.uint8 and inputs.shape == (3, 64, 48)
    gt = ds.gt_instances
    assert gt.bboxes.shape == (1, 4) and gt.bboxes.dtype == torch.float32
    assert gt.keypoints.shape == (1, 17, 2) and gt.keypoints.dtype == torch.float32
    assert gt.keypoints_visible.shape == (1, 17) and gt.bbox_scores.shape == (1,)
    assert gt.bbox_centers.shape == (1, 2) and gt.bbox_scales.shape == (1, 2)
    weights = ds.gt_instance_labels.keypoint_weights
    assert weights.shape == (1, 17) and weights.dtype == torch.float32
    expected = np.ones(17, np.float32) * COCO['dataset_keypoint_weights']
    expected[3] = 0
    np.testing.assert_allclose(weights[0].numpy(), expected)
    assert ds.gt_heatmaps.shape == (17, 16, 12) and ds.gt_heatmaps.dtype == torch.float32
    for key in ('id', 'img_id', 'img_path', 'category_id', 'input_size', 'input_center', 'input_scale',
                'flip_indices', 'dataset_name', 'img_shape', 'ori_shape'):
        assert key in ds.metainfo, key
    assert ds.metainfo['input_size'] == (48, 64) and ds.metainfo['img_shape'] == (64, 48)
    # two encoders: weights multiply; a key made twice needs multilevel
    gen = GenerateTarget([dict(type='_H2TestCodec'), dict(type='_H2TestCodec')], multilevel=True)
    res = gen({'transformed_keypoints': np.zeros((1, 2, 2)), 'keypoints_visible': np.ones((1, 2))})
    assert isinstance(res['heatmaps'], list) and len(res['heatmaps']) == 2
    with pytest.raises(ValueError, match='multilevel'):
        GenerateTarget([dict(type='_H2TestCodec'), dict(type='_H2TestCodec')])(
            {'keypoints': np.zeros((1, 2, 2)), 'keypoints_visible': np.ones((1, 2))})
    # (N, K, 2) visibility (visibility, weight) is split
    res = GenerateTarget(dict(type='_H2TestCodec'))(
        {'keypoints': np.zeros((1, 2, 2)), 'keypoints_visible': np.array([[[1, 1], [0, 1]]], np.float32)})
    assert res['keypoints_visible'].tolist() == [[1, 0]] and res['keypoints_visible_weights'].tolist() == [[1, 1]]


def test_full_pipeline_with_msra_codec_peaks_at_keypoints():
    enc = dict(type='MSRAHeatmap', input_size=(48, 64), heatmap_size=(12, 16), sigma=1.0)
    s = _sample()
    out = _topdown_pipeline(enc)(s)
    hm = out['data_samples'].gt_heatmaps.numpy()
    assert hm.shape == (17, 16, 12)
    tk = TopdownAffine((48, 64))(GetBBoxCenterScale()(_sample()))['transformed_keypoints'][0]
    for j in (0, 5, 10):
        y, x = np.unravel_index(hm[j].argmax(), hm[j].shape)
        assert abs(x - tk[j, 0] / 4) <= 0.5 + 1e-6 and abs(y - tk[j, 1] / 4) <= 0.5 + 1e-6


def test_keypoint_converter_aic_to_coco():
    mapping = [(0, 6), (1, 8), (2, 10), (3, 5), (4, 7), (5, 9), (6, 12), (7, 14), (8, 16), (9, 11), (10, 13),
               (11, 15)]
    conv = TRANSFORMS.build(dict(type='KeypointConverter', num_keypoints=17, mapping=mapping))
    kpts = np.stack([np.arange(14) * 10.0, np.arange(14) + 0.5], axis=1)[None].astype(np.float32)
    vis = np.ones((1, 14), np.float32)
    vis[0, 4] = 0  # AIC left_elbow -> COCO 7
    out = conv(dict(keypoints=kpts.copy(), keypoints_visible=vis, transformed_keypoints=kpts * 2,
                    flip_indices=list(AIC['flip_indices'])))
    assert out['keypoints'].shape == (1, 17, 2) and out['keypoints'].dtype == np.float32
    for src, dst in mapping:
        np.testing.assert_allclose(out['keypoints'][0, dst], kpts[0, src])
        np.testing.assert_allclose(out['transformed_keypoints'][0, dst], 2 * kpts[0, src])
    np.testing.assert_array_equal(out['keypoints'][0, :5], 0)
    assert out['keypoints_visible'][0].tolist() == [0] * 5 + [1, 1, 0] + [1] * 9
    assert out['keypoints_visible_weights'][0].tolist() == [0] * 5 + [1] * 12
    assert out['flip_indices'][5:] == COCO['flip_indices'][5:] and out['flip_indices'][:5] == [0, 1, 2, 3, 4]
    # a metric's gt_converter: a plain dict of several instances, no visibility given
    gt = conv(dict(keypoints=np.zeros((3, 14, 2))))
    assert gt['keypoints'].shape == (3, 17, 2) and gt['keypoints_visible'].shape == (3, 17)
    np.testing.assert_allclose(conv.convert(AIC['sigmas'], axis=0)[6], AIC['sigmas'][0])
    # pairs: the midpoint, visible only when both are
    mid = KeypointConverter(2, [((0, 1), 0), (2, 1)])(
        dict(keypoints=np.array([[[0., 0.], [4., 2.], [9., 9.]]]), keypoints_visible=np.array([[1., 0., 1.]]),
             keypoint_scores=np.array([[0.9, 0.2, 0.5]])))
    np.testing.assert_allclose(mid['keypoints'][0], [[2, 1], [9, 9]])
    assert mid['keypoints_visible'][0].tolist() == [0, 1] and mid['keypoint_scores'][0].tolist() == \
        pytest.approx([0.2, 0.5])
    with pytest.raises(ValueError, match=r'source keypoint 11 but keypoints \(shape \(1, 5, 2\)\) has only 5'):
        conv(dict(keypoints=np.zeros((1, 5, 2))))
    with pytest.raises(ValueError, match='mapped twice'):
        KeypointConverter(3, [(0, 1), (1, 1)])
    with pytest.raises(ValueError, match='outside 0..2'):
        KeypointConverter(3, [(0, 3)])


def test_converted_aic_sample_flips_like_coco():
    conv = KeypointConverter(17, [(0, 6), (3, 5), (1, 8), (4, 7)])
    s = conv(dict(keypoints=np.array([[[10., 5.], [11., 6.], [0, 0], [30., 5.], [31., 6.]] + [[0, 0]] * 9],
                                     np.float32), keypoints_visible=np.ones((1, 14), np.float32),
                  flip_indices=list(AIC['flip_indices'])))
    s.update(img=np.zeros((20, 40, 3), np.uint8))
    out = PoseRandomFlip(prob=1.0)(s)
    # right_shoulder (6) at x=10 becomes the left_shoulder (5) at 39 - 10
    np.testing.assert_allclose(out['keypoints'][0, 5], [29, 5])
    np.testing.assert_allclose(out['keypoints'][0, 6], [9, 5])


def test_pack_pose_inputs_minimal_and_transformed():
    s = TopdownAffine((48, 64))(GetBBoxCenterScale()(_sample()))
    out = PackPoseInputs(pack_transformed=True, meta_keys=('id', 'img_id'))(s)
    ds = out['data_samples']
    assert ds.gt_instances.transformed_keypoints.shape == (1, 17, 2)
    assert sorted(ds.metainfo) == ['id', 'img_id'] and 'gt_heatmaps' not in ds
    assert len(ds.gt_instance_labels.keys()) == 0
    with pytest.raises(KeyError, match='no img'):
        PackPoseInputs()({'keypoints': np.zeros((1, 1, 2))})
