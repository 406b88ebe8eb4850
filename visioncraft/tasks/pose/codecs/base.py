"""The keypoint codec interface, and the checks and Gaussian target builder the codecs share.

A codec turns the keypoints of one sample into training targets (``encode``) and a network's output back
into keypoints (``decode`` for one sample in numpy, ``batch_decode`` for a batch of torch tensors), so the
target a head is trained on and the decoding used at inference cannot drift apart.

Shapes (MMPose's): N instances, K keypoints, keypoints in *input* pixels (the crop the network sees, pixel
``(x, y)`` being the centre of column ``x``, row ``y``).
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = ['BaseKeypointCodec']


class BaseKeypointCodec:
    """Base class of the keypoint codecs.

    Subclasses implement ``encode(keypoints (N, K, 2), keypoints_visible (N, K) | None) -> dict`` of numpy
    targets, ``decode(...) -> (keypoints np (N, K, 2) input px, scores np (N, K))`` and ``batch_decode(...)
    -> (keypoints tensor (B, K, 2), scores tensor (B, K))``.

    ``label_mapping_table`` names the encoded keys that are per-instance labels (packed into
    ``gt_instance_labels``) and ``field_mapping_table`` those that are per-sample maps (``gt_heatmaps``), as
    MMPose's codecs do.
    """

    label_mapping_table: dict[str, str] = {}
    field_mapping_table: dict[str, str] = {}

    def encode(self, keypoints: np.ndarray, keypoints_visible: np.ndarray | None = None) -> dict:
        raise NotImplementedError

    def decode(self, *encoded: Any) -> tuple[np.ndarray, np.ndarray]:
        raise NotImplementedError

    def batch_decode(self, *encoded: Any):
        raise NotImplementedError

    def __repr__(self) -> str:
        args = ', '.join(f'{k}={v!r}' for k, v in self._repr_args().items())
        return f'{type(self).__name__}({args})'

    def _repr_args(self) -> dict:
        return {}

    # -- shared checks ----------------------------------------------------------------------------
    def _prepare(self, keypoints: np.ndarray, keypoints_visible: np.ndarray | None
                 ) -> tuple[np.ndarray, np.ndarray]:
        """Check and convert the inputs of ``encode``: float64 (N, K, 2) keypoints, float32 (N, K)
        visibility (ones when None)."""
        name = type(self).__name__
        kpts = np.asarray(keypoints)
        if kpts.ndim != 3 or kpts.shape[-1] < 2:
            raise ValueError(f'{name}.encode: keypoints must be an (N, K, 2) array of input-pixel (x, y), '
                             f'got shape {kpts.shape}')
        kpts = kpts[..., :2].astype(np.float64)
        if keypoints_visible is None:
            vis = np.ones(kpts.shape[:2], np.float32)
        else:
            vis = np.asarray(keypoints_visible, dtype=np.float32)
            if vis.shape != kpts.shape[:2]:
                raise ValueError(f'{name}.encode: keypoints_visible must have shape (N, K) = {kpts.shape[:2]}, '
                                 f'got {vis.shape}')
        return kpts, vis


def check_size(owner: str, key: str, value: Any, minimum: int = 1) -> tuple[int, int]:
    """``value`` as a ``(w, h)`` tuple of ints >= ``minimum``; an error names ``owner.key`` otherwise."""
    if not isinstance(value, Sequence) or len(value) != 2 or not all(
            isinstance(v, (int, np.integer)) and v >= minimum for v in value):
        raise ValueError(f'{owner}: {key} must be (w, h), two ints >= {minimum}, got {value!r}')
    return int(value[0]), int(value[1])


def check_positive(owner: str, key: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)) \
            or not math.isfinite(value) or value <= 0:
        raise ValueError(f'{owner}: {key} must be a positive number, got {value!r}')
    return float(value)


def check_odd(owner: str, key: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1 or value % 2 == 0:
        raise ValueError(f'{owner}: {key} must be an odd positive int, got {value!r}')
    return int(value)


def check_choice(owner: str, key: str, value: Any, choices: Sequence[str]) -> str:
    if value not in choices:
        raise ValueError(f'{owner}: {key} must be one of {", ".join(map(repr, choices))}, got {value!r}')
    return value


def gaussian_targets(mu: np.ndarray, visible: np.ndarray, size: tuple[int, int], sigma: float,
                     centre: str) -> tuple[np.ndarray, np.ndarray]:
    """Gaussian heatmaps for M keypoints at ``mu`` (M, 2) heatmap px: ``(heatmaps float32 (M, H, W),
    weights float32 (M,))`` for ``size = (W, H)``.

    ``centre``:

    * ``'rounded'`` (MSRA): the Gaussian is centred on the nearest pixel and cut to a (2r+1)^2 window,
      ``r = floor(3 sigma)``;
    * ``'exact'`` (UDP): centred on the sub-pixel position, cut to the same window around the nearest pixel;
    * ``'full'`` (DARK's unbiased encoding): centred on the sub-pixel position, over the whole map.

    A keypoint's weight is its visibility, or 0 when it is invisible (``< 0.5``), not finite, or its
    Gaussian (the window, or +-3 sigma for ``'full'``) does not reach the heatmap; its map is then zero.
    """
    W, H = size
    finite = np.isfinite(mu).all(axis=1)
    mu = np.where(finite[:, None], mu, 0.0)
    rounded = np.floor(mu + 0.5)
    if centre == 'full':
        lo, hi = mu - 3 * sigma, mu + 3 * sigma
        c = mu
    else:
        r = math.floor(3 * sigma)
        lo, hi = rounded - r, rounded + r
        c = rounded if centre == 'rounded' else mu
    reaches = (hi[:, 0] >= 0) & (lo[:, 0] <= W - 1) & (hi[:, 1] >= 0) & (lo[:, 1] <= H - 1)
    valid = (visible >= 0.5) & finite & reaches
    weights = np.where(valid, visible, 0.0).astype(np.float32)

    xs = np.arange(W, dtype=np.float64)
    ys = np.arange(H, dtype=np.float64)
    gx = np.exp(-(xs[None] - c[:, :1]) ** 2 / (2 * sigma ** 2))
    gy = np.exp(-(ys[None] - c[:, 1:]) ** 2 / (2 * sigma ** 2))
    if centre != 'full':
        gx *= (xs[None] >= lo[:, :1]) & (xs[None] <= hi[:, :1])
        gy *= (ys[None] >= lo[:, 1:]) & (ys[None] <= hi[:, 1:])
    heatmaps = gy[:, :, None] * gx[:, None, :] * valid[:, None, None]
    return heatmaps.astype(np.float32), weights
