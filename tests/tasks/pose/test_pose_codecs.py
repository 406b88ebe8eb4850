"""Keypoint codecs (MSRAHeatmap, DARK, UDPHeatmap, SimCCLabel) and the pose flip helpers."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from visioncraft.registry import KEYPOINT_CODECS, default_scope
from visioncraft.tasks.pose.codecs import (MSRAHeatmap, SimCCLabel, UDPHeatmap, flip_coordinates, flip_heatmaps,
                                           flip_keypoints_np, flip_vectors)

IN = (192, 256)   # input (w, h)
HM = (48, 64)     # heatmap (W, H): stride 4
K = 17
COCO_FLIP = [0, 2, 1, 4, 3, 6, 5, 8, 7, 10, 9, 12, 11, 14, 13, 16, 15]
# DARK's blur pads with zeros, which biases keypoints within ~5 heatmap px of the border (as in MMPose); the
# sub-pixel round trips are checked on keypoints at least this many input px from every border.
MARGIN = 24


def random_keypoints(n: int, k: int, size=IN, margin: float = MARGIN, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    w, h = size
    return np.stack([rng.uniform(margin, w - 1 - margin, (n, k)), rng.uniform(margin, h - 1 - margin, (n, k))], -1)


def decode(codec, enc):
    if isinstance(codec, SimCCLabel):
        return codec.decode(enc['keypoint_x_labels'], enc['keypoint_y_labels'])
    return codec.decode(enc['heatmaps'])


def round_trip_error(codec, kpts) -> np.ndarray:
    """Per-axis absolute error of decode(encode(k)) for every keypoint, one instance at a time."""
    errs = []
    for inst in kpts:
        out, _ = decode(codec, codec.encode(inst[None]))
        errs.append(np.abs(out[0] - inst))
    return np.stack(errs)


# ---------------------------------------------------------------------------------------------------------------
# round trips
# ---------------------------------------------------------------------------------------------------------------
def test_msra_round_trip_stride1_within_half_pixel():
    codec = MSRAHeatmap(input_size=HM, heatmap_size=HM, sigma=2.0)
    kpts = random_keypoints(4, 50, size=HM, margin=0)
    err = round_trip_error(codec, kpts)
    assert err.max() < 0.5


def test_msra_round_trip_stride4_within_half_heatmap_pixel():
    # MSRA's target is centred on the nearest heatmap pixel: the round trip is exact to half a heatmap pixel
    # (2 input px at stride 4) per axis, never better on average than a quarter of one. (Input x > w - 2.5
    # maps past the last heatmap pixel centre, x_heat = x_in / 4 > W - 0.625, and decodes to that pixel.)
    codec = MSRAHeatmap(input_size=IN, heatmap_size=HM, sigma=2.0)
    err = round_trip_error(codec, random_keypoints(4, 50, margin=2))
    assert err.max() <= 0.5 * 4 + 1e-4
    assert 0.5 < err.mean() < 1.5


@pytest.mark.parametrize('codec', [
    MSRAHeatmap(input_size=IN, heatmap_size=HM, sigma=2.0, unbiased=True),
    UDPHeatmap(input_size=IN, heatmap_size=HM, sigma=2.0),
    UDPHeatmap(input_size=IN, heatmap_size=HM, heatmap_type='combined'),
    SimCCLabel(input_size=IN, sigma=6.0, simcc_split_ratio=2.0, use_dark=True),
    SimCCLabel(input_size=IN, sigma=(4.9, 5.66), simcc_split_ratio=2.0, use_dark=True),
], ids=['dark', 'udp', 'udp-combined', 'simcc-dark', 'simcc-dark-xy'])
def test_sub_pixel_round_trip_within_tenth_of_pixel(codec):
    err = round_trip_error(codec, random_keypoints(4, 50, seed=1))
    assert err.max() < 0.1, (codec, err.max())


def test_udp_round_trip_reaches_the_far_corner():
    # UDP's (w-1)/(W-1) scale maps the last input pixel onto the last heatmap pixel and back
    codec = UDPHeatmap(input_size=IN, heatmap_size=HM)
    corner = np.array([[[IN[0] - 1.0, IN[1] - 1.0], [0.0, 0.0]]])
    out, _ = codec.decode(codec.encode(corner)['heatmaps'])
    np.testing.assert_allclose(out, corner, atol=1e-4)


def test_simcc_without_dark_within_half_bin():
    codec = SimCCLabel(input_size=IN, sigma=6.0, simcc_split_ratio=2.0)
    err = round_trip_error(codec, random_keypoints(4, 50, margin=0))
    assert err.max() <= 0.25 + 1e-5   # half a bin of 0.5 px


def test_dark_beats_plain_decoding_on_sub_pixel_keypoints():
    kpts = random_keypoints(6, 50, seed=2)
    dark = MSRAHeatmap(input_size=IN, heatmap_size=HM, sigma=2.0, unbiased=True)
    plain = MSRAHeatmap(input_size=IN, heatmap_size=HM, sigma=2.0)
    e_dark, e_plain = [], []
    for inst in kpts:
        # the same heatmap (an exact sub-pixel Gaussian, what a good network predicts) decoded both ways
        heat = dark.encode(inst[None])['heatmaps']
        e_dark.append(np.linalg.norm(dark.decode(heat)[0][0] - inst, axis=-1))
        e_plain.append(np.linalg.norm(plain.decode(heat)[0][0] - inst, axis=-1))
    mean_dark, mean_plain = np.mean(e_dark), np.mean(e_plain)
    assert mean_dark < 0.1 and mean_plain > 0.5 and mean_dark < mean_plain / 10, (mean_dark, mean_plain)


def test_quarter_shift_moves_towards_higher_neighbour():
    codec = MSRAHeatmap(input_size=HM, heatmap_size=HM, sigma=2.0)
    heat = np.zeros((2, HM[1], HM[0]), np.float32)
    heat[0, 10, 20], heat[0, 10, 21], heat[0, 9, 20] = 1.0, 0.5, 0.3     # right and up are higher
    heat[1, 0, 0] = 0.8                                                  # a border maximum is not shifted
    kpts, scores = codec.decode(heat)
    np.testing.assert_allclose(kpts[0], [[20.25, 9.75], [0.0, 0.0]])
    np.testing.assert_allclose(scores[0], [1.0, 0.8])


# ---------------------------------------------------------------------------------------------------------------
# encode: shapes, weights
# ---------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize('codec', [
    MSRAHeatmap(input_size=IN, heatmap_size=HM, sigma=2.0),
    MSRAHeatmap(input_size=IN, heatmap_size=HM, sigma=2.0, unbiased=True),
    UDPHeatmap(input_size=IN, heatmap_size=HM),
    UDPHeatmap(input_size=IN, heatmap_size=HM, heatmap_type='combined'),
    SimCCLabel(input_size=IN, sigma=6.0),
    SimCCLabel(input_size=IN, smoothing_type='standard', label_smooth_weight=0.1),
], ids=['msra', 'dark', 'udp', 'udp-combined', 'simcc', 'simcc-standard'])
def test_invisible_and_outside_keypoints_get_zero_weight(codec):
    kpts = random_keypoints(1, 6, seed=3)
    kpts[0, 1] = [-100.0, 50.0]            # far left of the input
    kpts[0, 2] = [50.0, IN[1] + 100.0]     # far below
    kpts[0, 3] = [np.nan, 10.0]            # not finite
    vis = np.ones((1, 6), np.float32)
    vis[0, 4] = 0.0                        # invisible
    enc = codec.encode(kpts, vis)
    w = enc['keypoint_weights']
    assert w.dtype == np.float32 and w.shape == (1, 6)
    np.testing.assert_array_equal(w[0], [1, 0, 0, 0, 0, 1])
    if 'heatmaps' in enc:
        per_kpt = enc['heatmaps'].reshape(6, -1)
        assert (np.abs(per_kpt[[1, 2, 3, 4]]) == 0).all() and per_kpt[[0, 5]].max() > 0.5
    else:
        for key in ('keypoint_x_labels', 'keypoint_y_labels'):
            assert (enc[key][0, [1, 2, 3, 4]] == 0).all() and (enc[key][0, [0, 5]].max(-1) > 0).all()


def test_heatmap_encode_shapes_and_dtypes():
    codec = MSRAHeatmap(input_size=IN, heatmap_size=HM, sigma=2.0)
    enc = codec.encode(random_keypoints(1, K))
    assert enc['heatmaps'].shape == (K, HM[1], HM[0]) and enc['heatmaps'].dtype == np.float32
    assert enc['keypoint_weights'].shape == (1, K)
    assert enc['heatmaps'].max() == pytest.approx(1.0)
    two = codec.encode(random_keypoints(2, K))   # N instances: (N*K, H, W), the instances one after the other
    assert two['heatmaps'].shape == (2 * K, HM[1], HM[0]) and two['keypoint_weights'].shape == (2, K)
    comb = UDPHeatmap(input_size=IN, heatmap_size=HM, heatmap_type='combined').encode(random_keypoints(1, K))
    assert comb['heatmaps'].shape == (3 * K, HM[1], HM[0])
    assert set(comb) == {'heatmaps', 'keypoint_weights'}


def test_keypoint_just_outside_keeps_weight_with_clipped_gaussian():
    # MMPose's rule: a keypoint whose Gaussian window still reaches the heatmap keeps its weight
    codec = MSRAHeatmap(input_size=IN, heatmap_size=HM, sigma=2.0)
    enc = codec.encode(np.array([[[-8.0, 100.0]]]))   # 2 heatmap px left of the map
    assert enc['keypoint_weights'][0, 0] == 1.0
    assert enc['heatmaps'][0, 25, 0] == pytest.approx(np.exp(-4 / 8), rel=1e-5)


def test_simcc_label_shapes_and_normalisation():
    codec = SimCCLabel(input_size=IN, sigma=(4.9, 5.66), simcc_split_ratio=2.0, normalize=True)
    enc = codec.encode(random_keypoints(2, K))
    assert enc['keypoint_x_labels'].shape == (2, K, IN[0] * 2)
    assert enc['keypoint_y_labels'].shape == (2, K, IN[1] * 2)
    assert enc['keypoint_weights'].shape == (2, K)
    assert all(v.dtype == np.float32 for v in enc.values())
    np.testing.assert_allclose(enc['keypoint_x_labels'].sum(-1), 1.0, rtol=1e-3)   # a normalised Gaussian
    np.testing.assert_allclose(enc['keypoint_y_labels'].sum(-1), 1.0, rtol=1e-3)
    odd = SimCCLabel(input_size=(191, 255), simcc_split_ratio=1.5)
    assert odd.encode(random_keypoints(1, 2, size=(191, 255)))['keypoint_x_labels'].shape == (1, 2, 287)


def test_simcc_standard_label_smoothing():
    codec = SimCCLabel(input_size=(10, 8), smoothing_type='standard', simcc_split_ratio=2.0, label_smooth_weight=0.2)
    enc = codec.encode(np.array([[[3.3, 2.6]]]))
    x, y = enc['keypoint_x_labels'][0, 0], enc['keypoint_y_labels'][0, 0]
    assert x.argmax() == 7 and y.argmax() == 5            # round(6.6), round(5.2)
    assert x[7] == pytest.approx(0.8) and x[0] == pytest.approx(0.2 / 19)
    assert x.sum() == pytest.approx(1.0) and y.sum() == pytest.approx(1.0)


# ---------------------------------------------------------------------------------------------------------------
# decode == batch_decode
# ---------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize('codec', [
    MSRAHeatmap(input_size=IN, heatmap_size=HM, sigma=2.0),
    MSRAHeatmap(input_size=IN, heatmap_size=HM, sigma=2.0, unbiased=True),
    UDPHeatmap(input_size=IN, heatmap_size=HM),
    UDPHeatmap(input_size=IN, heatmap_size=HM, heatmap_type='combined'),
    SimCCLabel(input_size=IN, sigma=6.0),
    SimCCLabel(input_size=IN, sigma=(4.9, 5.66), use_dark=True),
], ids=['msra', 'dark', 'udp', 'udp-combined', 'simcc', 'simcc-dark'])
def test_decode_matches_batch_decode(codec):
    # noisy targets, as a network would predict them, some keypoints on the border, one sample all zeros
    B = 5
    rng = np.random.default_rng(4)
    kpts = random_keypoints(B, K, margin=0, seed=5)
    encs = [codec.encode(k[None]) for k in kpts]
    keys = ['heatmaps'] if 'heatmaps' in encs[0] else ['keypoint_x_labels', 'keypoint_y_labels']
    batch = []
    for key in keys:
        arr = np.stack([e[key] for e in encs]) if key == 'heatmaps' else np.concatenate([e[key] for e in encs])
        arr = arr + rng.normal(0, 0.02, arr.shape).astype(np.float32) * (1.0 if key == 'heatmaps' else arr.max())
        arr[-1] = 0.0
        batch.append(arr.astype(np.float32))
    out_k, out_s = codec.batch_decode(*[torch.from_numpy(a) for a in batch])
    assert out_k.shape == (B, K, 2) and out_s.shape == (B, K)
    assert out_k.dtype == torch.float32 and out_k.device.type == 'cpu'
    for b in range(B):
        ref_k, ref_s = codec.decode(*[a[b] for a in batch])
        assert ref_k.shape == (1, K, 2) and ref_s.shape == (1, K) and ref_k.dtype == np.float32
        np.testing.assert_allclose(out_k[b].numpy(), ref_k[0], atol=2e-3)
        np.testing.assert_allclose(out_s[b].numpy(), ref_s[0], atol=1e-5)
    # in input px: noisy keypoints land near the truth (plain MSRA: within its rounding)
    good = np.linalg.norm(out_k[:-1].numpy() - kpts[:-1], axis=-1)
    assert np.median(good) < 3.0


def test_batch_decode_half_precision_and_no_grad():
    codec = MSRAHeatmap(input_size=IN, heatmap_size=HM, sigma=2.0, unbiased=True)
    heat = torch.from_numpy(codec.encode(random_keypoints(1, K))['heatmaps'])[None].half().requires_grad_(True)
    k, s = codec.batch_decode(heat)
    assert k.dtype == torch.float32 and not k.requires_grad
    assert np.abs(k[0].numpy() - random_keypoints(1, K)[0]).max() < 0.3


def test_decode_rejects_wrong_heatmap_size():
    codec = MSRAHeatmap(input_size=IN, heatmap_size=HM)
    with pytest.raises(ValueError, match=r'heatmap_size=\(48, 64\)'):
        codec.decode(np.zeros((K, 32, 24), np.float32))
    with pytest.raises(ValueError, match=r'\(B, K, H, W\)'):
        codec.batch_decode(torch.zeros(K, 64, 48))
    with pytest.raises(ValueError, match='Wx=384'):
        SimCCLabel(input_size=IN).decode(np.zeros((1, K, 100)), np.zeros((1, K, 512)))
    with pytest.raises(ValueError, match=r'keypoints must be an \(N, K, 2\)'):
        codec.encode(np.zeros((K, 2)))
    with pytest.raises(ValueError, match='keypoints_visible'):
        codec.encode(np.zeros((1, K, 2)), np.ones((1, K + 1)))


# ---------------------------------------------------------------------------------------------------------------
# flips
# ---------------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize('mode,channels', [('heatmap', K), ('udp', K), ('udp_combined', 3 * K)])
def test_flip_heatmaps_twice_is_identity(mode, channels):
    heat = torch.rand(2, channels, 8, 6)
    once = flip_heatmaps(heat, COCO_FLIP, flip_mode=mode, shift_heatmap=False)
    assert not torch.equal(once, heat)
    torch.testing.assert_close(flip_heatmaps(once, COCO_FLIP, flip_mode=mode, shift_heatmap=False), heat)
    # numpy in, numpy out
    np.testing.assert_allclose(flip_heatmaps(heat.numpy(), COCO_FLIP, flip_mode=mode, shift_heatmap=False),
                               once.numpy())


def test_flip_heatmaps_swaps_channels_and_shifts():
    heat = torch.zeros(1, K, 4, 6)
    heat[0, 1, 2, 1] = 1.0                          # left eye at column 1
    out = flip_heatmaps(heat, COCO_FLIP, shift_heatmap=False)
    assert out[0, 2, 2, 4] == 1.0                   # right eye at column 6 - 1 - 1
    shifted = flip_heatmaps(heat, COCO_FLIP, shift_heatmap=True)
    assert shifted[0, 2, 2, 5] == 1.0 and shifted[0, 2, 2, 4] == 0.0
    half = flip_heatmaps(heat, COCO_FLIP, shift_heatmap=0.25)
    assert half[0, 2, 2, 4] == pytest.approx(0.75) and half[0, 2, 2, 5] == pytest.approx(0.25)
    udp = flip_heatmaps(heat, COCO_FLIP, flip_mode='udp', shift_heatmap=True)   # udp never shifts
    torch.testing.assert_close(udp, out)
    assert heat[0, 1, 2, 1] == 1.0                  # input untouched
    with pytest.raises(ValueError, match='flip_indices'):
        flip_heatmaps(heat, COCO_FLIP[:-1])
    with pytest.raises(ValueError, match='flip_mode'):
        flip_heatmaps(heat, COCO_FLIP, flip_mode='offset')


def _flip_test_errors(codec, mode, shift):
    """The heatmap of the mirrored image (encoded from the mirrored keypoints), flipped back and decoded,
    minus the original keypoints."""
    kpts = random_keypoints(1, K, seed=6)
    kpts_f, _ = flip_keypoints_np(kpts, None, IN, COCO_FLIP)
    heat_f = torch.from_numpy(codec.encode(kpts_f)['heatmaps'])[None]
    back = flip_heatmaps(heat_f, COCO_FLIP, flip_mode=mode, shift_heatmap=shift)
    return codec.batch_decode(back)[0][0].numpy() - kpts[0]


def test_shifted_flip_of_mirrored_heatmap_matches_original():
    msra = MSRAHeatmap(input_size=IN, heatmap_size=HM, sigma=2.0, unbiased=True)
    err = _flip_test_errors(msra, 'heatmap', True)
    assert np.abs(err).max() < 4.0 * 1.0            # within 1 heatmap px (MMPose's shift leaves +1 input px)
    np.testing.assert_allclose(err[:, 0], 1.0, atol=0.05)
    err_exact = _flip_test_errors(msra, 'heatmap', 0.75)   # 1 - 1/stride: aligned
    assert np.abs(err_exact).max() < 0.1
    err_noshift = _flip_test_errors(msra, 'heatmap', False)
    np.testing.assert_allclose(err_noshift[:, 0], -3.0, atol=0.05)
    err_udp = _flip_test_errors(UDPHeatmap(input_size=IN, heatmap_size=HM), 'udp', False)
    assert np.abs(err_udp).max() < 0.01


def test_flip_vectors_aligns_simcc_with_shift():
    codec = SimCCLabel(input_size=IN, sigma=6.0, simcc_split_ratio=2.0, use_dark=True)
    kpts = random_keypoints(1, K, seed=7)
    kpts_f, _ = flip_keypoints_np(kpts, None, IN, COCO_FLIP)
    enc = codec.encode(kpts_f)
    x, y = torch.from_numpy(enc['keypoint_x_labels']), torch.from_numpy(enc['keypoint_y_labels'])
    for shift, bias in [(0, 0.5), (1, 0.0)]:        # MMPose's unshifted flip is off by (ratio - 1) bins
        fx, fy = flip_vectors(x, y, COCO_FLIP, shift=shift)
        assert fx.shape == x.shape and fy.shape == y.shape
        err = codec.batch_decode(fx, fy)[0][0].numpy() - kpts[0]
        np.testing.assert_allclose(err[:, 0], bias, atol=0.02)
        np.testing.assert_allclose(err[:, 1], 0.0, atol=0.02)


def test_flip_keypoints_np_conventions():
    kpts = np.array([[[10.0, 20.0, 1.0], [30.0, 40.0, 1.0], [50.0, 60.0, 1.0]]], np.float32)
    vis = np.array([[1.0, 0.0, 1.0]], np.float32)
    fi = [0, 2, 1]
    out, out_vis = flip_keypoints_np(kpts, vis, (100, 80), fi)
    np.testing.assert_allclose(out[0, :, :2], [[89, 20], [49, 60], [69, 40]])
    np.testing.assert_array_equal(out_vis, [[1, 1, 0]])
    back, back_vis = flip_keypoints_np(out, out_vis, (100, 80), fi)
    np.testing.assert_allclose(back, kpts)
    np.testing.assert_array_equal(back_vis, vis)
    v, _ = flip_keypoints_np(kpts, None, (100, 80), fi, direction='vertical')
    np.testing.assert_allclose(v[0, :, :2], [[10, 59], [50, 19], [30, 39]])
    d, d_vis = flip_keypoints_np(kpts, vis, (100, 80), fi, direction='diagonal')   # a rotation: no swap
    np.testing.assert_allclose(d[0, :, :2], [[89, 59], [69, 39], [49, 19]])
    np.testing.assert_array_equal(d_vis, vis)
    assert kpts[0, 0, 0] == 10.0                    # input untouched
    with pytest.raises(ValueError, match='direction'):
        flip_keypoints_np(kpts, vis, (100, 80), fi, direction='sideways')


def test_flip_coordinates_matches_flip_keypoints():
    kpts = random_keypoints(2, K, seed=8).astype(np.float32)
    ref = np.stack([flip_keypoints_np(k[None], None, IN, COCO_FLIP)[0][0] for k in kpts])
    out = flip_coordinates(torch.from_numpy(kpts), COCO_FLIP, IN)
    np.testing.assert_allclose(out.numpy(), ref, atol=1e-5)


# ---------------------------------------------------------------------------------------------------------------
# registry and arguments
# ---------------------------------------------------------------------------------------------------------------
def test_codecs_build_from_config():
    codec = KEYPOINT_CODECS.build(dict(type='MSRAHeatmap', input_size=(192, 256), heatmap_size=(48, 64), sigma=2))
    assert isinstance(codec, MSRAHeatmap) and codec.sigma == 2.0
    assert isinstance(KEYPOINT_CODECS.build(dict(type='mmpose.UDPHeatmap', input_size=IN, heatmap_size=HM)),
                      UDPHeatmap)
    with default_scope('mmpose'):
        simcc = KEYPOINT_CODECS.build(dict(type='SimCCLabel', input_size=IN, sigma=(4.9, 5.66),
                                           simcc_split_ratio=2.0, normalize=False, use_dark=False))
    assert isinstance(simcc, SimCCLabel) and simcc.simcc_size == (384, 512)
    assert 'SimCCLabel' in repr(simcc) and 'sigma=(4.9, 5.66)' in repr(simcc)
    with pytest.raises(TypeError, match='Accepted arguments'):
        KEYPOINT_CODECS.build(dict(type='MSRAHeatmap', input_size=IN, heatmap_size=HM, sigmaa=2))


@pytest.mark.parametrize('cfg,match', [
    (dict(type='MSRAHeatmap', input_size=(192,), heatmap_size=HM), 'input_size'),
    (dict(type='MSRAHeatmap', input_size=IN, heatmap_size=HM, sigma=0), 'sigma'),
    (dict(type='MSRAHeatmap', input_size=IN, heatmap_size=HM, unbiased=True, blur_kernel_size=10), 'blur_kernel_size'),
    (dict(type='UDPHeatmap', input_size=IN, heatmap_size=HM, heatmap_type='offset'), 'heatmap_type'),
    (dict(type='SimCCLabel', input_size=IN, smoothing_type='kl'), 'smoothing_type'),
    (dict(type='SimCCLabel', input_size=IN, label_smooth_weight=0.1), 'label_smooth_weight'),
    (dict(type='SimCCLabel', input_size=IN, sigma=(1.0, 2.0, 3.0)), 'sigma'),
])
def test_bad_codec_arguments_name_the_key(cfg, match):
    with pytest.raises(ValueError, match=match):
        KEYPOINT_CODECS.build(cfg)


@pytest.mark.parametrize('codec,shapes', [
    (MSRAHeatmap(input_size=IN, heatmap_size=HM), [(2, K, 64, 48)]),
    (MSRAHeatmap(input_size=IN, heatmap_size=HM, unbiased=True), [(2, K, 64, 48)]),
    (UDPHeatmap(input_size=IN, heatmap_size=HM), [(2, K, 64, 48)]),
    (UDPHeatmap(input_size=IN, heatmap_size=HM, heatmap_type='combined'), [(2, 3 * K, 64, 48)]),
    (SimCCLabel(input_size=IN, use_dark=True), [(2, K, 384), (2, K, 512)]),
], ids=['msra', 'dark', 'udp', 'udp-combined', 'simcc-dark'])
def test_batch_decode_stays_on_the_tensors_device(codec, shapes):
    # the 'meta' device has no data: any step through numpy or the host would fail here
    k, s = codec.batch_decode(*[torch.empty(shape, device='meta') for shape in shapes])
    assert k.device.type == 'meta' and s.device.type == 'meta'
    assert k.shape == (2, K, 2) and s.shape == (2, K)
