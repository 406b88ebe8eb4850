"""Instance masks in two representations that move with the image.

* :class:`BitmapMasks`: an ``N x H x W`` uint8 array (1 inside the instance, 0 outside).
* :class:`PolygonMasks`: a list of N instances, each a list of float64 arrays ``[x0, y0, x1, y1, ...]``
  (absolute pixel coordinates, continuous frame: pixel ``(i, j)`` covers ``[j, j+1) x [i, i+1)``).

Both share one interface (``resize``, ``rescale``, ``flip``, ``crop``, ``pad``, ``areas``, ``get_bboxes``,
``to_ndarray``, ``to_tensor``, ``cat``) so geometric transforms treat them alike. Every method returns a new
object; none changes the masks in place. Indexing (int, slice, bool / int arrays or tensors, lists) selects
instances; an int keeps the instance axis (the result has length 1), as :class:`InstanceData` does.

:func:`polygons_to_bitmap` and :func:`rle_to_bitmap` rasterize COCO-style annotations with ``pycocotools``.
"""
from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from .indexing import normalize_index

__all__ = ['BitmapMasks', 'PolygonMasks', 'polygons_to_bitmap', 'rle_to_bitmap', 'bitmap_to_polygons']


def _mask_utils():
    try:
        from pycocotools import mask as mask_utils
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError('decoding polygon / RLE masks needs pycocotools: pip install pycocotools') from exc
    return mask_utils


def polygons_to_bitmap(polygons: Sequence[Sequence[float]], height: int, width: int) -> np.ndarray:
    """Rasterize one instance's polygons (each ``[x0, y0, x1, y1, ...]``) into an ``H x W`` uint8 mask."""
    polys = [np.asarray(p, dtype=np.float64).ravel().tolist() for p in polygons]
    polys = [p for p in polys if len(p) >= 6 and len(p) % 2 == 0]
    if not polys:
        return np.zeros((height, width), dtype=np.uint8)
    mask_utils = _mask_utils()
    rles = mask_utils.frPyObjects(polys, int(height), int(width))
    return _decode(mask_utils, mask_utils.merge(rles))


def rle_to_bitmap(rle: dict, height: int | None = None, width: int | None = None) -> np.ndarray:
    """Decode a COCO RLE dict (``counts`` as a list = uncompressed, or a str / bytes = compressed) into an
    ``H x W`` uint8 mask. ``height`` / ``width`` default to the RLE's ``size`` ([h, w])."""
    mask_utils = _mask_utils()
    h, w = rle.get('size', (height, width))
    h = int(height if height is not None else h)
    w = int(width if width is not None else w)
    if isinstance(rle.get('counts'), list):
        rle = mask_utils.frPyObjects(rle, h, w)
    elif isinstance(rle.get('counts'), str):
        rle = dict(rle, counts=rle['counts'].encode('ascii'))
    return _decode(mask_utils, rle)


def _decode(mask_utils, rle: dict) -> np.ndarray:
    with warnings.catch_warnings():
        # pycocotools' array wrapper predates NumPy 2's ``copy`` keyword and warns on every decode.
        warnings.simplefilter('ignore', DeprecationWarning)
        return mask_utils.decode(rle).astype(np.uint8)


def bitmap_to_polygons(mask: np.ndarray) -> list[np.ndarray]:
    """Outer contours of an ``H x W`` mask as polygons (float64 ``[x0, y0, ...]``, at least 3 points each)."""
    import cv2
    contours, _ = cv2.findContours(np.ascontiguousarray(mask, dtype=np.uint8), cv2.RETR_EXTERNAL,
                                   cv2.CHAIN_APPROX_SIMPLE)
    return [c.reshape(-1).astype(np.float64) for c in contours if len(c) >= 3]


