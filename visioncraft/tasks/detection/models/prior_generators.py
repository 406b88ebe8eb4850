"""Anchor and point generators (registered in TASK_UTILS): the priors of dense heads, per feature level.

All boxes and points are float ``xyxy`` / ``(x, y)`` in absolute pixels of the network input (the resized,
padded image).
"""
from __future__ import annotations

import math
from collections.abc import Sequence

import torch

from visioncraft.registry import TASK_UTILS

__all__ = ['AnchorGenerator', 'MlvlPointGenerator', 'TorchvisionAnchorGenerator', 'TorchvisionPointGenerator',
           'torchvision_level_strides']


@TASK_UTILS.register_module()
class AnchorGenerator:
    """Anchors of every feature level: ``len(ratios) * len(sizes)`` per cell, ratio-major.

    The sizes (side of the square anchor of each scale) of level ``i`` are, in order of precedence:
    ``sizes[i]``; else ``base_sizes[i] * scales``; else ``strides[i] * octave_base_scale *
    2 ** (k / scales_per_octave)`` for ``k = 0..scales_per_octave - 1`` (RetinaNet: 4 * stride * {1, 2^(1/3),
    2^(2/3)}). A ratio is height / width: the anchor of size ``s`` and ratio ``r`` is ``s / sqrt(r)`` wide and
    ``s * sqrt(r)`` high.

    Args:
        strides: stride of every level (pixels per cell), e.g. ``[8, 16, 32, 64, 128]``.
        ratios: aspect ratios (h / w).
        octave_base_scale, scales_per_octave: see above.
        scales: explicit scales (multiplied by ``base_sizes``, default the strides).
        base_sizes: per-level base size (default the strides).
        sizes: explicit per-level sizes, e.g. torchvision RetinaNet's
            ``[(32, 40, 50), (64, 80, 101), (128, 161, 203), (256, 322, 406), (512, 645, 812)]``.
        center_offset: anchor centres are at ``(x + center_offset) * stride`` for cell ``x`` (0 as
            torchvision and MMDetection).
        round_base_anchors: round the zero-centred anchors to integers, as torchvision does.
    """

    def __init__(self, strides: Sequence[int], ratios: Sequence[float] = (0.5, 1.0, 2.0),
                 octave_base_scale: float | None = None, scales_per_octave: int | None = None,
                 scales: Sequence[float] | None = None, base_sizes: Sequence[float] | None = None,
                 sizes: Sequence[Sequence[float]] | None = None, center_offset: float = 0.0,
                 round_base_anchors: bool = False) -> None:
        self.strides = [int(s[0]) if isinstance(s, (list, tuple)) else int(s) for s in strides]
        self.ratios = [float(r) for r in ratios]
        if sizes is not None:
            if len(sizes) != len(self.strides):
                raise ValueError(f'AnchorGenerator: sizes has {len(sizes)} levels, strides {len(self.strides)}')
            level_sizes = [[float(s) for s in lvl] for lvl in sizes]
        else:
            if scales is not None and octave_base_scale is not None:
                raise ValueError('AnchorGenerator: give scales or octave_base_scale/scales_per_octave, not both')
            if scales is None:
                if octave_base_scale is None or scales_per_octave is None:
                    raise ValueError('AnchorGenerator needs sizes, scales, or octave_base_scale and scales_per_octave')
                scales = [octave_base_scale * 2 ** (k / scales_per_octave) for k in range(scales_per_octave)]
            base = self.strides if base_sizes is None else list(base_sizes)
            if len(base) != len(self.strides):
                raise ValueError(f'AnchorGenerator: base_sizes has {len(base)} levels, strides {len(self.strides)}')
            level_sizes = [[b * s for s in scales] for b in base]
        if len({len(lvl) for lvl in level_sizes}) != 1:
            raise ValueError('AnchorGenerator: every level needs the same number of sizes')
        self.sizes = level_sizes
        self.center_offset = float(center_offset)
        self.round_base_anchors = bool(round_base_anchors)
        self.base_anchors = [self._base_anchors(lvl) for lvl in level_sizes]

    @property
    def num_levels(self) -> int:
        return len(self.strides)

    @property
    def num_base_anchors(self) -> int:
        """Anchors per feature-map cell (the same on every level)."""
        return len(self.ratios) * len(self.sizes[0])

    def _base_anchors(self, sizes: list[float]) -> torch.Tensor:
        """Zero-centred anchors (A x 4, xyxy, float32), ratio-major then size."""
        scales = torch.as_tensor(sizes, dtype=torch.float32)
        ratios = torch.as_tensor(self.ratios, dtype=torch.float32)
        h_ratios = torch.sqrt(ratios)
        w_ratios = 1 / h_ratios
        ws = (w_ratios[:, None] * scales[None, :]).view(-1)
        hs = (h_ratios[:, None] * scales[None, :]).view(-1)
        base = torch.stack([-ws, -hs, ws, hs], dim=1) / 2
        return base.round() if self.round_base_anchors else base

    def grid_priors(self, featmap_sizes: Sequence[Sequence[int]], device: torch.device | str = 'cpu',
                    dtype: torch.dtype = torch.float32) -> list[torch.Tensor]:
        """Anchors of every level: a list of (H_i * W_i * A) x 4 tensors, ordered (y, x, anchor)."""
        if len(featmap_sizes) != self.num_levels:
            raise ValueError(f'AnchorGenerator has {self.num_levels} levels (strides {self.strides}) but got '
                             f'{len(featmap_sizes)} feature maps')
        out = []
        for (h, w), (sy, sx), base in zip(featmap_sizes, self.level_strides(featmap_sizes), self.base_anchors):
            xx, yy = _grid(h, w, sy, sx, self.center_offset, device, dtype)
            shifts = torch.stack([xx, yy, xx, yy], dim=1)
            out.append((shifts.view(-1, 1, 4) + base.to(device=device, dtype=dtype).view(1, -1, 4)).reshape(-1, 4))
        return out

    def level_strides(self, featmap_sizes: Sequence[Sequence[int]]) -> list[tuple[int, int]]:
        """The spacing ``(stride_y, stride_x)`` of every level's anchors: the nominal strides."""
        return [(s, s) for s in self.strides]


