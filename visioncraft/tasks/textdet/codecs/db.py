"""DBNet's codec: probability / threshold targets from polygons (encode) and polygons from a probability map
(decode), in one class so the shrink used in training and the un-shrink used at inference cannot drift.

Shrink (Liao et al., "Real-time Scene Text Detection with Differentiable Binarization", 2020): a polygon of area
A and perimeter L is offset inwards by ``D = A (1 - r^2) / L`` (Vatti clipping via pyclipper), r = ``shrink_ratio``.

Un-shrink: a kernel of area A' and perimeter L' is offset outwards by ``D' = A' * unclip_ratio / L'`` (the
PaddleOCR / MMOCR rule) when ``unclip_ratio`` is a number. That rule cannot invert the shrink for every aspect
ratio: for a long w x h text line D = 0.42 h, the kernel is h - 2 D = 0.16 h tall with r = 0.4, and
``D' = 0.08 h * unclip_ratio`` while ``D = 0.42 h``. It only works with a trained network whose probability
map is wider than the kernel. ``unclip_ratio=None`` instead solves for the D that produced the kernel: for a
rectangle shrunk by D, ``A' = A - L D + 4 D^2`` and ``L' = L - 8 D``; with ``A = D L / (1 - r^2)`` this gives
``(8 k + 4) D^2 + k L' D - A' = 0``, ``k = r^2 / (1 - r^2)``, whose positive root is the exact inverse for
rectangles and rotated quads and a close one for smooth curved text. Decoding also removes the raster's bias:
the kernel's area is taken from its pixel count and the outline is grown until its area matches (``_unclip``).

Pixel convention: a polygon is in continuous pixel coordinates, pixel (row i, column j) covering
[j, j + 1) x [i, i + 1); a target pixel is "inside" when its centre (j + 0.5, i + 0.5) is.
"""
from __future__ import annotations

from typing import Sequence

import cv2
import numpy as np
import pyclipper
import shapely
import torch

from visioncraft.registry import TASK_UTILS

__all__ = ['DBCodec']

def _area_perimeter(poly: np.ndarray) -> tuple[float, float]:
    """Area (shoelace, absolute) and perimeter of a K x 2 polygon."""
    x, y = poly[:, 0], poly[:, 1]
    area = 0.5 * abs(float(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))))
    perim = float(np.linalg.norm(poly - np.roll(poly, -1, axis=0), axis=1).sum())
    return area, perim


def _offset(poly: np.ndarray, distance: float) -> list[np.ndarray]:
    """Offset a K x 2 polygon by ``distance`` pixels (negative = inwards) with round joins; a list of J x 2
    float64 polygons (empty when the polygon vanishes)."""
    pco = pyclipper.PyclipperOffset()
    pco.AddPath([tuple(p) for p in np.round(poly * 64).astype(np.int64).tolist()], pyclipper.JT_ROUND,
                pyclipper.ET_CLOSEDPOLYGON)
    out = pco.Execute(distance * 64)
    return [np.asarray(p, dtype=np.float64) / 64 for p in out if len(p) >= 3]


def _raster_score(prob: np.ndarray, pts: np.ndarray) -> float:
    """Mean of ``prob`` over the pixels ``cv2.fillPoly`` sets for the integer K x 2 polygon ``pts`` (edge pixels
    included), inside its clipped bounding box: MMOCR's DB candidate score."""
    h, w = prob.shape
    x0, y0 = np.clip(np.floor(pts.min(0)).astype(np.int32), 0, [w - 1, h - 1])
    x1, y1 = np.clip(np.ceil(pts.max(0)).astype(np.int32), 0, [w - 1, h - 1])
    mask = np.zeros((y1 - y0 + 1, x1 - x0 + 1), np.uint8)
    cv2.fillPoly(mask, (pts - np.array([x0, y0])).reshape(1, -1, 2).astype(np.int32), 1)
    return float(cv2.mean(prob[y0:y1 + 1, x0:x1 + 1], mask)[0])


