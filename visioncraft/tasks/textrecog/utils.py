"""Cutting word images out of a scene: perspective-rectified crops of text polygons.

Shared by :class:`~visioncraft.tasks.textrecog.datasets.TextDetCropDataset`, the crop converter
(``tools/dataset_converters/textrecog/crop_textdet.py``) and the end-to-end OCR pipeline (detect, crop,
recognise).

Coordinates are absolute pixels of the image in OpenCV's convention: pixel ``(row i, col j)`` has its centre
at ``(x=j, y=i)`` and covers ``[j - 0.5, j + 0.5) x [i - 0.5, i + 0.5)``; a polygon traces the outline of
the text. So the quad ``[x0 - 0.5, y0 - 0.5, x1 + 0.5, y0 - 0.5, x1 + 0.5, y1 + 0.5, x0 - 0.5, y1 + 0.5]``
is exactly the pixels ``img[y0:y1 + 1, x0:x1 + 1]`` and :func:`crop_text_region` returns that slice.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ['text_quad', 'crop_text_region', 'expand_text_quad']

_INTERP = {'nearest': 0, 'linear': 1, 'cubic': 2, 'area': 3, 'lanczos': 4}  # cv2.INTER_* values


def text_quad(polygon: Sequence[float] | np.ndarray) -> np.ndarray:
    """The 4 x 2 float32 quad a word is cut along, reading order ``TL, TR, BR, BL`` of the crop.

    * 4 points (a quad): used as given, in its own order: the first edge (point 0 -> point 1) is the top of
      the word, so a word written upside down in the scene comes out upright when its label starts at its
      top-left (ICDAR 2015 quads, the synthetic data, DB's boxes).
    * any other number (>= 3): its minimum-area rectangle (``cv2.minAreaRect``), ordered like PaddleOCR's
      ``get_minarea_rect_crop``: the two leftmost corners (upper one first) start and end the quad:
      ``[left-upper, right-upper, right-lower, left-lower]``.

    Args:
        polygon: flat ``[x0, y0, x1, y1, ...]`` or N x 2, absolute pixels.
    """
    pts = np.asarray(polygon, dtype=np.float32).reshape(-1, 2)
    if len(pts) < 3 or not np.all(np.isfinite(pts)):
        raise ValueError(f'text_quad: need at least 3 finite points (x, y), got {np.asarray(polygon).tolist()}')
    if len(pts) == 4:
        return pts.copy()
    import cv2
    box = cv2.boxPoints(cv2.minAreaRect(pts))
    box = box[np.argsort(box[:, 0], kind='stable')]
    left = box[:2][np.argsort(box[:2, 1], kind='stable')]
    right = box[2:][np.argsort(box[2:, 1], kind='stable')]
    return np.stack([left[0], right[0], right[1], left[1]]).astype(np.float32)


def _triangle_area(a: np.ndarray, b: np.ndarray, c: np.ndarray) -> float:
    return 0.5 * abs((b[0] - a[0]) * (c[1] - a[1]) - (b[1] - a[1]) * (c[0] - a[0]))


def crop_text_region(img: np.ndarray, polygon: Sequence[float] | np.ndarray, *, rotate_tall: bool = True,
                     tall_ratio: float = 1.5, interpolation: str = 'cubic') -> np.ndarray:
    """The word inside ``polygon``, warped to an upright rectangle (PaddleOCR's ``get_rotate_crop_image``).

    The quad (see :func:`text_quad`) is mapped by a perspective transform onto a ``w x h`` rectangle with
    ``w = round(max(|TL TR|, |BL BR|))`` and ``h = round(max(|TL BL|, |TR BR|))`` (at least 1 each); its
    corners land on the rectangle's outer pixel edges, so an axis-aligned quad gives an exact slice (see the
    module docstring). Outside the image the border pixels are repeated. When ``rotate_tall`` and
    ``h >= tall_ratio * w`` the crop is rotated 90 degrees counter-clockwise (vertical text read top to
    bottom becomes a horizontal line), as PaddleOCR does.

    Args:
        img: H x W x C or H x W array (any dtype OpenCV warps; BGR uint8 in the pipelines).
        polygon: flat ``[x0, y0, x1, y1, ...]`` or N x 2, absolute pixels of ``img``; >= 3 points.
        rotate_tall: rotate tall crops (see above).
        tall_ratio: height / width ratio from which a crop counts as tall.
        interpolation: ``'nearest'``, ``'linear'``, ``'cubic'`` (default, as PaddleOCR), ``'area'`` or
            ``'lanczos'``.

    Returns:
        h x w (x C) array of ``img``'s dtype (rotated: w x h).
    """
    import cv2
    if not isinstance(img, np.ndarray) or img.ndim not in (2, 3) or img.shape[0] == 0 or img.shape[1] == 0:
        raise ValueError(f'crop_text_region: img must be a non-empty H x W or H x W x C array, got '
                         f'{getattr(img, "shape", type(img).__name__)}')
    if interpolation not in _INTERP:
        raise ValueError(f'crop_text_region: interpolation must be one of {sorted(_INTERP)}, got {interpolation!r}')
    quad = text_quad(polygon).astype(np.float64)
    tl, tr, br, bl = quad
    w = max(1, int(round(max(np.linalg.norm(tr - tl), np.linalg.norm(br - bl)))))
    h = max(1, int(round(max(np.linalg.norm(bl - tl), np.linalg.norm(br - tr)))))
    dst = np.array([[-0.5, -0.5], [w - 0.5, -0.5], [w - 0.5, h - 0.5], [-0.5, h - 0.5]], np.float32)
    # a quad with 3 collinear corners has no perspective map: fall back to its bounding box
    src = quad.astype(np.float32)
    if min(_triangle_area(*np.delete(quad, k, axis=0)) for k in range(4)) < 1e-3:
        x0, y0 = quad.min(0)
        x1, y1 = quad.max(0)
        w, h = max(1, int(round(x1 - x0))), max(1, int(round(y1 - y0)))
        src = np.array([[x0, y0], [x0 + w, y0], [x0 + w, y0 + h], [x0, y0 + h]], np.float32)
        dst = np.array([[-0.5, -0.5], [w - 0.5, -0.5], [w - 0.5, h - 0.5], [-0.5, h - 0.5]], np.float32)
    matrix = cv2.getPerspectiveTransform(src, dst)
    crop = cv2.warpPerspective(img, matrix, (w, h), flags=_INTERP[interpolation], borderMode=cv2.BORDER_REPLICATE)
    if crop.ndim == 2 and img.ndim == 3:  # OpenCV drops a single channel axis
        crop = crop[..., None]
    if rotate_tall and crop.shape[0] >= tall_ratio * crop.shape[1]:
        crop = np.ascontiguousarray(np.rot90(crop))
    return crop


def expand_text_quad(polygon, margin: float) -> np.ndarray:
    """The 4 x 2 float32 quad of ``polygon`` (:func:`text_quad`: ``TL, TR, BR,
    BL``) grown by ``margin`` times its mean height on all four sides, along its own axes (so a rotated word keeps
    its orientation). ``margin=0`` returns the quad unchanged."""
    q = text_quad(polygon).astype(np.float64)
    if not margin:
        return q.astype(np.float32)
    tl, tr, br, bl = q
    height = 0.5 * (np.linalg.norm(bl - tl) + np.linalg.norm(br - tr))
    right = 0.5 * ((tr - tl) + (br - bl))
    down = 0.5 * ((bl - tl) + (br - tr))
    right /= max(float(np.linalg.norm(right)), 1e-6)
    down /= max(float(np.linalg.norm(down)), 1e-6)
    d = float(margin) * height
    return np.stack([tl + d * (-right - down), tr + d * (right - down), br + d * (right + down),
                     bl + d * (-right + down)]).astype(np.float32)