@TASK_UTILS.register_module()
class MlvlPointGenerator:
    """One point per feature-map cell on every level, for anchor-free heads (FCOS).

    The point of cell (x, y) on a level of stride ``s`` is ``((x + offset) * s, (y + offset) * s)``:
    ``offset=0.5`` puts it at the cell centre (MMDetection's FCOS), ``offset=0.0`` at the cell's top-left
    corner (torchvision's FCOS, whose one stride-sized anchor per cell is centred there).

    Args:
        strides: stride of every level, e.g. ``[8, 16, 32, 64, 128]``.
        offset: see above.
    """

    def __init__(self, strides: Sequence[int], offset: float = 0.5) -> None:
        self.strides = [int(s[0]) if isinstance(s, (list, tuple)) else int(s) for s in strides]
        if not self.strides or any(s <= 0 for s in self.strides):
            raise ValueError(f'MlvlPointGenerator: strides must be positive, got {list(strides)}')
        self.offset = float(offset)

    @property
    def num_levels(self) -> int:
        return len(self.strides)

    @property
    def num_base_priors(self) -> int:
        """Points per feature-map cell (always 1)."""
        return 1

    def grid_priors(self, featmap_sizes: Sequence[Sequence[int]], device: torch.device | str = 'cpu',
                    dtype: torch.dtype = torch.float32, with_stride: bool = False) -> list[torch.Tensor]:
        """Points of every level: a list of (H_i * W_i) x 2 tensors ``(x, y)`` in input pixels, ordered (y, x);
        with ``with_stride`` (H_i * W_i) x 3 ``(x, y, stride)``."""
        if len(featmap_sizes) != self.num_levels:
            raise ValueError(f'MlvlPointGenerator has {self.num_levels} levels (strides {self.strides}) but got '
                             f'{len(featmap_sizes)} feature maps')
        out = []
        for (h, w), (sy, sx), stride in zip(featmap_sizes, self.level_strides(featmap_sizes), self.strides):
            xx, yy = _grid(h, w, sy, sx, self.offset, device, dtype)
            cols = [xx, yy]
            if with_stride:  # the nominal stride (what distances are scaled by)
                cols.append(xx.new_full((xx.numel(),), float(stride)))
            out.append(torch.stack(cols, dim=1))
        return out

    def level_strides(self, featmap_sizes: Sequence[Sequence[int]]) -> list[tuple[int, int]]:
        """The spacing ``(stride_y, stride_x)`` of every level's points: the nominal strides."""
        return [(s, s) for s in self.strides]


