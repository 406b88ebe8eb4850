"""Text-recognition transforms: height rescaling, width padding, PaddleOCR's ratio-keeping resize, photometric
augmentation and packing.

They work on word images (``img``: H x W uint8 grey or H x W x 3 BGR) and keep the shape keys up to date:
``img_shape`` (h, w) after each transform, ``scale_factor`` (w_scale, h_scale) of the resizes, and
``valid_ratio``: the share of the current image width that holds the word (the rest is right padding), in (0, 1].
Models read ``valid_ratio`` to ignore the padded frames (CTC input lengths and decoding).
"""
from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from visioncraft.data import BaseTransform
from visioncraft.data.loading import pack_image
from visioncraft.registry import TRANSFORMS

__all__ = ['RescaleToHeight', 'PadToWidth', 'RecResizeImg', 'RandomGaussianBlur', 'RandomBrightnessContrast',
           'PackTextRecogInputs']


def _resize(results: dict, new_w: int, new_h: int) -> None:
    import cv2
    img = results['img']
    h, w = img.shape[:2]
    results['img'] = cv2.resize(img, (int(new_w), int(new_h)), interpolation=cv2.INTER_LINEAR)
    results['img_shape'] = (int(new_h), int(new_w))
    sw, sh = results.get('scale_factor', (1.0, 1.0))
    results['scale_factor'] = (float(sw) * new_w / w, float(sh) * new_h / h)


def _pad_right(results: dict, width: int, pad_val: int) -> None:
    img = results['img']
    h, w = img.shape[:2]
    if w >= width:
        return
    out = np.full((h, width) + img.shape[2:], pad_val, dtype=img.dtype)
    out[:, :w] = img
    results['img'] = out
    results['img_shape'] = (h, width)
    results['pad_shape'] = (h, width)
    results['valid_ratio'] = float(results.get('valid_ratio', 1.0)) * w / width


@TRANSFORMS.register_module()
class RescaleToHeight(BaseTransform):
    """Resize to ``height`` keeping the aspect ratio, then bound the width (MMOCR's ``RescaleToHeight``).

    The width becomes ``ceil(w * height / h)``, rounded up to a multiple of ``width_divisor``, then raised to
    ``min_width`` and lowered to ``max_width`` when given (so a very long word is squeezed, not cut).
    Sets ``img_shape`` and ``scale_factor``; ``valid_ratio`` is unchanged (no padding happens here).
    """

    def __init__(self, height: int, min_width: int | None = None, max_width: int | None = None,
                 width_divisor: int = 1) -> None:
        if height < 1 or width_divisor < 1:
            raise ValueError(f'RescaleToHeight: height and width_divisor must be >= 1, got {height}, {width_divisor}')
        if min_width is not None and max_width is not None and min_width > max_width:
            raise ValueError(f'RescaleToHeight: min_width {min_width} > max_width {max_width}')
        if max_width is not None and max_width % width_divisor:
            raise ValueError(f'RescaleToHeight: max_width {max_width} is not a multiple of width_divisor '
                             f'{width_divisor}')
        self.height, self.min_width, self.max_width = int(height), min_width, max_width
        self.width_divisor = int(width_divisor)

    def target_width(self, h: int, w: int) -> int:
        new_w = math.ceil(w * self.height / h)
        new_w = math.ceil(new_w / self.width_divisor) * self.width_divisor
        if self.min_width is not None:
            new_w = max(int(self.min_width), new_w)
        if self.max_width is not None:
            new_w = min(int(self.max_width), new_w)
        return max(1, new_w)

    def transform(self, results: dict) -> dict:
        h, w = results['img'].shape[:2]
        if h < 1 or w < 1:
            raise ValueError(f'RescaleToHeight: {results.get("img_path", "?")} is empty ({h} x {w})')
        _resize(results, self.target_width(h, w), self.height)
        return results


@TRANSFORMS.register_module()
class PadToWidth(BaseTransform):
    """Pad on the right to ``width`` with ``pad_val`` (MMOCR's ``PadToWidth``); an image already that wide or
    wider is left as it is. ``valid_ratio`` is multiplied by ``old_width / width``; sets ``img_shape`` and
    ``pad_shape``. Put it after ``RescaleToHeight(max_width=width)`` to get fixed-size batches."""

    def __init__(self, width: int, pad_val: int = 0) -> None:
        if width < 1:
            raise ValueError(f'PadToWidth: width must be >= 1, got {width}')
        self.width, self.pad_val = int(width), int(pad_val)

    def transform(self, results: dict) -> dict:
        results.setdefault('valid_ratio', 1.0)
        _pad_right(results, self.width, self.pad_val)
        return results


