"""Training augmentations for word images, as MMOCR 1.x's SVTR pipeline names them (after PaddleOCR's ``rec_img_aug``
and the "Learn to Augment" paper, CVPR 2020).

- :class:`TextRecogGeneralAug`: a random smooth warp (local distortion, horizontal stretch, vertical perspective);
  the image keeps its size.
- :class:`CropHeight`: cut 1 to 8 rows (by default) off the top or the bottom; the width is kept.
- :class:`ImageContentJitter`: smear the content down-right by a few pixels (only on images of 100 pixels or more a
  side: the shift is at most 1% of the shorter side).
- :class:`ReversePixels`: ``255 - img`` (light text on dark).

All take ``img`` (H x W grey or H x W x 3 BGR, uint8), return uint8 of the same layout and keep ``img_shape`` (h, w)
up to date. Randomness comes from NumPy's global RNG, which the dataset seeds per sample.
"""
from __future__ import annotations

import numpy as np

from visioncraft.data import BaseTransform
from visioncraft.registry import TRANSFORMS

__all__ = ['TextRecogGeneralAug', 'CropHeight', 'ImageContentJitter', 'ReversePixels', 'warp_by_points']

#: spacing (pixels) of the grid on which the warp is solved exactly; in between it is interpolated linearly
_GRID = 100


def _randint(high: float) -> int:
    """A draw from ``[0, high)`` (0 when ``high`` < 1)."""
    return int(np.random.randint(max(int(high), 1)))


def _grid_nodes(size: int) -> np.ndarray:
    nodes = list(range(0, size, _GRID))
    if nodes[-1] != size - 1:
        nodes.append(size - 1)
    return np.asarray(nodes, dtype=np.float64)


def _interp_matrix(nodes: np.ndarray, size: int) -> np.ndarray:
    """``(size, len(nodes))`` weights that interpolate node values linearly at 0 .. size-1."""
    m = np.zeros((size, len(nodes)))
    if len(nodes) == 1:
        m[:, 0] = 1.0
        return m
    pos = np.arange(size, dtype=np.float64)
    right = np.clip(np.searchsorted(nodes, pos, side='right'), 1, len(nodes) - 1)
    left = right - 1
    t = (pos - nodes[left]) / (nodes[right] - nodes[left])
    m[np.arange(size), left] = 1.0 - t
    m[np.arange(size), right] = t
    return m


def _mls_similarity(points: np.ndarray, dst: np.ndarray, src: np.ndarray) -> np.ndarray:
    """Moving-least-squares similarity deformation (Schaefer et al. 2006) taking each of ``dst`` (K x 2) to the
    matching ``src`` point, evaluated at ``points`` (N x 2); returns N x 2 source positions."""
    diff = points[:, None, :] - dst[None]                          # N, K, 2
    d2 = (diff ** 2).sum(-1)
    exact = d2 == 0
    w = 1.0 / np.where(exact, 1.0, d2)
    w_sum = w.sum(1, keepdims=True)
    p_star = (w[..., None] * dst[None]).sum(1) / w_sum             # N, 2
    q_star = (w[..., None] * src[None]).sum(1) / w_sum
    p_hat = dst[None] - p_star[:, None]                            # N, K, 2
    p_perp = np.stack([-p_hat[..., 1], p_hat[..., 0]], -1)
    mu = (w * (p_hat ** 2).sum(-1)).sum(1)                         # N
    v = points - p_star
    v_perp = np.stack([-v[:, 1], v[:, 0]], -1)
    a = (p_hat * v[:, None]).sum(-1)
    b = (p_perp * v[:, None]).sum(-1)
    c = (p_hat * v_perp[:, None]).sum(-1)
    d = (p_perp * v_perp[:, None]).sum(-1)
    q_hat = src[None] - q_star[:, None]
    out_x = (w * (a * q_hat[..., 0] - b * q_hat[..., 1])).sum(1) / mu + q_star[:, 0]
    out_y = (w * (-c * q_hat[..., 0] + d * q_hat[..., 1])).sum(1) / mu + q_star[:, 1]
    out = np.stack([out_x, out_y], -1)
    hit = exact.any(1)
    if hit.any():  # a grid node on a control point maps exactly onto its partner
        out[hit] = src[exact[hit].argmax(1)]
    return out


