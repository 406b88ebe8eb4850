"""Heatmap and SimCC helpers shared by the keypoint codecs, each in two versions:

* numpy, one sample (``*_np``): what the codecs' ``decode`` uses (MMPose's single-sample API);
* torch, a batch (no suffix): what ``batch_decode`` uses, vectorised over the batch and keypoints, on the
  tensor's device.

Both versions do the same arithmetic (a test checks they agree), written separately so that each can be
read on its own.

Coordinates here are *heatmap* pixels (or SimCC bins): pixel ``(x, y)`` is the centre of column ``x``, row
``y``; the codecs scale them to input pixels.

Refinements:

* quarter-pixel shift (MSRA's standard): from the argmax move 0.25 px towards the higher of the two
  neighbours along each axis, where MMPose does: along x when ``1 < x < W - 1`` and ``y > 0``, along y when
  ``1 < y < H - 1`` and ``x > 0`` (so not from column or row 1 either, as MMPose's ``refine_keypoints``).

A keypoint whose heatmap maximum is not positive is put at (-1, -1) heatmap px (MMPose's
``get_heatmap_maximum``: "not found"), unrefined; its score stays the maximum.
* DARK (Zhang et al., "Distribution-Aware Coordinate Representation for Human Pose Estimation", 2020):
  blur the heatmap with a Gaussian (``blur_kernel_size``; OpenCV's sigma for that size, zero padding) so it is
  closer to a Gaussian, take the log (a quadratic for a Gaussian), then one Newton step from the argmax:
  ``offset = -H^-1 g`` with central differences for the gradient ``g`` and Hessian ``H``. The step is applied
  only where the argmax is an interior pixel and the log-heatmap is concave there (``dxx < 0``,
  ``det H > 0``), and is clamped to +-1 px per axis: a noisy prediction can never move a keypoint by more than
  one heatmap pixel. Scaling a heatmap does not change the step, so the blurred map is not renormalised.
  This is the form :class:`UDPHeatmap` decodes with.
* MSRA's DARK (``MSRAHeatmap(unbiased=True)``), computed as MMPose's ``refine_keypoints_dark`` so that the
  keypoints are MMPose's to float precision: the zero-padded blur is rescaled to the raw map's maximum,
  clamped to 1e-10 and logged; the gradient uses central differences, the Hessian's ``dxx`` / ``dyy`` use the
  points two pixels away (``(m[x+2] - 2 m[x] + m[x-2]) / 4``); the step is taken for argmaxes with
  ``1 < x < W - 2`` and ``1 < y < H - 2`` wherever the Hessian is not singular, neither checked for
  concavity nor clamped (a noisy heatmap can move a keypoint by many pixels, as in MMPose).
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

__all__ = [
    'gaussian_kernel1d', 'blur_kernel_size_for_sigma',
    'get_heatmap_maximum_np', 'refine_quarter_np', 'gaussian_blur_np', 'refine_dark_np', 'refine_dark_msra_np',
    'get_simcc_maximum_np', 'refine_simcc_dark_np',
    'get_heatmap_maximum', 'refine_quarter', 'gaussian_blur', 'refine_dark', 'refine_dark_msra',
    'get_simcc_maximum', 'refine_simcc_dark', 'decode_heatmaps_np', 'decode_heatmaps',
]

_LOG_EPS = 1e-10   # heatmap values are clamped to this before the log
_MAX_STEP = 1.0    # a DARK step moves a keypoint by at most this many heatmap pixels per axis


def gaussian_kernel1d(kernel_size: int) -> np.ndarray:
    """A normalised 1-D Gaussian kernel of odd ``kernel_size`` (float64), with OpenCV's sigma for that size
    (``0.3 * ((kernel_size - 1) * 0.5 - 1) + 0.8``: 2.0 for 11, 3.5 for 21)."""
    if not isinstance(kernel_size, (int, np.integer)) or kernel_size < 1 or kernel_size % 2 == 0:
        raise ValueError(f'blur kernel size must be an odd positive int, got {kernel_size!r}')
    sigma = 0.3 * ((kernel_size - 1) * 0.5 - 1) + 0.8
    r = (kernel_size - 1) // 2
    x = np.arange(-r, r + 1, dtype=np.float64)
    k = np.exp(-x ** 2 / (2 * sigma ** 2))
    return k / k.sum()


def blur_kernel_size_for_sigma(sigma: float) -> int:
    """The odd blur kernel size SimCC's DARK uses for a label of ``sigma`` bins: ``(20 sigma - 7) // 3``,
    made odd (37 for sigma 6), at least 3."""
    ks = int((sigma * 20 - 7) // 3)
    ks -= int(ks % 2 == 0)
    return max(ks, 3)


# ----------------------------------------------------------------------------------------------------
# numpy, one sample
# ----------------------------------------------------------------------------------------------------
def get_heatmap_maximum_np(heatmaps: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Argmax of each (H, W) map of a (K, H, W) array: ``(locs float32 (K, 2) as (x, y) heatmap px,
    vals float32 (K,))``. Ties go to the first pixel in row-major order."""
    K, H, W = heatmaps.shape
    flat = heatmaps.reshape(K, H * W)
    idx = flat.argmax(axis=1)
    vals = flat[np.arange(K), idx]
    locs = np.stack([idx % W, idx // W], axis=-1).astype(np.float32)
    return locs, vals.astype(np.float32)


def refine_quarter_np(locs: np.ndarray, heatmaps: np.ndarray) -> np.ndarray:
    """Move integer ``locs`` (K, 2) 0.25 px towards the higher neighbour of each axis (MSRA's decode);
    returns a new float32 (K, 2) array."""
    K, H, W = heatmaps.shape
    out = locs.astype(np.float32).copy()
    for k in range(K):
        x, y = int(locs[k, 0]), int(locs[k, 1])
        if 1 < x < W - 1 and y > 0:
            out[k, 0] += 0.25 * np.sign(heatmaps[k, y, x + 1] - heatmaps[k, y, x - 1])
        if 1 < y < H - 1 and x > 0:
            out[k, 1] += 0.25 * np.sign(heatmaps[k, y + 1, x] - heatmaps[k, y - 1, x])
    return out


def _blur_axis_np(a: np.ndarray, kernel: np.ndarray, axis: int) -> np.ndarray:
    r = len(kernel) // 2
    pad = [(0, 0)] * a.ndim
    pad[axis] = (r, r)
    padded = np.pad(a, pad)  # zeros outside the map
    windows = np.lib.stride_tricks.sliding_window_view(padded, len(kernel), axis=axis)
    return windows @ kernel  # the window is the last axis (kernel is symmetric)


def gaussian_blur_np(heatmaps: np.ndarray, kernel_size: int) -> np.ndarray:
    """Blur each map of a (..., H, W) array with a Gaussian of ``kernel_size`` (zero padding); float64."""
    kernel = gaussian_kernel1d(kernel_size)
    out = _blur_axis_np(heatmaps.astype(np.float64), kernel, axis=-1)
    if heatmaps.ndim >= 2:
        out = _blur_axis_np(out, kernel, axis=-2)
    return out


def refine_dark_np(locs: np.ndarray, heatmaps: np.ndarray, blur_kernel_size: int) -> np.ndarray:
    """DARK refinement (see the module docstring) of integer argmax ``locs`` (K, 2) on ``heatmaps``
    (K, H, W); returns a new float32 (K, 2) array in heatmap px."""
    K, H, W = heatmaps.shape
    logh = np.log(np.maximum(gaussian_blur_np(heatmaps, blur_kernel_size), _LOG_EPS))
    out = locs.astype(np.float32).copy()
    for k in range(K):
        x, y = int(locs[k, 0]), int(locs[k, 1])
        if not (0 < x < W - 1 and 0 < y < H - 1):
            continue
        m = logh[k]
        dx = 0.5 * (m[y, x + 1] - m[y, x - 1])
        dy = 0.5 * (m[y + 1, x] - m[y - 1, x])
        dxx = m[y, x + 1] - 2 * m[y, x] + m[y, x - 1]
        dyy = m[y + 1, x] - 2 * m[y, x] + m[y - 1, x]
        dxy = 0.25 * (m[y + 1, x + 1] - m[y + 1, x - 1] - m[y - 1, x + 1] + m[y - 1, x - 1])
        det = dxx * dyy - dxy * dxy
        if dxx < 0 and det > 0:
            hess = np.array([[dxx, dxy], [dxy, dyy]])
            step = -np.linalg.solve(hess, np.array([dx, dy]))
            out[k] += np.clip(step, -_MAX_STEP, _MAX_STEP).astype(np.float32)
    return out


def _dark_msra_log_np(heatmaps: np.ndarray, blur_kernel_size: int) -> np.ndarray:
    """The log of the blurred (K, H, W) maps as MSRA's DARK takes it: the blur rescaled so that each map keeps
    its maximum, clamped to 1e-10; float32."""
    heatmaps = heatmaps.astype(np.float32)
    blurred = gaussian_blur_np(heatmaps, blur_kernel_size).astype(np.float32)
    with np.errstate(divide='ignore', invalid='ignore'):
        blurred *= heatmaps.max(axis=(-2, -1), keepdims=True) / blurred.max(axis=(-2, -1), keepdims=True)
    return np.log(np.maximum(blurred, np.float32(_LOG_EPS)))


def refine_dark_msra_np(locs: np.ndarray, heatmaps: np.ndarray, blur_kernel_size: int) -> np.ndarray:
    """MSRA's DARK refinement (MMPose's, see the module docstring) of integer argmax ``locs`` (K, 2) on
    ``heatmaps`` (K, H, W); returns a new float32 (K, 2) array in heatmap px."""
    K, H, W = heatmaps.shape
    logh = _dark_msra_log_np(heatmaps, blur_kernel_size)
    out = locs.astype(np.float32).copy()
    for k in range(K):
        x, y = int(locs[k, 0]), int(locs[k, 1])
        if not (1 < x < W - 2 and 1 < y < H - 2):
            continue
        m = logh[k]
        dx = 0.5 * (m[y, x + 1] - m[y, x - 1])
        dy = 0.5 * (m[y + 1, x] - m[y - 1, x])
        dxx = 0.25 * (m[y, x + 2] - 2 * m[y, x] + m[y, x - 2])
        dyy = 0.25 * (m[y + 2, x] - 2 * m[y, x] + m[y - 2, x])
        dxy = 0.25 * (m[y + 1, x + 1] - m[y - 1, x + 1] - m[y + 1, x - 1] + m[y - 1, x - 1])
        if dxx * dyy - dxy ** 2 != 0:
            out[k] -= (np.linalg.inv(np.array([[dxx, dxy], [dxy, dyy]])) @ np.array([dx, dy])).astype(np.float32)
    return out


def get_simcc_maximum_np(simcc_x: np.ndarray, simcc_y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Argmax bins of (N, K, Wx) and (N, K, Hy) SimCC vectors: ``(locs float32 (N, K, 2) in bins,
    scores float32 (N, K))``, the score being the smaller of the two axes' maxima (MMPose's). A keypoint whose
    score is not positive is put at bin (-1, -1) (MMPose's "not found", as for heatmaps)."""
    x_idx = simcc_x.argmax(axis=-1)
    y_idx = simcc_y.argmax(axis=-1)
    x_val = np.take_along_axis(simcc_x, x_idx[..., None], axis=-1)[..., 0]
    y_val = np.take_along_axis(simcc_y, y_idx[..., None], axis=-1)[..., 0]
    locs = np.stack([x_idx, y_idx], axis=-1).astype(np.float32)
    scores = np.minimum(x_val, y_val).astype(np.float32)
    locs[scores <= 0] = -1
    return locs, scores


def refine_simcc_dark_np(locs: np.ndarray, simcc: np.ndarray, blur_kernel_size: int) -> np.ndarray:
    """1-D DARK on SimCC vectors: ``locs`` (N, K) integer argmax bins of ``simcc`` (N, K, L); returns a new
    float32 (N, K) array of refined bins."""
    N, K, L = simcc.shape
    logv = np.log(np.maximum(_blur_axis_np(simcc.astype(np.float64), gaussian_kernel1d(blur_kernel_size), -1),
                             _LOG_EPS))
    out = locs.astype(np.float32).copy()
    for n in range(N):
        for k in range(K):
            i = int(locs[n, k])
            if not 0 < i < L - 1:
                continue
            v = logv[n, k]
            d = 0.5 * (v[i + 1] - v[i - 1])
            dd = v[i + 1] - 2 * v[i] + v[i - 1]
            if dd < 0:
                out[n, k] += np.float32(np.clip(-d / dd, -_MAX_STEP, _MAX_STEP))
    return out


# ----------------------------------------------------------------------------------------------------
# torch, a batch (vectorised, on the input's device)
# ----------------------------------------------------------------------------------------------------
def get_heatmap_maximum(heatmaps: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Argmax of each map of a (B, K, H, W) tensor: ``(locs long (B, K, 2) as (x, y), vals (B, K))``."""
    B, K, H, W = heatmaps.shape
    vals, idx = heatmaps.reshape(B, K, H * W).max(dim=-1)
    return torch.stack([idx % W, torch.div(idx, W, rounding_mode='floor')], dim=-1), vals


def _gather2d(maps: torch.Tensor, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """``maps[b, k, y[b, k], x[b, k]]`` for (B, K, H, W) maps and (B, K) long indices."""
    B, K, H, W = maps.shape
    return maps.reshape(B, K, H * W).gather(-1, (y * W + x).unsqueeze(-1)).squeeze(-1)


def refine_quarter(locs: torch.Tensor, heatmaps: torch.Tensor) -> torch.Tensor:
    """Batched :func:`refine_quarter_np`: long ``locs`` (B, K, 2), ``heatmaps`` (B, K, H, W) -> float (B, K, 2)."""
    B, K, H, W = heatmaps.shape
    x, y = locs[..., 0], locs[..., 1]
    xl, xr = (x - 1).clamp(0, W - 1), (x + 1).clamp(0, W - 1)
    yu, yd = (y - 1).clamp(0, H - 1), (y + 1).clamp(0, H - 1)
    dx = torch.sign(_gather2d(heatmaps, xr, y) - _gather2d(heatmaps, xl, y)) * ((x > 1) & (x < W - 1) & (y > 0))
    dy = torch.sign(_gather2d(heatmaps, x, yd) - _gather2d(heatmaps, x, yu)) * ((y > 1) & (y < H - 1) & (x > 0))
    return locs.to(heatmaps.dtype) + 0.25 * torch.stack([dx, dy], dim=-1)


def _band_matrix(n: int, kernel_size: int, like: torch.Tensor) -> torch.Tensor:
    """The (n, n) matrix ``M`` for which ``M @ v`` is ``v`` blurred by the Gaussian of ``kernel_size`` with
    zero padding: ``M[i, j] = kernel[j - i + r]`` for ``|j - i| <= r``; ``like``'s dtype and device."""
    kernel = torch.as_tensor(gaussian_kernel1d(kernel_size), dtype=like.dtype, device=like.device)
    i = torch.arange(n, device=like.device)
    off = i.unsqueeze(0) - i.unsqueeze(1) + kernel_size // 2
    return kernel[off.clamp(0, kernel_size - 1)] * ((off >= 0) & (off < kernel_size))


def gaussian_blur(maps: torch.Tensor, kernel_size: int) -> torch.Tensor:
    """Blur the last two axes (or, for a 3-D (B, K, L) input, the last axis) with a Gaussian of
    ``kernel_size`` (zero padding), as :func:`gaussian_blur_np`. Done as two matrix products with banded
    matrices, which is much faster than a single-channel convolution on CPU."""
    if maps.ndim == 3:  # SimCC vectors
        return maps @ _band_matrix(maps.shape[-1], kernel_size, maps).T
    H, W = maps.shape[-2:]
    return _band_matrix(H, kernel_size, maps) @ maps @ _band_matrix(W, kernel_size, maps).T


def refine_dark(locs: torch.Tensor, heatmaps: torch.Tensor, blur_kernel_size: int) -> torch.Tensor:
    """Batched :func:`refine_dark_np`: long ``locs`` (B, K, 2), ``heatmaps`` (B, K, H, W) -> float (B, K, 2).

    Only the 3x3 patch of the blurred map around each argmax is needed, so only that is computed:
    ``rows (3, H) @ heatmap (H, W) @ cols (W, 3)`` with the rows / columns of the blur's banded matrices."""
    B, K, H, W = heatmaps.shape
    x, y = locs[..., 0], locs[..., 1]
    inside = (x > 0) & (x < W - 1) & (y > 0) & (y < H - 1)
    offs = torch.arange(-1, 2, device=locs.device)
    ys = (y.clamp(1, max(H - 2, 1)).unsqueeze(-1) + offs).clamp(0, H - 1)   # (B, K, 3)
    xs = (x.clamp(1, max(W - 2, 1)).unsqueeze(-1) + offs).clamp(0, W - 1)
    rows = _band_matrix(H, blur_kernel_size, heatmaps)[ys]                    # (B, K, 3, H)
    cols = _band_matrix(W, blur_kernel_size, heatmaps)[xs]                    # (B, K, 3, W)
    m = (rows @ heatmaps @ cols.transpose(-1, -2)).clamp_min(_LOG_EPS).log()  # (B, K, 3, 3), [dy, dx]
    c = m[..., 1, 1]
    xp, xm, yp, ym = m[..., 1, 2], m[..., 1, 0], m[..., 2, 1], m[..., 0, 1]
    dx, dy = 0.5 * (xp - xm), 0.5 * (yp - ym)
    dxx, dyy = xp - 2 * c + xm, yp - 2 * c + ym
    dxy = 0.25 * (m[..., 2, 2] - m[..., 2, 0] - m[..., 0, 2] + m[..., 0, 0])
    det = dxx * dyy - dxy * dxy
    ok = inside & (dxx < 0) & (det > 0)
    safe_det = torch.where(ok, det, torch.ones_like(det))
    # offset = -H^-1 g with the 2x2 inverse written out
    ox = -(dyy * dx - dxy * dy) / safe_det
    oy = -(dxx * dy - dxy * dx) / safe_det
    step = torch.stack([ox, oy], dim=-1).clamp(-_MAX_STEP, _MAX_STEP) * ok.unsqueeze(-1)
    return locs.to(heatmaps.dtype) + step


def refine_dark_msra(locs: torch.Tensor, heatmaps: torch.Tensor, blur_kernel_size: int) -> torch.Tensor:
    """Batched :func:`refine_dark_msra_np`: long ``locs`` (B, K, 2), ``heatmaps`` (B, K, H, W) -> float
    (B, K, 2). The whole blurred map is needed (its maximum rescales it)."""
    B, K, H, W = heatmaps.shape
    blurred = gaussian_blur(heatmaps, blur_kernel_size)
    blurred = blurred * (heatmaps.amax(dim=(-2, -1), keepdim=True) / blurred.amax(dim=(-2, -1), keepdim=True))
    m = blurred.clamp_min(_LOG_EPS).log()
    x, y = locs[..., 0], locs[..., 1]
    inside = (x > 1) & (x < W - 2) & (y > 1) & (y < H - 2)

    def at(ox: int, oy: int) -> torch.Tensor:
        return _gather2d(m, (x + ox).clamp(0, W - 1), (y + oy).clamp(0, H - 1))
    c = at(0, 0)
    dx, dy = 0.5 * (at(1, 0) - at(-1, 0)), 0.5 * (at(0, 1) - at(0, -1))
    dxx = 0.25 * (at(2, 0) - 2 * c + at(-2, 0))
    dyy = 0.25 * (at(0, 2) - 2 * c + at(0, -2))
    dxy = 0.25 * (at(1, 1) - at(1, -1) - at(-1, 1) + at(-1, -1))
    det = dxx * dyy - dxy * dxy
    ok = inside & (det != 0)
    safe_det = torch.where(ok, det, torch.ones_like(det))
    ox = -(dyy * dx - dxy * dy) / safe_det   # -H^-1 g, the 2x2 inverse written out
    oy = -(dxx * dy - dxy * dx) / safe_det
    return locs.to(heatmaps.dtype) + torch.stack([ox, oy], dim=-1) * ok.unsqueeze(-1)


def get_simcc_maximum(simcc_x: torch.Tensor, simcc_y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Batched :func:`get_simcc_maximum_np`: ``(locs long (B, K, 2) in bins, -1 where the score is not
    positive, scores (B, K))``."""
    x_val, x_idx = simcc_x.max(dim=-1)
    y_val, y_idx = simcc_y.max(dim=-1)
    scores = torch.minimum(x_val, y_val)
    locs = torch.stack([x_idx, y_idx], dim=-1)
    return torch.where((scores <= 0).unsqueeze(-1), torch.full_like(locs, -1), locs), scores


def refine_simcc_dark(locs: torch.Tensor, simcc: torch.Tensor, blur_kernel_size: int) -> torch.Tensor:
    """Batched :func:`refine_simcc_dark_np`: long ``locs`` (B, K), ``simcc`` (B, K, L) -> float (B, K); only
    the three blurred values around each argmax are computed, each from its ``blur_kernel_size`` window."""
    L = simcc.shape[-1]
    r = blur_kernel_size // 2
    kernel = torch.as_tensor(gaussian_kernel1d(blur_kernel_size), dtype=simcc.dtype, device=simcc.device)
    centre = (locs.clamp(1, max(L - 2, 1)).unsqueeze(-1) + torch.arange(-1, 2, device=locs.device)).clamp(0, L - 1)
    # blurred[q] = sum_t kernel[t] * v[q + t - r], v zero outside [0, L): index q + t of v padded by r zeros
    window = centre.unsqueeze(-1) + torch.arange(blur_kernel_size, device=locs.device)    # (B, K, 3, ks)
    padded = F.pad(simcc, (r, r))
    B, K, _ = simcc.shape
    vals = padded.gather(-1, window.reshape(B, K, -1)).reshape(window.shape)
    v = (vals @ kernel).clamp_min(_LOG_EPS).log()                                          # (B, K, 3)
    d, dd = 0.5 * (v[..., 2] - v[..., 0]), v[..., 2] - 2 * v[..., 1] + v[..., 0]
    ok = (locs > 0) & (locs < L - 1) & (dd < 0)
    step = (-d / torch.where(ok, dd, torch.ones_like(dd))).clamp(-_MAX_STEP, _MAX_STEP) * ok
    return locs.to(simcc.dtype) + step


# ----------------------------------------------------------------------------------------------------
# whole heatmap decodes (argmax + refinement), in heatmap pixels
# ----------------------------------------------------------------------------------------------------
def decode_heatmaps_np(heatmaps: np.ndarray, refine: str, blur_kernel_size: int = 11
                       ) -> tuple[np.ndarray, np.ndarray]:
    """Keypoints of one sample's (K, H, W) heatmaps: ``(locs float32 (K, 2) heatmap px, scores float32
    (K,))``; the score is the heatmap maximum. ``refine``: ``'quarter'`` (MSRA's 0.25 px shift), ``'dark_msra'``
    (MSRA's DARK, MMPose's form), ``'dark'`` (UDP's)
    or ``'none'``."""
    heatmaps = np.asarray(heatmaps, dtype=np.float32)
    locs, scores = get_heatmap_maximum_np(heatmaps)
    if refine == 'quarter':
        locs = refine_quarter_np(locs, heatmaps)
    elif refine == 'dark':
        locs = refine_dark_np(locs, heatmaps, blur_kernel_size)
    elif refine == 'dark_msra':
        locs = refine_dark_msra_np(locs, heatmaps, blur_kernel_size)
    locs[scores <= 0] = -1  # no positive response: "not found" (MMPose's)
    return locs, scores


def decode_heatmaps(heatmaps: torch.Tensor, refine: str, blur_kernel_size: int = 11
                    ) -> tuple[torch.Tensor, torch.Tensor]:
    """Batched :func:`decode_heatmaps_np`: (B, K, H, W) -> ``(locs float32 (B, K, 2), scores float32 (B, K))``
    on the input's device (half-precision input is decoded in float32)."""
    heatmaps = heatmaps.detach().float()
    locs, scores = get_heatmap_maximum(heatmaps)
    if refine == 'quarter':
        out = refine_quarter(locs, heatmaps)
    elif refine == 'dark':
        out = refine_dark(locs, heatmaps, blur_kernel_size)
    elif refine == 'dark_msra':
        out = refine_dark_msra(locs, heatmaps, blur_kernel_size)
    else:
        out = locs.float()
    out = torch.where((scores <= 0).unsqueeze(-1), torch.full_like(out, -1.0), out)  # "not found" (MMPose's)
    return out, scores