def _grid(h: int, w: int, sy: int, sx: int, offset: float, device, dtype) -> tuple[torch.Tensor, torch.Tensor]:
    """x and y (each of length h * w, ordered (y, x)) of the cells of an h x w grid spaced (sy, sx) pixels,
    at ``(i + offset) * stride``; integer arithmetic up to the offset, so anchors are exact."""
    shift_x = torch.arange(0, int(w), device=device, dtype=torch.int32) * int(sx)
    shift_y = torch.arange(0, int(h), device=device, dtype=torch.int32) * int(sy)
    yy, xx = torch.meshgrid(shift_y, shift_x, indexing='ij')
    xx, yy = xx.reshape(-1).to(dtype), yy.reshape(-1).to(dtype)
    if offset:
        xx, yy = xx + offset * sx, yy + offset * sy
    return xx, yy


def torchvision_level_strides(featmap_sizes: Sequence[Sequence[int]], first_stride: int) -> list[tuple[int, int]]:
    """torchvision's per-level ``(stride_y, stride_x)``: the padded input size (the first level's grid times
    its stride) floor-divided by each level's grid size, e.g. 800 // 13 = 61 for P6 of an 800-high input."""
    in_h, in_w = (int(featmap_sizes[0][0]) * first_stride, int(featmap_sizes[0][1]) * first_stride)
    return [(in_h // int(h), in_w // int(w)) for h, w in featmap_sizes]


@TASK_UTILS.register_module()
class TorchvisionAnchorGenerator(AnchorGenerator):
    """:class:`AnchorGenerator` placing each level's anchors as torchvision's ``AnchorGenerator`` does: at
    ``padded input size // grid size`` (per axis) instead of the nominal stride. The two differ on the levels
    whose grid is rounded up (P6 / P7 of an input not divisible by 64 / 128: 61 and 114 instead of 64 and 128
    for an 800-high input), and torchvision's weights were trained and evaluated with them. The input size
    is read from the first level (grid x ``strides[0]``: exact when the input is padded to a multiple of
    it). Same arguments and output as :class:`AnchorGenerator`."""

    def level_strides(self, featmap_sizes: Sequence[Sequence[int]]) -> list[tuple[int, int]]:
        return torchvision_level_strides(featmap_sizes, self.strides[0])


@TASK_UTILS.register_module()
class TorchvisionPointGenerator(MlvlPointGenerator):
    """:class:`MlvlPointGenerator` with torchvision FCOS's point positions: ``(x + offset) * stride_x`` with
    the per-axis stride ``padded input size // grid size`` (see :class:`TorchvisionAnchorGenerator`); the
    ``with_stride`` column stays the nominal stride (torchvision scales the distances by its nominal anchor
    size)."""

    def level_strides(self, featmap_sizes: Sequence[Sequence[int]]) -> list[tuple[int, int]]:
        return torchvision_level_strides(featmap_sizes, self.strides[0])
