"""CSPNeXt backbone (Lyu et al., "RTMDet: An Empirical Study of Designing Real-Time Object Detectors", 2022), the
backbone of RTMDet and RTMPose, with MMDetection's ``arch`` / ``deepen_factor`` / ``widen_factor`` arguments.

Parameter names follow MMDetection's (``stem.0.conv.weight``, ``stem.0.bn.weight``, ``stage1.0.conv``,
``stage4.1.conv1`` (SPP), ``stage1.1.main_conv``, ``stage1.1.blocks.0.conv2.depthwise_conv.conv``,
``stage1.1.attention.fc`` ...), so RTMPose / RTMDet checkpoints (their ``backbone.*`` keys) load unchanged.
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from ...registry import MODELS
from .base import BackboneBase
from .hrnet import build_norm2d
from .pretrained import check_pretrained_init_cfg, load_pretrained

__all__ = ['CSPNeXt', 'ConvModule', 'DepthwiseSeparableConvModule', 'CSPNeXtBlock', 'CSPLayer', 'SPPBottleneck',
           'ChannelAttention']

# per stage: in channels, out channels, blocks, residual inside the blocks, SPP after the downsampling conv
_ARCHS = {
    'P5': [(64, 128, 3, True, False), (128, 256, 6, True, False), (256, 512, 6, True, False),
           (512, 1024, 3, False, True)],
    'P6': [(64, 128, 3, True, False), (128, 256, 6, True, False), (256, 512, 6, True, False),
           (512, 768, 3, True, False), (768, 1024, 3, False, True)],
}
_DEFAULT_NORM = dict(type='BN', momentum=0.03, eps=0.001)
_ACTS = {'SiLU': nn.SiLU, 'Swish': nn.SiLU, 'ReLU': nn.ReLU, 'LeakyReLU': nn.LeakyReLU, 'HSwish': nn.Hardswish,
         'GELU': nn.GELU}


def _build_act(act_cfg: dict | None) -> nn.Module:
    if act_cfg is None:
        return nn.Identity()
    cfg = dict(act_cfg)
    kind = cfg.pop('type', 'SiLU')
    if kind not in _ACTS:
        raise ValueError(f'CSPNeXt act_cfg type must be one of {sorted(_ACTS)}, got {kind!r}')
    cfg.pop('inplace', None)
    return _ACTS[kind](**cfg)


class ConvModule(nn.Module):
    """Conv (no bias) -> norm -> activation; names ``conv``, ``bn``, ``activate``.
    (N, cin, H, W) -> (N, cout, H / stride, W / stride)."""

    def __init__(self, cin: int, cout: int, kernel_size: int, stride: int = 1, groups: int = 1,
                 norm_cfg: dict | None = None, act_cfg: dict | None = None) -> None:
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, kernel_size, stride=stride, padding=kernel_size // 2, groups=groups,
                              bias=False)
        self.bn = build_norm2d(norm_cfg, cout, owner='CSPNeXt')
        self.activate = _build_act(act_cfg)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.activate(self.bn(self.conv(x)))


class DepthwiseSeparableConvModule(nn.Module):
    """Depthwise ``kernel_size`` conv module then pointwise 1x1 conv module (``depthwise_conv``,
    ``pointwise_conv``), each conv -> norm -> activation."""

    def __init__(self, cin: int, cout: int, kernel_size: int, stride: int = 1, norm_cfg: dict | None = None,
                 act_cfg: dict | None = None) -> None:
        super().__init__()
        self.depthwise_conv = ConvModule(cin, cin, kernel_size, stride, groups=cin, norm_cfg=norm_cfg,
                                         act_cfg=act_cfg)
        self.pointwise_conv = ConvModule(cin, cout, 1, norm_cfg=norm_cfg, act_cfg=act_cfg)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pointwise_conv(self.depthwise_conv(x))


def _conv(depthwise: bool, cin: int, cout: int, k: int, stride: int, norm_cfg, act_cfg) -> nn.Module:
    if depthwise:
        return DepthwiseSeparableConvModule(cin, cout, k, stride, norm_cfg=norm_cfg, act_cfg=act_cfg)
    return ConvModule(cin, cout, k, stride, norm_cfg=norm_cfg, act_cfg=act_cfg)


class CSPNeXtBlock(nn.Module):
    """3x3 conv module, then a depthwise-separable ``kernel_size`` (5) conv module; adds the input when
    ``add_identity`` and the widths agree. (N, cin, H, W) -> (N, cout, H, W)."""

    def __init__(self, cin: int, cout: int, expansion: float = 0.5, add_identity: bool = True,
                 use_depthwise: bool = False, kernel_size: int = 5, norm_cfg: dict | None = None,
                 act_cfg: dict | None = None) -> None:
        super().__init__()
        hidden = int(cout * expansion)
        self.conv1 = _conv(use_depthwise, cin, hidden, 3, 1, norm_cfg, act_cfg)
        self.conv2 = DepthwiseSeparableConvModule(hidden, cout, kernel_size, 1, norm_cfg=norm_cfg, act_cfg=act_cfg)
        self.add_identity = add_identity and cin == cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.conv2(self.conv1(x))
        return out + x if self.add_identity else out


class ChannelAttention(nn.Module):
    """Squeeze-and-excitation without reduction: ``x * hardsigmoid(fc(mean over H, W))`` (``fc`` a 1x1 conv
    with bias). (N, C, H, W) -> (N, C, H, W)."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.global_avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Conv2d(channels, channels, 1, bias=True)
        self.act = nn.Hardsigmoid()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        with torch.autocast(device_type=x.device.type, enabled=False):
            w = self.act(self.fc(self.global_avgpool(x.float())))
        return x * w.to(x.dtype)


