"""PPMobileNetV3: PaddleOCR's MobileNetV3 for text lines (recognition / text-direction classification).

It differs from torchvision's MobileNetV3 (:class:`~visioncraft.models.backbones.MobileNetV3`) where PaddleOCR's
trained weights depend on it: the stage strides are height-only (``(s, 1)``) so a text line keeps its columns,
every block has an expand conv (also when the expansion is 1), channels round to multiples of 8 from ``scale``
without torchvision's squeeze rounding (SE width ``C // 4``), the squeeze-excite gate is
``clip(0.2 x + 0.5, 0, 1)`` (Paddle's hardsigmoid, not ``x / 6 + 0.5``), and the network ends with a 1x1
conv-BN-hardswish and a 2 x 2 max-pool. PP-OCR's mobile v2.0 text-direction classifier is ``model_name='small',
scale=0.35``.
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ...registry import MODELS
from ..layers.squeeze_excite import SqueezeExcite
from .base import BackboneBase

__all__ = ['PPMobileNetV3']

# kernel, expansion channels, output channels, squeeze-excite, activation, stride index (None: stride 1)
_SMALL = [(3, 16, 16, True, 'relu', 0), (3, 72, 24, False, 'relu', 1), (3, 88, 24, False, 'relu', None),
          (5, 96, 40, True, 'hardswish', 2), (5, 240, 40, True, 'hardswish', None),
          (5, 240, 40, True, 'hardswish', None), (5, 120, 48, True, 'hardswish', None),
          (5, 144, 48, True, 'hardswish', None), (5, 288, 96, True, 'hardswish', 3),
          (5, 576, 96, True, 'hardswish', None), (5, 576, 96, True, 'hardswish', None)]
_LARGE = [(3, 16, 16, False, 'relu', 0), (3, 64, 24, False, 'relu', 1), (3, 72, 24, False, 'relu', None),
          (5, 72, 40, True, 'relu', 2), (5, 120, 40, True, 'relu', None), (5, 120, 40, True, 'relu', None),
          (3, 240, 80, False, 'hardswish', None), (3, 200, 80, False, 'hardswish', None),
          (3, 184, 80, False, 'hardswish', None), (3, 184, 80, False, 'hardswish', None),
          (3, 480, 112, True, 'hardswish', None), (3, 672, 112, True, 'hardswish', None),
          (5, 672, 160, True, 'hardswish', 3), (5, 960, 160, True, 'hardswish', None),
          (5, 960, 160, True, 'hardswish', None)]
_LAST = {'small': 576, 'large': 960}


def _make_divisible(v: float, divisor: int = 8) -> int:
    new_v = max(divisor, int(v + divisor / 2) // divisor * divisor)
    return new_v + divisor if new_v < 0.9 * v else new_v


class _ConvBNAct(nn.Module):
    def __init__(self, cin: int, cout: int, k: int, stride=1, groups: int = 1, act: str | None = None) -> None:
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, k, stride, (k - 1) // 2, groups=groups, bias=False)
        self.bn = nn.BatchNorm2d(cout)
        if act not in (None, 'relu', 'hardswish'):
            raise ValueError(f"PPMobileNetV3: activation must be 'relu' or 'hardswish', got {act!r}")
        self.act = act

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.bn(self.conv(x))
        if self.act == 'relu':
            return F.relu(x)
        return F.hardswish(x) if self.act == 'hardswish' else x


class _ResidualUnit(nn.Module):
    """1x1 expand conv-BN-act -> kxk depthwise conv-BN-act -> optional SE -> 1x1 linear conv-BN; identity
    shortcut when the stride is 1 and the channels are kept."""

    def __init__(self, cin: int, mid: int, cout: int, k: int, stride, use_se: bool, act: str) -> None:
        super().__init__()
        self.shortcut = stride == 1 and cin == cout
        self.expand_conv = _ConvBNAct(cin, mid, 1, act=act)
        self.bottleneck_conv = _ConvBNAct(mid, mid, k, stride, groups=mid, act=act)
        self.mid_se = SqueezeExcite(mid, gate='paddle') if use_se else None
        self.linear_conv = _ConvBNAct(mid, cout, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.bottleneck_conv(self.expand_conv(x))
        if self.mid_se is not None:
            y = self.mid_se(y)
        y = self.linear_conv(y)
        return x + y if self.shortcut else y


@MODELS.register_module()
class PPMobileNetV3(BackboneBase):
    """PaddleOCR's text-line MobileNetV3 (``rec_mobilenet_v3``).

    Args:
        model_name: ``'small'`` or ``'large'``.
        scale: width multiplier; channels ``make_divisible(c * scale, 8)`` (x0.35 small: 8 ... 200 channels).
        small_stride / large_stride: the height strides of the four down-sampling blocks (default ``[2, 2, 2, 2]``
            / ``[1, 2, 2, 2]``); each is applied as ``(s, 1)`` (the width is only halved by the stem and the final
            max-pool).
        disable_se: drop every squeeze-excite.
        in_channels: input channels (3).

    Forward: ``x`` float N x C x H x W -> a 1-tuple with an N x ``out_channels[0]`` x H' x W/4 tensor: the stem and
    each stride halve the height (rounding up), the final 2 x 2 max-pool halves both sides (rounding down); a
    48 x 192 classifier crop gives 1 x 48 (x0.35 small: 200 channels).
    """

    def __init__(self, model_name: str = 'small', scale: float = 0.5, small_stride: Sequence[int] | None = None,
                 large_stride: Sequence[int] | None = None, disable_se: bool = False, in_channels: int = 3,
                 init_cfg: dict | None = None) -> None:
        super().__init__()
        if model_name not in _LAST:
            raise ValueError(f"PPMobileNetV3: model_name must be 'small' or 'large', got {model_name!r}")
        strides = list(small_stride or [2, 2, 2, 2]) if model_name == 'small' else list(large_stride or [1, 2, 2, 2])
        if len(strides) != 4:
            raise ValueError(f'PPMobileNetV3: the stride list needs 4 entries, got {strides}')
        cfg = _SMALL if model_name == 'small' else _LARGE
        inplanes = _make_divisible(16 * scale)
        self.conv1 = _ConvBNAct(in_channels, inplanes, 3, 2, act='hardswish')
        blocks = []
        for k, exp, c, se, act, si in cfg:
            # PaddleOCR: large_stride[0] (the first block) strides both sides, every other one the height only
            stride = 1 if si is None else (int(strides[si]),) * 2 if model_name == 'large' and si == 0 else \
                (int(strides[si]), 1)
            out = _make_divisible(scale * c)
            blocks.append(_ResidualUnit(inplanes, _make_divisible(scale * exp), out, k, stride,
                                        se and not disable_se, act))
            inplanes = out
        self.blocks = nn.Sequential(*blocks)
        last = _make_divisible(scale * _LAST[model_name])
        self.conv2 = _ConvBNAct(inplanes, last, 1, act='hardswish')
        self.out_channels, self.strides = [last], [4]
        self.init_cfg = init_cfg

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor]:
        return (F.max_pool2d(self.conv2(self.blocks(self.conv1(x))), 2, 2),)
