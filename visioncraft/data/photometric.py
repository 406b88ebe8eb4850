"""Colour augmentations that change pixel values only (no geometry): YOLOXHSVRandomAug (MMDetection's; RTMDet and
RTMPose train with it)."""
from __future__ import annotations

import numpy as np

from ..registry import TRANSFORMS
from .transforms import BaseTransform

__all__ = ['YOLOXHSVRandomAug', 'hsv_shift']


def hsv_shift(img: np.ndarray, gains: np.ndarray) -> np.ndarray:
    """Shift a uint8 BGR image ``img`` (H, W, 3) in OpenCV's 8-bit HSV space by integer ``gains`` (dh, ds, dv):
    hue wraps around (0..179), saturation and value are clipped to 0..255. Returns a new uint8 (H, W, 3) array;
    all gains 0 returns an unchanged copy (the HSV round trip itself is lossy in 8 bits, so it is skipped)."""
    import cv2
    if img.dtype != np.uint8 or img.ndim != 3 or img.shape[2] != 3:
        raise ValueError(f'hsv_shift needs a uint8 H x W x 3 BGR image, got {img.dtype} {img.shape}')
    dh, ds, dv = (int(g) for g in gains)
    if dh == 0 and ds == 0 and dv == 0:
        return img.copy()
    hsv = cv2.cvtColor(img, cv2.COLOR_BGR2HSV).astype(np.int16)
    hsv[..., 0] = (hsv[..., 0] + dh) % 180
    hsv[..., 1] = np.clip(hsv[..., 1] + ds, 0, 255)
    hsv[..., 2] = np.clip(hsv[..., 2] + dv, 0, 255)
    return cv2.cvtColor(hsv.astype(np.uint8), cv2.COLOR_HSV2BGR)


@TRANSFORMS.register_module()
class YOLOXHSVRandomAug(BaseTransform):
    """Random hue / saturation / value shift (YOLOX's colour augmentation), on ``results['img']``.

    Per call, each of the three channels is, with probability 1/2, shifted by an integer drawn uniformly from
    ``(-delta, delta)`` (truncated towards zero), ``delta`` being ``hue_delta`` (OpenCV hue units, 2 degrees each,
    wrapping), ``saturation_delta`` or ``value_delta`` (0..255, clipped); the others are left as they are.

    The image must be uint8 BGR (H, W, 3); shape and dtype are kept. Deltas of 0 leave the image unchanged.

    Args:
        hue_delta: largest hue shift, OpenCV hue units (>= 0).
        saturation_delta: largest saturation shift (>= 0).
        value_delta: largest value (brightness) shift (>= 0).
    """

    def __init__(self, hue_delta: int = 5, saturation_delta: int = 30, value_delta: int = 30) -> None:
        for name, value in (('hue_delta', hue_delta), ('saturation_delta', saturation_delta),
                            ('value_delta', value_delta)):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
                raise ValueError(f'YOLOXHSVRandomAug: {name} must be a number >= 0, got {value!r}')
        self.hue_delta = hue_delta
        self.saturation_delta = saturation_delta
        self.value_delta = value_delta

    def random_gains(self) -> np.ndarray:
        """This call's (dh, ds, dv), int16."""
        gains = np.random.uniform(-1, 1, 3) * [self.hue_delta, self.saturation_delta, self.value_delta]
        gains *= np.random.randint(0, 2, 3)            # each channel shifted or not, with probability 1/2
        return gains.astype(np.int16)

    def transform(self, results: dict) -> dict:
        img = results.get('img')
        if not isinstance(img, np.ndarray):
            raise ValueError(f"YOLOXHSVRandomAug needs results['img'] (a uint8 H x W x 3 BGR array), got "
                             f'{type(img).__name__}')
        try:
            results['img'] = hsv_shift(img, self.random_gains())
        except ValueError as exc:
            raise ValueError(f'YOLOXHSVRandomAug: {exc}') from None
        return results
