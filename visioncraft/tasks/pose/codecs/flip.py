"""Flip helpers for top-down pose: the training-time keypoint flip and the test-time flip of network outputs.

Convention (MMPose's): pixel ``(x, y)`` is the centre of column ``x``, row ``y``, so mirroring an image of
width ``w`` maps ``x`` to ``w - 1 - x`` *exactly*; left/right keypoints then swap by ``flip_indices``
(``flip_indices[k]`` is the keypoint that ``k`` becomes, e.g. left eye <-> right eye).

Flip test: the estimator runs the network on the input and on its mirror image, flips the second output back
with :func:`flip_heatmaps` / :func:`flip_vectors` and averages. How well the flipped-back output lines up
depends on the codec's coordinate system:

* UDP heatmaps (``x_heat = x_in (W-1)/(w-1)``): mirroring the heatmap is exactly the heatmap of the mirrored
  input; ``flip_mode='udp'`` (never shifted) is exact.
* MSRA heatmaps (``x_heat = x_in W / w``, stride ``s = w / W``): the mirrored input's keypoint lands at
  ``W - 1/s - x_heat`` and mirroring the heatmap brings it to ``x_heat - 1 + 1/s``, i.e. ``1 - 1/s`` heatmap px
  left of the original (0.75 px at stride 4). MMPose's ``shift_heatmap=True`` moves the flipped maps one
  pixel right, leaving ``+1/s`` heatmap px (+1 input px) after the flip and +0.5 input px in the average;
  ``shift_heatmap=1 - 1/s`` (a float, linear interpolation) lines them up.
* SimCC (bin ``i`` = ``x = i / ratio``, ``Wx = w * ratio`` bins): mirroring the x vector puts the peak
  ``ratio - 1`` bins right of the original (1 bin = 0.5 px at ratio 2); MMPose does not correct this
  (``shift=0``), ``shift=ratio - 1`` does.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import TypeVar

import numpy as np
import torch

from visioncraft.data.geometric import FLIP_DIRECTIONS, flip_swaps_sides, mirror_coords

__all__ = ['flip_heatmaps', 'flip_vectors', 'flip_coordinates', 'flip_keypoints_np']

ArrayT = TypeVar('ArrayT', torch.Tensor, np.ndarray)

_FLIP_MODES = ('heatmap', 'udp', 'udp_combined')
_DIRECTIONS = FLIP_DIRECTIONS


def _check_indices(where: str, flip_indices: Sequence[int] | None, count: int) -> list[int] | None:
    if flip_indices is None:
        return None
    idx = [int(i) for i in flip_indices]
    if len(idx) != count or sorted(idx) != list(range(count)):
        raise ValueError(f'{where}: flip_indices must be a permutation of range({count}) (one entry per keypoint), '
                         f'got {list(flip_indices)!r}')
    return idx


def _take(a: ArrayT, idx: list[int], axis: int) -> ArrayT:
    if isinstance(a, torch.Tensor):
        return a.index_select(axis, torch.as_tensor(idx, device=a.device))
    return np.take(a, idx, axis=axis)


def _flip_last(a: ArrayT) -> ArrayT:
    return a.flip(-1) if isinstance(a, torch.Tensor) else np.flip(a, -1).copy()


def _shift_int(a: ArrayT, n: int) -> ArrayT:
    """Move the content of the last axis ``n`` entries towards higher indices (negative: lower), repeating
    the edge entry into the vacated places."""
    if n == 0:
        return a
    L = a.shape[-1]
    n = max(-L + 1, min(L - 1, n))
    if n > 0:
        idx = [0] * n + list(range(L - n))
    else:
        idx = list(range(-n, L)) + [L - 1] * (-n)
    return _take(a, idx, a.ndim - 1)


def _shift(a: ArrayT, amount: float) -> ArrayT:
    """Move the content of the last axis by ``amount`` (float) entries towards higher indices, linearly
    interpolating between the two nearest whole shifts."""
    lo = int(np.floor(amount))
    frac = float(amount) - lo
    out = _shift_int(a, lo)
    if frac > 1e-6:
        out = out * (1.0 - frac) + _shift_int(a, lo + 1) * frac
    return out


def flip_heatmaps(heatmaps: ArrayT, flip_indices: Sequence[int] | None = None, flip_mode: str = 'heatmap',
                  shift_heatmap: bool | float = True) -> ArrayT:
    """Mirror heatmaps horizontally and swap left/right keypoint channels: the heatmaps of a mirrored input
    brought back to the original frame (flip test).

    Args:
        heatmaps: (B, K, H, W) tensor or array (``'udp_combined'``: (B, K*3, H, W), per keypoint a disk map and
            x / y offset maps).
        flip_indices: len K permutation (``flip_indices[k]`` is the keypoint k becomes when mirrored);
            None keeps the channel order.
        flip_mode: ``'heatmap'`` (MSRA), ``'udp'`` (UDP Gaussian heatmaps; never shifted) or
            ``'udp_combined'`` (UDP combined maps: also negates the x offsets; never shifted).
        shift_heatmap: ``'heatmap'`` mode only. True: move the mirrored maps one pixel right (MMPose's);
            a float: that many pixels (sub-pixel by linear interpolation; ``1 - 1/stride`` is exact, see the
            module docstring); False / 0: no shift.

    Returns:
        A new tensor / array of the input's shape, dtype and device; the input is not modified.
    """
    if flip_mode not in _FLIP_MODES:
        raise ValueError(f'flip_heatmaps: flip_mode must be one of {", ".join(map(repr, _FLIP_MODES))}, '
                         f'got {flip_mode!r}')
    if heatmaps.ndim != 4:
        raise ValueError(f'flip_heatmaps: heatmaps must be (B, K, H, W), got shape {tuple(heatmaps.shape)}')
    B, C, H, W = heatmaps.shape
    out = _flip_last(heatmaps)
    if flip_mode == 'udp_combined':
        if C % 3:
            raise ValueError(f"flip_heatmaps: flip_mode='udp_combined' needs K*3 channels, got {C}")
        idx = _check_indices('flip_heatmaps', flip_indices, C // 3)
        out = out.reshape(B, C // 3, 3, H, W)
        if idx is not None:
            out = _take(out, idx, 1)
        sign = [1.0, -1.0, 1.0]  # negate the x offsets: they point the other way in the mirror
        sign = (torch.as_tensor(sign, dtype=out.dtype, device=out.device) if isinstance(out, torch.Tensor)
                else np.asarray(sign, dtype=out.dtype))
        return (out * sign.reshape(1, 1, 3, 1, 1)).reshape(B, C, H, W)
    idx = _check_indices('flip_heatmaps', flip_indices, C)
    if idx is not None:
        out = _take(out, idx, 1)
    if flip_mode == 'heatmap' and shift_heatmap:
        out = _shift(out, 1.0 if shift_heatmap is True else float(shift_heatmap))
    return out


def flip_vectors(x_labels: ArrayT, y_labels: ArrayT, flip_indices: Sequence[int],
                 shift: float = 0.0) -> tuple[ArrayT, ArrayT]:
    """Mirror SimCC vectors (flip test): ``x_labels`` (B, K, Wx) is reversed along its bins and both are
    re-ordered by ``flip_indices``; ``shift`` then moves the reversed x vectors that many bins towards
    bin 0 (``simcc_split_ratio - 1`` aligns them exactly; 0, the default, is MMPose's). Returns new
    tensors / arrays."""
    if x_labels.ndim != 3 or y_labels.ndim != 3 or x_labels.shape[:2] != y_labels.shape[:2]:
        raise ValueError(f'flip_vectors: expected x_labels (B, K, Wx) and y_labels (B, K, Hy), got shapes '
                         f'{tuple(x_labels.shape)} and {tuple(y_labels.shape)}')
    idx = _check_indices('flip_vectors', flip_indices, x_labels.shape[1])
    x_out = _flip_last(_take(x_labels, idx, 1))
    if shift:
        x_out = _shift(x_out, -float(shift))
    return x_out, _take(y_labels, idx, 1)


def flip_coordinates(coords: ArrayT, flip_indices: Sequence[int], input_size: tuple[int, int]) -> ArrayT:
    """Keypoints predicted on a mirrored input, brought back: ``coords`` (B, K, D >= 2) in input px of an
    input ``input_size = (w, h)``; ``x -> w - 1 - x``, then re-ordered by ``flip_indices``. A new tensor /
    array."""
    if coords.ndim != 3 or coords.shape[-1] < 2:
        raise ValueError(f'flip_coordinates: coords must be (B, K, D>=2), got shape {tuple(coords.shape)}')
    idx = _check_indices('flip_coordinates', flip_indices, coords.shape[1])
    out = coords.clone() if isinstance(coords, torch.Tensor) else np.array(coords, copy=True)
    out[..., 0] = input_size[0] - 1 - out[..., 0]
    return _take(out, idx, 1)


def flip_keypoints_np(keypoints: np.ndarray, keypoints_visible: np.ndarray | None, image_size: tuple[int, int],
                      flip_indices: Sequence[int], direction: str = 'horizontal'
                      ) -> tuple[np.ndarray, np.ndarray | None]:
    """Flip keypoints with their image (the pose RandomFlip transform).

    Args:
        keypoints: (..., K, D >= 2) pixel coordinates, pixel (x, y) the centre of column x.
        keypoints_visible: (..., K) or None.
        image_size: (w, h) of the image being flipped.
        flip_indices: len K permutation swapping left and right keypoints.
        direction: ``'horizontal'`` (``x -> w - 1 - x``), ``'vertical'`` (``y -> h - 1 - y``) or
            ``'diagonal'`` (both: a 180 degree rotation). A mirror (horizontal / vertical) swaps left and
            right keypoints by ``flip_indices``; the diagonal flip is a rotation and keeps them.

    Returns:
        ``(keypoints, keypoints_visible)``: new arrays of the inputs' shapes (visible None if given None).
        Flipping twice gives the input back.
    """
    if direction not in _DIRECTIONS:
        raise ValueError(f'flip_keypoints_np: direction must be one of {", ".join(map(repr, _DIRECTIONS))}, '
                         f'got {direction!r}')
    kpts = np.array(keypoints, copy=True)
    if kpts.ndim < 2 or kpts.shape[-1] < 2:
        raise ValueError(f'flip_keypoints_np: keypoints must be (..., K, D>=2), got shape {kpts.shape}')
    vis = None if keypoints_visible is None else np.array(keypoints_visible, copy=True)
    if vis is not None and vis.shape != kpts.shape[:-1]:
        raise ValueError(f'flip_keypoints_np: keypoints_visible must have shape {kpts.shape[:-1]} to match keypoints '
                         f'{kpts.shape}, got {vis.shape}')
    w, h = image_size
    if direction in ('horizontal', 'diagonal'):
        kpts[..., 0] = mirror_coords(kpts[..., 0], w, pixel_index=True)
    if direction in ('vertical', 'diagonal'):
        kpts[..., 1] = mirror_coords(kpts[..., 1], h, pixel_index=True)
    if flip_swaps_sides(direction):
        idx = _check_indices('flip_keypoints_np', flip_indices, kpts.shape[-2])
        kpts = np.take(kpts, idx, axis=-2)
        if vis is not None:
            vis = np.take(vis, idx, axis=-1)
    return kpts, vis
