"""MMOCR 1.x's ``ImgAugWrapper`` and ``TorchVisionWrapper`` pipeline steps, mapped onto VisionCraft transforms.

MMOCR runs these through the imgaug package and torchvision's PIL transforms. Here neither wrapper needs imgaug:

- ``ImgAugWrapper(args=[...])``: each imgaug augmenter becomes the VisionCraft transform that moves the image, its
  polygons and its boxes the same way: ``['Fliplr', p]`` -> :class:`RandomFlip` (horizontal, probability ``p``),
  ``dict(cls='Affine', rotate=[-a, a])`` -> :class:`RandomRotate` (``max_angle=a``, same canvas size, as imgaug's
  ``Affine``), ``['Resize', [lo, hi]]`` -> :class:`RandomScale` (a factor drawn uniformly from ``[lo, hi]``, as
  MMOCR turns a list argument into imgaug's uniform range), ``dict(cls='AdditiveGaussianNoise', scale=s)`` ->
  :class:`AdditiveGaussianNoise` (grey levels), ``dict(cls='Rot90', k=k, keep_size=b)`` -> :class:`Rot90`
  (clockwise quarter turns, as imgaug's). Any other augmenter or argument is an error naming it.
- ``TorchVisionWrapper(op=NAME, **kwargs)``: a photometric ``torchvision.transforms.v2`` op applied to the RGB
  image (``ColorJitter`` uses VisionCraft's BGR :class:`ColorJitter`, the same draws as torchvision's).
  Geometric ops are refused: they would move the pixels and not the text polygons.

Randomness comes from numpy / torch, which the dataset seeds per sample.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch

from visioncraft.data.transforms import BaseTransform, Compose
from visioncraft.registry import TRANSFORMS

__all__ = ['ImgAugWrapper', 'TorchVisionWrapper', 'AdditiveGaussianNoise', 'Rot90', 'imgaug_steps']


def _pair(value: Any, where: str) -> tuple[float, float]:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value), float(value)
    if isinstance(value, Sequence) and not isinstance(value, str) and len(value) == 2:
        return float(value[0]), float(value[1])
    raise ValueError(f'{where}: expected a number or a [low, high] pair, got {value!r}')


def imgaug_steps(args: Any) -> list[dict]:
    """The VisionCraft transform configs for MMOCR's ``ImgAugWrapper(args=...)``; ValueError names what is not
    mapped."""
    if args is None:
        return []
    if not isinstance(args, Sequence) or isinstance(args, str):
        raise ValueError(f'ImgAugWrapper: args must be a list of augmenters, got {args!r}')
    steps = []
    for i, aug in enumerate(args):
        where = f'ImgAugWrapper.args[{i}]'
        if isinstance(aug, Mapping):
            kw = dict(aug)
            name = kw.pop('cls', None)
            pos: list = []
        elif isinstance(aug, Sequence) and not isinstance(aug, str) and aug:
            name, pos, kw = aug[0], list(aug[1:]), {}
        else:
            raise ValueError(f"{where}: an augmenter is ['Name', arg, ...] or dict(cls='Name', ...), got {aug!r}")
        if name == 'Fliplr':
            p = pos[0] if pos else kw.pop('p', 1.0)
            if len(pos) > 1 or kw:
                raise ValueError(f'{where}: Fliplr takes only its probability, got {aug!r}')
            steps.append(dict(type='RandomFlip', prob=float(p), direction='horizontal'))
        elif name == 'Affine':
            rotate = pos[0] if pos else kw.pop('rotate', None)
            if rotate is None or len(pos) > 1 or kw:
                raise ValueError(f'{where}: only Affine(rotate=[-a, a]) is mapped (onto RandomRotate); other Affine '
                                 f'arguments ({sorted(kw) or pos[1:]}) are not supported')
            lo, hi = _pair(rotate, f'{where}.rotate')
            if isinstance(rotate, (int, float)):
                lo, hi = -abs(lo), abs(lo)
            if lo != -hi:
                raise ValueError(f'{where}: Affine rotate must be a symmetric range [-a, a], got {rotate!r}')
            steps.append(dict(type='RandomRotate', max_angle=hi))
        elif name == 'Resize':
            size = pos[0] if pos else kw.pop('size', None)
            if size is None or len(pos) > 1 or kw or isinstance(size, Mapping):
                raise ValueError(f'{where}: only Resize with a scale factor or a [low, high] factor range is '
                                 f'mapped (onto RandomScale), got {aug!r}')
            steps.append(dict(type='RandomScale', ratio_range=_pair(size, f'{where}.size')))
        elif name == 'AdditiveGaussianNoise':
            names = ('loc', 'scale', 'per_channel')
            if len(pos) > len(names) or set(kw) - set(names):
                raise ValueError(f'{where}: AdditiveGaussianNoise takes loc, scale and per_channel, got {aug!r}')
            kw.update(zip(names, pos))
            scale = kw.get('scale', (0, 15))   # imgaug's defaults
            loc = kw.get('loc', 0)
            per_channel = kw.get('per_channel', False)
            if isinstance(per_channel, bool):
                per_channel = 1.0 if per_channel else 0.0
            steps.append(dict(type='AdditiveGaussianNoise', loc=_pair(loc, f'{where}.loc'),
                              scale=_pair(scale, f'{where}.scale'), per_channel=float(per_channel)))
        elif name == 'Rot90':
            names = ('k', 'keep_size')
            if len(pos) > len(names) or set(kw) - set(names):
                raise ValueError(f'{where}: Rot90 takes k and keep_size, got {aug!r}')
            kw.update(zip(names, pos))
            k = kw.get('k', 1)
            if isinstance(k, int):
                ks = [k]
            elif isinstance(k, tuple) and len(k) == 2:   # imgaug: a tuple is an inclusive range
                ks = list(range(int(k[0]), int(k[1]) + 1))
            elif isinstance(k, list) and k and all(isinstance(v, int) for v in k):   # a list: one of them
                ks = list(k)
            else:
                raise ValueError(f'{where}: Rot90 k must be an int, a list of ints or an (a, b) range, got {k!r}')
            steps.append(dict(type='Rot90', k=ks, keep_size=bool(kw.get('keep_size', True))))
        else:
            raise ValueError(f'{where}: the imgaug augmenter {name!r} is not mapped; supported: Fliplr, '
                             "Affine(rotate=...), Resize, AdditiveGaussianNoise, Rot90. Replace it by a VisionCraft "
                             'transform or remove it')
    return steps


@TRANSFORMS.register_module()
class AdditiveGaussianNoise(BaseTransform):
    """Add Gaussian noise to the pixels (imgaug's ``AdditiveGaussianNoise``), in grey levels (0-255).

    Args:
        loc: the noise mean, or a ``(low, high)`` range it is drawn from per image.
        scale: the noise standard deviation, or a ``(low, high)`` range it is drawn from per image.
        per_channel: the probability that a colour image gets its own noise per channel (else one noise value
            per pixel, added to all its channels).

    The image stays uint8 (rounded and clipped to 0-255).
    """

    def __init__(self, loc: float | Sequence[float] = 0.0, scale: float | Sequence[float] = (0.0, 15.0),
                 per_channel: float = 0.0) -> None:
        self.loc = _pair(loc, 'AdditiveGaussianNoise.loc')
        self.scale = _pair(scale, 'AdditiveGaussianNoise.scale')
        if self.scale[0] < 0 or self.scale[0] > self.scale[1] or self.loc[0] > self.loc[1]:
            raise ValueError(f'AdditiveGaussianNoise: need 0 <= scale low <= high and loc low <= high, got '
                             f'loc={loc!r}, scale={scale!r}')
        if not 0 <= per_channel <= 1:
            raise ValueError(f'AdditiveGaussianNoise: per_channel must be a probability, got {per_channel!r}')
        self.per_channel = float(per_channel)

    def transform(self, results: dict) -> dict:
        img = results['img']
        if img.dtype != np.uint8:
            raise ValueError(f'AdditiveGaussianNoise needs a uint8 image, got {img.dtype} '
                             f'({results.get("img_path", "?")})')
        loc = np.random.uniform(*self.loc)
        scale = np.random.uniform(*self.scale)
        shape = img.shape
        if img.ndim == 3 and not (self.per_channel and np.random.rand() < self.per_channel):
            shape = img.shape[:2] + (1,)
        noise = np.random.normal(loc, scale, size=shape) if scale > 0 else np.full(shape, loc)
        results['img'] = np.clip(np.rint(img + noise), 0, 255).astype(np.uint8)
        return results


def _rot90_points(xy: np.ndarray, h: int) -> np.ndarray:
    """Points (x, y) of an image ``h`` tall after one clockwise quarter turn: ``(h - y, x)``."""
    return np.stack([h - xy[:, 1], xy[:, 0]], axis=1)


@TRANSFORMS.register_module()
class Rot90(BaseTransform):
    """Rotate by ``k`` quarter turns clockwise (imgaug's ``Rot90``); ``k`` is drawn from the list given.

    The polygons (``gt_polygons``) and boxes (``gt_bboxes``, the rotated corners' extent) turn with the image;
    ``keep_size=True`` resizes the result back to the input's size (h, w), ``False`` keeps the turned shape.
    Sets ``img_shape``.
    """

    def __init__(self, k: int | Sequence[int] = 1, keep_size: bool = True) -> None:
        ks = [k] if isinstance(k, int) else list(k)
        if not ks or not all(isinstance(v, (int, np.integer)) for v in ks):
            raise ValueError(f'Rot90: k must be an int or a non-empty list of ints, got {k!r}')
        self.k, self.keep_size = [int(v) for v in ks], bool(keep_size)

    def transform(self, results: dict) -> dict:
        import cv2
        img = results['img']
        h0, w0 = img.shape[:2]
        k = self.k[int(np.random.randint(len(self.k)))] % 4 if len(self.k) > 1 else self.k[0] % 4
        polys = results.get('gt_polygons')
        boxes = results.get('gt_bboxes')
        if polys is not None:
            polys = [np.asarray(p, dtype=np.float32).reshape(-1, 2) for p in polys]
        if boxes is not None:
            boxes = np.asarray(boxes, dtype=np.float32).reshape(-1, 4)
            corners = boxes[:, [0, 1, 2, 1, 2, 3, 0, 3]].reshape(-1, 2)
        h = h0
        for _ in range(k):
            if polys is not None:
                polys = [_rot90_points(p, h) for p in polys]
            if boxes is not None:
                corners = _rot90_points(corners, h)
            h = img.shape[1]
            img = np.rot90(img, -1)
        img = np.ascontiguousarray(img)
        sx = sy = 1.0
        if self.keep_size and img.shape[:2] != (h0, w0):
            sx, sy = w0 / img.shape[1], h0 / img.shape[0]
            img = cv2.resize(img, (w0, h0), interpolation=cv2.INTER_LINEAR).reshape((h0, w0) + img.shape[2:])
        scale = np.array([sx, sy], dtype=np.float32)
        if polys is not None:
            results['gt_polygons'] = [(p * scale).astype(np.float32).reshape(-1) for p in polys]
        if boxes is not None:
            c = (corners * scale).reshape(-1, 4, 2)
            results['gt_bboxes'] = np.concatenate([c.min(1), c.max(1)], axis=1).astype(np.float32)
        results['img'] = img
        results['img_shape'] = img.shape[:2]
        return results


@TRANSFORMS.register_module(['ImgAugWrapper', 'mmocr.ImgAugWrapper'])
class ImgAugWrapper(BaseTransform):
    """MMOCR's imgaug pipeline step as VisionCraft transforms (see the module docstring).

    Args:
        args: imgaug augmenters, each ``['Name', arg, ...]`` or ``dict(cls='Name', kwarg=...)``.
        fix_poly_trans: MMOCR's option for how polygons leaving the image are fixed; only None (its default).
    """

    def __init__(self, args: Sequence | None = None, fix_poly_trans: dict | None = None) -> None:
        if fix_poly_trans is not None:
            raise ValueError('ImgAugWrapper: fix_poly_trans is not supported (polygons leaving the image are '
                             'clipped by the mapped transforms); remove it')
        self.steps = imgaug_steps(args)
        self.pipeline = Compose(self.steps)

    def transform(self, results: dict) -> dict | None:
        return self.pipeline(results)

    def __repr__(self) -> str:
        return f'ImgAugWrapper({self.steps})'


#: torchvision.transforms.v2 ops that change pixel values only (no geometry), accepted by TorchVisionWrapper
PHOTOMETRIC_OPS = ('ColorJitter', 'Grayscale', 'RandomGrayscale', 'GaussianBlur', 'RandomAdjustSharpness',
                   'RandomAutocontrast', 'RandomEqualize', 'RandomInvert', 'RandomPosterize', 'RandomSolarize',
                   'RandomPhotometricDistort')


@TRANSFORMS.register_module(['TorchVisionWrapper', 'mmocr.TorchVisionWrapper'])
class TorchVisionWrapper(BaseTransform):
    """MMOCR's torchvision pipeline step for photometric ops (see the module docstring).

    Args:
        op: the name of a ``torchvision.transforms`` op, one of :data:`PHOTOMETRIC_OPS`.
        **kwargs: its arguments.
    """

    def __init__(self, op: str, **kwargs: Any) -> None:
        if op not in PHOTOMETRIC_OPS:
            raise ValueError(f'TorchVisionWrapper: op={op!r} is not supported; only photometric ops that leave the '
                             f'text polygons in place are: {", ".join(PHOTOMETRIC_OPS)}')
        self.op = op
        self.kwargs = dict(kwargs)
        if op == 'ColorJitter':
            from .textdet_transforms import ColorJitter
            unknown = sorted(set(kwargs) - {'brightness', 'contrast', 'saturation', 'hue'})
            if unknown:
                raise ValueError(f'TorchVisionWrapper(op=ColorJitter): unknown argument(s) {unknown}')
            self._bgr = ColorJitter(**kwargs)
            self._tv = None
        else:
            from torchvision.transforms import v2
            try:
                self._tv = getattr(v2, op)(**kwargs)
            except TypeError as exc:
                raise ValueError(f'TorchVisionWrapper(op={op}): {exc}') from None
            self._bgr = None

    def transform(self, results: dict) -> dict:
        if self._bgr is not None:
            return self._bgr.transform(results)
        img = results['img']
        if img.dtype != np.uint8 or img.ndim != 3 or img.shape[2] != 3:
            raise ValueError(f'TorchVisionWrapper(op={self.op}) needs an H x W x 3 uint8 BGR image, got '
                             f'{img.dtype} {img.shape}')
        rgb = torch.from_numpy(np.ascontiguousarray(img[..., ::-1])).permute(2, 0, 1)
        out = self._tv(rgb)
        if out.shape[0] == 1:  # Grayscale with one output channel
            out = out.expand(3, -1, -1)
        results['img'] = np.ascontiguousarray(out.permute(1, 2, 0).numpy()[..., ::-1])
        return results

    def __repr__(self) -> str:
        return f'TorchVisionWrapper(op={self.op!r}, {self.kwargs})'
