"""SimCCLabel: keypoints as two 1-D classification targets, one per axis (Li et al., "SimCC: a Simple
Coordinate Classification Perspective for Human Pose Estimation", 2022), as RTMPose uses them."""
from __future__ import annotations

import math

import numpy as np
import torch

from visioncraft.registry import KEYPOINT_CODECS

from .base import BaseKeypointCodec, check_choice, check_positive, check_size
from .utils import (blur_kernel_size_for_sigma, get_simcc_maximum, get_simcc_maximum_np, refine_simcc_dark,
                    refine_simcc_dark_np)

__all__ = ['SimCCLabel']


@KEYPOINT_CODECS.register_module()
class SimCCLabel(BaseKeypointCodec):
    """Keypoints as SimCC labels.

    Coordinates: keypoints are in input pixels (``input_size = (w, h)``, pixel ``(x, y)`` the centre of
    column ``x``); the x axis is split into ``Wx = round(w * simcc_split_ratio)`` bins and bin ``i`` stands for
    ``x = i / simcc_split_ratio`` (``y`` likewise with ``Hy = round(h * simcc_split_ratio)``). ``sigma`` is
    in bins.

    ``smoothing_type``:

    * ``'gaussian'``: ``exp(-(i - x * ratio)^2 / (2 sigma^2))`` over all bins, centred on the exact
      sub-bin position (MMPose rounds the centre to a bin first, which caps the round trip at a quarter of a
      bin; the exact centre lets ``use_dark`` recover sub-bin positions), divided by ``sigma * sqrt(2 pi)``
      when ``normalize``.
    * ``'standard'``: one-hot at the nearest bin, or with ``label_smooth_weight`` ``1 - weight`` there and
      ``weight / (L - 1)`` elsewhere.

    Weights: a keypoint's visibility, 0 when it is invisible (< 0.5), not finite, or outside the bins
    (``'standard'``: nearest bin outside ``[0, L)``; ``'gaussian'``: the +-3 sigma band misses the bins on
    either axis).

    Decoding: the argmax bin of each axis; the score is the smaller of the two maxima (MMPose's). With
    ``use_dark`` each axis is refined by a 1-D DARK step (blur with an odd kernel of ``(20 sigma - 7) // 3``,
    Taylor step on the log). Round trip on the codec's own Gaussian labels: within half a bin per axis
    without DARK, a few hundredths of a pixel with it.

    Args:
        input_size: (w, h) of the network input, pixels.
        smoothing_type: ``'gaussian'`` or ``'standard'``.
        sigma: Gaussian sigma in bins, one number or ``(sigma_x, sigma_y)``.
        simcc_split_ratio: bins per input pixel.
        label_smooth_weight: label smoothing of ``'standard'`` labels, in [0, 1).
        normalize: divide Gaussian labels by ``sigma * sqrt(2 pi)``.
        use_dark: refine decoded positions with 1-D DARK.

    ``encode`` returns ``keypoint_x_labels`` float32 (N, K, Wx), ``keypoint_y_labels`` float32 (N, K, Hy)
    and ``keypoint_weights`` float32 (N, K).
    """

    label_mapping_table = dict(keypoint_x_labels='keypoint_x_labels', keypoint_y_labels='keypoint_y_labels',
                               keypoint_weights='keypoint_weights')
    field_mapping_table: dict[str, str] = {}

    def __init__(self, input_size: tuple[int, int], smoothing_type: str = 'gaussian',
                 sigma: float | tuple[float, float] = 6.0, simcc_split_ratio: float = 2.0,
                 label_smooth_weight: float = 0.0, normalize: bool = True, use_dark: bool = False) -> None:
        name = type(self).__name__
        self.input_size = check_size(name, 'input_size', input_size)
        self.smoothing_type = check_choice(name, 'smoothing_type', smoothing_type, ('gaussian', 'standard'))
        if isinstance(sigma, (list, tuple)):
            if len(sigma) != 2:
                raise ValueError(f'{name}: sigma must be a number or (sigma_x, sigma_y), got {sigma!r}')
            self.sigma = np.array([check_positive(name, 'sigma', s) for s in sigma], np.float64)
        else:
            s = check_positive(name, 'sigma', sigma)
            self.sigma = np.array([s, s], np.float64)
        self.simcc_split_ratio = check_positive(name, 'simcc_split_ratio', simcc_split_ratio)
        if isinstance(label_smooth_weight, bool) or not 0.0 <= float(label_smooth_weight) < 1.0:
            raise ValueError(f'{name}: label_smooth_weight must be in [0, 1), got {label_smooth_weight!r}')
        if smoothing_type == 'gaussian' and label_smooth_weight > 0:
            raise ValueError(f"{name}: label_smooth_weight={label_smooth_weight} only applies to "
                             f"smoothing_type='standard', not 'gaussian'")
        self.label_smooth_weight = float(label_smooth_weight)
        self.normalize = bool(normalize)
        self.use_dark = bool(use_dark)
        w, h = self.input_size
        self.simcc_size = (int(math.floor(w * self.simcc_split_ratio + 0.5)),
                           int(math.floor(h * self.simcc_split_ratio + 0.5)))  # (Wx, Hy)
        self.blur_kernel_sizes = tuple(blur_kernel_size_for_sigma(s) for s in self.sigma)

    def _repr_args(self) -> dict:
        return dict(input_size=self.input_size, smoothing_type=self.smoothing_type,
                    sigma=tuple(float(s) for s in self.sigma), simcc_split_ratio=self.simcc_split_ratio,
                    label_smooth_weight=self.label_smooth_weight, normalize=self.normalize, use_dark=self.use_dark)

    def encode(self, keypoints: np.ndarray, keypoints_visible: np.ndarray | None = None) -> dict:
        """Labels for ``keypoints`` (N, K, 2) in input px with ``keypoints_visible`` (N, K) (ones when None):
        ``dict(keypoint_x_labels (N, K, Wx), keypoint_y_labels (N, K, Hy), keypoint_weights (N, K))``,
        float32."""
        kpts, vis = self._prepare(keypoints, keypoints_visible)
        finite = np.isfinite(kpts).all(axis=-1)
        mu = np.where(finite[..., None], kpts, 0.0) * self.simcc_split_ratio      # (N, K, 2) in bins
        sizes = np.array(self.simcc_size, np.float64)
        if self.smoothing_type == 'gaussian':
            reach = ((mu + 3 * self.sigma >= 0) & (mu - 3 * self.sigma <= sizes - 1)).all(axis=-1)
        else:
            mu = np.floor(mu + 0.5)
            reach = ((mu >= 0) & (mu <= sizes - 1)).all(axis=-1)
        valid = (vis >= 0.5) & finite & reach
        labels = []
        for axis, length in enumerate(self.simcc_size):
            bins = np.arange(length, dtype=np.float64)
            if self.smoothing_type == 'gaussian':
                s = self.sigma[axis]
                lab = np.exp(-(bins - mu[..., axis:axis + 1]) ** 2 / (2 * s ** 2))
                if self.normalize:
                    lab = lab / (s * math.sqrt(2 * math.pi))
            else:
                hot = bins == mu[..., axis:axis + 1]
                off = self.label_smooth_weight / (length - 1) if length > 1 else 0.0
                lab = np.where(hot, 1.0 - self.label_smooth_weight, off)
            labels.append((lab * valid[..., None]).astype(np.float32))
        weights = np.where(valid, vis, 0.0).astype(np.float32)
        return dict(keypoint_x_labels=labels[0], keypoint_y_labels=labels[1], keypoint_weights=weights)

    def _check(self, method: str, x_shape: tuple, y_shape: tuple, ndims: tuple[int, ...], layout: str) -> None:
        Wx, Hy = self.simcc_size
        if len(x_shape) not in ndims or len(y_shape) != len(x_shape) or x_shape[:-1] != y_shape[:-1] \
                or x_shape[-1] != Wx or y_shape[-1] != Hy:
            raise ValueError(f'{type(self).__name__}.{method}: expected simcc_x {layout[0]} and simcc_y {layout[1]} '
                             f'with Wx={Wx}, Hy={Hy} (input_size={self.input_size}, simcc_split_ratio='
                             f'{self.simcc_split_ratio}), got {tuple(x_shape)} and {tuple(y_shape)}')

    def decode(self, simcc_x: np.ndarray, simcc_y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Keypoints from SimCC vectors ``simcc_x`` (N, K, Wx) or (K, Wx) and ``simcc_y`` (N, K, Hy) or
        (K, Hy): ``(keypoints float32 (N, K, 2) input px, scores float32 (N, K))``."""
        simcc_x, simcc_y = np.asarray(simcc_x, np.float32), np.asarray(simcc_y, np.float32)
        self._check('decode', simcc_x.shape, simcc_y.shape, (2, 3), ('(N, K, Wx)', '(N, K, Hy)'))
        if simcc_x.ndim == 2:
            simcc_x, simcc_y = simcc_x[None], simcc_y[None]
        locs, scores = get_simcc_maximum_np(simcc_x, simcc_y)
        if self.use_dark:
            locs[..., 0] = refine_simcc_dark_np(locs[..., 0], simcc_x, self.blur_kernel_sizes[0])
            locs[..., 1] = refine_simcc_dark_np(locs[..., 1], simcc_y, self.blur_kernel_sizes[1])
        return (locs / np.float32(self.simcc_split_ratio)).astype(np.float32), scores

    def batch_decode(self, simcc_x: torch.Tensor, simcc_y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Keypoints from a batch of SimCC vectors ``simcc_x`` (B, K, Wx), ``simcc_y`` (B, K, Hy), on their
        device: ``(keypoints float32 (B, K, 2) input px, scores float32 (B, K))``."""
        self._check('batch_decode', tuple(simcc_x.shape), tuple(simcc_y.shape), (3,), ('(B, K, Wx)', '(B, K, Hy)'))
        simcc_x, simcc_y = simcc_x.detach().float(), simcc_y.detach().float()
        ilocs, scores = get_simcc_maximum(simcc_x, simcc_y)
        if self.use_dark:
            locs = torch.stack([refine_simcc_dark(ilocs[..., 0], simcc_x, self.blur_kernel_sizes[0]),
                                refine_simcc_dark(ilocs[..., 1], simcc_y, self.blur_kernel_sizes[1])], dim=-1)
        else:
            locs = ilocs.float()
        return locs / self.simcc_split_ratio, scores