class CSPLayer(nn.Module):
    """Cross-stage partial layer: ``main_conv`` (1x1) -> ``blocks``, concatenated with ``short_conv`` (1x1),
    optional :class:`ChannelAttention`, then ``final_conv`` (1x1). (N, cin, H, W) -> (N, cout, H, W)."""

    def __init__(self, cin: int, cout: int, expand_ratio: float = 0.5, num_blocks: int = 1,
                 add_identity: bool = True, use_depthwise: bool = False, channel_attention: bool = False,
                 norm_cfg: dict | None = None, act_cfg: dict | None = None) -> None:
        super().__init__()
        mid = int(cout * expand_ratio)
        self.main_conv = ConvModule(cin, mid, 1, norm_cfg=norm_cfg, act_cfg=act_cfg)
        self.short_conv = ConvModule(cin, mid, 1, norm_cfg=norm_cfg, act_cfg=act_cfg)
        self.final_conv = ConvModule(2 * mid, cout, 1, norm_cfg=norm_cfg, act_cfg=act_cfg)
        self.blocks = nn.Sequential(*[CSPNeXtBlock(mid, mid, 1.0, add_identity, use_depthwise, norm_cfg=norm_cfg,
                                                   act_cfg=act_cfg) for _ in range(num_blocks)])
        self.channel_attention = channel_attention
        if channel_attention:
            self.attention = ChannelAttention(2 * mid)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = torch.cat((self.blocks(self.main_conv(x)), self.short_conv(x)), dim=1)
        if self.channel_attention:
            y = self.attention(y)
        return self.final_conv(y)