def _rescale_shape(height: int, width: int, scale: float | tuple[int, int]) -> tuple[int, int]:
    """(h, w) after a keep-ratio rescale: a float multiplies both sides; a (w, h) tuple is the largest size
    with the long side <= max(scale) and the short side <= min(scale)."""
    if isinstance(scale, (int, float)):
        factor = float(scale)
    else:
        long_edge, short_edge = max(scale), min(scale)
        factor = min(long_edge / max(height, width), short_edge / min(height, width))
    return int(height * factor + 0.5), int(width * factor + 0.5)


def _cat_shape(cls: type, masks: list) -> tuple[int, int]:
    """The common (height, width) of masks to concatenate; an error unless all are ``cls`` of one size."""
    name = cls.__name__
    if not masks:
        raise ValueError(f'{name}.cat needs at least one {name}')
    shapes = {(m.height, m.width) for m in masks}
    if len(shapes) != 1 or not all(isinstance(m, cls) for m in masks):
        raise ValueError(f'{name}.cat needs {name} of one size, got sizes {sorted(shapes)}')
    return shapes.pop()


class BitmapMasks:
    """N binary masks of one image.

    Args:
        masks: ``N x H x W`` array (uint8 or bool; stored as uint8), or a list of ``H x W`` arrays.
        height, width: image size; needed when there are no masks, checked otherwise.
    """

    def __init__(self, masks: np.ndarray | Sequence[np.ndarray], height: int | None = None,
                 width: int | None = None) -> None:
        if isinstance(masks, torch.Tensor):
            masks = masks.detach().cpu().numpy()
        if not isinstance(masks, np.ndarray):
            masks = list(masks)
            if not masks:
                if height is None or width is None:
                    raise ValueError('BitmapMasks: an empty list of masks needs height and width')
                masks = np.zeros((0, int(height), int(width)), dtype=np.uint8)
            else:
                masks = np.stack([np.asarray(m) for m in masks])
        if masks.ndim == 2 and masks.size == 0 and height is not None and width is not None:
            masks = masks.reshape(0, int(height), int(width))
        if masks.ndim != 3:
            raise ValueError(f'BitmapMasks expects an N x H x W array, got shape {masks.shape}')
        if height is not None and width is not None and masks.shape[1:] != (int(height), int(width)):
            raise ValueError(f'BitmapMasks: masks have shape {masks.shape[1:]} but height, width = '
                             f'({height}, {width})')
        self.masks = np.ascontiguousarray(masks, dtype=np.uint8)

    # -- basics -----------------------------------------------------------------------------------
    @property
    def height(self) -> int:
        return int(self.masks.shape[1])

    @property
    def width(self) -> int:
        return int(self.masks.shape[2])

    def __len__(self) -> int:
        return int(self.masks.shape[0])

    def __getitem__(self, index: Any) -> BitmapMasks:
        return BitmapMasks(self.masks[normalize_index(index, len(self), 'masks')], self.height, self.width)

    def __iter__(self):
        return iter(self.masks)

    def __repr__(self) -> str:
        return f'BitmapMasks(num_masks={len(self)}, height={self.height}, width={self.width})'

    @classmethod
    def cat(cls, masks: Sequence[BitmapMasks]) -> BitmapMasks:
        """Concatenate along the instance axis; all inputs must have the same height and width."""
        masks = list(masks)
        h, w = _cat_shape(cls, masks)
        return cls(np.concatenate([m.masks for m in masks]), h, w)

    # -- geometry ---------------------------------------------------------------------------------
    def resize(self, out_shape: tuple[int, int], interpolation: str = 'nearest') -> BitmapMasks:
        """Resize every mask to ``out_shape`` = (h, w) (nearest neighbour unless ``interpolation='bilinear'``,
        which is thresholded at 0.5)."""
        import cv2
        h, w = int(out_shape[0]), int(out_shape[1])
        if len(self) == 0:
            return BitmapMasks(np.zeros((0, h, w), dtype=np.uint8), h, w)
        flag = {'nearest': cv2.INTER_NEAREST, 'bilinear': cv2.INTER_LINEAR}[interpolation]
        if interpolation == 'bilinear':
            out = [cv2.resize(m.astype(np.float32), (w, h), interpolation=flag) >= 0.5 for m in self.masks]
        else:
            out = [cv2.resize(m, (w, h), interpolation=flag) for m in self.masks]
        return BitmapMasks(np.stack(out).astype(np.uint8), h, w)

    def rescale(self, scale: float | tuple[int, int], interpolation: str = 'nearest') -> BitmapMasks:
        """Keep-ratio resize: ``scale`` is a factor or a (w, h) bound (long side, short side)."""
        return self.resize(_rescale_shape(self.height, self.width, scale), interpolation)

    def flip(self, direction: str = 'horizontal') -> BitmapMasks:
        """Flip ``'horizontal'``, ``'vertical'`` or ``'diagonal'`` (both)."""
        _check_direction(direction)
        m = self.masks
        if direction in ('horizontal', 'diagonal'):
            m = m[:, :, ::-1]
        if direction in ('vertical', 'diagonal'):
            m = m[:, ::-1, :]
        return BitmapMasks(np.ascontiguousarray(m), self.height, self.width)

    def crop(self, bbox: Sequence[float]) -> BitmapMasks:
        """Keep the region ``bbox`` = [x1, y1, x2, y2] (absolute pixels, clipped to the image)."""
        x1, y1, x2, y2 = _crop_box(bbox, self.height, self.width)
        return BitmapMasks(self.masks[:, y1:y2, x1:x2].copy(), y2 - y1, x2 - x1)

    def pad(self, out_shape: tuple[int, int], pad_val: int = 0) -> BitmapMasks:
        """Pad at the bottom / right to ``out_shape`` = (h, w)."""
        h, w = int(out_shape[0]), int(out_shape[1])
        if h < self.height or w < self.width:
            raise ValueError(f'BitmapMasks.pad: out_shape {(h, w)} is smaller than the masks '
                             f'{(self.height, self.width)}')
        out = np.full((len(self), h, w), pad_val, dtype=np.uint8)
        out[:, :self.height, :self.width] = self.masks
        return BitmapMasks(out, h, w)

    # -- measures and conversions -----------------------------------------------------------------
    @property
    def areas(self) -> np.ndarray:
        """Pixels inside each mask, float64 N."""
        return self.masks.reshape(len(self), -1).sum(axis=1).astype(np.float64)

    def get_bboxes(self) -> np.ndarray:
        """Tight boxes, float32 N x 4, xyxy in the continuous frame (a mask covering pixel columns
        ``a..b`` gives ``x1=a, x2=b+1``); empty masks give zeros."""
        boxes = np.zeros((len(self), 4), dtype=np.float32)
        for i, m in enumerate(self.masks):
            xs = np.nonzero(m.any(axis=0))[0]
            ys = np.nonzero(m.any(axis=1))[0]
            if len(xs) and len(ys):
                boxes[i] = (xs[0], ys[0], xs[-1] + 1, ys[-1] + 1)
        return boxes

    def to_ndarray(self) -> np.ndarray:
        """``N x H x W`` uint8 array (a copy)."""
        return self.masks.copy()

    def to_tensor(self, dtype: torch.dtype = torch.uint8, device: str | torch.device = 'cpu') -> torch.Tensor:
        """``N x H x W`` tensor of ``dtype`` on ``device``."""
        return torch.from_numpy(self.masks).to(dtype=dtype, device=device)


