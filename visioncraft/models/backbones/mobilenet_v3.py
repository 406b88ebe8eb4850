"""MobileNetV3 backbone (Howard et al., "Searching for MobileNetV3", 2019) built from torchvision's
``mobilenet_v3_large`` / ``mobilenet_v3_small`` layers, returning multi-scale feature maps.

Parameter names are torchvision's (``features.0.0.weight``, ``features.4.block.0.0.weight`` ...), so an
ImageNet checkpoint from torchvision loads without renaming (its ``classifier.*`` is skipped).
"""
from __future__ import annotations

from collections.abc import Sequence
from functools import partial

import torch
import torchvision
from torch import nn
from torchvision.ops import FrozenBatchNorm2d

from ...registry import MODELS
from .base import BackboneBase
from .pretrained import check_pretrained_init_cfg, load_pretrained

__all__ = ['MobileNetV3']

_ARCHS = ('large', 'small')
_BN_TYPES = (nn.BatchNorm2d, FrozenBatchNorm2d)
# torchvision's MobileNetV3 normalisation: BatchNorm2d(eps=0.001, momentum=0.01); the pretrained
# weights were trained with that eps, so the frozen variant keeps it too.
_BN_EPS, _BN_MOMENTUM = 0.001, 0.01


def _norm_layer(norm_cfg: dict):
    kind = norm_cfg.get('type', 'BN')
    if kind in ('BN', 'BN2d', 'SyncBN'):
        return partial(nn.BatchNorm2d, eps=_BN_EPS, momentum=_BN_MOMENTUM)
    if kind in ('FrozenBN', 'FrozenBatchNorm2d'):
        return partial(FrozenBatchNorm2d, eps=_BN_EPS)
    raise ValueError(f"MobileNetV3 norm_cfg type must be 'BN' or 'FrozenBN', got {kind!r}")


