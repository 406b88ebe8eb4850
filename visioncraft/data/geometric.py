"""Shared geometric and photometric transforms.

A geometric transform moves ``img`` and every geometric key that is present, together:

==================  =================================================================================
``gt_bboxes``       float32 N x 4, xyxy, absolute pixels of the current image
``gt_masks``        :class:`~visioncraft.structures.BitmapMasks` or :class:`~visioncraft.structures.PolygonMasks`
``gt_polygons``     list of N float arrays ``[x0, y0, x1, y1, ...]`` (OCR)
``gt_keypoints``    float N x K x 2 (x, y) or N x K x 3 (x, y, visibility) (pose)
``gt_seg_map``      H x W label map (nearest-neighbour resize, padded with ``pad_val['seg']``)
==================  =================================================================================

and updates ``img_shape`` (h, w) and ``scale_factor`` (w_scale, h_scale; the product of all resizes so far).
Coordinates are continuous: pixel ``(i, j)`` covers ``[j, j+1) x [i, i+1)``, so a horizontal flip maps
``x -> W - x``. (The top-down pose keys of the MMPose layout, ``keypoints`` / ``bbox`` / ``bbox_center``, are pixel
indices instead, the centre of pixel column ``j`` at ``x = j``; their flip is ``x -> W - 1 - x``. Both are
:func:`mirror_coords`, and both move a coordinate with its pixel: see ``docs/data_contract.md``.) When a transform drops instances (:class:`RandomCrop`), every per-instance key
(``gt_bboxes``, ``gt_bboxes_labels``, ``gt_ignore_flags``, ``gt_masks``, ``gt_polygons``, ``gt_keypoints``,
``gt_keypoints_visible``, ``gt_texts``) is indexed together.

Random choices use NumPy's global RNG, which the dataset seeds per sample.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from numbers import Number

import numpy as np

from ..registry import TRANSFORMS
from .transforms import BaseTransform

__all__ = ['Resize', 'RandomResize', 'RandomChoiceResize', 'RandomCrop', 'Pad', 'PhotoMetricDistortion',
           'flip_geometry', 'rescale_size', 'mirror_coords', 'flip_swaps_sides', 'FLIP_DIRECTIONS']

#: per-instance keys indexed together when instances are dropped
INSTANCE_KEYS = ('gt_bboxes', 'gt_bboxes_labels', 'gt_ignore_flags', 'gt_masks', 'gt_polygons',
                 'gt_keypoints', 'gt_keypoints_visible', 'gt_texts')


# -- helpers shared with RandomFlip ---------------------------------------------------------------
#: the flips every transform knows: a mirror about the vertical axis, about the horizontal axis, or both (a
#: 180 degree rotation)
FLIP_DIRECTIONS = ('horizontal', 'vertical', 'diagonal')


def mirror_coords(values: np.ndarray, size: float, *, pixel_index: bool = False) -> np.ndarray:
    """The coordinate that a flip of an image ``size`` pixels wide (or high) gives ``values``, so that every
    coordinate stays on its pixel (pixel column ``j`` becomes column ``size - 1 - j``).

    Continuous coordinates (the default; pixel ``j`` covers ``[j, j+1)``, boxes' edges, polygons, masks) map
    ``x -> size - x``; pixel indices (``pixel_index=True``; pixel ``j``'s centre is ``x = j``, the top-down pose
    keys of the MMPose layout) map ``x -> size - 1 - x``. Works on any array shape; returns a new array.
    """
    return (size - 1 if pixel_index else size) - np.asarray(values)


def flip_swaps_sides(direction: str) -> bool:
    """Whether a flip in ``direction`` swaps a person's (or any symmetric object's) left and right parts.

    A mirror (``'horizontal'`` or ``'vertical'``) turns a left hand into a right hand; ``'diagonal'`` (both
    mirrors, i.e. a 180 degree rotation) does not. Keypoints are reordered by ``flip_indices`` exactly when
    this is true.
    """
    if direction not in FLIP_DIRECTIONS:
        raise ValueError(f'flip direction must be one of {", ".join(map(repr, FLIP_DIRECTIONS))}, got {direction!r}')
    return direction != 'diagonal'


def rescale_size(old_size: tuple[int, int], scale: float | tuple[int, int]) -> tuple[int, int]:
    """Keep-ratio target size.

    Args:
        old_size: (w, h) of the image.
        scale: a factor, or a (w, h) bound read as (long edge, short edge) limits: the image is scaled so
            its long side is <= ``max(scale)`` and its short side <= ``min(scale)``, as large as possible.
    Returns:
        (w, h) rounded to the nearest integer.
    """
    w, h = old_size
    if isinstance(scale, Number):
        if scale <= 0:
            raise ValueError(f'scale factor must be positive, got {scale}')
        factor = float(scale)
    else:
        long_edge, short_edge = max(scale), min(scale)
        factor = min(long_edge / max(h, w), short_edge / min(h, w))
    return int(w * factor + 0.5), int(h * factor + 0.5)


def _resize_img(img: np.ndarray, w: int, h: int, interpolation: str) -> np.ndarray:
    import cv2
    flags = dict(nearest=cv2.INTER_NEAREST, bilinear=cv2.INTER_LINEAR, bicubic=cv2.INTER_CUBIC,
                 area=cv2.INTER_AREA, lanczos=cv2.INTER_LANCZOS4)
    if interpolation not in flags:
        raise ValueError(f'interpolation must be one of {sorted(flags)}, got {interpolation!r}')
    out = cv2.resize(img, (w, h), interpolation=flags[interpolation])
    if img.ndim == 3 and out.ndim == 2:
        out = out[..., None]
    return out


def _clip_boxes(boxes: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    boxes[:, 0::2] = boxes[:, 0::2].clip(0, shape[1])
    boxes[:, 1::2] = boxes[:, 1::2].clip(0, shape[0])
    return boxes


def _as_boxes(boxes) -> np.ndarray:
    return np.asarray(boxes, dtype=np.float32).reshape(-1, 4).copy()


def _map_points(results: dict, fn) -> None:
    """Apply ``fn(xy)`` (an M x 2 float array -> M x 2) to gt_polygons and the x, y of gt_keypoints."""
    if results.get('gt_polygons') is not None:
        polys = []
        for p in results['gt_polygons']:
            p = np.asarray(p, dtype=np.float32)
            polys.append(fn(p.reshape(-1, 2).copy()).reshape(p.shape).astype(np.float32))
        results['gt_polygons'] = polys
    if results.get('gt_keypoints') is not None:
        kpts = np.asarray(results['gt_keypoints'], dtype=np.float32).copy()
        if kpts.size:
            shape = kpts[..., :2].shape
            kpts[..., :2] = fn(kpts[..., :2].reshape(-1, 2).copy()).reshape(shape)
        results['gt_keypoints'] = kpts


def _resize_geometry(results: dict, new_w: int, new_h: int, clip_object_border: bool,
                     interpolation: str = 'bilinear') -> None:
    """Resize ``img`` to (new_w, new_h) and move every geometric key with it."""
    img = results['img']
    h, w = img.shape[:2]
    sx, sy = new_w / w, new_h / h
    results['img'] = _resize_img(img, new_w, new_h, interpolation)
    results['img_shape'] = (new_h, new_w)
    old = results.get('scale_factor') or (1.0, 1.0)
    results['scale_factor'] = (float(old[0]) * sx, float(old[1]) * sy)
    if results.get('gt_bboxes') is not None:
        boxes = _as_boxes(results['gt_bboxes'])
        boxes[:, 0::2] *= sx
        boxes[:, 1::2] *= sy
        results['gt_bboxes'] = _clip_boxes(boxes, (new_h, new_w)) if clip_object_border else boxes
    if results.get('gt_masks') is not None:
        results['gt_masks'] = results['gt_masks'].resize((new_h, new_w))
    if results.get('gt_seg_map') is not None:
        results['gt_seg_map'] = _resize_img(results['gt_seg_map'], new_w, new_h, 'nearest')
    _map_points(results, lambda xy: xy * np.array([sx, sy], dtype=np.float32))


def flip_geometry(results: dict, direction: str) -> None:
    """Flip ``img`` and every geometric key in ``results`` in place (``'horizontal'``, ``'vertical'`` or
    ``'diagonal'``).

    Keypoints of a mirror (horizontal or vertical flip, not the diagonal one: :func:`flip_swaps_sides`) also
    swap left and right parts: ``results['flip_indices']`` (a length-K list, keypoint k becomes keypoint
    ``flip_indices[k]``) reorders them when present, as the pose flip does.
    """
    img = results['img']
    h, w = img.shape[:2]
    horizontal = direction in ('horizontal', 'diagonal')
    vertical = direction in ('vertical', 'diagonal')
    if horizontal:
        img = img[:, ::-1]
    if vertical:
        img = img[::-1]
    results['img'] = np.ascontiguousarray(img)
    if results.get('gt_bboxes') is not None:
        b = _as_boxes(results['gt_bboxes'])
        if horizontal:
            b[:, [0, 2]] = mirror_coords(b[:, [2, 0]], w)
        if vertical:
            b[:, [1, 3]] = mirror_coords(b[:, [3, 1]], h)
        results['gt_bboxes'] = b
    if results.get('gt_masks') is not None:
        results['gt_masks'] = results['gt_masks'].flip(direction)
    if results.get('gt_seg_map') is not None:
        seg = results['gt_seg_map']
        seg = seg[:, ::-1] if horizontal else seg
        results['gt_seg_map'] = np.ascontiguousarray(seg[::-1] if vertical else seg)

    def fn(xy):
        if horizontal:
            xy[:, 0] = mirror_coords(xy[:, 0], w)
        if vertical:
            xy[:, 1] = mirror_coords(xy[:, 1], h)
        return xy
    _map_points(results, fn)
    flip_indices = results.get('flip_indices')
    if flip_swaps_sides(direction) and flip_indices is not None:
        order = np.asarray(flip_indices, dtype=np.int64)
        for key in ('gt_keypoints', 'gt_keypoints_visible'):
            value = results.get(key)
            if value is not None and np.asarray(value).ndim >= 2:
                value = np.asarray(value)
                if value.shape[1] != len(order):
                    raise ValueError(f'flip_indices has {len(order)} entries but {key} has {value.shape[1]} '
                                     'keypoints per instance')
                results[key] = value[:, order].copy()


def _index_instances(results: dict, keep: np.ndarray) -> None:
    """Keep instances ``keep`` (1-D int array) of every per-instance key."""
    for key in INSTANCE_KEYS:
        value = results.get(key)
        if value is None:
            continue
        if isinstance(value, np.ndarray):
            results[key] = value[keep]
        elif isinstance(value, (list, tuple)):
            results[key] = [value[i] for i in keep.tolist()]
        else:
            results[key] = value[keep]


# -- resizing -------------------------------------------------------------------------------------
@TRANSFORMS.register_module()
class Resize(BaseTransform):
    """Resize the image and its boxes, masks, polygons, keypoints and segmentation map.

    Args:
        scale: target (w, h). With ``keep_ratio=True`` it is a bound: the image is scaled as much as
            possible with its long side <= ``max(scale)`` and its short side <= ``min(scale)`` (so
            ``(1333, 800)`` fits a landscape or a portrait image alike). With ``keep_ratio=False`` the image
            becomes exactly w x h. An int means ``(scale, scale)``.
        scale_factor: instead of ``scale``, a factor (or (w_factor, h_factor)) of the current size.
        keep_ratio: keep the aspect ratio (see ``scale``).
        clip_object_border: clip boxes to the resized image.
        interpolation: ``'bilinear'`` (default), ``'nearest'``, ``'bicubic'``, ``'area'``, ``'lanczos'``.

    Adds ``scale`` (the target (w, h) size), and updates ``img_shape`` and ``scale_factor``.
    """

    def __init__(self, scale: int | tuple[int, int] | None = None,
                 scale_factor: float | tuple[float, float] | None = None, keep_ratio: bool = False,
                 clip_object_border: bool = True, interpolation: str = 'bilinear') -> None:
        if (scale is None) == (scale_factor is None):
            raise ValueError('Resize needs exactly one of scale and scale_factor')
        if isinstance(scale, int):
            scale = (scale, scale)
        self.scale = None if scale is None else tuple(int(s) for s in scale)
        if self.scale is not None and (len(self.scale) != 2 or min(self.scale) <= 0):
            raise ValueError(f'Resize scale must be a positive (w, h), got {scale!r}')
        self.scale_factor = scale_factor
        self.keep_ratio = keep_ratio
        self.clip_object_border = clip_object_border
        _resize_img(np.zeros((1, 1), np.uint8), 1, 1, interpolation)  # validate the name early
        self.interpolation = interpolation

    def _target_size(self, results: dict) -> tuple[int, int]:
        h, w = results['img'].shape[:2]
        scale = self.scale
        if scale is None:
            f = self.scale_factor
            fx, fy = (f, f) if isinstance(f, Number) else f
            if self.keep_ratio and fx != fy:
                raise ValueError(f'Resize: keep_ratio=True needs one scale_factor, got {f!r}')
            return int(w * fx + 0.5), int(h * fy + 0.5)
        if self.keep_ratio:
            return rescale_size((w, h), tuple(scale))
        return int(scale[0]), int(scale[1])

    def transform(self, results: dict) -> dict:
        new_w, new_h = self._target_size(results)
        results['scale'] = (new_w, new_h)
        _resize_geometry(results, new_w, new_h, self.clip_object_border, self.interpolation)
        return results


@TRANSFORMS.register_module()
class RandomResize(BaseTransform):
    """Resize to a randomly drawn scale.

    Args:
        scale: with ``ratio_range=None``, two (w, h) tuples: w is drawn uniformly (integers) between the two
            w values and h between the two h values (``[(1333, 640), (1333, 800)]`` with ``keep_ratio=True``
            gives a short-edge bound between 640 and 800); with ``ratio_range``, one (w, h) multiplied by a
            ratio drawn uniformly from ``ratio_range``.
        ratio_range: (min, max) ratio, or None.
        resize_type, **resize_kwargs: the resize transform applied with the drawn scale (default
            :class:`Resize`; e.g. ``keep_ratio=True``).
    """

    def __init__(self, scale: Sequence, ratio_range: tuple[float, float] | None = None,
                 resize_type: str = 'Resize', **resize_kwargs) -> None:
        self.scale = scale
        self.ratio_range = ratio_range
        if ratio_range is None:
            if len(scale) != 2 or not all(isinstance(s, (tuple, list)) and len(s) == 2 for s in scale):
                raise ValueError(f'RandomResize: without ratio_range, scale must be two (w, h) tuples, got '
                                 f'{scale!r}')
        else:
            if len(scale) != 2 or not all(isinstance(s, Number) for s in scale):
                raise ValueError(f'RandomResize: with ratio_range, scale must be one (w, h), got {scale!r}')
            if not 0 < ratio_range[0] <= ratio_range[1]:
                raise ValueError(f'RandomResize: ratio_range must be 0 < min <= max, got {ratio_range!r}')
        self.resize_type = resize_type
        self.resize_kwargs = resize_kwargs
        self.resize = TRANSFORMS.build(dict(type=resize_type, scale=(1, 1), **resize_kwargs))

    def _random_scale(self) -> tuple[int, int]:
        if self.ratio_range is None:
            (w1, h1), (w2, h2) = self.scale
            w = np.random.randint(min(w1, w2), max(w1, w2) + 1)
            h = np.random.randint(min(h1, h2), max(h1, h2) + 1)
            return int(w), int(h)
        ratio = np.random.uniform(*self.ratio_range)
        return int(self.scale[0] * ratio), int(self.scale[1] * ratio)

    def transform(self, results: dict) -> dict:
        self.resize.scale = self._random_scale()
        return self.resize(results)


@TRANSFORMS.register_module()
class RandomChoiceResize(BaseTransform):
    """Resize to one of ``scales`` ((w, h) tuples), picked uniformly; ``resize_kwargs`` go to ``resize_type``
    (default :class:`Resize`, e.g. ``keep_ratio=True``)."""

    def __init__(self, scales: Sequence[tuple[int, int]], resize_type: str = 'Resize', **resize_kwargs) -> None:
        self.scales = [tuple(s) for s in scales]
        if not self.scales:
            raise ValueError('RandomChoiceResize needs at least one scale')
        self.resize_type = resize_type
        self.resize_kwargs = resize_kwargs
        self.resize = TRANSFORMS.build(dict(type=resize_type, scale=(1, 1), **resize_kwargs))

    def transform(self, results: dict) -> dict:
        self.resize.scale = self.scales[np.random.randint(len(self.scales))]
        return self.resize(results)


# -- cropping and padding -------------------------------------------------------------------------
@TRANSFORMS.register_module()
class RandomCrop(BaseTransform):
    """Crop a random window and drop the instances that fall outside it.

    Args:
        crop_size: (w, h). Read according to ``crop_type``: ``'absolute'`` pixels (capped at the image
            size), ``'absolute_range'`` (w and h are drawn from ``[crop_size[0], crop_size[1]]`` pixels),
            ``'relative'`` (fractions of the image's w, h) or ``'relative_range'`` (fractions drawn from
            ``[crop_size[i], 1]``).
        allow_negative_crop: keep a crop that contains no box; otherwise the transform returns None (the
            dataset then tries another sample). Samples with a ``gt_bboxes`` key but no box at all are
            therefore dropped unless this is True.
        recompute_bbox: replace each kept box by its cropped mask's tight box (needs ``gt_masks``).
        bbox_clip_border: clip boxes to the crop; boxes left with no area are dropped. When False, boxes
            keep their coordinates and only those entirely outside the crop are dropped.

    ``img_shape`` becomes the crop's size; ``scale_factor`` is unchanged. Polygons and keypoints are only
    shifted; they are dropped with their instance.
    """

    def __init__(self, crop_size: tuple[float, float], crop_type: str = 'absolute',
                 allow_negative_crop: bool = False, recompute_bbox: bool = False,
                 bbox_clip_border: bool = True) -> None:
        if crop_type not in ('absolute', 'absolute_range', 'relative', 'relative_range'):
            raise ValueError(f"RandomCrop crop_type must be 'absolute', 'absolute_range', 'relative' or "
                             f"'relative_range', got {crop_type!r}")
        if crop_type.startswith('relative'):
            if not all(0 < c <= 1 for c in crop_size):
                raise ValueError(f'RandomCrop: relative crop_size must lie in (0, 1], got {crop_size!r}')
        elif crop_type == 'absolute_range':
            if not 0 < crop_size[0] <= crop_size[1]:
                raise ValueError(f'RandomCrop: absolute_range crop_size must be (min, max), got {crop_size!r}')
        elif not all(c > 0 for c in crop_size):
            raise ValueError(f'RandomCrop: crop_size must be positive, got {crop_size!r}')
        self.crop_size = tuple(crop_size)
        self.crop_type = crop_type
        self.allow_negative_crop = allow_negative_crop
        self.recompute_bbox = recompute_bbox
        self.bbox_clip_border = bbox_clip_border

    def _crop_hw(self, h: int, w: int) -> tuple[int, int]:
        cw, ch = self.crop_size
        if self.crop_type == 'absolute':
            return min(int(ch), h), min(int(cw), w)
        if self.crop_type == 'absolute_range':
            lo, hi = int(cw), int(ch)
            return (int(np.random.randint(min(h, lo), min(h, hi) + 1)),
                    int(np.random.randint(min(w, lo), min(w, hi) + 1)))
        if self.crop_type == 'relative':
            return int(h * ch + 0.5), int(w * cw + 0.5)
        rw, rh = np.asarray(self.crop_size) + np.random.rand(2) * (1 - np.asarray(self.crop_size))
        return int(h * rh + 0.5), int(w * rw + 0.5)

    def transform(self, results: dict) -> dict | None:
        img = results['img']
        h, w = img.shape[:2]
        ch, cw = self._crop_hw(h, w)
        oy = int(np.random.randint(0, max(h - ch, 0) + 1))
        ox = int(np.random.randint(0, max(w - cw, 0) + 1))
        y2, x2 = oy + ch, ox + cw
        results['img'] = img[oy:y2, ox:x2].copy()
        results['img_shape'] = results['img'].shape[:2]
        results['crop_offset'] = (ox, oy)
        if results.get('gt_seg_map') is not None:
            results['gt_seg_map'] = results['gt_seg_map'][oy:y2, ox:x2].copy()
        if results.get('gt_masks') is not None:
            results['gt_masks'] = results['gt_masks'].crop([ox, oy, x2, y2])
        _map_points(results, lambda xy: xy - np.array([ox, oy], dtype=np.float32))
        if results.get('gt_bboxes') is None:
            return results
        boxes = _as_boxes(results['gt_bboxes'])
        boxes -= np.array([ox, oy, ox, oy], dtype=np.float32)
        if self.bbox_clip_border:
            boxes = _clip_boxes(boxes, (ch, cw))
            valid = (boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1])
        else:
            valid = (boxes[:, 0] < cw) & (boxes[:, 2] > 0) & (boxes[:, 1] < ch) & (boxes[:, 3] > 0)
        if not valid.any() and not self.allow_negative_crop:
            return None
        results['gt_bboxes'] = boxes
        _index_instances(results, np.nonzero(valid)[0])
        if self.recompute_bbox and results.get('gt_masks') is not None:
            results['gt_bboxes'] = results['gt_masks'].get_bboxes().astype(np.float32)
        return results


@TRANSFORMS.register_module()
class Pad(BaseTransform):
    """Pad the image (and masks / segmentation map) at the bottom and right.

    Args:
        size: fixed (w, h) to pad to.
        size_divisor: pad h and w up to multiples of it (applied after ``size`` / ``pad_to_square``).
        pad_to_square: pad to a square of the longer side.
        pad_val: ``dict(img=..., seg=...)`` fill values (img: a number or one per channel; seg default 255),
            or a number for the image.
        padding_mode: ``'constant'``, ``'edge'``, ``'reflect'`` or ``'symmetric'`` (image only).

    Sets ``pad_shape`` (h, w), ``pad_fixed_size`` and ``pad_size_divisor``. ``img_shape`` stays the size of the
    valid (unpadded) region, and boxes, polygons and keypoints do not move.
    """

    def __init__(self, size: tuple[int, int] | None = None, size_divisor: int | None = None,
                 pad_to_square: bool = False, pad_val: Number | dict = dict(img=0, seg=255),
                 padding_mode: str = 'constant') -> None:
        if pad_to_square and size is not None:
            raise ValueError('Pad: give size or pad_to_square, not both')
        if size is None and size_divisor is None and not pad_to_square:
            raise ValueError('Pad needs size, size_divisor or pad_to_square=True')
        if size_divisor is not None and int(size_divisor) <= 0:
            raise ValueError(f'Pad size_divisor must be positive, got {size_divisor}')
        if padding_mode not in ('constant', 'edge', 'reflect', 'symmetric'):
            raise ValueError(f'Pad padding_mode must be constant, edge, reflect or symmetric, got {padding_mode!r}')
        self.size = None if size is None else (int(size[0]), int(size[1]))
        self.size_divisor = size_divisor
        self.pad_to_square = pad_to_square
        if isinstance(pad_val, Number):
            pad_val = dict(img=pad_val, seg=255)
        self.pad_val = dict(dict(img=0, seg=255), **pad_val)
        self.padding_mode = padding_mode

    def transform(self, results: dict) -> dict:
        img = results['img']
        h, w = img.shape[:2]
        size = self.size
        if self.pad_to_square:
            size = (max(h, w), max(h, w))
        if self.size_divisor is not None:
            base = size or (w, h)
            d = int(self.size_divisor)
            size = (int(math.ceil(base[0] / d)) * d, int(math.ceil(base[1] / d)) * d)
        pw, ph = size
        if ph < h or pw < w:
            raise ValueError(f'Pad: the image ({h}x{w}, h x w) is larger than the pad size (w, h) = {size}; '
                             'resize it first or pad to a larger size')
        pad_width = [(0, ph - h), (0, pw - w)] + [(0, 0)] * (img.ndim - 2)
        if self.padding_mode == 'constant':
            val = self.pad_val['img']
            if isinstance(val, Number) or img.ndim == 2:
                out = np.pad(img, pad_width, mode='constant', constant_values=val)
            else:
                out = np.empty((ph, pw) + img.shape[2:], dtype=img.dtype)
                out[...] = np.asarray(val, dtype=img.dtype)
                out[:h, :w] = img
        else:
            out = np.pad(img, pad_width, mode=self.padding_mode)
        results['img'] = out
        results['pad_shape'] = (ph, pw)
        results['pad_fixed_size'] = self.size
        results['pad_size_divisor'] = self.size_divisor
        if results.get('gt_masks') is not None:
            results['gt_masks'] = results['gt_masks'].pad((ph, pw))
        if results.get('gt_seg_map') is not None:
            seg = results['gt_seg_map']
            results['gt_seg_map'] = np.pad(seg, [(0, ph - seg.shape[0]), (0, pw - seg.shape[1])],
                                           constant_values=self.pad_val['seg'])
        return results


# -- photometric ----------------------------------------------------------------------------------
@TRANSFORMS.register_module()
class PhotoMetricDistortion(BaseTransform):
    """Random brightness, contrast, saturation, hue and channel order, each applied with probability 1/2.

    Order: brightness (add a value from ``[-brightness_delta, brightness_delta]``), then contrast (multiply by
    a value from ``contrast_range``) either here or last (chosen at random), then in HSV space saturation
    (multiply S by a value from ``saturation_range``) and hue (add a value from ``[-hue_delta, hue_delta]``
    degrees), back to BGR, then possibly contrast, then a random channel permutation.

    Works on float32 internally (HSV with H in degrees, OpenCV's float convention). A uint8 input comes back
    uint8 (rounded and clipped to [0, 255]); a float input comes back float32, unclipped.
    """

    def __init__(self, brightness_delta: float = 32, contrast_range: tuple[float, float] = (0.5, 1.5),
                 saturation_range: tuple[float, float] = (0.5, 1.5), hue_delta: float = 18) -> None:
        self.brightness_delta = brightness_delta
        self.contrast_range = tuple(contrast_range)
        self.saturation_range = tuple(saturation_range)
        self.hue_delta = hue_delta

    def transform(self, results: dict) -> dict:
        import cv2
        img = results['img']
        if img.ndim != 3 or img.shape[2] != 3:
            raise ValueError(f'PhotoMetricDistortion needs an H x W x 3 BGR image, got shape {img.shape}')
        was_uint8 = img.dtype == np.uint8
        out = img.astype(np.float32)
        rand = np.random.randint
        if rand(2):
            out += np.random.uniform(-self.brightness_delta, self.brightness_delta)
        contrast_first = rand(2) == 1
        if contrast_first and rand(2):
            out *= np.random.uniform(*self.contrast_range)
        do_sat, do_hue = rand(2), rand(2)
        if do_sat or do_hue:
            hsv = cv2.cvtColor(out, cv2.COLOR_BGR2HSV)
            if do_sat:
                hsv[..., 1] *= np.random.uniform(*self.saturation_range)
            if do_hue:
                hsv[..., 0] = (hsv[..., 0] + np.random.uniform(-self.hue_delta, self.hue_delta)) % 360
            out = cv2.cvtColor(hsv, cv2.COLOR_HSV2BGR)
        if not contrast_first and rand(2):
            out *= np.random.uniform(*self.contrast_range)
        if rand(2):
            out = out[..., np.random.permutation(3)]
        out = np.ascontiguousarray(out)
        results['img'] = np.clip(np.rint(out), 0, 255).astype(np.uint8) if was_uint8 else out
        return results