def _grid_offset(pts: np.ndarray, distance: float) -> np.ndarray | None:
    """The integer K x 2 polygon ``pts`` offset by ``distance`` pixels with round joins on pyclipper's integer grid
    (J x 2 float32 vertices), or None when the result is empty or falls apart into pieces of different vertex
    counts (of pieces with equal counts the first is kept: MMOCR's ``offset_polygon`` rule)."""
    pco = pyclipper.PyclipperOffset()
    pco.AddPath([tuple(p) for p in np.asarray(pts).astype(np.int64).tolist()], pyclipper.JT_ROUND,
                pyclipper.ET_CLOSEDPOLYGON)
    out = pco.Execute(distance)
    if not out or len({len(p) for p in out}) > 1:
        return None
    return np.asarray(out[0], dtype=np.float32).reshape(-1, 2)


def _fill(canvas: np.ndarray, poly: np.ndarray, value: float) -> None:
    """Set ``canvas`` to ``value`` on the pixels whose centres (j + 0.5, i + 0.5) lie inside the K x 2 float
    polygon, in place. Exact centre sampling (cv2.fillPoly also fills pixels its edges touch, which biases
    thin kernels outwards by up to a pixel)."""
    h, w = canvas.shape
    x0, y0 = np.maximum(np.floor(poly.min(0)).astype(int), 0)
    x1, y1 = np.minimum(np.ceil(poly.max(0)).astype(int), [w - 1, h - 1])
    if x1 < x0 or y1 < y0:
        return
    ys, xs = np.mgrid[y0:y1 + 1, x0:x1 + 1]
    shape = shapely.Polygon(poly)
    if not shape.is_valid:
        shape = shape.buffer(0)
    shapely.prepare(shape)
    inside = shapely.contains_xy(shape, xs.ravel() + 0.5, ys.ravel() + 0.5).reshape(ys.shape)
    canvas[y0:y1 + 1, x0:x1 + 1][inside] = value


def _segment_distance(points: np.ndarray, poly: np.ndarray) -> np.ndarray:
    """Distance from each of M x 2 points to the closed K x 2 polygon's border: an M float array."""
    a = poly
    b = np.roll(poly, -1, axis=0)
    ab = b - a  # K x 2
    ap = points[:, None, :] - a[None]  # M x K x 2
    denom = np.maximum((ab ** 2).sum(-1), 1e-12)
    t = np.clip((ap * ab[None]).sum(-1) / denom, 0.0, 1.0)
    d = ap - t[..., None] * ab[None]
    return np.sqrt((d ** 2).sum(-1)).min(axis=1)


def _contour_pixel_area(cnt: np.ndarray) -> float:
    """Pixels of a filled OpenCV contour (its interior and outline), counted on a canvas of the contour's
    bounding box only (decoding used to fill a whole-image mask per candidate; same count, far less work)."""
    x, y, w, h = cv2.boundingRect(cnt)
    mask = np.zeros((h, w), np.uint8)
    cv2.drawContours(mask, [cnt], -1, 1, thickness=-1, offset=(-x, -y))
    return float(np.count_nonzero(mask))