@TRANSFORMS.register_module()
class RecResizeImg(BaseTransform):
    """PaddleOCR's recognition resize (``RecResizeImg`` / ``resize_norm_img``): ``image_shape = [C, H, W]``
    (``[3, 32, 100]``, ``[3, 48, 320]``, ...). The image is resized to height H keeping its aspect ratio, its width
    capped at W (``min(W, ceil(H * w / h))``), then padded on the right to W with ``pad_val``; ``valid_ratio`` =
    resized width / W. ``padding=False`` stretches every image to exactly H x W (``valid_ratio`` 1).

    ``pad_val`` defaults to 127, about 0 after the usual ``(x - 127.5) / 127.5`` normalisation: PaddleOCR pads
    the normalised image with zeros. C is only checked against the image's channels (1 for grey).
    """

    def __init__(self, image_shape: Sequence[int] = (3, 32, 100), padding: bool = True, pad_val: int = 127) -> None:
        if len(image_shape) != 3 or min(image_shape) < 1:
            raise ValueError(f'RecResizeImg: image_shape must be [C, H, W] with positive values, got {image_shape}')
        self.c, self.h, self.w = (int(v) for v in image_shape)
        self.padding, self.pad_val = padding, int(pad_val)

    def transform(self, results: dict) -> dict:
        img = results['img']
        channels = 1 if img.ndim == 2 else img.shape[2]
        if channels != self.c:
            raise ValueError(f'RecResizeImg: image_shape {[self.c, self.h, self.w]} expects {self.c} channels, '
                             f'{results.get("img_path", "?")} has {channels}')
        h, w = img.shape[:2]
        if not self.padding:
            _resize(results, self.w, self.h)
            results['valid_ratio'] = 1.0
            return results
        new_w = min(self.w, max(1, math.ceil(self.h * w / h)))
        _resize(results, new_w, self.h)
        results['valid_ratio'] = 1.0
        _pad_right(results, self.w, self.pad_val)
        return results


@TRANSFORMS.register_module()
class RandomGaussianBlur(BaseTransform):
    """Blur with probability ``prob`` by a Gaussian whose sigma is drawn from ``sigma`` (pixels). Grey or colour."""

    def __init__(self, prob: float = 0.5, sigma: Sequence[float] = (0.5, 1.5)) -> None:
        if not 0 <= prob <= 1 or len(sigma) != 2 or not 0 < sigma[0] <= sigma[1]:
            raise ValueError(f'RandomGaussianBlur: need 0 <= prob <= 1 and 0 < sigma[0] <= sigma[1], got prob={prob}, '
                             f'sigma={sigma}')
        self.prob, self.sigma = float(prob), (float(sigma[0]), float(sigma[1]))

    def transform(self, results: dict) -> dict:
        import cv2
        if np.random.random_sample() < self.prob:
            s = np.random.uniform(*self.sigma)
            results['img'] = cv2.GaussianBlur(results['img'], (0, 0), s)
        return results


@TRANSFORMS.register_module()
class RandomBrightnessContrast(BaseTransform):
    """Colour jitter for word images, grey or colour: with probability ``prob``, multiply by a brightness factor
    from ``[1 - brightness, 1 + brightness]`` and stretch about the mean by a contrast factor from
    ``[1 - contrast, 1 + contrast]``; with ``invert_prob`` also invert the image (light text on dark). For hue and
    saturation on colour images use ``ColorJitter``."""

    def __init__(self, brightness: float = 0.3, contrast: float = 0.3, prob: float = 0.5,
                 invert_prob: float = 0.0) -> None:
        for name, v in (('brightness', brightness), ('contrast', contrast)):
            if not 0 <= v < 1:
                raise ValueError(f'RandomBrightnessContrast: {name} must be in [0, 1), got {v}')
        if not 0 <= prob <= 1 or not 0 <= invert_prob <= 1:
            raise ValueError(f'RandomBrightnessContrast: prob and invert_prob must be in [0, 1], got {prob}, '
                             f'{invert_prob}')
        self.brightness, self.contrast = float(brightness), float(contrast)
        self.prob, self.invert_prob = float(prob), float(invert_prob)

    def transform(self, results: dict) -> dict:
        img = results['img']
        if np.random.random_sample() < self.prob:
            out = img.astype(np.float32)
            out *= np.random.uniform(1 - self.brightness, 1 + self.brightness)
            f = np.random.uniform(1 - self.contrast, 1 + self.contrast)
            out = (out - out.mean()) * f + out.mean()
            img = np.clip(np.rint(out), 0, 255).astype(np.uint8)
        if self.invert_prob and np.random.random_sample() < self.invert_prob:
            img = 255 - img
        results['img'] = img
        return results


@TRANSFORMS.register_module()
class PackTextRecogInputs(BaseTransform):
    """Make ``dict(inputs=C x H x W uint8 tensor (1 channel for grey, BGR for colour), data_samples=DataSample)``.

    The sample holds the ``meta_keys`` present (``valid_ratio`` is 1.0 when no transform set it; ``img_shape``
    is the packed image's) and, when the results have ``gt_texts`` (``LoadOCRAnnotations(with_text=True)``),
    the data field ``gt_text`` (str). A word image must have exactly one text.
    """

    def __init__(self, meta_keys: Sequence[str] = ('img_path', 'ori_shape', 'img_shape', 'valid_ratio')) -> None:
        self.meta_keys = tuple(meta_keys)

    def transform(self, results: dict) -> dict:
        results.setdefault('valid_ratio', 1.0)
        results['img_shape'] = tuple(results['img'].shape[:2])
        inputs, sample = pack_image(results, self.meta_keys)
        texts = results.get('gt_texts')
        if texts is not None:
            if len(texts) != 1:
                raise ValueError(f'PackTextRecogInputs: {results.get("img_path", "?")} has {len(texts)} texts; a '
                                 'word image needs exactly one')
            sample.gt_text = str(texts[0])
        return dict(inputs=inputs, data_samples=sample)
