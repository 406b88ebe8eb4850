"""TinyDetBackbone: a narrow residual CNN for detectors trained from scratch on small images (CPU demos).

Stem: a stride-2 3x3 conv. Then ``len(widths)`` stages; each halves the resolution with a stride-2 3x3 conv and
adds ``depths[i]`` residual blocks (two 3x3 convs each). Stage ``i`` therefore has stride ``2 ** (i + 2)``
(4, 8, 16, 32 with four stages), the same as ResNet's C2..C5, so FPN configs written for ResNet fit it.
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from ...registry import MODELS
from .base import BackboneBase

__all__ = ['TinyDetBackbone']

_NORMS = ('BN', 'GN')


def _norm(kind: str, channels: int, groups: int) -> nn.Module:
    if kind == 'BN':
        return nn.BatchNorm2d(channels)
    return nn.GroupNorm(min(groups, channels), channels)


def _conv_norm_act(c_in: int, c_out: int, stride: int, norm: str, groups: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=False),
                         _norm(norm, c_out, groups), nn.ReLU(inplace=True))


class _BasicBlock(nn.Module):
    """``relu(x + norm(conv(relu(norm(conv(x))))))`` with 3x3 convs and a constant channel count."""

    def __init__(self, channels: int, norm: str, groups: int) -> None:
        super().__init__()
        self.conv1 = _conv_norm_act(channels, channels, 1, norm, groups)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1, bias=False)
        self.norm2 = _norm(norm, channels, groups)
        self.relu = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.relu(x + self.norm2(self.conv2(self.conv1(x))))


@MODELS.register_module()
class TinyDetBackbone(BackboneBase):
    """A narrow ResNet-like backbone returning multi-scale feature maps.

    Args:
        stem_channels: channels of the stride-2 stem conv.
        widths: channels of every stage (stage ``i`` has stride ``2 ** (i + 2)``).
        depths: residual blocks per stage (0 allowed: the stage is just its stride-2 conv).
        out_indices: stages (0-based) whose outputs are returned, in increasing order; stages after the last
            one are not built.
        norm: ``'BN'`` (BatchNorm) or ``'GN'`` (GroupNorm with ``gn_groups`` groups, for tiny batches).
        gn_groups: groups of every GroupNorm (capped at the channel count).
        in_channels: channels of the input image.
        channels_last: run in channels-last memory format (NHWC): the input is converted once and every
            output stays NHWC (convolutions downstream keep it). Same values to float rounding; oneDNN's
            NHWC convolutions are faster on CPU (a training step of the pose quickstart model: 0.26 s ->
            0.23 s on one core). The parameters keep their layout, so checkpoints do not change.
        init_cfg: accepted for config compatibility; the init is always Kaiming-normal convs (fan_out, ReLU),
            unit-weight / zero-bias norms, and zero weight on the last norm of every residual block (each
            block starts as the identity, which helps training from scratch).

    Forward: ``x`` float N x in_channels x H x W -> tuple of N x C_i x ceil(H / s_i) x ceil(W / s_i) tensors,
    one per ``out_indices`` entry, with C_i = ``out_channels[i]`` and s_i = ``strides[i]``.
    """

    def __init__(self, stem_channels: int = 16, widths: Sequence[int] = (32, 64, 128, 256),
                 depths: Sequence[int] = (1, 1, 1, 1), out_indices: Sequence[int] = (1, 2, 3), norm: str = 'BN',
                 gn_groups: int = 8, in_channels: int = 3, channels_last: bool = False,
                 init_cfg: dict | None = None) -> None:
        super().__init__()
        widths, depths, out_indices = [int(w) for w in widths], [int(d) for d in depths], tuple(out_indices)
        if not widths or len(widths) != len(depths):
            raise ValueError(f'TinyDetBackbone: widths and depths need one entry per stage, got widths={widths}, '
                             f'depths={depths}')
        if min(widths) < 1 or stem_channels < 1 or min(depths) < 0:
            raise ValueError(f'TinyDetBackbone: widths and stem_channels must be >= 1 and depths >= 0, got '
                             f'stem_channels={stem_channels}, widths={widths}, depths={depths}')
        if not out_indices or list(out_indices) != sorted(set(out_indices)) or min(out_indices) < 0 \
                or max(out_indices) >= len(widths):
            raise ValueError(f'TinyDetBackbone: out_indices must be increasing stage indices below '
                             f'{len(widths)}, got {out_indices}')
        if norm not in _NORMS:
            raise ValueError(f'TinyDetBackbone: norm must be one of {_NORMS}, got {norm!r}')
        self.out_indices, self.channels_last = out_indices, bool(channels_last)
        self.stem = _conv_norm_act(in_channels, stem_channels, 2, norm, gn_groups)
        self.stages = nn.ModuleList()
        c_in = stem_channels
        for width, depth in zip(widths[:out_indices[-1] + 1], depths):  # later stages would be unused
            blocks = [_conv_norm_act(c_in, width, 2, norm, gn_groups)]
            blocks += [_BasicBlock(width, norm, gn_groups) for _ in range(depth)]
            self.stages.append(nn.Sequential(*blocks))
            c_in = width
        self.out_channels = [widths[i] for i in out_indices]
        self.strides = [2 ** (i + 2) for i in out_indices]
        self._init()

    def _init(self) -> None:
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode='fan_out', nonlinearity='relu')
            elif isinstance(m, (nn.BatchNorm2d, nn.GroupNorm)):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
        for m in self.modules():
            if isinstance(m, _BasicBlock):
                nn.init.zeros_(m.norm2.weight)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        x = self.stem(x)
        outs = []
        for i, stage in enumerate(self.stages):
            x = stage(x)
            if i in self.out_indices:
                outs.append(x)
        return tuple(outs)
