"""Albumentation: MMPose's pixel-level augmentation list (``dict(type='Albumentation', transforms=[...])``).

The three steps RTMPose's configs use are built in, so they run without the albumentations package:

* ``Blur(blur_limit=7, p=0.5)``: a box blur with an odd kernel drawn from ``3..blur_limit`` (or a
  ``(low, high)`` range);
* ``MedianBlur(blur_limit=7, p=0.5)``: a median filter, kernel drawn the same way;
* ``CoarseDropout(max_holes=8, max_height=8, max_width=8, min_holes=None, min_height=None, min_width=None,
  fill_value=0, p=0.5)``: ``min_holes..max_holes`` rectangles filled with ``fill_value``; heights / widths are
  pixels (ints) or fractions of the image side (floats in (0, 1]); a ``min_*`` left None is the ``max_*``.

Each step runs with its probability ``p``. Any other ``type`` is looked up in the albumentations package when it
is installed (with its own arguments and randomness), else it is an error naming the step.
Random draws use NumPy's global RNG, which the dataset seeds per sample.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from visioncraft.data.transforms import BaseTransform
from visioncraft.registry import TRANSFORMS

__all__ = ['Albumentation']


def _kernel_range(where: str, blur_limit: Any) -> tuple[int, int]:
    low, high = (3, blur_limit) if np.isscalar(blur_limit) else tuple(blur_limit)
    low, high = int(low), int(high)
    if low < 3 or high < low or low % 2 == 0 or high % 2 == 0:
        raise ValueError(f'{where}: blur_limit must give odd kernel sizes low <= high with low >= 3, '
                         f'got {blur_limit!r}')
    return low, high


class _Step:
    """One built-in step: ``apply(img)`` with probability ``p``."""

    def __init__(self, where: str, p: float = 0.5, always_apply: bool = False) -> None:
        if not 0 <= float(p) <= 1:
            raise ValueError(f'{where}: p must be in [0, 1], got {p!r}')
        self.p = 1.0 if always_apply else float(p)

    def __call__(self, img: np.ndarray) -> np.ndarray:
        return self.apply(img) if np.random.rand() < self.p else img

    def apply(self, img: np.ndarray) -> np.ndarray:
        raise NotImplementedError


class _Blur(_Step):
    def __init__(self, where: str, blur_limit: Any = 7, **kw) -> None:
        super().__init__(where, **kw)
        low, high = _kernel_range(where, blur_limit)
        self.ksizes = np.arange(low, high + 1, 2)

    def apply(self, img: np.ndarray) -> np.ndarray:
        import cv2
        k = int(np.random.choice(self.ksizes))
        return cv2.blur(img, (k, k))


class _MedianBlur(_Blur):
    def apply(self, img: np.ndarray) -> np.ndarray:
        import cv2
        return cv2.medianBlur(img, int(np.random.choice(self.ksizes)))


class _CoarseDropout(_Step):
    def __init__(self, where: str, max_holes: int = 8, max_height: float = 8, max_width: float = 8,
                 min_holes: int | None = None, min_height: float | None = None, min_width: float | None = None,
                 fill_value: float | Sequence[float] = 0, **kw) -> None:
        super().__init__(where, **kw)
        min_holes = max_holes if min_holes is None else min_holes
        if not 1 <= int(min_holes) <= int(max_holes):
            raise ValueError(f'{where}: need 1 <= min_holes <= max_holes, got {min_holes!r}, {max_holes!r}')
        self.holes = (int(min_holes), int(max_holes))
        self.height = self._side(where, 'height', min_height, max_height)
        self.width = self._side(where, 'width', min_width, max_width)
        self.fill_value = fill_value

    @staticmethod
    def _side(where: str, name: str, low: Any, high: Any) -> tuple[float, float, bool]:
        low = high if low is None else low
        fractional = isinstance(high, float) or isinstance(low, float)
        if fractional and not (0 < float(low) <= float(high) <= 1):
            raise ValueError(f'{where}: min_{name} / max_{name} as fractions need 0 < min <= max <= 1, got '
                             f'{low!r}, {high!r}')
        if not fractional and not (1 <= int(low) <= int(high)):
            raise ValueError(f'{where}: min_{name} / max_{name} in pixels need 1 <= min <= max, got {low!r}, {high!r}')
        return float(low), float(high), fractional

    @staticmethod
    def _draw(side: tuple[float, float, bool], size: int) -> int:
        low, high, fractional = side
        n = int(size * np.random.uniform(low, high)) if fractional else np.random.randint(int(low), int(high) + 1)
        return max(1, min(int(n), size))

    def apply(self, img: np.ndarray) -> np.ndarray:
        h, w = img.shape[:2]
        out = img.copy()
        for _ in range(np.random.randint(self.holes[0], self.holes[1] + 1)):
            hh, ww = self._draw(self.height, h), self._draw(self.width, w)
            y, x = np.random.randint(0, h - hh + 1), np.random.randint(0, w - ww + 1)
            out[y:y + hh, x:x + ww] = self.fill_value
        return out


_BUILTIN: dict[str, type[_Step]] = dict(Blur=_Blur, MedianBlur=_MedianBlur, CoarseDropout=_CoarseDropout)


def _albumentations_step(cfg: dict, where: str) -> Callable[[np.ndarray], np.ndarray]:
    try:
        import albumentations
    except ImportError:
        raise ValueError(f'{where}: type={cfg["type"]!r} is not built in (built in: {", ".join(_BUILTIN)}) and the '
                         'albumentations package is not installed (pip install albumentations)') from None

    def build(c: dict):
        args = dict(c)
        cls = getattr(albumentations, str(args.pop('type')), None)
        if cls is None:
            raise ValueError(f'{where}: albumentations has no transform {c["type"]!r}')
        if 'transforms' in args:
            args['transforms'] = [build(t) for t in args['transforms']]
        return cls(**args)

    aug = build(cfg)
    return lambda img: aug(image=img)['image']


@TRANSFORMS.register_module()
class Albumentation(BaseTransform):
    """Pixel-level augmentations applied in order to ``results[key]`` for each ``key`` of ``keymap`` (default
    ``{'img': 'image'}``: the image, uint8 (H, W, C) BGR); shape and dtype are kept. See the module docstring for
    the built-in steps.

    Args:
        transforms: step configs, ``dict(type='Blur', p=0.1)`` ...
        keymap: results key -> albumentations-style key (only the results keys are used here; each key's
            array gets its own random draws).
    """

    def __init__(self, transforms: Sequence[dict], keymap: dict | None = None) -> None:
        if isinstance(transforms, dict) or not isinstance(transforms, Sequence):
            raise TypeError(f'Albumentation: transforms must be a list of step configs, got {transforms!r}')
        self.transforms = [dict(t) for t in transforms]
        self.keymap = dict(keymap) if keymap else {'img': 'image'}
        self._steps: list[Callable[[np.ndarray], np.ndarray]] = []
        for i, cfg in enumerate(self.transforms):
            where = f'Albumentation.transforms[{i}]'
            if 'type' not in cfg:
                raise ValueError(f"{where}: a step config needs a 'type', got {cfg!r}")
            args = dict(cfg)
            kind = args.pop('type')
            if kind in _BUILTIN:
                try:
                    self._steps.append(_BUILTIN[kind](f'{where} ({kind})', **args))
                except TypeError as exc:
                    raise TypeError(f'{where} ({kind}): {exc}') from None
            else:
                self._steps.append(_albumentations_step(cfg, where))

    def transform(self, results: dict) -> dict:
        for key in self.keymap:
            if key not in results:
                raise KeyError(f'Albumentation: results has no {key!r} (keymap {self.keymap})')
            img = results[key]
            for step in self._steps:
                img = step(img)
            results[key] = img
        return results
