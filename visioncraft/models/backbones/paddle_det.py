"""PaddleOCR's detection backbones with PaddleOCR's layer names: ``PPDetMobileNetV3`` (``det_mobilenet_v3``, the
backbone of ``det_mv3_db.yml``) and ``PPResNetVd`` (``det_resnet_vd``, of ``det_r50_vd_db.yml`` / ResNet18_vd).

Their state-dict names are PaddleOCR's (BatchNorm statistics aside: ``running_mean`` / ``running_var`` for
Paddle's ``_mean`` / ``_variance``), so a PaddleOCR ``.pdparams`` loads by name
(:func:`visioncraft.fileio.paddle.paddle_to_torch_state_dict`). Each also knows where the PaddleClas ImageNet
weights of the same network go (:meth:`paddleclas_name`): ``MobileNetV3_large_x0_5_pretrained.pdparams``,
``ResNet18_vd_pretrained.pdparams``, ``ResNet50_vd_ssld_pretrained.pdparams`` name their layers by PaddleClas's
classifier (``conv1`` / ``conv2``...``conv16`` / ``last_second_conv`` or ``conv`` / ``blocks.i``; ``conv1_1`` /
``bb_0_0`` or ``stem.i`` / ``blocks.i``), which PaddleOCR's own loader would silently skip.

Where they differ from torchvision-style networks (and why :class:`MobileNetV3` / :class:`ResNetV1d` cannot take
these weights): every MobileNetV3 block has an expand conv, channels are ``make_divisible(c * scale, 8)``, the SE
width is ``C // 4`` and its gate ``clip(0.2 x + 0.5, 0, 1)``; the four outputs end where the next stride-2 block
starts, the last one after the final 1x1 conv-BN-hardswish. ResNet_vd's first block of every stage has a
projection shortcut (also ResNet18's first, whose channels do not change), the later stages' through a 2 x 2
average pool (ceil mode, padding not counted).
"""
from __future__ import annotations

import re
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ...registry import MODELS
from .base import BackboneBase
from .pp_mobilenet_v3 import _LARGE, _LAST, _SMALL, _ConvBNAct, _make_divisible, _ResidualUnit

__all__ = ['PPDetMobileNetV3', 'PPResNetVd']

_SCALES = (0.35, 0.5, 0.75, 1.0, 1.25)
# stride-2 blocks of the torchvision-free cfg tables (pp_mobilenet_v3): the det variant runs them at (2, 2)
_DET_STRIDE2 = {'large': (1, 3, 6, 12), 'small': (0, 1, 3, 8)}


@MODELS.register_module()
class PPDetMobileNetV3(BackboneBase):
    """PaddleOCR's detection MobileNetV3 (``Backbone: {name: MobileNetV3}`` of a ``det`` config).

    Args:
        model_name: ``'large'`` or ``'small'``.
        scale: width multiplier, one of 0.35, 0.5, 0.75, 1.0, 1.25 (PaddleOCR's choice; others are refused).
        disable_se: drop every squeeze-excite.
        in_channels: input channels.

    Layers: ``conv`` (3x3 stride-2 conv-BN-hardswish), ``stage0`` ... ``stage3`` (``nn.Sequential`` of residual
    units ``expand_conv`` / ``bottleneck_conv`` / ``mid_se`` / ``linear_conv``; ``stage3`` ends with the 1x1
    conv-BN-hardswish to ``scale x 960`` (large) / ``576`` (small)).

    Forward: N x C x H x W -> 4 maps at strides 4, 8, 16, 32 (``out_channels``: large x0.5 ``[16, 24, 56, 480]``).
    """

    def __init__(self, model_name: str = 'large', scale: float = 0.5, disable_se: bool = False,
                 in_channels: int = 3, init_cfg: dict | None = None) -> None:
        super().__init__()
        if model_name not in _LAST:
            raise ValueError(f"PPDetMobileNetV3: model_name must be 'large' or 'small', got {model_name!r}")
        if float(scale) not in _SCALES:
            raise ValueError(f'PPDetMobileNetV3: scale must be one of {_SCALES} (PaddleOCR\'s), got {scale!r}')
        cfg = _LARGE if model_name == 'large' else _SMALL
        stride2 = _DET_STRIDE2[model_name]
        start = 2 if model_name == 'large' else 0  # PaddleOCR starts a new stage at a stride-2 block after this
        inplanes = _make_divisible(16 * scale)
        self.conv = _ConvBNAct(in_channels, inplanes, 3, 2, act='hardswish')
        stages: list[list[nn.Module]] = [[]]
        self.out_channels, self.strides = [], []
        self._block_names: list[str] = []  # PaddleClas block i -> our 'stage{s}.{j}'
        for i, (k, exp, c, se, act, _) in enumerate(cfg):
            stride = 2 if i in stride2 else 1
            if stride == 2 and i > start:
                self.out_channels.append(inplanes)
                stages.append([])
            out = _make_divisible(scale * c)
            self._block_names.append(f'stage{len(stages) - 1}.{len(stages[-1])}')
            stages[-1].append(_ResidualUnit(inplanes, _make_divisible(scale * exp), out, k, stride,
                                            se and not disable_se, act))
            inplanes = out
        last = _make_divisible(scale * _LAST[model_name])
        self._last_name = f'stage{len(stages) - 1}.{len(stages[-1])}'
        stages[-1].append(_ConvBNAct(inplanes, last, 1, act='hardswish'))
        self.out_channels.append(last)
        self.strides = [4, 8, 16, 32]
        for i, blocks in enumerate(stages):
            self.add_module(f'stage{i}', nn.Sequential(*blocks))
        self.num_stages = len(stages)
        self.model_name, self.scale = model_name, float(scale)
        self.init_cfg = init_cfg

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        x = self.conv(x)
        outs = []
        for i in range(self.num_stages):
            x = getattr(self, f'stage{i}')(x)
            outs.append(x)
        return tuple(outs)

    def paddleclas_name(self, name: str) -> str | None:
        """Our name (within the backbone) of a PaddleClas ImageNet MobileNetV3 weight, None for its classifier.
        Both of PaddleClas's layouts: the 2.0 one (``conv1``, ``conv2`` ... ``conv{n+1}`` = block ``n - 1``,
        ``mid_se``, ``bottleneck_conv``) and the legendary one (``conv``, ``blocks.i``, ``se``, ``dw_conv``);
        ``last_second_conv`` is the final 1x1 conv of ``stage3``."""
        return _mv3_paddleclas_name(name, 'conv', self._block_names.__getitem__, self._last_name,
                                    len(self._block_names))


