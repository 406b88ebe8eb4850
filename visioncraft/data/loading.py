"""Shared transforms: read an image, flip, pack a sample for the model."""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from ..errors import ImageReadError
from ..fileio.backend import check_backend_args
from ..fileio.image import imdecode, imread, imwrite, unreadable_image_reason
from ..registry import TRANSFORMS
from ..structures import DataSample
from .geometric import flip_geometry
from .transforms import BaseTransform

# imread / imdecode / imwrite / unreadable_image_reason live in visioncraft.fileio.image (one image reader for
# training and inference); they stay importable from here for code written against earlier versions
__all__ = ['IMG_EXTENSIONS', 'LoadImageFromFile', 'RandomFlip', 'PackInputs', 'pack_image', 'choose_flip', 'imread',
           'imdecode', 'imwrite', 'unreadable_image_reason']

#: file name endings (lower case) taken for images when a folder is listed
IMG_EXTENSIONS = ('.jpg', '.jpeg', '.png', '.bmp', '.tif', '.tiff', '.webp')


@TRANSFORMS.register_module()
class LoadImageFromFile(BaseTransform):
    """Read ``results['img_path']`` into ``results['img']`` (HxWx3 uint8, BGR as OpenCV reads it).

    Adds ``img_shape`` and ``ori_shape`` (h, w). A missing or unreadable file raises an error naming it;
    with ``ignore_empty=True`` the transform returns None instead (the dataset then picks another sample).

    Args:
        to_float32: return a float32 image instead of uint8.
        color_type: ``'color'`` (3 channels, EXIF orientation applied), ``'grayscale'``, ``'unchanged'``, or
            MMOCR's ``'color_ignore_orientation'`` / ``'grayscale_ignore_orientation'`` (the pixels as stored,
            the EXIF orientation tag not applied).
        ignore_empty: return None for a missing, unreadable or too small image instead of raising.
        min_size: MMOCR's smallest accepted side in pixels: an image whose shorter side is under it counts as
            unreadable (0: no limit).
        imdecode_backend: ``'cv2'`` (the only decoder here; MMCV's name for it).
        backend_args: MMEngine's file backend: None or ``dict(backend='local')``
            (:func:`visioncraft.fileio.backend.check_backend_args`).
    """

    COLOR_TYPES = ('color', 'grayscale', 'unchanged', 'color_ignore_orientation', 'grayscale_ignore_orientation')

    def __init__(self, to_float32: bool = False, color_type: str = 'color', ignore_empty: bool = False, *,
                 min_size: int = 0, imdecode_backend: str = 'cv2', backend_args: dict | None = None) -> None:
        name = type(self).__name__
        if color_type not in self.COLOR_TYPES:
            raise ValueError(f"{name} color_type must be one of {', '.join(map(repr, self.COLOR_TYPES))}, "
                             f'got {color_type!r}')
        if imdecode_backend != 'cv2':
            raise ValueError(f"{name} imdecode_backend={imdecode_backend!r}: only 'cv2' (OpenCV) decodes images "
                             "here; set imdecode_backend='cv2' or remove the key")
        if isinstance(min_size, bool) or not isinstance(min_size, int) or min_size < 0:
            raise ValueError(f'{name} min_size must be an int >= 0, got {min_size!r}')
        check_backend_args(backend_args, name)
        self.to_float32 = to_float32
        self.color_type = color_type
        self.ignore_empty = ignore_empty
        self.min_size = min_size

    def transform(self, results: dict) -> dict | None:
        import cv2
        path = results.get('img_path')
        if path is None:
            raise KeyError(f'LoadImageFromFile: the sample has no img_path (keys: {sorted(results)})')
        flag = {'color': cv2.IMREAD_COLOR, 'grayscale': cv2.IMREAD_GRAYSCALE, 'unchanged': cv2.IMREAD_UNCHANGED,
                'color_ignore_orientation': cv2.IMREAD_COLOR | cv2.IMREAD_IGNORE_ORIENTATION,
                'grayscale_ignore_orientation': cv2.IMREAD_GRAYSCALE | cv2.IMREAD_IGNORE_ORIENTATION,
                }[self.color_type]
        img = imread(path, flag)
        too_small = img is not None and min(img.shape[:2]) < self.min_size
        if img is None or too_small:
            if self.ignore_empty:
                return None
            why = (f'is {img.shape[1]}x{img.shape[0]} pixels, under min_size={self.min_size}' if too_small
                   else unreadable_image_reason(path))
            sample = f' (sample {results["sample_idx"]})' if 'sample_idx' in results else ''
            raise (FileNotFoundError if why == 'does not exist' else ImageReadError)(
                f'LoadImageFromFile: {path} {why}{sample}')
        if self.to_float32:
            img = img.astype(np.float32)
        results['img'] = img
        results['img_shape'] = img.shape[:2]
        results['ori_shape'] = img.shape[:2]
        return results


