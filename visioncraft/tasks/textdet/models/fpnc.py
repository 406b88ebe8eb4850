"""FPNC: the FPN variant of DBNet that concatenates every level at stride 4."""
from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from visioncraft.registry import MODELS

__all__ = ['FPNC', 'ScaleChannelSpatialAttention']


def _conv_bn_relu(cin: int, cout: int, k: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, k, padding=k // 2, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


class ScaleChannelSpatialAttention(nn.Module):
    """DBNet++'s scale attention: channel attention (global pool, squeeze / excite, added to the input), then
    spatial attention (on the channel mean, added), then a 1x1 conv + sigmoid to one weight map per scale.

    The parameters carry MMOCR's names (``channel_wise.{0,1}``, ``spatial_wise.{0,1}``, ``attention_wise``: its
    ``ConvModule`` ``.conv`` level is renamed away as a checkpoint loads). Input N x C x H x W; output
    N x ``num_scales`` x H x W in (0, 1).
    """

    def __init__(self, in_channels: int, squeeze_channels: int, num_scales: int) -> None:
        super().__init__()
        self.channel_wise = nn.ModuleList([nn.Conv2d(in_channels, squeeze_channels, 1, bias=False),
                                           nn.Conv2d(squeeze_channels, in_channels, 1, bias=False)])
        self.spatial_wise = nn.ModuleList([nn.Conv2d(1, 1, 3, padding=1, bias=False), nn.Conv2d(1, 1, 1, bias=False)])
        self.attention_wise = nn.Conv2d(in_channels, num_scales, 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        c1, c2 = self.channel_wise
        x = x + torch.sigmoid(c2(F.relu(c1(F.adaptive_avg_pool2d(x, 1)))))
        s1, s2 = self.spatial_wise
        x = x + torch.sigmoid(s2(F.relu(s1(x.mean(dim=1, keepdim=True)))))
        return torch.sigmoid(self.attention_wise(x))


@MODELS.register_module()
class FPNC(nn.Module):
    """Lateral 1x1 convs, a top-down pathway (nearest upsampling + add), 3x3 smoothing convs to
    ``out_channels`` each, then every level upsampled to the first (finest) level's size and concatenated.

    Args:
        in_channels: channels of the backbone levels, finest first (ResNet-18: 64, 128, 256, 512).
        lateral_channels: width of the lateral / top-down pathway (MMOCR 256).
        out_channels: channels per level after smoothing (64); the output has ``len(in_channels) * out_channels``.
        bias_on_lateral, bn_re_on_lateral, bias_on_smooth, bn_re_on_smooth: MMOCR's flags; lateral / smooth
            convs get BN + ReLU when ``bn_re_*`` is True (then without bias).
        conv_after_concat: a 3x3 conv-BN-ReLU on the concatenation.
        asf_cfg: DBNet++ adaptive scale fusion (Liao et al., 2022), e.g. ``dict(attention_type='ScaleChannelSpatial')``:
            a 3x3 conv (with bias; no norm, no activation, as MMOCR's) on the concatenation predicts, through
            :class:`ScaleChannelSpatialAttention`, one
            weight map per level; the output is the concatenation of the weighted levels.

    Input: a sequence of N x C_i x H_i x W_i tensors, finest first. Output: a 1-tuple with one
    N x (L * out_channels) x H_0 x W_0 tensor; :attr:`out_channels` is ``[L * out_channels]``, :attr:`strides`
    the first level's stride when ``in_strides`` is given.
    """

    def __init__(self, in_channels: Sequence[int], lateral_channels: int = 256, out_channels: int = 64,
                 bias_on_lateral: bool = False, bn_re_on_lateral: bool = False, bias_on_smooth: bool = False,
                 bn_re_on_smooth: bool = False, conv_after_concat: bool = False, asf_cfg: dict | None = None,
                 in_strides: Sequence[int] | None = None, init_cfg: dict | None = None) -> None:
        super().__init__()
        if asf_cfg is not None and asf_cfg.get('attention_type', 'ScaleChannelSpatial') != 'ScaleChannelSpatial':
            raise ValueError(f"FPNC: asf_cfg.attention_type must be 'ScaleChannelSpatial', got "
                             f"{asf_cfg.get('attention_type')!r}")
        if not in_channels:
            raise ValueError('FPNC: in_channels must list the backbone levels, got an empty list')
        self.in_channels = list(in_channels)

        def conv(cin, cout, k, bias, bn_re):
            if bn_re:
                return _conv_bn_relu(cin, cout, k)
            return nn.Conv2d(cin, cout, k, padding=k // 2, bias=bias)

        self.lateral_convs = nn.ModuleList(conv(c, lateral_channels, 1, bias_on_lateral, bn_re_on_lateral)
                                           for c in self.in_channels)
        self.smooth_convs = nn.ModuleList(conv(lateral_channels, out_channels, 3, bias_on_smooth, bn_re_on_smooth)
                                          for _ in self.in_channels)
        total = out_channels * len(self.in_channels)
        self.out_conv = _conv_bn_relu(total, total, 3) if conv_after_concat else None
        if asf_cfg is not None:
            self.asf_conv = nn.Conv2d(total, total, 3, padding=1, bias=True)
            self.asf_attn = ScaleChannelSpatialAttention(total, total // 4, len(self.in_channels))
        else:
            self.asf_conv = self.asf_attn = None
        self.out_channels = [total]
        self.strides = [in_strides[0]] if in_strides else None

    def forward(self, feats: Sequence[torch.Tensor]) -> tuple[torch.Tensor]:
        if len(feats) != len(self.in_channels):
            raise ValueError(f'FPNC: got {len(feats)} feature maps, in_channels has {len(self.in_channels)}')
        lats = [conv(f) for conv, f in zip(self.lateral_convs, feats)]
        for i in range(len(lats) - 1, 0, -1):
            lats[i - 1] = lats[i - 1] + F.interpolate(lats[i], size=lats[i - 1].shape[-2:], mode='nearest')
        outs = [conv(x) for conv, x in zip(self.smooth_convs, lats)]
        size = outs[0].shape[-2:]
        outs = [outs[0]] + [F.interpolate(o, size=size, mode='nearest') for o in outs[1:]]
        out = torch.cat(outs, dim=1)
        if self.asf_attn is not None:
            weights = self.asf_attn(self.asf_conv(out))  # N x L x H x W
            out = torch.cat([weights[:, i:i + 1] * o for i, o in enumerate(outs)], dim=1)
        if self.out_conv is not None:
            out = self.out_conv(out)
        return (out,)