@MODELS.register_module()
class MobileNetV3(BackboneBase):
    """MobileNetV3 returning the feature maps of the stages in ``out_indices``.

    torchvision's ``features`` (stem conv, inverted-residual blocks, final 1x1 conv) are cut into five
    stages, each ending just before the next stride-2 block, so stage ``i`` outputs at stride
    ``2 ** (i + 1)`` (2, 4, 8, 16, 32). Stage channels: ``'large'`` 16, 24, 40, 112, 960;
    ``'small'`` 16, 16, 24, 48, 576 (the last stage includes the final 1x1 conv), at ``widen_factor=1``.
    Other widths scale every layer's channels by ``widen_factor`` and round to the nearest multiple of 8
    (never below 8 nor more than 10% under the scaled value), as torchvision's ``_make_divisible``:
    ``'large'`` x0.5 (MMOCR's / PaddleOCR's ``scale: 0.5`` DBNet backbone) gives 8, 16, 24, 56, 480.
    Blocks after the last stage in ``out_indices`` are not built.

    Args:
        arch: ``'large'`` or ``'small'``.
        out_indices: stages (0-4) whose outputs are returned, increasing; default ``(2, 3, 4)`` (strides
            8, 16, 32, for an FPN with P3-P7).
        frozen_stages: -1 freezes nothing; ``k`` freezes stages 0..k (``requires_grad=False``, eval mode).
        norm_cfg: ``dict(type='BN', requires_grad=True)`` (``requires_grad=False`` freezes every norm
            layer's affine parameters) or ``dict(type='FrozenBN')``; eps 0.001 as torchvision.
        norm_eval: keep every BatchNorm in eval mode (running statistics) while training.
        widen_factor: channel multiplier (1.0 for the ImageNet weights; 0.5 for the x0.5 DBNet backbone).
            ``out_channels`` gives the resulting widths. A pretrained checkpoint of another width is refused
            with a ``ValueError`` (no partial load).
        width_mult: torchvision's name for ``widen_factor`` (give one of them).
        init_cfg: ``None`` (torchvision's random init) or ``dict(type='Pretrained', checkpoint=...)`` where
            checkpoint is a local file, an http(s) URL (cached in ``$TORCH_HOME/hub/checkpoints``) or
            ``'torchvision://mobilenet_v3_large'`` / ``'torchvision://mobilenet_v3_small'``; loaded by
            :meth:`init_weights`.

    Forward: ``x`` float N x 3 x H x W -> tuple of N x C_i x ceil(H / s_i) x ceil(W / s_i) tensors, one per
    ``out_indices`` entry, C_i = ``out_channels[i]``, s_i = ``strides[i]``.
    """

    def __init__(self, arch: str = 'large', out_indices: Sequence[int] = (2, 3, 4), frozen_stages: int = -1,
                 norm_cfg: dict | None = None, norm_eval: bool = True, widen_factor: float | None = None,
                 init_cfg: dict | None = None, width_mult: float | None = None) -> None:
        super().__init__()
        if arch not in _ARCHS:
            raise ValueError(f'MobileNetV3 arch must be one of {_ARCHS}, got {arch!r}')
        out_indices = tuple(out_indices)
        if not out_indices or list(out_indices) != sorted(set(out_indices)) or min(out_indices) < 0 \
                or max(out_indices) > 4:
            raise ValueError(f'MobileNetV3 out_indices must be increasing stage indices in 0..4, got {out_indices}')
        if not -1 <= frozen_stages <= max(out_indices):
            raise ValueError(f'MobileNetV3 frozen_stages must be in -1..{max(out_indices)} (the last built stage), '
                             f'got {frozen_stages}')
        norm_cfg = dict(type='BN', requires_grad=True) if norm_cfg is None else dict(norm_cfg)
        check_pretrained_init_cfg(init_cfg, 'MobileNetV3')
        if widen_factor is not None and width_mult is not None and widen_factor != width_mult:
            raise ValueError(f'MobileNetV3: widen_factor={widen_factor} and width_mult={width_mult} disagree; '
                             f'give only widen_factor')
        widen_factor = float(next((w for w in (widen_factor, width_mult) if w is not None), 1.0))
        if not widen_factor > 0:
            raise ValueError(f'MobileNetV3 widen_factor must be > 0, got {widen_factor}')
        self.widen_factor = widen_factor
        self.arch, self.out_indices, self.frozen_stages = arch, out_indices, frozen_stages
        self.norm_eval, self.init_cfg = norm_eval, init_cfg

        net = getattr(torchvision.models, f'mobilenet_v3_{arch}')(weights=None, norm_layer=_norm_layer(norm_cfg),
                                                                  width_mult=widen_factor)
        blocks = list(net.features)
        # a stage starts at the stem and at every stride-2 inverted residual (torchvision marks them _is_cn)
        starts = [0] + [i for i, b in enumerate(blocks) if getattr(b, '_is_cn', False)]
        if len(starts) != 5:
            raise RuntimeError(f'MobileNetV3-{arch}: expected 5 stages in torchvision\'s features, found {starts}')
        ends = starts[1:] + [len(blocks)]
        self.stage_bounds = [(s, e) for s, e in zip(starts, ends)][:max(out_indices) + 1]
        self.features = nn.Sequential(*blocks[:self.stage_bounds[-1][1]])
        if not norm_cfg.get('requires_grad', True):
            for m in self.modules():
                if isinstance(m, _BN_TYPES):
                    for p in m.parameters():
                        p.requires_grad_(False)
        self.out_channels = [int(blocks[self.stage_bounds[i][1] - 1].out_channels) for i in out_indices]
        self.strides = [2 ** (i + 1) for i in out_indices]
        self._freeze_stages()

    def stage(self, i: int) -> nn.Sequential:
        """The blocks of stage ``i`` (a view into :attr:`features`)."""
        start, end = self.stage_bounds[i]
        return self.features[start:end]

    def _frozen_modules(self) -> list[nn.Module]:
        if self.frozen_stages < 0:
            return []
        return list(self.features[:self.stage_bounds[self.frozen_stages][1]])

    def init_weights(self) -> None:
        """Load ``init_cfg``'s pretrained checkpoint (no-op without one); only ``features.*`` keys of the
        built blocks are used (``classifier.*`` is skipped)."""
        if not self.init_cfg:
            return
        built = len(self.features)

        def keep(key: str) -> bool:
            parts = key.split('.')
            return parts[0] == 'features' and len(parts) > 1 and parts[1].isdigit() and int(parts[1]) < built

        before = {k: v.clone() for k, v in self.state_dict().items()}
        name = f'MobileNetV3-{self.arch} (widen_factor={self.widen_factor:g})'
        report = load_pretrained(self, self.init_cfg, name=name, keep=keep)
        if report.mismatched:
            self.load_state_dict(before)  # undo the partial load of the keys whose shapes happened to fit
            key, ckpt_shape, own_shape = report.mismatched[0]
            stem = next((m for m in report.mismatched if m[0] == 'features.0.0.weight'), None)
            guess = (f'; its stem has {stem[1][0]} channels where widen_factor=1 has 16, so it was trained '
                     f'with widen_factor ~ {stem[1][0] / 16:g}' if stem else '')
            raise ValueError(
                f"{name}: checkpoint {self.init_cfg.get('checkpoint')!r} has other channel widths than this "
                f'model ({len(report.mismatched)} shape-mismatched tensors, e.g. {key}: checkpoint '
                f'{tuple(ckpt_shape)} vs model {tuple(own_shape)}){guess}. Set widen_factor to the '
                f"checkpoint's width or use a checkpoint trained with widen_factor={self.widen_factor:g}; "
                f'nothing was loaded')

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        outs = []
        for i, (start, end) in enumerate(self.stage_bounds):
            for j in range(start, end):
                x = self.features[j](x)
            if i in self.out_indices:
                outs.append(x)
        return tuple(outs)
