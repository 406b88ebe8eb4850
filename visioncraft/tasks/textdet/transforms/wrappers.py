"""MMOCR 1.x's ``ImgAugWrapper`` and ``TorchVisionWrapper`` pipeline steps, mapped onto VisionCraft transforms.

MMOCR runs these through the imgaug package and torchvision's PIL transforms. Here neither wrapper needs imgaug:

- ``ImgAugWrapper(args=[...])``: each imgaug augmenter becomes the VisionCraft transform that moves the image, its
  polygons and its boxes the same way: ``['Fliplr', p]`` -> :class:`RandomFlip` (horizontal, probability ``p``),
  ``dict(cls='Affine', rotate=[-a, a])`` -> :class:`RandomRotate` (``max_angle=a``, same canvas size, as imgaug's
  ``Affine``), ``['Resize', [lo, hi]]`` -> :class:`RandomScale` (a factor drawn uniformly from ``[lo, hi]``, as
  MMOCR turns a list argument into imgaug's uniform range). Any other augmenter or argument is an error naming it.
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

__all__ = ['ImgAugWrapper', 'TorchVisionWrapper', 'imgaug_steps']


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
        else:
            raise ValueError(f'{where}: the imgaug augmenter {name!r} is not mapped; supported: Fliplr, '
                             "Affine(rotate=...), Resize. Replace it by a VisionCraft transform or remove it")
    return steps


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