def warp_by_points(img: np.ndarray, src_pts, dst_pts) -> np.ndarray:
    """Warp ``img`` so that each ``src_pts[k]`` (x, y pixels) lands on ``dst_pts[k]``, smoothly in between (an
    MLS similarity deformation solved on a coarse grid and interpolated); the output has ``img``'s size and dtype.
    Positions that fall outside the image repeat its border."""
    import cv2
    h, w = img.shape[:2]
    src = np.asarray(src_pts, dtype=np.float64).reshape(-1, 2)
    dst = np.asarray(dst_pts, dtype=np.float64).reshape(-1, 2)
    xs, ys = _grid_nodes(w), _grid_nodes(h)
    gx, gy = np.meshgrid(xs, ys)
    nodes = np.stack([gx.ravel(), gy.ravel()], -1)
    moved = (_mls_similarity(nodes, dst, src) - nodes).reshape(len(ys), len(xs), 2)
    wy, wx = _interp_matrix(ys, h), _interp_matrix(xs, w)
    dx = wy @ moved[..., 0] @ wx.T
    dy = wy @ moved[..., 1] @ wx.T
    map_x = np.clip(np.arange(w)[None, :] + dx, 0, w - 1).astype(np.float32)
    map_y = np.clip(np.arange(h)[:, None] + dy, 0, h - 1).astype(np.float32)
    out = cv2.remap(img, map_x, map_y, interpolation=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    return out.reshape(img.shape)


def _corners(w: int, h: int) -> list[list[float]]:
    return [[0, 0], [w, 0], [w, h], [0, h]]


def distort(img: np.ndarray, segments: int) -> np.ndarray:
    """Move the corners inwards and the ``segments - 1`` cut points on the top and bottom edges by up to a third
    of a segment's width."""
    h, w = img.shape[:2]
    cut = w // segments
    thresh = cut // 3
    half = thresh * 0.5
    src = _corners(w, h)
    dst = [[_randint(thresh), _randint(thresh)], [w - _randint(thresh), _randint(thresh)],
           [w - _randint(thresh), h - _randint(thresh)], [_randint(thresh), h - _randint(thresh)]]
    for i in range(1, segments):
        src += [[cut * i, 0], [cut * i, h]]
        dst += [[cut * i + _randint(thresh) - half, _randint(thresh) - half],
                [cut * i + _randint(thresh) - half, h + _randint(thresh) - half]]
    return warp_by_points(img, src, dst)


def stretch(img: np.ndarray, segments: int) -> np.ndarray:
    """Shift each of the ``segments - 1`` vertical cut lines sideways by up to 0.4 of a segment's width (corners
    fixed)."""
    h, w = img.shape[:2]
    cut = w // segments
    thresh = cut * 4 // 5
    src = _corners(w, h)
    dst = _corners(w, h)
    for i in range(1, segments):
        move = _randint(thresh) - thresh * 0.5
        src += [[cut * i, 0], [cut * i, h]]
        dst += [[cut * i + move, 0], [cut * i + move, h]]
    return warp_by_points(img, src, dst)


def perspective(img: np.ndarray) -> np.ndarray:
    """Move the four corners vertically inwards by up to half the height each."""
    h, w = img.shape[:2]
    thresh = h // 2
    dst = [[0, _randint(thresh)], [w, _randint(thresh)], [w, h - _randint(thresh)], [0, h - _randint(thresh)]]
    return warp_by_points(img, _corners(w, h), dst)


def _check_image(results: dict, who: str) -> np.ndarray:
    img = results.get('img')
    if not isinstance(img, np.ndarray) or img.ndim not in (2, 3) or img.shape[0] < 1 or img.shape[1] < 1:
        raise ValueError(f'{who}: needs an H x W (x C) image in results["img"] ({results.get("img_path", "?")}), '
                         f'got {type(img).__name__} {getattr(img, "shape", "")}')
    return img


@TRANSFORMS.register_module()
class TextRecogGeneralAug(BaseTransform):
    """A random smooth geometric warp of a word image (MMOCR's ``TextRecogGeneralAug``, "Learn to Augment").

    On an image at least 20 x 20: a local distortion and a horizontal stretch, each with 3 to 6 segments along the
    width; then, on an image at least 5 x 5, a vertical perspective change. The size and dtype are kept.
    """

    def transform(self, results: dict) -> dict:
        img = _check_image(results, 'TextRecogGeneralAug')
        h, w = img.shape[:2]
        if h >= 20 and w >= 20:
            img = distort(img, int(np.random.randint(3, 7)))
            img = stretch(img, int(np.random.randint(3, 7)))
        if h >= 5 and w >= 5:
            img = perspective(img)
        results['img'] = img
        results['img_shape'] = img.shape[:2]
        return results

    def __repr__(self) -> str:
        return 'TextRecogGeneralAug()'


@TRANSFORMS.register_module()
class CropHeight(BaseTransform):
    """Cut ``n`` rows off the top or (equally likely) the bottom, ``n`` uniform in ``[min_pixels, max_pixels]``
    and at most ``h - 1`` (at least one row stays). The width is kept (MMOCR's ``CropHeight``)."""

    def __init__(self, min_pixels: int = 1, max_pixels: int = 8) -> None:
        if not 0 <= int(min_pixels) <= int(max_pixels):
            raise ValueError(f'CropHeight: need 0 <= min_pixels <= max_pixels, got {min_pixels}, {max_pixels}')
        self.min_pixels, self.max_pixels = int(min_pixels), int(max_pixels)

    def transform(self, results: dict) -> dict:
        img = _check_image(results, 'CropHeight')
        h = img.shape[0]
        n = min(int(np.random.randint(self.min_pixels, self.max_pixels + 1)), h - 1)
        from_top = bool(np.random.randint(2))
        img = img[n:] if from_top else img[:h - n]
        results['img'] = np.ascontiguousarray(img)
        results['img_shape'] = img.shape[:2]
        return results


@TRANSFORMS.register_module()
class ImageContentJitter(BaseTransform):
    """Smear the image content down and right (MMOCR's ``ImageContentJitter``): ``n`` is drawn from
    ``[0, jitter_ratio * min(h, w))``; the content is then shifted by 1, 2, ..., n - 1 pixels in turn (each shift
    leaves the rows and columns it uncovers as they were). Images 10 pixels or less a side are left alone."""

    def __init__(self, jitter_ratio: float = 0.01) -> None:
        if not 0 <= jitter_ratio <= 1:
            raise ValueError(f'ImageContentJitter: jitter_ratio must be in [0, 1], got {jitter_ratio}')
        self.jitter_ratio = float(jitter_ratio)

    def transform(self, results: dict) -> dict:
        img = _check_image(results, 'ImageContentJitter')
        h, w = img.shape[:2]
        if h > 10 and w > 10:
            n = int(np.random.random_sample() * min(h, w) * self.jitter_ratio)
            if n > 1:
                img = img.copy()
                for i in range(1, n):
                    img[i:, i:] = img[:h - i, :w - i].copy()
                results['img'] = img
        return results


@TRANSFORMS.register_module()
class ReversePixels(BaseTransform):
    """Invert the image: ``255 - img`` (MMOCR's ``ReversePixels``; the result stays uint8)."""

    def transform(self, results: dict) -> dict:
        img = _check_image(results, 'ReversePixels')
        if img.dtype != np.uint8:
            raise ValueError(f'ReversePixels: needs a uint8 image, got {img.dtype} ({results.get("img_path", "?")})')
        results['img'] = 255 - img
        return results

    def __repr__(self) -> str:
        return 'ReversePixels()'
