"""UDPHeatmap: heatmap targets with Unbiased Data Processing (Huang et al., "The Devil is in the Details:
Delving into Unbiased Data Processing for Human Pose Estimation", 2020)."""
from __future__ import annotations

import numpy as np
import torch

from visioncraft.registry import KEYPOINT_CODECS

from .base import BaseKeypointCodec, check_choice, check_odd, check_positive, check_size, gaussian_targets
from .msra_heatmap import _check_heatmaps
from .utils import (decode_heatmaps, decode_heatmaps_np, gaussian_blur, gaussian_blur_np, get_heatmap_maximum,
                    get_heatmap_maximum_np)

__all__ = ['UDPHeatmap']


@KEYPOINT_CODECS.register_module()
class UDPHeatmap(BaseKeypointCodec):
    """Keypoints as heatmaps with UDP's unbiased coordinate system.

    Coordinates: keypoints are in input pixels (``input_size = (w, h)``), pixel ``(x, y)`` the centre of
    column ``x``. UDP measures sizes in pixel *intervals*, so the first and last pixel centres of the input
    and of the heatmap (``heatmap_size = (W, H)``) line up: ``x_heat = x_in * (W - 1) / (w - 1)`` (``y``
    likewise) and decoding multiplies by ``(w - 1) / (W - 1)``. (MMPose decodes with ``w / (W - 1)``, which
    does not invert its own encoding and moves keypoints by up to ~1 px towards the far border; this codec
    inverts exactly.) With this system a horizontally flipped heatmap is exactly the heatmap of the flipped
    image, so flip test needs no shift (``flip_heatmaps(..., flip_mode='udp')``).

    ``heatmap_type``:

    * ``'gaussian'``: a Gaussian of ``sigma`` heatmap px centred on the exact sub-pixel position, cut to a
      ``2 floor(3 sigma) + 1`` window around the nearest pixel; decoded by argmax + DARK (blur with
      ``blur_kernel_size``, Taylor step). ``heatmaps`` is (K, H, W) per instance.
    * ``'combined'``: per keypoint three maps (K*3, H, W): a binary disk of radius
      ``r = radius_factor * max(W, H)`` around the keypoint, and the x and y offsets from each pixel to the
      keypoint divided by ``r``. Decoded by blurring the disk maps (kernel ``2 * blur_kernel_size + 1``),
      taking the argmax and adding ``r`` times the offsets there; the score is the blurred disk maximum.

    Weights: a keypoint's visibility, 0 when it is invisible (< 0.5), not finite, or its Gaussian window /
    disk lies wholly outside the heatmap.

    Args:
        input_size: (w, h) of the network input, pixels, each >= 2.
        heatmap_size: (W, H) of the heatmaps, each >= 2.
        heatmap_type: ``'gaussian'`` or ``'combined'``.
        sigma: Gaussian sigma in heatmap px (``'gaussian'``). MMPose's 2 is for 64 x 48 heatmaps; scale it with
            the heatmap (the pose quickstart's 24 x 32 maps: sigma 2 / 1.5 / 1 gave OKS AP 0.711 / 0.751 / 0.781).
        radius_factor: disk radius over ``max(W, H)`` (``'combined'``).
        blur_kernel_size: odd size of DARK's blur kernel. The blur pads with zeros (as MMPose's), so a wide
            kernel pulls peaks near the border inwards: MMPose's 11 suits 64 x 48 heatmaps; on small ones scale
            it down (the pose quickstart's 24 x 32 heatmaps, trained with sigma 2, decode best with 1-5: OKS AP
            0.711 with 5, 0.700 with 11, same checkpoint).
    """

    label_mapping_table = dict(keypoint_weights='keypoint_weights')
    field_mapping_table = dict(heatmaps='heatmaps')

    def __init__(self, input_size: tuple[int, int], heatmap_size: tuple[int, int], heatmap_type: str = 'gaussian',
                 sigma: float = 2.0, radius_factor: float = 0.0546875, blur_kernel_size: int = 11) -> None:
        name = type(self).__name__
        self.input_size = check_size(name, 'input_size', input_size, minimum=2)
        self.heatmap_size = check_size(name, 'heatmap_size', heatmap_size, minimum=2)
        self.heatmap_type = check_choice(name, 'heatmap_type', heatmap_type, ('gaussian', 'combined'))
        self.sigma = check_positive(name, 'sigma', sigma)
        self.radius_factor = check_positive(name, 'radius_factor', radius_factor)
        self.blur_kernel_size = check_odd(name, 'blur_kernel_size', blur_kernel_size)
        # input px per heatmap px, (x, y)
        self.scale_factor = ((np.array(self.input_size, np.float64) - 1)
                             / (np.array(self.heatmap_size, np.float64) - 1)).astype(np.float32)

    def _repr_args(self) -> dict:
        return dict(input_size=self.input_size, heatmap_size=self.heatmap_size, heatmap_type=self.heatmap_type,
                    sigma=self.sigma, radius_factor=self.radius_factor, blur_kernel_size=self.blur_kernel_size)

    @property
    def radius(self) -> float:
        """The disk radius of ``'combined'`` targets, heatmap px."""
        return self.radius_factor * max(self.heatmap_size)

    def encode(self, keypoints: np.ndarray, keypoints_visible: np.ndarray | None = None) -> dict:
        """Targets for ``keypoints`` (N, K, 2) in input px with ``keypoints_visible`` (N, K) (ones when None):
        ``dict(heatmaps float32 (N*K, H, W) | (N*K*3, H, W) for 'combined', keypoint_weights float32 (N, K))``."""
        kpts, vis = self._prepare(keypoints, keypoints_visible)
        N, K = vis.shape
        mu = (kpts / self.scale_factor.astype(np.float64)).reshape(N * K, 2)
        if self.heatmap_type == 'gaussian':
            heatmaps, weights = gaussian_targets(mu, vis.reshape(-1), self.heatmap_size, self.sigma, 'exact')
        else:
            heatmaps, weights = self._combined_targets(mu, vis.reshape(-1))
        return dict(heatmaps=heatmaps, keypoint_weights=weights.reshape(N, K))

    def _combined_targets(self, mu: np.ndarray, visible: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        W, H = self.heatmap_size
        r = self.radius
        finite = np.isfinite(mu).all(axis=1)
        mu = np.where(finite[:, None], mu, 0.0)
        ox = (mu[:, :1, None] - np.arange(W)[None, None, :]) / r              # (M, 1, W)
        oy = (mu[:, 1:, None] - np.arange(H)[None, :, None]) / r              # (M, H, 1)
        disk = (ox ** 2 + oy ** 2 <= 1.0)                                       # (M, H, W)
        valid = (visible >= 0.5) & finite & disk.any(axis=(1, 2))
        maps = np.stack([disk, np.broadcast_to(ox, disk.shape), np.broadcast_to(oy, disk.shape)], axis=1)
        maps = maps * valid[:, None, None, None]
        weights = np.where(valid, visible, 0.0).astype(np.float32)
        return maps.reshape(-1, H, W).astype(np.float32), weights

    def decode(self, heatmaps: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Keypoints from one sample's heatmaps ((K, H, W), or (K*3, H, W) for ``'combined'``):
        ``(keypoints float32 (1, K, 2) input px, scores float32 (1, K))``."""
        heatmaps = np.asarray(heatmaps, dtype=np.float32)
        _check_heatmaps(type(self).__name__, 'decode', heatmaps.shape, self.heatmap_size, 3, '(K, H, W)')
        if self.heatmap_type == 'gaussian':
            locs, scores = decode_heatmaps_np(heatmaps, 'dark', self.blur_kernel_size)
        else:
            K = self._combined_k(heatmaps.shape[0])
            maps = heatmaps.reshape(K, 3, *heatmaps.shape[-2:])
            blurred = gaussian_blur_np(maps[:, 0], 2 * self.blur_kernel_size + 1).astype(np.float32)
            locs, scores = get_heatmap_maximum_np(blurred)
            xi, yi = locs[:, 0].astype(int), locs[:, 1].astype(int)
            offsets = maps[np.arange(K), 1:, yi, xi]                            # (K, 2)
            locs = locs + offsets * np.float32(self.radius)
        return (locs * self.scale_factor)[None], scores[None]

    def batch_decode(self, heatmaps: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Keypoints from a batch of heatmaps ((B, K, H, W), or (B, K*3, H, W) for ``'combined'``), on their
        device: ``(keypoints float32 (B, K, 2) input px, scores float32 (B, K))``."""
        _check_heatmaps(type(self).__name__, 'batch_decode', tuple(heatmaps.shape), self.heatmap_size, 4,
                        '(B, K, H, W)')
        if self.heatmap_type == 'gaussian':
            locs, scores = decode_heatmaps(heatmaps, 'dark', self.blur_kernel_size)
        else:
            B, C, H, W = heatmaps.shape
            K = self._combined_k(C)
            maps = heatmaps.detach().float().reshape(B, K, 3, H, W)
            blurred = gaussian_blur(maps[:, :, 0], 2 * self.blur_kernel_size + 1)
            ilocs, scores = get_heatmap_maximum(blurred)
            flat_idx = (ilocs[..., 1] * W + ilocs[..., 0])[..., None, None].expand(B, K, 2, 1)
            offsets = maps[:, :, 1:].reshape(B, K, 2, H * W).gather(-1, flat_idx).squeeze(-1)
            locs = ilocs.float() + offsets * self.radius
        return locs * locs.new_tensor(self.scale_factor), scores

    def _combined_k(self, channels: int) -> int:
        if channels % 3:
            raise ValueError(f"{type(self).__name__}: 'combined' heatmaps need K*3 channels (disk, x offset, "
                             f'y offset per keypoint), got {channels}')
        return channels // 3