class SPPBottleneck(nn.Module):
    """Spatial pyramid pooling: 1x1 conv to half width, concatenated with stride-1 max pools of each
    ``kernel_sizes``, 1x1 conv to ``cout``. (N, cin, H, W) -> (N, cout, H, W)."""

    def __init__(self, cin: int, cout: int, kernel_sizes: Sequence[int] = (5, 9, 13), norm_cfg: dict | None = None,
                 act_cfg: dict | None = None) -> None:
        super().__init__()
        mid = cin // 2
        self.conv1 = ConvModule(cin, mid, 1, norm_cfg=norm_cfg, act_cfg=act_cfg)
        self.poolings = nn.ModuleList(nn.MaxPool2d(k, stride=1, padding=k // 2) for k in kernel_sizes)
        self.conv2 = ConvModule(mid * (len(kernel_sizes) + 1), cout, 1, norm_cfg=norm_cfg, act_cfg=act_cfg)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv1(x)
        return self.conv2(torch.cat([x] + [pool(x) for pool in self.poolings], dim=1))


@MODELS.register_module()
class CSPNeXt(BackboneBase):
    """CSPNeXt: a stem of three 3x3 conv modules (the first stride 2), then 4 (``'P5'``) or 5 (``'P6'``) stages,
    each a stride-2 3x3 conv module, an :class:`SPPBottleneck` in the last stage, and a :class:`CSPLayer` of
    :class:`CSPNeXtBlock` s.

    Args:
        arch: ``'P5'`` (stage widths 128, 256, 512, 1024 at widen_factor 1; strides 4-32) or ``'P6'`` (adds a
            768-wide stride-32 stage; the last is at stride 64).
        deepen_factor: blocks per stage = ``max(round(n * deepen_factor), 1)`` (RTMPose-s 0.33, -t 0.167).
        widen_factor: every width is ``int(c * widen_factor)`` (RTMPose-s 0.5, -t 0.375).
        out_indices: returned layers: 0 is the stem (stride 2), ``i`` >= 1 stage ``i`` (stride ``2 ** (i + 1)``).
            RTMPose uses ``(4,)``, the stride-32 map.
        frozen_stages: -1 freezes nothing; ``k`` freezes the stem and stages 1..k.
        use_depthwise: depthwise-separable downsampling convs and block ``conv1`` s.
        expand_ratio: width of each CSPLayer's two paths relative to its output.
        arch_ovewrite: a list replacing the ``arch`` table (MMDetection's spelling kept).
        spp_kernel_sizes: max-pool sizes of the SPP.
        channel_attention: a :class:`ChannelAttention` in every CSPLayer.
        norm_cfg: ``dict(type='BN' | 'SyncBN', momentum=, eps=)``; default ``momentum=0.03, eps=0.001``. Note a
            config's ``norm_cfg=dict(type='SyncBN')`` (as RTMPose's) means PyTorch's defaults, 0.1 and 1e-5.
        act_cfg: ``dict(type='SiLU')`` (default), 'ReLU', 'LeakyReLU', 'HSwish', 'GELU' or None.
        norm_eval: keep every BatchNorm in eval mode while training.
        init_cfg: ``None`` (Kaiming-uniform convs as PyTorch's default) or ``dict(type='Pretrained',
            checkpoint=..., prefix='backbone.')``; loaded by :meth:`init_weights`.

    Forward: ``x`` float (N, 3, H, W) -> tuple of (N, out_channels[i], H / strides[i], W / strides[i]) tensors, one
    per ``out_indices`` entry (sizes rounded up for H, W not multiples of the stride).
    """

    def __init__(self, arch: str = 'P5', deepen_factor: float = 1.0, widen_factor: float = 1.0,
                 out_indices: Sequence[int] = (2, 3, 4), frozen_stages: int = -1, use_depthwise: bool = False,
                 expand_ratio: float = 0.5, arch_ovewrite: list | None = None,
                 spp_kernel_sizes: Sequence[int] = (5, 9, 13), channel_attention: bool = True,
                 conv_cfg: dict | None = None, norm_cfg: dict | None = None, act_cfg: dict | None = None,
                 norm_eval: bool = False, init_cfg: dict | list | None = None, in_channels: int = 3) -> None:
        super().__init__()
        if arch not in _ARCHS and arch_ovewrite is None:
            raise ValueError(f'CSPNeXt arch must be one of {sorted(_ARCHS)}, got {arch!r}')
        setting = [tuple(s) for s in (arch_ovewrite if arch_ovewrite is not None else _ARCHS[arch])]
        out_indices = tuple(out_indices)
        if not out_indices or list(out_indices) != sorted(set(out_indices)) or min(out_indices) < 0 \
                or max(out_indices) > len(setting):
            raise ValueError(f'CSPNeXt out_indices must be increasing layer indices in 0..{len(setting)} '
                             f'(0 = stem), got {out_indices}')
        if not -1 <= frozen_stages <= len(setting):
            raise ValueError(f'CSPNeXt frozen_stages must be in -1..{len(setting)}, got {frozen_stages}')
        if conv_cfg is not None and dict(conv_cfg).get('type', 'Conv2d') not in ('Conv', 'Conv2d'):
            raise ValueError(f"CSPNeXt conv_cfg must be None or dict(type='Conv2d'), got {conv_cfg}")
        if isinstance(init_cfg, (list, tuple)):
            pre = [c for c in init_cfg if isinstance(c, dict) and c.get('type') == 'Pretrained']
            init_cfg = pre[0] if pre else None
        if isinstance(init_cfg, dict) and init_cfg.get('type') == 'Kaiming':  # MMDetection's default: random init
            init_cfg = None
        check_pretrained_init_cfg(init_cfg, 'CSPNeXt')
        norm_cfg = dict(_DEFAULT_NORM) if norm_cfg is None else dict(norm_cfg)
        act_cfg = dict(type='SiLU') if act_cfg is None else act_cfg
        self.arch, self.out_indices, self.frozen_stages = arch, out_indices, frozen_stages
        self.norm_eval, self.init_cfg = norm_eval, init_cfg

        stem = int(setting[0][0] * widen_factor)
        self.stem = nn.Sequential(
            ConvModule(in_channels, stem // 2, 3, 2, norm_cfg=norm_cfg, act_cfg=act_cfg),
            ConvModule(stem // 2, stem // 2, 3, 1, norm_cfg=norm_cfg, act_cfg=act_cfg),
            ConvModule(stem // 2, stem, 3, 1, norm_cfg=norm_cfg, act_cfg=act_cfg))
        self.layers = ['stem']
        channels = [stem]
        for i, (cin, cout, n, add_identity, use_spp) in enumerate(setting):
            cin, cout = int(cin * widen_factor), int(cout * widen_factor)
            n = max(round(n * deepen_factor), 1)
            stage: list[nn.Module] = [_conv(use_depthwise, cin, cout, 3, 2, norm_cfg, act_cfg)]
            if use_spp:
                stage.append(SPPBottleneck(cout, cout, spp_kernel_sizes, norm_cfg=norm_cfg, act_cfg=act_cfg))
            stage.append(CSPLayer(cout, cout, expand_ratio, n, add_identity, use_depthwise, channel_attention,
                                  norm_cfg=norm_cfg, act_cfg=act_cfg))
            self.add_module(f'stage{i + 1}', nn.Sequential(*stage))
            self.layers.append(f'stage{i + 1}')
            channels.append(cout)
        self.out_channels = [channels[i] for i in out_indices]
        self.strides = [2 ** (i + 1) for i in out_indices]
        self._freeze_stages()

    def _frozen_modules(self) -> list[nn.Module]:
        return [getattr(self, self.layers[i]) for i in range(self.frozen_stages + 1)]

    def init_weights(self) -> None:
        """Load ``init_cfg``'s pretrained checkpoint (no-op without one); keys of unbuilt layers are skipped."""
        if not self.init_cfg:
            return
        load_pretrained(self, self.init_cfg, name=f'CSPNeXt-{self.arch}',
                        keep=lambda k: k.split('.')[0] in self.layers)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        outs = []
        last = max(self.out_indices)
        for i, name in enumerate(self.layers[:last + 1]):
            x = getattr(self, name)(x)
            if i in self.out_indices:
                outs.append(x)
        return tuple(outs)
