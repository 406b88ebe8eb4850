"""YOLOXHSVRandomAug (MMDetection's HSV colour augmentation, used by RTMPose / RTMDet configs)."""
from __future__ import annotations

import numpy as np
import pytest

import visioncraft  # noqa: F401  (fills the registries)
from visioncraft.data.photometric import hsv_shift
from visioncraft.registry import TRANSFORMS


def _img() -> np.ndarray:
    return np.random.default_rng(0).integers(0, 256, (20, 30, 3), dtype=np.uint8)


def test_hsv_aug_keeps_shape_and_dtype_and_changes_colours():
    aug = TRANSFORMS.build(dict(type='mmdet.YOLOXHSVRandomAug'))
    img = _img()
    changed = False
    for seed in range(8):
        np.random.seed(seed)
        out = aug(dict(img=img.copy()))['img']
        assert out.shape == img.shape and out.dtype == np.uint8
        changed |= not np.array_equal(out, img)
    assert changed


def test_hsv_aug_with_zero_gains_is_identity():
    img = _img()
    assert np.array_equal(hsv_shift(img, (0, 0, 0)), img)
    aug = TRANSFORMS.build(dict(type='YOLOXHSVRandomAug', hue_delta=0, saturation_delta=0, value_delta=0))
    for seed in range(3):
        np.random.seed(seed)
        assert np.array_equal(aug(dict(img=img.copy()))['img'], img)


def test_hsv_value_shift_on_grey_brightens_and_clips():
    grey = np.full((4, 5, 3), 100, np.uint8)     # saturation 0, value 100: only the value moves
    assert np.array_equal(hsv_shift(grey, (0, 0, 20)), np.full_like(grey, 120))
    assert np.array_equal(hsv_shift(grey, (7, 0, 200)), np.full_like(grey, 255))


def test_hsv_aug_rejects_bad_input():
    with pytest.raises(ValueError, match='hue_delta'):
        TRANSFORMS.build(dict(type='YOLOXHSVRandomAug', hue_delta=-1))
    with pytest.raises(ValueError, match='uint8'):
        hsv_shift(np.zeros((4, 4, 3), np.float32), (1, 1, 1))
