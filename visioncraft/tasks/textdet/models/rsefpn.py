"""RSEFPN: PP-OCRv3 / v4's detection neck (an FPN whose convs carry residual squeeze-excite)."""
from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from visioncraft.models.layers.squeeze_excite import SqueezeExcite
from visioncraft.registry import MODELS

__all__ = ['RSEFPN', 'RSELayer']


class RSELayer(nn.Module):
    """A kxk conv (no bias, padding k // 2) followed by squeeze-excite; with ``shortcut`` the SE output is added to
    the conv output (``y + se(y)``), else it replaces it."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, shortcut: bool = True) -> None:
        super().__init__()
        self.in_conv = nn.Conv2d(in_channels, out_channels, kernel_size, padding=kernel_size // 2, bias=False)
        self.se_block = SqueezeExcite(out_channels, gate='paddle')
        self.shortcut = shortcut

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.in_conv(x)
        return y + self.se_block(y) if self.shortcut else self.se_block(y)


@MODELS.register_module()
class RSEFPN(nn.Module):
    """Residual-SE FPN (PaddleOCR's ``RSEFPN``, PP-OCRv3 / v4 mobile detectors).

    Each level goes through a 1x1 :class:`RSELayer` to ``out_channels``; a top-down pathway adds each coarser
    level, upsampled x2 (nearest), to the next finer one; a 3x3 :class:`RSELayer` takes every level to
    ``out_channels // 4``; the levels are upsampled (nearest, x8 / x4 / x2) to the finest one and concatenated
    coarsest first.

    Args:
        in_channels: channels of the 4 backbone levels, finest first (PPLCNetV3 x0.75 det: 12, 18, 42, 360).
        out_channels: width of the pathway (96); the output has ``out_channels`` channels.
        shortcut: residual SE (PP-OCRv4: True).
        in_strides: the backbone strides (filled by the model assembly when known): ``strides`` is the first.

    Input: 4 tensors N x C_i x H/s_i x W/s_i with s_i = 4, 8, 16, 32 (input sides multiples of 32). Output: a
    1-tuple with one N x ``out_channels`` x H/4 x W/4 tensor.
    """

    def __init__(self, in_channels: Sequence[int], out_channels: int = 96, shortcut: bool = True,
                 in_strides: Sequence[int] | None = None, init_cfg: dict | None = None) -> None:
        super().__init__()
        in_channels = list(in_channels)
        if len(in_channels) != 4:
            raise ValueError(f'RSEFPN: in_channels needs the 4 backbone levels (strides 4-32), got {in_channels}')
        if out_channels % 4:
            raise ValueError(f'RSEFPN: out_channels must be a multiple of 4, got {out_channels}')
        self.in_channels = in_channels
        self.ins_conv = nn.ModuleList(RSELayer(c, out_channels, 1, shortcut) for c in in_channels)
        self.inp_conv = nn.ModuleList(RSELayer(out_channels, out_channels // 4, 3, shortcut) for _ in in_channels)
        self.out_channels = [out_channels]
        self.strides = [in_strides[0]] if in_strides else [4]

    def forward(self, feats: Sequence[torch.Tensor]) -> tuple[torch.Tensor]:
        if len(feats) != 4:
            raise ValueError(f'RSEFPN: expected 4 feature maps, got {len(feats)}')
        # The order of the calls follows PaddleOCR's (coarsest first): the ONNX weight import matches layers by
        # the order in which they run.
        ins = [None] * 4
        for i in (3, 2, 1, 0):
            ins[i] = self.ins_conv[i](feats[i])
        outs = [None, None, None, ins[3]]
        for i in (2, 1, 0):
            outs[i] = ins[i] + F.interpolate(outs[i + 1], scale_factor=2, mode='nearest')
        ps = [None] * 4
        for i in (3, 2, 1, 0):
            ps[i] = self.inp_conv[i](outs[i])
        fused = [F.interpolate(ps[i], scale_factor=2 ** i, mode='nearest') if i else ps[i] for i in (3, 2, 1, 0)]
        return (torch.cat(fused, dim=1),)
