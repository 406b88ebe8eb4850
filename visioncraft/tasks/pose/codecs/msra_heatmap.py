"""MSRAHeatmap: Gaussian heatmap targets (Xiao et al., "Simple Baselines for Human Pose Estimation and
Tracking", 2018) and their decoding, optionally with DARK (Zhang et al., 2020)."""
from __future__ import annotations

import numpy as np
import torch

from visioncraft.registry import KEYPOINT_CODECS

from .base import BaseKeypointCodec, check_odd, check_positive, check_size, gaussian_targets
from .utils import decode_heatmaps, decode_heatmaps_np

__all__ = ['MSRAHeatmap']


def _check_heatmaps(owner: str, method: str, heatmaps_shape: tuple, size: tuple[int, int], ndim: int,
                    layout: str) -> None:
    W, H = size
    if len(heatmaps_shape) != ndim or tuple(heatmaps_shape[-2:]) != (H, W):
        raise ValueError(f'{owner}.{method}: expected heatmaps of shape {layout} with (H, W) = ({H}, {W}) '
                         f'(heatmap_size={size}), got {tuple(heatmaps_shape)}')


@KEYPOINT_CODECS.register_module()
class MSRAHeatmap(BaseKeypointCodec):
    """Keypoints as Gaussian heatmaps, MSRA style.

    Coordinates: keypoints are in input pixels (the network's input crop, ``input_size = (w, h)``); the
    heatmap is ``heatmap_size = (W, H)`` and ``x_heat = x_in * W / w`` (``y`` likewise), i.e. the input is
    divided by the stride ``w / W``; decoding multiplies back. Pixel ``(x, y)`` is the centre of column ``x``.

    Encoding: each visible keypoint gets a Gaussian of ``sigma`` heatmap px, centred on the nearest heatmap
    pixel and cut to a ``2 floor(3 sigma) + 1`` square window (MSRA's target), or with ``unbiased=True``
    centred on the exact sub-pixel position over the whole map (DARK's unbiased target). A keypoint's weight
    is its visibility, 0 when it is invisible (< 0.5), not finite, or its Gaussian window lies wholly outside
    the heatmap (a keypoint just outside the crop keeps its weight, as in MMPose: its clipped Gaussian
    teaches the network to point at the border).

    Decoding: the argmax of each map and its value as the score, then either MSRA's quarter-pixel shift
    towards the higher neighbour (``unbiased=False``) or DARK (``unbiased=True``): Gaussian-blur modulation
    with ``blur_kernel_size`` (11 suits sigma 2, 17 sigma 3, on 64 x 48 heatmaps; the blur pads with zeros, so
    smaller heatmaps want a smaller kernel, see :class:`UDPHeatmap`) and a second-order Taylor step on the log
    heatmap, computed as MMPose's (see ``codecs/utils.py``: no concavity check, no clamp). Round trip on the codec's own targets: at most half a heatmap pixel per axis with the standard
    target (the centre is rounded), a few hundredths of an input pixel with DARK.

    Args:
        input_size: (w, h) of the network input, pixels.
        heatmap_size: (W, H) of the heatmaps.
        sigma: Gaussian sigma in heatmap px.
        unbiased: DARK's unbiased encoding and DARK decoding.
        blur_kernel_size: odd size of DARK's blur kernel.

    ``encode`` returns ``heatmaps`` float32 (K, H, W) for one instance ((N*K, H, W) for N instances, the
    instances' maps one after the other) and ``keypoint_weights`` float32 (N, K).
    """

    label_mapping_table = dict(keypoint_weights='keypoint_weights')
    field_mapping_table = dict(heatmaps='heatmaps')

    def __init__(self, input_size: tuple[int, int], heatmap_size: tuple[int, int], sigma: float = 2.0,
                 unbiased: bool = False, blur_kernel_size: int = 11) -> None:
        name = type(self).__name__
        self.input_size = check_size(name, 'input_size', input_size)
        self.heatmap_size = check_size(name, 'heatmap_size', heatmap_size)
        self.sigma = check_positive(name, 'sigma', sigma)
        self.unbiased = bool(unbiased)
        self.blur_kernel_size = check_odd(name, 'blur_kernel_size', blur_kernel_size)
        # input px per heatmap px, (x, y)
        self.scale_factor = (np.array(self.input_size, np.float64) / np.array(self.heatmap_size)).astype(np.float32)

    def _repr_args(self) -> dict:
        return dict(input_size=self.input_size, heatmap_size=self.heatmap_size, sigma=self.sigma,
                    unbiased=self.unbiased, blur_kernel_size=self.blur_kernel_size)

    def encode(self, keypoints: np.ndarray, keypoints_visible: np.ndarray | None = None) -> dict:
        """Heatmap targets for ``keypoints`` (N, K, 2) in input px with ``keypoints_visible`` (N, K)
        (ones when None): ``dict(heatmaps float32 (N*K, H, W), keypoint_weights float32 (N, K))``."""
        kpts, vis = self._prepare(keypoints, keypoints_visible)
        N, K = vis.shape
        mu = (kpts / self.scale_factor.astype(np.float64)).reshape(N * K, 2)
        heatmaps, weights = gaussian_targets(mu, vis.reshape(-1), self.heatmap_size, self.sigma,
                                             'full' if self.unbiased else 'rounded')
        return dict(heatmaps=heatmaps, keypoint_weights=weights.reshape(N, K))

    def decode(self, heatmaps: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Keypoints from one sample's heatmaps (K, H, W): ``(keypoints float32 (1, K, 2) input px,
        scores float32 (1, K))``."""
        heatmaps = np.asarray(heatmaps)
        _check_heatmaps(type(self).__name__, 'decode', heatmaps.shape, self.heatmap_size, 3, '(K, H, W)')
        locs, scores = decode_heatmaps_np(heatmaps, 'dark_msra' if self.unbiased else 'quarter', self.blur_kernel_size)
        return (locs * self.scale_factor)[None], scores[None]

    def batch_decode(self, heatmaps: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Keypoints from a batch of heatmaps (B, K, H, W), on their device: ``(keypoints float32 (B, K, 2)
        input px, scores float32 (B, K))``."""
        _check_heatmaps(type(self).__name__, 'batch_decode', tuple(heatmaps.shape), self.heatmap_size, 4,
                        '(B, K, H, W)')
        locs, scores = decode_heatmaps(heatmaps, 'dark_msra' if self.unbiased else 'quarter', self.blur_kernel_size)
        return locs * locs.new_tensor(self.scale_factor), scores