def _mv3_paddleclas_name(name: str, stem: str, block, last: str, num_blocks: int) -> str | None:
    inner = {'dw_conv': 'bottleneck_conv', 'se': 'mid_se'}
    m = re.match(r'^(?:conv1|conv)\.(.*)$', name)  # the stem: conv1 (2.0 layout) or conv (legendary)
    if m:
        return f'{stem}.{m.group(1)}'
    m = re.match(r'^(?:conv(\d+)|blocks\.(\d+))\.([a-z_]+)\.(.*)$', name)
    if m:
        index = int(m.group(1)) - 2 if m.group(1) else int(m.group(2))
        if 0 <= index < num_blocks:
            return f'{block(index)}.{inner.get(m.group(3), m.group(3))}.{m.group(4)}'
        return None
    if name.startswith('last_second_conv.'):
        return f'{last}.{name[len("last_second_conv."):]}'
    return None  # last_conv, out / fc: the ImageNet classifier


class _PaddleConvBN(nn.Module):
    """PaddleOCR ResNet_vd's ConvBNLayer: optional 2 x 2 average pool (vd shortcut), conv (no bias), BN, act."""

    def __init__(self, cin: int, cout: int, k: int, stride: int = 1, act: bool = False, pool: bool = False) -> None:
        super().__init__()
        self.pool = pool
        self._conv = nn.Conv2d(cin, cout, k, stride, (k - 1) // 2, bias=False)
        self._batch_norm = nn.BatchNorm2d(cout)
        self.act = act

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.pool:
            x = F.avg_pool2d(x, 2, 2, ceil_mode=True, count_include_pad=False)
        x = self._batch_norm(self._conv(x))
        return F.relu(x) if self.act else x


class _VdBlock(nn.Module):
    def __init__(self, cin: int, width: int, stride: int, bottleneck: bool, projection: bool, first: bool) -> None:
        super().__init__()
        cout = width * 4 if bottleneck else width
        if bottleneck:
            self.conv0 = _PaddleConvBN(cin, width, 1, act=True)
            self.conv1 = _PaddleConvBN(width, width, 3, stride, act=True)
            self.conv2 = _PaddleConvBN(width, cout, 1)
        else:
            self.conv0 = _PaddleConvBN(cin, width, 3, stride, act=True)
            self.conv1 = _PaddleConvBN(width, width, 3)
        self.bottleneck = bottleneck
        # vd: the projection runs after an average pool (stride), except in the network's first block
        self.short = _PaddleConvBN(cin, cout, 1, pool=not first) if projection else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv1(self.conv0(x))
        if self.bottleneck:
            y = self.conv2(y)
        return F.relu(y + (x if self.short is None else self.short(x)))


_DEPTHS = {18: (2, 2, 2, 2), 34: (3, 4, 6, 3), 50: (3, 4, 6, 3), 101: (3, 4, 23, 3), 152: (3, 8, 36, 3),
           200: (3, 12, 48, 3)}


@MODELS.register_module()
class PPResNetVd(BackboneBase):
    """PaddleOCR's detection ResNet_vd (``Backbone: {name: ResNet_vd, layers: 18|34|50|...}``).

    Args:
        layers: 18, 34 (basic blocks), 50, 101, 152, 200 (bottlenecks).
        in_channels: input channels.
        out_indices: which of the four stages to return (PaddleOCR's ``out_indices``).
        base_channels: the first stage's width (64 in PaddleOCR; the stem is 32 / 32 / 64 at 64). Smaller values
            make the width-reduced networks of the tests; PaddleOCR's weights need 64.

    Layers: ``conv1_1`` / ``conv1_2`` / ``conv1_3`` (3x3, the first stride 2), 3x3 stride-2 max-pool, then blocks
    ``bb_{stage}_{i}`` (``conv0`` / ``conv1`` [/ ``conv2``] / ``short``; each ``_conv`` + ``_batch_norm``).

    Forward: N x C x H x W -> the chosen stages at strides 4, 8, 16, 32 (ResNet18: 64, 128, 256, 512 channels;
    ResNet50: 256 ... 2048).
    """

    def __init__(self, layers: int = 50, in_channels: int = 3, out_indices: Sequence[int] = (0, 1, 2, 3),
                 base_channels: int = 64, init_cfg: dict | None = None) -> None:
        super().__init__()
        if layers not in _DEPTHS:
            raise ValueError(f'PPResNetVd: layers must be one of {sorted(_DEPTHS)}, got {layers!r}')
        self.out_indices = tuple(int(i) for i in out_indices)
        if not self.out_indices or any(i not in range(4) for i in self.out_indices):
            raise ValueError(f'PPResNetVd: out_indices must be stage numbers 0..3, got {out_indices!r}')
        b = int(base_channels)
        self.conv1_1 = _PaddleConvBN(in_channels, b // 2, 3, 2, act=True)
        self.conv1_2 = _PaddleConvBN(b // 2, b // 2, 3, act=True)
        self.conv1_3 = _PaddleConvBN(b // 2, b, 3, act=True)
        bottleneck = layers >= 50
        cin = b
        self._stage_blocks: list[list[str]] = []
        out_channels = []
        for s, depth in enumerate(_DEPTHS[layers]):
            width = b * 2 ** s
            names = []
            for i in range(depth):
                # as PaddleOCR: every stage's first block projects (ResNet18's first too), stride 2 after stage 0
                block = _VdBlock(cin, width, 2 if i == 0 and s else 1, bottleneck, projection=i == 0,
                                 first=s == i == 0)
                self.add_module(f'bb_{s}_{i}', block)
                names.append(f'bb_{s}_{i}')
                cin = width * 4 if bottleneck else width
            self._stage_blocks.append(names)
            out_channels.append(cin)
        self.out_channels = [out_channels[i] for i in self.out_indices]
        self.strides = [4 * 2 ** i for i in self.out_indices]
        self.layers = layers
        self.init_cfg = init_cfg

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        x = self.conv1_3(self.conv1_2(self.conv1_1(x)))
        x = F.max_pool2d(x, 3, 2, 1)
        outs = []
        for s, names in enumerate(self._stage_blocks):
            for name in names:
                x = getattr(self, name)(x)
            if s in self.out_indices:
                outs.append(x)
        return tuple(outs)

    def paddleclas_name(self, name: str) -> str | None:
        """Our name (within the backbone) of a PaddleClas ImageNet ResNet_vd weight, None for its classifier:
        the 2.0 layout's names are ours already (``conv1_1._conv``, ``bb_0_0.short._batch_norm``); the legendary
        layout's ``stem.{0,1,2}`` are ``conv1_{1,2,3}``, ``blocks.k`` the k-th block counted over all stages, and
        its ConvBNLayer's ``conv`` / ``bn`` are ``_conv`` / ``_batch_norm``."""
        if re.match(r'^(conv1_[123]|bb_\d+_\d+)\.', name):
            return name
        flat = [n for names in self._stage_blocks for n in names]
        m = re.match(r'^stem\.([012])\.(conv|bn)\.(.*)$', name)
        if m:
            return f'conv1_{int(m.group(1)) + 1}.{"_conv" if m.group(2) == "conv" else "_batch_norm"}.{m.group(3)}'
        m = re.match(r'^blocks\.(\d+)\.(conv\d|short)\.(conv|bn)\.(.*)$', name)
        if m and int(m.group(1)) < len(flat):
            part = '_conv' if m.group(3) == 'conv' else '_batch_norm'
            return f'{flat[int(m.group(1))]}.{m.group(2)}.{part}.{m.group(4)}'
        return None  # fc / out: the ImageNet classifier
