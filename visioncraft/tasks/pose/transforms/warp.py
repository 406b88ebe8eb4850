"""Affine matrices that cut a (rotated) box out of an image and scale it to a fixed output size.

A box is given by its centre ``(cx, cy)`` and scale ``(w, h)`` in pixels of the source image. Both
functions return a float32 2 x 3 matrix ``M`` for ``cv2.warpAffine`` / :func:`transform_points`
(``[x', y'] = M @ [x, y, 1]``).

* :func:`get_warp_matrix` (MMPose's default, "pixel-area" convention): the box maps onto the whole output,
  ``w`` source pixels onto ``output_w`` output pixels; the box centre goes to ``(output_w / 2, output_h / 2)``.
* :func:`get_udp_warp_matrix` (UDP, Huang et al. CVPR 2020, "unbiased data processing"): pixel-centre
  convention, ``w`` source pixels onto ``output_w - 1`` output pixel steps; the box centre goes to
  ``((output_w - 1) / 2, (output_h - 1) / 2)``, so flipping and resizing commute without a half-pixel bias.

``rot`` (degrees): the output shows the box's content turned ``rot`` degrees counter-clockwise on screen
(image y axis pointing down): what lies right of the box centre appears above the output centre for
``rot = 90``. Both matrices use this sense (MMPose's UDP matrix turns the other way; that only matters for a
random rotation, which is symmetric, and test time uses ``rot = 0``).
"""
from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

__all__ = ['get_warp_matrix', 'get_udp_warp_matrix', 'invert_affine', 'transform_points']


def _check(center, scale, output_size) -> tuple[np.ndarray, np.ndarray, tuple[float, float]]:
    center = np.asarray(center, dtype=np.float64).reshape(-1)
    scale = np.asarray(scale, dtype=np.float64).reshape(-1)
    if center.shape != (2,) or scale.shape != (2,) or len(output_size) != 2:
        raise ValueError(f'warp matrix: center and scale must be (x, y) and (w, h) and output_size (w, h); got '
                         f'center {center.tolist()}, scale {scale.tolist()}, output_size {output_size}')
    if scale[0] <= 0 or scale[1] <= 0:
        raise ValueError(f'warp matrix: the box scale (w, h) must be positive, got {scale.tolist()}')
    return center, scale, (float(output_size[0]), float(output_size[1]))


def _compose(center: np.ndarray, sx: float, sy: float, rot: float, out_center: Sequence[float]) -> np.ndarray:
    """``p -> out_center + diag(sx, sy) @ R(-rot) @ (p - center)`` as a 2 x 3 float64 matrix."""
    r = math.radians(float(rot))
    cos, sin = math.cos(r), math.sin(r)
    lin = np.array([[sx * cos, sx * sin], [-sy * sin, sy * cos]], dtype=np.float64)
    mat = np.zeros((2, 3), dtype=np.float64)
    mat[:, :2] = lin
    mat[:, 2] = np.asarray(out_center, dtype=np.float64) - lin @ center
    return mat


def invert_affine(mat: np.ndarray) -> np.ndarray:
    """The inverse of a 2 x 3 affine matrix (float32 2 x 3)."""
    mat = np.asarray(mat, dtype=np.float64)
    lin_inv = np.linalg.inv(mat[:, :2])
    out = np.zeros((2, 3), dtype=np.float64)
    out[:, :2] = lin_inv
    out[:, 2] = -lin_inv @ mat[:, 2]
    return out.astype(np.float32)


def get_warp_matrix(center, scale, rot: float, output_size: Sequence[float], shift: Sequence[float] = (0., 0.),
                    inv: bool = False, fix_aspect_ratio: bool = True) -> np.ndarray:
    """Matrix mapping the box (``center`` (2,), ``scale`` (w, h), rotated by ``rot`` degrees) onto an output
    of ``output_size`` (w, h).

    Args:
        center: box centre (x, y), source pixels.
        scale: box size (w, h), source pixels.
        rot: rotation in degrees.
        output_size: (w, h) of the output.
        shift: move the box by ``shift * scale`` (fractions of its size) before cutting.
        inv: return the output -> source matrix instead.
        fix_aspect_ratio: scale both axes by ``output_w / w`` (the box's height follows the output's aspect
            ratio, as :class:`TopdownAffine` has already made it); False scales y by ``output_h / h``.

    Returns:
        np.float32 (2, 3).
    """
    center, scale, (out_w, out_h) = _check(center, scale, output_size)
    center = center + scale * np.asarray(shift, dtype=np.float64).reshape(2)
    sx = out_w / scale[0]
    sy = sx if fix_aspect_ratio else out_h / scale[1]
    mat = _compose(center, sx, sy, rot, (out_w * 0.5, out_h * 0.5))
    return invert_affine(mat) if inv else mat.astype(np.float32)


def get_udp_warp_matrix(center, scale, rot: float, output_size: Sequence[float], inv: bool = False) -> np.ndarray:
    """UDP matrix: ``scale`` (w, h) source pixels map onto ``(output_w - 1, output_h - 1)`` output steps and
    the box centre onto ``((output_w - 1) / 2, (output_h - 1) / 2)``. np.float32 (2, 3); ``inv`` returns the
    output -> source matrix."""
    center, scale, (out_w, out_h) = _check(center, scale, output_size)
    mat = _compose(center, (out_w - 1) / scale[0], (out_h - 1) / scale[1], rot,
                   ((out_w - 1) * 0.5, (out_h - 1) * 0.5))
    return invert_affine(mat) if inv else mat.astype(np.float32)


def transform_points(points: np.ndarray, mat: np.ndarray) -> np.ndarray:
    """Apply a 2 x 3 affine ``mat`` to points ``(..., 2)`` (x, y); returns float32 of the same shape."""
    pts = np.asarray(points, dtype=np.float64)
    mat = np.asarray(mat, dtype=np.float64)
    out = pts @ mat[:, :2].T + mat[:, 2]
    return out.astype(np.float32)