@TRANSFORMS.register_module()
class RandomFlip(BaseTransform):
    """Flip the image with probability ``prob``; every geometric key present moves with it.

    ``gt_bboxes`` (N x 4 xyxy, absolute pixels: x -> W - x), ``gt_masks`` (Bitmap/PolygonMasks),
    ``gt_polygons``, ``gt_keypoints`` (N x K x 2/3) and ``gt_seg_map`` are flipped; on a mirror (horizontal or
    vertical, not diagonal), keypoints are also reordered by ``results['flip_indices']`` (left <-> right) when
    it is present.
    See :func:`visioncraft.data.geometric.flip_geometry`.

    Args:
        prob: flip probability (a list gives one per direction).
        direction: ``'horizontal'``, ``'vertical'`` or ``'diagonal'`` (or a list, chosen at random).
    Sets ``flip`` and ``flip_direction``. Uses NumPy's global RNG, which the dataset seeds per sample.
    """

    def __init__(self, prob: float | Sequence[float] = 0.5,
                 direction: str | Sequence[str] = 'horizontal') -> None:
        dirs = [direction] if isinstance(direction, str) else list(direction)
        probs = [prob] * len(dirs) if isinstance(prob, (int, float)) else list(prob)
        for d in dirs:
            if d not in ('horizontal', 'vertical', 'diagonal'):
                raise ValueError(f'RandomFlip direction must be horizontal, vertical or diagonal, got {d!r}')
        if len(probs) != len(dirs) or sum(probs) > 1 + 1e-9:
            raise ValueError(f'RandomFlip: prob {prob} does not fit direction {direction}')
        self.dirs, self.probs = dirs, probs

    def transform(self, results: dict) -> dict:
        chosen = choose_flip(results, self.dirs, self.probs)
        if chosen is not None:
            flip_geometry(results, chosen)
        return results


def choose_flip(results: dict, dirs: Sequence[str], probs: Sequence[float]) -> str | None:
    """Draw a flip direction (direction ``i`` with probability ``probs[i]``; none with the rest) from NumPy's
    global RNG, and set ``results['flip']`` / ``results['flip_direction']``. Returns the direction or None."""
    r = np.random.random_sample()
    acc, chosen = 0.0, None
    for d, p in zip(dirs, probs):
        acc += p
        if r < acc:
            chosen = d
            break
    results['flip'] = chosen is not None
    results['flip_direction'] = chosen
    return chosen


def pack_image(results: dict, meta_keys: Sequence[str]) -> tuple[torch.Tensor, DataSample]:
    """``results['img']`` (HxW or HxWxC) as a CxHxW tensor, and a DataSample holding the ``meta_keys``
    present in ``results`` as metainfo. The shared first half of every Pack* transform."""
    img = results['img']
    if img.ndim == 2:
        img = img[..., None]
    inputs = torch.from_numpy(np.ascontiguousarray(img.transpose(2, 0, 1)))
    return inputs, DataSample(metainfo={k: results[k] for k in meta_keys if k in results})


@TRANSFORMS.register_module()
class PackInputs(BaseTransform):
    """Make ``dict(inputs=CxHxW uint8 tensor, data_samples=DataSample)`` from a transformed sample.

    ``gt_label`` (int) becomes a long tensor field of the data sample; ``meta_keys`` present in the
    sample are copied into its metainfo.
    """

    def __init__(self, meta_keys: Sequence[str] = ('img_path', 'ori_shape', 'img_shape', 'flip',
                                                   'flip_direction', 'sample_idx')) -> None:
        self.meta_keys = tuple(meta_keys)

    def transform(self, results: dict) -> dict:
        inputs, sample = pack_image(results, self.meta_keys)
        if 'gt_label' in results:
            sample.gt_label = torch.as_tensor(results['gt_label'], dtype=torch.long).reshape(-1)
        return dict(inputs=inputs, data_samples=sample)
