"""HRNet backbone (Sun et al., "Deep High-Resolution Representation Learning for Human Pose Estimation",
CVPR 2019), configured with MMPose's ``extra`` dict so that MMPose's HRNet-W32 / W48 configs read unchanged.

Parameter names are MMPose's (``conv1``, ``bn1``, ``conv2``, ``bn2``, ``layer1.0.conv1``, ``transition1.1.0.0``,
``stage2.0.branches.0.0.conv1``, ``stage2.0.fuse_layers.0.1.0`` ...), so an MMPose HRNet checkpoint (its
``backbone.*`` keys, or the ImageNet ``hrnet_w32-36af842e.pth`` pre-training) loads without a key mapping.
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
import torch.utils.checkpoint as cp
from torch import nn

from ...registry import MODELS
from .base import BackboneBase
from .pretrained import check_pretrained_init_cfg, load_pretrained

__all__ = ['HRNet', 'HRModule', 'BasicBlock', 'Bottleneck', 'build_norm2d']


def build_norm2d(norm_cfg: dict | None, channels: int, owner: str = 'HRNet') -> nn.Module:
    """A 2-D norm layer from an MMCV-style ``norm_cfg``: ``type`` 'BN' / 'BN2d' / 'SyncBN' (a BatchNorm2d; the
    Runner's ``sync_bn`` converts it to SyncBatchNorm in distributed training) with optional ``eps``,
    ``momentum`` and ``requires_grad`` (False freezes the affine parameters)."""
    cfg = dict(type='BN') if norm_cfg is None else dict(norm_cfg)
    kind = cfg.pop('type', 'BN')
    if kind not in ('BN', 'BN2d', 'SyncBN'):
        raise ValueError(f"{owner} norm_cfg type must be 'BN', 'BN2d' or 'SyncBN', got {kind!r}")
    requires_grad = cfg.pop('requires_grad', True)
    unknown = set(cfg) - {'eps', 'momentum'}
    if unknown:
        raise ValueError(f'{owner} norm_cfg: unknown keys {sorted(unknown)}; supported: type, eps, momentum, '
                         f'requires_grad')
    norm = nn.BatchNorm2d(channels, **cfg)
    for p in norm.parameters():
        p.requires_grad_(bool(requires_grad))
    return norm


def _conv3x3(cin: int, cout: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False)


class _CheckpointedBlock(nn.Module):
    """Runs ``self._inner_forward`` through ``torch.utils.checkpoint`` when ``with_cp`` and a gradient is needed
    (activations are recomputed in backward: less memory, same values and gradients)."""

    with_cp: bool = False

    def _inner_forward(self, x: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.with_cp and x.requires_grad:
            out = cp.checkpoint(self._inner_forward, x, use_reentrant=False)
        else:
            out = self._inner_forward(x)
        return F.relu(out)


class BasicBlock(_CheckpointedBlock):
    """Two 3x3 convs with a residual connection (expansion 1); names ``conv1, bn1, conv2, bn2, downsample``.

    ``x`` float (N, in_channels, H, W) -> (N, out_channels, H / stride, W / stride)."""

    expansion = 1

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1, downsample: nn.Module | None = None,
                 with_cp: bool = False, norm_cfg: dict | None = None) -> None:
        super().__init__()
        self.conv1 = _conv3x3(in_channels, out_channels, stride)
        self.bn1 = build_norm2d(norm_cfg, out_channels)
        self.conv2 = _conv3x3(out_channels, out_channels)
        self.bn2 = build_norm2d(norm_cfg, out_channels)
        self.downsample, self.with_cp = downsample, with_cp

    def last_norm(self) -> nn.Module:
        return self.bn2

    def _inner_forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = F.relu(self.bn1(self.conv1(x)))
        return self.bn2(self.conv2(out)) + identity


class Bottleneck(_CheckpointedBlock):
    """1x1 -> 3x3 (carries the stride, 'pytorch' style) -> 1x1 convs with a residual connection; ``out_channels``
    is the block's output width (``out_channels // 4`` inside, expansion 4); names ``conv1..3, bn1..3,
    downsample``.

    ``x`` float (N, in_channels, H, W) -> (N, out_channels, H / stride, W / stride)."""

    expansion = 4

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1, downsample: nn.Module | None = None,
                 with_cp: bool = False, norm_cfg: dict | None = None) -> None:
        super().__init__()
        if out_channels % self.expansion:
            raise ValueError(f'Bottleneck out_channels must be a multiple of {self.expansion}, got {out_channels}')
        mid = out_channels // self.expansion
        self.conv1 = nn.Conv2d(in_channels, mid, 1, bias=False)
        self.bn1 = build_norm2d(norm_cfg, mid)
        self.conv2 = _conv3x3(mid, mid, stride)
        self.bn2 = build_norm2d(norm_cfg, mid)
        self.conv3 = nn.Conv2d(mid, out_channels, 1, bias=False)
        self.bn3 = build_norm2d(norm_cfg, out_channels)
        self.downsample, self.with_cp = downsample, with_cp

    def last_norm(self) -> nn.Module:
        return self.bn3

    def _inner_forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = F.relu(self.bn1(self.conv1(x)))
        out = F.relu(self.bn2(self.conv2(out)))
        return self.bn3(self.conv3(out)) + identity


_BLOCKS = {'BASIC': BasicBlock, 'BOTTLENECK': Bottleneck}


def _residual_layer(block: type, in_channels: int, out_channels: int, num_blocks: int, stride: int,
                    with_cp: bool, norm_cfg: dict | None) -> nn.Sequential:
    """``num_blocks`` blocks, the first one projecting ``in_channels`` -> ``out_channels`` (1x1 conv + norm
    ``downsample``) when the widths or the stride differ."""
    downsample = None
    if stride != 1 or in_channels != out_channels:
        downsample = nn.Sequential(nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=False),
                                   build_norm2d(norm_cfg, out_channels))
    layers = [block(in_channels, out_channels, stride, downsample, with_cp=with_cp, norm_cfg=norm_cfg)]
    layers += [block(out_channels, out_channels, with_cp=with_cp, norm_cfg=norm_cfg) for _ in range(1, num_blocks)]
    return nn.Sequential(*layers)


class HRModule(nn.Module):
    """One high-resolution module: parallel residual branches, then every output branch ``i`` sums all branches
    brought to its resolution (``fuse_layers[i][j]``: lower resolution j > i -> 1x1 conv + norm + nearest
    upsampling by ``2 ** (j - i)``; higher resolution j < i -> ``i - j`` strided 3x3 conv + norm, ReLU between)
    and applies ReLU. With ``multiscale_output=False`` only branch 0 (the highest resolution) is fused and returned.

    ``forward(xs)``: list of ``num_branches`` tensors (N, in_channels[b], H / 2**b, W / 2**b) -> list of 1 or
    ``num_branches`` tensors (N, num_channels[b] * expansion, H / 2**b, W / 2**b).
    """

    def __init__(self, num_branches: int, block: type, num_blocks: Sequence[int], in_channels: Sequence[int],
                 num_channels: Sequence[int], multiscale_output: bool = True, with_cp: bool = False,
                 norm_cfg: dict | None = None) -> None:
        super().__init__()
        for name, seq in (('num_blocks', num_blocks), ('in_channels', in_channels), ('num_channels', num_channels)):
            if len(seq) != num_branches:
                raise ValueError(f'HRModule: num_branches={num_branches} but {name} has {len(seq)} entries: {seq}')
        self.num_branches, self.multiscale_output = num_branches, multiscale_output
        out_channels = [c * block.expansion for c in num_channels]
        self.branches = nn.ModuleList(
            _residual_layer(block, in_channels[b], out_channels[b], num_blocks[b], 1, with_cp, norm_cfg)
            for b in range(num_branches))
        self.in_channels = out_channels  # what the fuse layers (and the next module) see
        self.fuse_layers = self._make_fuse_layers(out_channels, norm_cfg) if num_branches > 1 else None

    def _make_fuse_layers(self, ch: list[int], norm_cfg: dict | None) -> nn.ModuleList:
        fuse_layers = []
        for i in range(self.num_branches if self.multiscale_output else 1):
            row: list[nn.Module | None] = []
            for j in range(self.num_branches):
                if j > i:
                    row.append(nn.Sequential(nn.Conv2d(ch[j], ch[i], 1, bias=False), build_norm2d(norm_cfg, ch[i]),
                                             nn.Upsample(scale_factor=2 ** (j - i), mode='nearest')))
                elif j == i:
                    row.append(None)
                else:
                    steps = []
                    for k in range(i - j):
                        last = k == i - j - 1
                        cout = ch[i] if last else ch[j]
                        step = [_conv3x3(ch[j], cout, stride=2), build_norm2d(norm_cfg, cout)]
                        if not last:
                            step.append(nn.ReLU(inplace=False))
                        steps.append(nn.Sequential(*step))
                    row.append(nn.Sequential(*steps))
            fuse_layers.append(nn.ModuleList(row))
        return nn.ModuleList(fuse_layers)

    def forward(self, xs: list[torch.Tensor]) -> list[torch.Tensor]:
        if len(xs) != self.num_branches:
            raise ValueError(f'HRModule expects {self.num_branches} inputs, got {len(xs)}')
        xs = [branch(x) for branch, x in zip(self.branches, xs)]
        if self.fuse_layers is None:
            return xs
        outs = []
        for i, row in enumerate(self.fuse_layers):
            size = xs[i].shape[-2:]
            y = None
            for j, layer in enumerate(row):  # summed in branch order, as MMPose (the same float rounding)
                z = xs[i] if j == i else layer(xs[j])
                if z.shape[-2:] != size:  # odd sizes: upsampling overshoots by a row / column
                    z = z[..., :size[0], :size[1]]
                y = z if y is None else y + z
            outs.append(F.relu(y))
        return outs


_STAGE_KEYS = ('num_modules', 'num_branches', 'block', 'num_blocks', 'num_channels')


@MODELS.register_module()
class HRNet(BackboneBase):
    """HRNet: a stride-4 stem (two stride-2 3x3 convs), ``layer1`` (stage 1, one branch of residual blocks),
    then stages 2-4 of :class:`HRModule` s that keep a branch per resolution (strides 4, 8, 16, 32), joined by
    ``transition1..3`` (a 3x3 conv where a branch's width changes; strided 3x3 convs from the lowest-resolution
    branch for every new branch).

    Args:
        extra: MMPose's layout, ``dict(stage1=..., stage2=..., stage3=..., stage4=...)``, each stage
            ``dict(num_modules, num_branches, block='BASIC'|'BOTTLENECK', num_blocks=(n per branch),
            num_channels=(width per branch))``; ``stage4`` may set ``multiscale_output`` (default False: only the
            highest-resolution branch is fused and returned, as the top-down pose models use it). Stage 1 must
            have one branch. HRNet-W32: stage channels (64,), (32, 64), (32, 64, 128), (32, 64, 128, 256).
        in_channels: input image channels.
        norm_cfg: ``dict(type='BN' | 'SyncBN', eps=, momentum=, requires_grad=)`` (see :func:`build_norm2d`).
        norm_eval: keep every BatchNorm in eval mode (running statistics) while training.
        with_cp: run every residual block under ``torch.utils.checkpoint`` (recompute activations in backward to
            save memory; the same outputs and gradients).
        zero_init_residual: zero the last norm's weight of every residual block (each block starts as identity).
        frozen_stages: -1 freezes nothing; 0 the stem (conv1, bn1, conv2, bn2); ``k`` >= 1 also ``layer1``
            (k = 1) / ``stage{k}`` and ``transition{k}`` for k < 4. Frozen parts stay in eval mode without grads.
        init_cfg: ``None`` (Kaiming-normal convs, unit norms) or ``dict(type='Pretrained', checkpoint=...,
            prefix=...)``, e.g. MMPose's ``hrnet_w32-36af842e.pth`` or ``prefix='backbone.'`` with a pose model
            checkpoint; loaded by :meth:`init_weights`.

    Forward: ``x`` float (N, in_channels, H, W) -> tuple of (N, C_b, H / s_b, W / s_b) tensors with
    ``C_b = out_channels[b]`` and ``s_b = strides[b]``: one (the stride-4 branch) with multiscale_output=False,
    else one per stage-4 branch. H and W should be multiples of 32.
    """

    def __init__(self, extra: dict, in_channels: int = 3, norm_cfg: dict | None = None, norm_eval: bool = False,
                 with_cp: bool = False, zero_init_residual: bool = False, frozen_stages: int = -1,
                 init_cfg: dict | list | None = None, conv_cfg: dict | None = None) -> None:
        super().__init__()
        if conv_cfg is not None and dict(conv_cfg).get('type', 'Conv2d') not in ('Conv', 'Conv2d'):
            raise ValueError(f"HRNet conv_cfg must be None or dict(type='Conv2d'), got {conv_cfg}")
        self.extra = self._check_extra(extra)
        if not -1 <= frozen_stages <= 4:
            raise ValueError(f'HRNet frozen_stages must be in -1..4, got {frozen_stages}')
        if isinstance(init_cfg, (list, tuple)):  # MMPose's default list of Kaiming / Constant initialisers
            pre = [c for c in init_cfg if isinstance(c, dict) and c.get('type') == 'Pretrained']
            init_cfg = pre[0] if pre else None
        check_pretrained_init_cfg(init_cfg, 'HRNet')
        self.norm_cfg, self.norm_eval, self.with_cp = norm_cfg, norm_eval, with_cp
        self.zero_init_residual, self.frozen_stages, self.init_cfg = zero_init_residual, frozen_stages, init_cfg

        self.conv1 = _conv3x3(in_channels, 64, stride=2)
        self.bn1 = build_norm2d(norm_cfg, 64)
        self.conv2 = _conv3x3(64, 64, stride=2)
        self.bn2 = build_norm2d(norm_cfg, 64)

        s1 = self.extra['stage1']
        block = _BLOCKS[s1['block']]
        stage1_out = s1['num_channels'][0] * block.expansion
        self.layer1 = _residual_layer(block, 64, stage1_out, s1['num_blocks'][0], 1, with_cp, norm_cfg)
        pre_channels = [stage1_out]
        for k in (2, 3, 4):
            cfg = self.extra[f'stage{k}']
            block = _BLOCKS[cfg['block']]
            cur_channels = [c * block.expansion for c in cfg['num_channels']]
            setattr(self, f'transition{k - 1}', self._make_transition(pre_channels, cur_channels))
            multiscale = cfg.get('multiscale_output', False) if k == 4 else True
            stage, pre_channels = self._make_stage(cfg, cur_channels, multiscale)
            setattr(self, f'stage{k}', stage)
        self.out_channels = list(pre_channels)
        self.strides = [4 * 2 ** b for b in range(len(pre_channels))]
        self._init_random()
        self._freeze_stages()

    @staticmethod
    def _check_extra(extra: dict) -> dict:
        if not isinstance(extra, dict):
            raise ValueError(f'HRNet extra must be a dict with stage1..stage4, got {type(extra).__name__}')
        out = {}
        for k in (1, 2, 3, 4):
            name = f'stage{k}'
            if name not in extra:
                raise ValueError(f'HRNet extra: missing {name!r} (needs stage1..stage4)')
            cfg = dict(extra[name])
            missing = [key for key in _STAGE_KEYS if key not in cfg]
            if missing:
                raise ValueError(f'HRNet extra.{name}: missing keys {missing}')
            if cfg['block'] not in _BLOCKS:
                raise ValueError(f"HRNet extra.{name}.block must be 'BASIC' or 'BOTTLENECK', got {cfg['block']!r}")
            nb = cfg['num_branches']
            for key in ('num_blocks', 'num_channels'):
                cfg[key] = tuple(cfg[key])
                if len(cfg[key]) != nb:
                    raise ValueError(f'HRNet extra.{name}.{key} needs num_branches={nb} entries, got {cfg[key]}')
            if k == 1 and nb != 1:
                raise ValueError(f'HRNet extra.stage1.num_branches must be 1, got {nb}')
            if cfg['num_modules'] < 1:
                raise ValueError(f"HRNet extra.{name}.num_modules must be >= 1, got {cfg['num_modules']}")
            out[name] = cfg
        for k in (2, 3, 4):
            prev, cur = out[f'stage{k - 1}']['num_branches'], out[f'stage{k}']['num_branches']
            if cur < prev:
                raise ValueError(f'HRNet extra.stage{k}.num_branches={cur} is below stage{k - 1}\'s {prev}')
        return out

    def _make_transition(self, pre: list[int], cur: list[int]) -> nn.ModuleList:
        layers: list[nn.Module | None] = []
        for i, c in enumerate(cur):
            if i < len(pre):
                layers.append(None if c == pre[i] else nn.Sequential(
                    _conv3x3(pre[i], c), build_norm2d(self.norm_cfg, c), nn.ReLU(inplace=True)))
            else:
                steps = []
                for j in range(i + 1 - len(pre)):
                    cin = pre[-1]
                    cout = c if j == i - len(pre) else cin
                    steps.append(nn.Sequential(_conv3x3(cin, cout, stride=2), build_norm2d(self.norm_cfg, cout),
                                               nn.ReLU(inplace=True)))
                layers.append(nn.Sequential(*steps))
        return nn.ModuleList(layers)

    def _make_stage(self, cfg: dict, in_channels: list[int], multiscale_output: bool):
        block = _BLOCKS[cfg['block']]
        modules = []
        for m in range(cfg['num_modules']):
            last = m == cfg['num_modules'] - 1
            module = HRModule(cfg['num_branches'], block, cfg['num_blocks'], in_channels, cfg['num_channels'],
                              multiscale_output=multiscale_output or not last, with_cp=self.with_cp,
                              norm_cfg=self.norm_cfg)
            modules.append(module)
            in_channels = module.in_channels
        if not multiscale_output:
            in_channels = in_channels[:1]
        return nn.Sequential(*modules), list(in_channels)

    def _init_random(self) -> None:
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode='fan_out', nonlinearity='relu')
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
        if self.zero_init_residual:
            for m in self.modules():
                if isinstance(m, (BasicBlock, Bottleneck)):
                    nn.init.zeros_(m.last_norm().weight)

    def _frozen_modules(self) -> list[nn.Module]:
        mods: list[nn.Module] = []
        if self.frozen_stages >= 0:
            mods += [self.conv1, self.bn1, self.conv2, self.bn2]
        for k in range(1, self.frozen_stages + 1):
            mods.append(self.layer1 if k == 1 else getattr(self, f'stage{k}'))
            if k < 4:
                mods.append(getattr(self, f'transition{k}'))
        return mods

    def init_weights(self) -> None:
        """Load ``init_cfg``'s pretrained checkpoint (no-op without one). Keys this backbone does not have are
        skipped: an ImageNet classifier's ``incre_modules``, ``downsamp_modules``, ``final_layer``, ``classifier``
        and, with ``multiscale_output=False``, the lower-resolution fuse layers of the last module."""
        if not self.init_cfg:
            return
        own = set(self.state_dict())
        load_pretrained(self, self.init_cfg, name='HRNet', keep=lambda k: k in own)

    @staticmethod
    def _transition(layers: nn.ModuleList, xs: list[torch.Tensor]) -> list[torch.Tensor]:
        out = []
        for i, layer in enumerate(layers):
            src = xs[i] if i < len(xs) else xs[-1]
            out.append(src if layer is None else layer(src))
        return out

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        x = F.relu(self.bn1(self.conv1(x)))
        x = F.relu(self.bn2(self.conv2(x)))
        xs = [self.layer1(x)]
        for k in (2, 3, 4):
            xs = getattr(self, f'stage{k}')(self._transition(getattr(self, f'transition{k - 1}'), xs))
        return tuple(xs)