class PolygonMasks:
    """N instances given as polygons.

    Args:
        masks: list of N instances; each instance is a list of polygons, each ``[x0, y0, x1, y1, ...]``
            (absolute pixels; at least 3 points; stored as float64 arrays).
        height, width: image size.
    """

    def __init__(self, masks: Sequence[Sequence[Any]], height: int, width: int) -> None:
        if isinstance(masks, (np.ndarray, torch.Tensor)):
            raise TypeError('PolygonMasks expects a list of instances, each a list of polygons')
        self.masks: list[list[np.ndarray]] = []
        for i, inst in enumerate(masks):
            if isinstance(inst, np.ndarray) and inst.ndim == 1:
                raise TypeError(f'PolygonMasks: instance {i} must be a list of polygons, got one flat array; '
                                'wrap it in a list')
            polys = [np.asarray(p, dtype=np.float64).reshape(-1) for p in inst]
            for p in polys:
                if len(p) % 2:
                    raise ValueError(f'PolygonMasks: instance {i} has a polygon with an odd number of '
                                     f'coordinates ({len(p)})')
            self.masks.append(polys)
        self._height, self._width = int(height), int(width)

    @property
    def height(self) -> int:
        return self._height

    @property
    def width(self) -> int:
        return self._width

    def __len__(self) -> int:
        return len(self.masks)

    def __getitem__(self, index: Any) -> PolygonMasks:
        norm = normalize_index(index, len(self), 'masks')
        picked = self.masks[norm] if isinstance(norm, slice) else [self.masks[i] for i in norm.tolist()]
        return PolygonMasks(picked, self.height, self.width)

    def __iter__(self):
        return iter(self.masks)

    def __repr__(self) -> str:
        return f'PolygonMasks(num_masks={len(self)}, height={self.height}, width={self.width})'

    @classmethod
    def cat(cls, masks: Sequence[PolygonMasks]) -> PolygonMasks:
        """Concatenate along the instance axis; all inputs must have the same height and width."""
        masks = list(masks)
        h, w = _cat_shape(cls, masks)
        return cls([inst for m in masks for inst in m.masks], h, w)

    def _map(self, fn, height: int, width: int) -> PolygonMasks:
        return PolygonMasks([[fn(p.copy()) for p in inst] for inst in self.masks], height, width)

    def resize(self, out_shape: tuple[int, int], interpolation: str = 'nearest') -> PolygonMasks:
        """Scale the coordinates to an image of ``out_shape`` = (h, w) (``interpolation`` is ignored)."""
        h, w = int(out_shape[0]), int(out_shape[1])
        sx, sy = w / self.width, h / self.height

        def fn(p):
            p[0::2] *= sx
            p[1::2] *= sy
            return p
        return self._map(fn, h, w)

    def rescale(self, scale: float | tuple[int, int], interpolation: str = 'nearest') -> PolygonMasks:
        """Keep-ratio resize: ``scale`` is a factor or a (w, h) bound (long side, short side)."""
        return self.resize(_rescale_shape(self.height, self.width, scale))

    def flip(self, direction: str = 'horizontal') -> PolygonMasks:
        """Flip ``'horizontal'`` (x -> W - x), ``'vertical'`` (y -> H - y) or ``'diagonal'`` (both)."""
        _check_direction(direction)
        w, h = self.width, self.height

        def fn(p):
            if direction in ('horizontal', 'diagonal'):
                p[0::2] = w - p[0::2]
            if direction in ('vertical', 'diagonal'):
                p[1::2] = h - p[1::2]
            return p
        return self._map(fn, h, w)

    def crop(self, bbox: Sequence[float]) -> PolygonMasks:
        """Clip every polygon to ``bbox`` = [x1, y1, x2, y2] (Sutherland-Hodgman) and shift it to the crop's
        frame. Polygons that vanish are dropped; an instance that loses all of them keeps one zero-area
        triangle so the instance count is unchanged."""
        x1, y1, x2, y2 = _crop_box(bbox, self.height, self.width)
        out = []
        for inst in self.masks:
            polys = []
            for p in inst:
                c = _clip_polygon(p.reshape(-1, 2), x1, y1, x2, y2)
                if len(c) >= 3:
                    polys.append((c - (x1, y1)).reshape(-1))
            out.append(polys or [np.zeros(6)])
        return PolygonMasks(out, y2 - y1, x2 - x1)

    def pad(self, out_shape: tuple[int, int], pad_val: int = 0) -> PolygonMasks:
        """Pad at the bottom / right to ``out_shape`` = (h, w): coordinates do not change."""
        h, w = int(out_shape[0]), int(out_shape[1])
        if h < self.height or w < self.width:
            raise ValueError(f'PolygonMasks.pad: out_shape {(h, w)} is smaller than the masks '
                             f'{(self.height, self.width)}')
        return self._map(lambda p: p, h, w)

    @property
    def areas(self) -> np.ndarray:
        """Sum of the polygons' (shoelace) areas per instance, float64 N; holes are not subtracted."""
        out = np.zeros(len(self), dtype=np.float64)
        for i, inst in enumerate(self.masks):
            for p in inst:
                x, y = p[0::2], p[1::2]
                out[i] += 0.5 * abs(np.dot(x, np.roll(y, 1)) - np.dot(y, np.roll(x, 1)))
        return out

    def get_bboxes(self) -> np.ndarray:
        """Boxes around all the points of each instance, float32 N x 4, xyxy; no points give zeros."""
        boxes = np.zeros((len(self), 4), dtype=np.float32)
        for i, inst in enumerate(self.masks):
            pts = np.concatenate([p for p in inst]) if inst else np.zeros(0)
            if len(pts):
                xs, ys = pts[0::2], pts[1::2]
                boxes[i] = (xs.min(), ys.min(), xs.max(), ys.max())
        return boxes

    def to_bitmap(self) -> BitmapMasks:
        """Rasterize with pycocotools."""
        return BitmapMasks(self.to_ndarray(), self.height, self.width)

    def to_ndarray(self) -> np.ndarray:
        """``N x H x W`` uint8 array, rasterized with pycocotools."""
        if not self.masks:
            return np.zeros((0, self.height, self.width), dtype=np.uint8)
        return np.stack([polygons_to_bitmap(inst, self.height, self.width) for inst in self.masks])

    def to_tensor(self, dtype: torch.dtype = torch.uint8, device: str | torch.device = 'cpu') -> torch.Tensor:
        """Rasterized ``N x H x W`` tensor of ``dtype`` on ``device``."""
        return torch.from_numpy(self.to_ndarray()).to(dtype=dtype, device=device)