@TASK_UTILS.register_module()
class DBCodec:
    """Encode DBNet targets / decode DBNet probability maps.

    Args:
        shrink_ratio: r of the shrink offset ``D = A (1 - r^2) / L`` (paper and MMOCR: 0.4).
        thr_min, thr_max: the threshold map's range inside the dilated border (0.3, 0.7).
        min_text_size: polygons whose bounding box is smaller than this (pixels) on a side are masked out of
            training (PaddleOCR ``MakeShrinkMap.min_text_size``) and, unless ``min_box_size`` is set, dropped at
            decoding.
        min_box_size: decoding only: candidates narrower than this are dropped (PaddleOCR's post-processor uses a
            fixed 3 whatever the training ``min_text_size``); None: ``min_text_size``. Not part of the targets'
            fingerprint.
        thresh: the probability threshold that binarises the map at decoding.
        box_thresh: candidates whose mean probability is lower are dropped.
        unclip_ratio: ``D' = A' * unclip_ratio / L'`` (PaddleOCR / MMOCR 1.5), or None for the exact
            inverse of ``shrink_ratio`` (module docstring).
        max_candidates: at most this many contours are scored (the largest first).
        text_repr_type: 'quad' (4-point min-area rectangles) or 'poly' (polygons; PaddleOCR ``box_type``).
        score_mode: 'fast' (mean inside the candidate's min-area rectangle) or 'slow' (inside the contour).
        use_dilation: dilate the binary map with a 2 x 2 kernel before finding contours.
        epsilon_ratio: None (the decoding above, PaddleOCR's), or MMOCR 1.x's ``DBPostprocessor`` decoding: each
            contour (in ``cv2.findContours`` order, at most ``max_candidates + 1``) is simplified with
            ``cv2.approxPolyDP(contour, epsilon_ratio * perimeter)``, dropped below 4 points, scored by the mean
            probability inside it (``score_mode`` is not used), unclipped, and in 'quad' mode replaced by its
            min-area rectangle, dropped when narrower than ``min_box_size``.
    """

    def __init__(self, *, shrink_ratio: float = 0.4, thr_min: float = 0.3, thr_max: float = 0.7,
                 min_text_size: int = 3, thresh: float = 0.3, box_thresh: float = 0.6,
                 unclip_ratio: float | None = 1.5, max_candidates: int = 1000, text_repr_type: str = 'quad',
                 score_mode: str = 'fast', use_dilation: bool = False, min_box_size: float | None = None,
                 epsilon_ratio: float | None = None) -> None:
        if epsilon_ratio is not None and (epsilon_ratio < 0 or unclip_ratio is None):
            raise ValueError(f'DBCodec: epsilon_ratio (MMOCR decoding) must be >= 0 and needs a numeric unclip_ratio, '
                             f'got epsilon_ratio={epsilon_ratio}, unclip_ratio={unclip_ratio}')
        self.epsilon_ratio = epsilon_ratio
        if not 0 < shrink_ratio < 1:
            raise ValueError(f'DBCodec: shrink_ratio must be in (0, 1), got {shrink_ratio}')
        if not 0 <= thr_min < thr_max <= 1:
            raise ValueError(f'DBCodec: need 0 <= thr_min < thr_max <= 1, got {thr_min}, {thr_max}')
        if text_repr_type not in ('quad', 'poly'):
            raise ValueError(f"DBCodec: text_repr_type must be 'quad' or 'poly', got {text_repr_type!r}")
        if score_mode not in ('fast', 'slow'):
            raise ValueError(f"DBCodec: score_mode must be 'fast' or 'slow', got {score_mode!r}")
        if unclip_ratio is not None and unclip_ratio <= 0:
            raise ValueError(f'DBCodec: unclip_ratio must be > 0 or None, got {unclip_ratio}')
        self.shrink_ratio = shrink_ratio
        self.thr_min, self.thr_max = thr_min, thr_max
        self.min_text_size = min_text_size
        if min_box_size is not None and min_box_size < 0:
            raise ValueError(f'DBCodec: min_box_size must be >= 0 or None, got {min_box_size}')
        self.min_box_size = min_text_size if min_box_size is None else min_box_size
        self.thresh, self.box_thresh = thresh, box_thresh
        self.unclip_ratio = unclip_ratio
        self.max_candidates = max_candidates
        self.text_repr_type = text_repr_type
        self.score_mode = score_mode
        self.use_dilation = use_dilation

    # ------------------------------------------------------------------ encode
    def shrink_distance(self, poly: np.ndarray) -> float:
        """``D = A (1 - r^2) / L`` for a K x 2 polygon."""
        area, perim = _area_perimeter(poly)
        return area * (1 - self.shrink_ratio ** 2) / max(perim, 1e-6)

    #: bump when :meth:`encode` changes, so targets stored by an older version are refused (see target_fingerprint)
    ENCODE_VERSION = 1

    def target_fingerprint(self) -> str:
        """The settings :meth:`encode` depends on, as one string (decode-only settings such as ``thresh`` are
        left out). Targets made in the data pipeline (``GenerateDBTargets``) carry it, and ``DBHead`` refuses
        targets whose fingerprint differs from its own codec's."""
        return (f'{type(self).__name__}.encode v{self.ENCODE_VERSION}: shrink_ratio={float(self.shrink_ratio)!r}, '
                f'thr_min={float(self.thr_min)!r}, thr_max={float(self.thr_max)!r}, '
                f'min_text_size={float(self.min_text_size)!r}')

    def target_extent(self, polygons: Sequence[np.ndarray]) -> tuple[int, int]:
        """(H, W) of the smallest canvas, from the origin, outside which :meth:`encode` of these polygons (flat
        ``[x0, y0, ...]``, absolute pixels) writes nothing but the background (``shrink_map`` 0, ``shrink_mask``
        1, ``thr_map`` thr_min, ``thr_mask`` 0): each polygon grown by its shrink distance D, plus the pixel the
        clipper's rounding may add. Every pixel's value is independent of the canvas size, so maps encoded on a
        canvas covering this extent, cropped or padded with the background to any shape, equal the maps
        encoded at that shape."""
        h = w = 0
        for flat in polygons:
            poly = np.asarray(flat, np.float64).reshape(-1, 2)
            if len(poly) < 3:
                continue
            x1, y1 = poly.max(0) + self.shrink_distance(poly)  # ignored / small ones reach only the polygon
            w, h = max(w, int(np.ceil(x1)) + 2), max(h, int(np.ceil(y1)) + 2)
        return h, w

    def encode(self, polygons: Sequence[np.ndarray], ignored: Sequence[bool] | np.ndarray | None,
               img_shape: tuple[int, int]) -> dict[str, np.ndarray]:
        """Training targets of one image.

        Args:
            polygons: N flat float arrays ``[x0, y0, x1, y1, ...]`` in absolute pixels of the (padded) input.
            ignored: N bools (do-not-care instances), or None (none ignored).
            img_shape: (H, W) of the target maps.

        Returns:
            dict of H x W float32 maps: ``shrink_map`` (1 inside the shrunk kernels), ``shrink_mask`` (0 on
            ignored / too-small / vanished polygons, else 1), ``thr_map`` (in [thr_min, thr_max], highest on
            the border, decaying over the shrink distance D inside and outside), ``thr_mask`` (1 inside
            the dilated polygons).
        """
        h, w = int(img_shape[0]), int(img_shape[1])
        n = len(polygons)
        ignored = np.zeros(n, bool) if ignored is None else np.asarray(ignored, bool).reshape(-1)
        if len(ignored) != n:
            raise ValueError(f'DBCodec.encode: {n} polygons but {len(ignored)} ignored flags')
        shrink_map = np.zeros((h, w), np.float32)
        shrink_mask = np.ones((h, w), np.float32)
        canvas = np.zeros((h, w), np.float32)
        thr_mask = np.zeros((h, w), np.float32)
        for i, flat in enumerate(polygons):
            poly = np.asarray(flat, np.float64).reshape(-1, 2)
            if len(poly) < 3:
                raise ValueError(f'DBCodec.encode: polygon {i} has {len(poly)} points, needs >= 3')
            size = (poly.max(0) - poly.min(0)).min()
            if ignored[i] or size < self.min_text_size:
                _fill(shrink_mask, poly, 0.0)
                continue
            d = self.shrink_distance(poly)
            kernels = _offset(poly, -d)
            if not kernels:
                _fill(shrink_mask, poly, 0.0)
                continue
            for k in kernels:
                _fill(shrink_map, k, 1.0)
            self._draw_border(poly, d, canvas, thr_mask)
        thr_map = canvas * (self.thr_max - self.thr_min) + self.thr_min
        return dict(shrink_map=shrink_map, shrink_mask=shrink_mask, thr_map=thr_map.astype(np.float32),
                    thr_mask=thr_mask)

    @staticmethod
    def _draw_border(poly: np.ndarray, d: float, canvas: np.ndarray, mask: np.ndarray) -> None:
        """Max ``1 - dist / d`` (clipped to [0, 1]) into ``canvas`` over the polygon dilated by ``d``."""
        dilated = _offset(poly, d)
        if not dilated or d <= 0:
            return
        big = max(dilated, key=len)
        _fill(mask, big, 1.0)
        h, w = canvas.shape
        x0, y0 = np.floor(big.min(0)).astype(int)
        x1, y1 = np.ceil(big.max(0)).astype(int)
        x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, w - 1), min(y1, h - 1)
        if x1 < x0 or y1 < y0:
            return
        ys, xs = np.mgrid[y0:y1 + 1, x0:x1 + 1]
        pts = np.stack([xs.ravel() + 0.5, ys.ravel() + 0.5], 1).astype(np.float64)
        dist = _segment_distance(pts, poly).reshape(ys.shape)
        value = 1.0 - np.clip(dist / d, 0.0, 1.0)
        region = canvas[y0:y1 + 1, x0:x1 + 1]
        np.maximum(region, value.astype(np.float32), out=region)

    # ------------------------------------------------------------------ decode
    def unclip_distance(self, poly: np.ndarray, area: float | None = None) -> float:
        """The outward offset of a K x 2 kernel polygon (``unclip_ratio`` rule, or the exact inverse);
        ``area`` overrides the polygon's own area (e.g. a pixel count)."""
        own_area, perim = _area_perimeter(poly)
        area = own_area if area is None else float(area)
        if self.unclip_ratio is not None:
            return area * self.unclip_ratio / max(perim, 1e-6)
        r2 = self.shrink_ratio ** 2
        k = r2 / (1 - r2)
        a, b, c = 8 * k + 4, k * perim, -area
        return (-b + np.sqrt(b * b - 4 * a * c)) / (2 * a)

    def decode(self, prob_map: np.ndarray | torch.Tensor, scale_factor: tuple[float, float] = (1.0, 1.0),
               ori_shape: tuple[int, int] | None = None) -> tuple[list[np.ndarray], np.ndarray]:
        """Polygons from one probability map.

        Args:
            prob_map: H x W probabilities in [0, 1] (the valid image region, without padding).
            scale_factor: (w, h) of the resize from the original image to ``prob_map``; the output is divided
                by it.
            ori_shape: (H, W) of the original image to clip the output to (default: no clipping).

        Returns:
            (polygons, scores): K flat float32 arrays ``[x0, y0, ...]`` in original-image pixels (4 points in
            'quad' mode) and a float32 K array of mean probabilities.
        """
        if isinstance(prob_map, torch.Tensor):
            prob_map = prob_map.detach().float().cpu().numpy()
        prob = np.asarray(prob_map, np.float32)
        if prob.ndim != 2:
            raise ValueError(f'DBCodec.decode: prob_map must be H x W, got shape {prob.shape}')
        binary = (prob > self.thresh).astype(np.uint8)
        if self.use_dilation:
            binary = cv2.dilate(binary, np.ones((2, 2), np.uint8))
        contours, _ = cv2.findContours(binary, cv2.RETR_LIST, cv2.CHAIN_APPROX_SIMPLE)
        if self.epsilon_ratio is not None:
            return self._decode_mmocr(prob, contours, scale_factor, ori_shape)
        contours = sorted(contours, key=cv2.contourArea, reverse=True)[:self.max_candidates]
        sx, sy = float(scale_factor[0]), float(scale_factor[1])
        polys, scores = [], []
        for cnt in contours:
            if len(cnt) < 3:
                continue
            # contour points are pixel indices; +0.5 moves them to pixel centres (the frame of the polygons);
            # the half-pixel gap to the kernel's edge is closed in _unclip by matching areas
            pts = cnt.reshape(-1, 2).astype(np.float64) + 0.5
            if self.text_repr_type == 'poly':
                eps = 0.002 * cv2.arcLength(cnt, True)
                pts = cv2.approxPolyDP(cnt, eps, True).reshape(-1, 2).astype(np.float64) + 0.5
                if len(pts) < 3:
                    continue
            else:
                pts = cv2.boxPoints(cv2.minAreaRect(pts.astype(np.float32))).astype(np.float64)
            if min(cv2.minAreaRect(pts.astype(np.float32))[1]) < self.min_box_size - 2:
                continue
            outline = cnt.reshape(-1, 2).astype(np.float64) + 0.5
            if self.score_mode == 'fast':  # the contour's min-area rectangle: cheaper, a little looser
                outline = cv2.boxPoints(cv2.minAreaRect(outline.astype(np.float32))).astype(np.float64)
            score = self._score(prob, outline)
            if score < self.box_thresh:
                continue
            # the kernel's pixel count is only used by the exact un-shrink (unclip_ratio=None)
            out = self._unclip(pts, _contour_pixel_area(cnt) if self.unclip_ratio is None else 0.0)
            if out is None:
                continue
            rect = cv2.minAreaRect(out.astype(np.float32))
            if min(rect[1]) < self.min_box_size + 2:
                continue
            if self.text_repr_type == 'quad':
                out = cv2.boxPoints(rect).astype(np.float64)
            out = out / np.array([sx, sy])
            if ori_shape is not None:
                out[:, 0] = out[:, 0].clip(0, ori_shape[1])
                out[:, 1] = out[:, 1].clip(0, ori_shape[0])
            polys.append(out.reshape(-1).astype(np.float32))
            scores.append(score)
        return polys, np.asarray(scores, np.float32)

    def _decode_mmocr(self, prob: np.ndarray, contours, scale_factor, ori_shape) -> tuple[list[np.ndarray], np.ndarray]:
        """:meth:`decode` with ``epsilon_ratio`` set: MMOCR 1.x's ``DBPostprocessor`` candidate rule, on its integer
        pixel grid (the simplified contour's integer vertices are scored by the mean probability over the pixels
        ``cv2.fillPoly`` covers, and grown by pyclipper in whole pixels), so MMOCR's weights decode to MMOCR's
        polygons. ``ori_shape`` is not used (MMOCR does not clip)."""
        polys, scores = [], []
        scale = np.array([float(scale_factor[0]), float(scale_factor[1])])
        for i, cnt in enumerate(contours):
            if i > self.max_candidates:
                break
            approx = cv2.approxPolyDP(cnt, self.epsilon_ratio * cv2.arcLength(cnt, True), True)
            pts = approx.reshape(-1, 2)
            if len(pts) < 4:
                continue
            score = _raster_score(prob, pts)
            if score < self.box_thresh:
                continue
            out = _grid_offset(pts, self.unclip_distance(pts.astype(np.float64)))
            if out is None:
                continue
            if self.text_repr_type == 'quad':
                rect = cv2.minAreaRect(out)
                if min(rect[1]) < self.min_box_size:
                    continue
                out = cv2.boxPoints(rect)
            if out.size < 8:
                continue
            out = out.astype(np.float64) / scale
            polys.append(out.reshape(-1).astype(np.float32))
            scores.append(score)
        return polys, np.asarray(scores, np.float32)

    def _unclip(self, pts: np.ndarray, pixel_area: float) -> np.ndarray | None:
        """Grow the K x 2 kernel outline ``pts`` (through the centres of its boundary pixels) back to the text.

        With a numeric ``unclip_ratio``: offset ``pts`` by ``area(pts) * unclip_ratio / perimeter(pts)``.
        With ``unclip_ratio=None``: the kernel's true area is estimated by its pixel count (each pixel is in when its centre is), its
        perimeter by the outline's; the un-shrink distance D' comes from those (``unclip_distance``), and
        the outline, which lies about half a pixel inside the kernel's edge, is offset by the distance t that
        makes its area ``A' + L' D' + 4 D'^2`` (the grown kernel's), so the raster's bias cancels.
        """
        area_c, perim_c = _area_perimeter(pts)
        if perim_c <= 0:
            return None
        if self.unclip_ratio is not None:
            # the PaddleOCR / MMOCR rule as they apply it (on the candidate polygon itself), so weights trained
            # there decode the same here
            grown = _offset(pts, self.unclip_distance(pts))
            return grown[0] if len(grown) == 1 else None
        d = self.unclip_distance(pts, area=max(pixel_area, area_c))
        target = pixel_area + perim_c * d + 4 * d * d
        # area(outline offset by t) ~= area_c + perim_c t + 4 t^2 (exact for rectangles)
        t = (-perim_c + np.sqrt(perim_c ** 2 + 16 * max(target - area_c, 0.0))) / 8
        grown = _offset(pts, t)
        return grown[0] if len(grown) == 1 else None

    def _score(self, prob: np.ndarray, poly: np.ndarray) -> float:
        """Mean of ``prob`` over the pixels whose centres lie inside ``poly`` (K x 2, pixel coordinates)."""
        h, w = prob.shape
        x0, y0 = np.clip(np.floor(poly.min(0)).astype(int), 0, [w - 1, h - 1])
        x1, y1 = np.clip(np.ceil(poly.max(0)).astype(int), 0, [w - 1, h - 1])
        mask = np.zeros((y1 - y0 + 1, x1 - x0 + 1), np.uint8)
        _fill(mask, poly - np.array([x0, y0]), 1)
        sel = mask.astype(bool)
        if not sel.any():
            return 0.0
        return float(prob[y0:y1 + 1, x0:x1 + 1][sel].mean())