def _check_direction(direction: str) -> None:
    if direction not in ('horizontal', 'vertical', 'diagonal'):
        raise ValueError(f'flip direction must be horizontal, vertical or diagonal, got {direction!r}')


def _crop_box(bbox: Sequence[float], height: int, width: int) -> tuple[int, int, int, int]:
    b = np.asarray(bbox, dtype=np.float64).reshape(-1)
    if b.size != 4:
        raise ValueError(f'crop bbox must be [x1, y1, x2, y2], got {bbox!r}')
    x1, x2 = (int(np.clip(v, 0, width)) for v in (b[0], b[2]))
    y1, y2 = (int(np.clip(v, 0, height)) for v in (b[1], b[3]))
    if x2 < x1 or y2 < y1:
        raise ValueError(f'crop bbox {bbox!r} has x2 < x1 or y2 < y1')
    return x1, y1, x2, y2


def _clip_polygon(pts: np.ndarray, x1: float, y1: float, x2: float, y2: float) -> np.ndarray:
    """Sutherland-Hodgman clipping of an M x 2 polygon to an axis-aligned rectangle."""
    edges = ((0, x1, True), (0, x2, False), (1, y1, True), (1, y2, False))
    out = [tuple(p) for p in pts]
    for axis, bound, keep_greater in edges:
        if not out:
            break
        inside = (lambda p: p[axis] >= bound) if keep_greater else (lambda p: p[axis] <= bound)
        src, out = out, []
        for i, cur in enumerate(src):
            prev = src[i - 1]
            if inside(cur):
                if not inside(prev):
                    out.append(_intersect(prev, cur, axis, bound))
                out.append(cur)
            elif inside(prev):
                out.append(_intersect(prev, cur, axis, bound))
    return np.asarray(out, dtype=np.float64).reshape(-1, 2)


def _intersect(a: tuple, b: tuple, axis: int, bound: float) -> tuple[float, float]:
    t = (bound - a[axis]) / (b[axis] - a[axis])
    p = (a[0] + t * (b[0] - a[0]), a[1] + t * (b[1] - a[1]))
    return (bound, p[1]) if axis == 0 else (p[0], bound)
