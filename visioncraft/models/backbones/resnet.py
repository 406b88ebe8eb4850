"""ResNet backbone (torchvision's ResNet-18/34/50/101 layers) returning multi-scale feature maps.

Parameter names are torchvision's (``conv1``, ``bn1``, ``layer1.0.conv1`` ...), so an ImageNet
checkpoint from torchvision loads without renaming.
"""
from __future__ import annotations

import logging
from collections.abc import Sequence

import torch
import torchvision
from torch import nn
from torchvision.ops import FrozenBatchNorm2d

from ...registry import MODELS
from .base import FeatureSpec

__all__ = ['ResNet', 'resolve_checkpoint_path']

_logger = logging.getLogger('visioncraft')

# depth -> (torchvision builder name, channels of the stage outputs)
_ARCH = {
    18: ('resnet18', (64, 128, 256, 512)),
    34: ('resnet34', (64, 128, 256, 512)),
    50: ('resnet50', (256, 512, 1024, 2048)),
    101: ('resnet101', (256, 512, 1024, 2048)),
}
_STRIDES = (4, 8, 16, 32)
_BN_TYPES = (nn.BatchNorm2d, FrozenBatchNorm2d)


def resolve_checkpoint_path(checkpoint: str) -> str:
    """``'torchvision://resnet50'`` -> torchvision's ImageNet (V1) weight URL; other strings unchanged."""
    if not checkpoint.startswith('torchvision://'):
        return checkpoint
    name = checkpoint[len('torchvision://'):]
    try:
        weights = torchvision.models.get_model_weights(name)
    except (ValueError, KeyError) as exc:
        raise ValueError(f'{checkpoint!r}: torchvision has no model named {name!r}') from exc
    # IMAGENET1K_V1 is the checkpoint older toolboxes meant by 'torchvision://<name>'.
    entry = getattr(weights, 'IMAGENET1K_V1', None) or weights.DEFAULT
    return entry.url


def _norm_layer(norm_cfg: dict):
    kind = norm_cfg.get('type', 'BN')
    if kind in ('BN', 'BN2d', 'SyncBN'):
        return nn.BatchNorm2d
    if kind in ('FrozenBN', 'FrozenBatchNorm2d'):
        return FrozenBatchNorm2d
    raise ValueError(f"ResNet norm_cfg type must be 'BN' or 'FrozenBN', got {kind!r}")


@MODELS.register_module()
class ResNet(nn.Module):
    """ResNet returning the feature maps of the stages in ``out_indices``.

    Args:
        depth: 18, 34, 50 or 101.
        num_stages: residual stages built (1-4); later ones are dropped.
        out_indices: stages (0-based) whose outputs are returned, in increasing order.
        frozen_stages: -1 freezes nothing; 0 freezes the stem (conv1, bn1); ``k`` the stem and stages
            1..k. Frozen parts get ``requires_grad=False`` and stay in eval mode.
        norm_cfg: ``dict(type='BN', requires_grad=True)`` (``requires_grad=False`` freezes the affine
            parameters of every norm layer) or ``dict(type='FrozenBN')`` (torchvision's FrozenBatchNorm2d).
        norm_eval: keep every BatchNorm in eval mode (running statistics) while training.
        style: only ``'pytorch'`` (stride on the 3x3 conv, as torchvision) is supported.
        init_cfg: ``None`` (torchvision's random init) or ``dict(type='Pretrained', checkpoint=...)``
            where checkpoint is a local file, an http(s) URL (downloaded once into
            ``$TORCH_HOME/hub/checkpoints``) or ``'torchvision://resnet50'``; loaded by
            :meth:`init_weights` (the Runner calls it after building the model).

    Forward: ``x`` float N x 3 x H x W -> tuple of N x C_i x H/s_i x W/s_i tensors, one per
    ``out_indices`` entry, with C_i = ``out_channels[i]`` and s_i = ``strides[i]`` (4, 8, 16, 32).
    """

    def __init__(self, depth: int = 50, num_stages: int = 4, out_indices: Sequence[int] = (0, 1, 2, 3),
                 frozen_stages: int = -1, norm_cfg: dict | None = None, norm_eval: bool = True,
                 style: str = 'pytorch', init_cfg: dict | None = None, in_channels: int = 3) -> None:
        super().__init__()
        if depth not in _ARCH:
            raise ValueError(f'ResNet depth must be one of {sorted(_ARCH)}, got {depth}')
        if not 1 <= num_stages <= 4:
            raise ValueError(f'ResNet num_stages must be in 1..4, got {num_stages}')
        out_indices = tuple(out_indices)
        if not out_indices or list(out_indices) != sorted(set(out_indices)) or max(out_indices) >= num_stages \
                or min(out_indices) < 0:
            raise ValueError(f'ResNet out_indices must be increasing stage indices below num_stages={num_stages}, '
                             f'got {out_indices}')
        if not -1 <= frozen_stages <= num_stages:
            raise ValueError(f'ResNet frozen_stages must be in -1..{num_stages}, got {frozen_stages}')
        if style != 'pytorch':
            raise ValueError(f"ResNet style {style!r} is not supported; only 'pytorch' (torchvision's layers)")
        norm_cfg = dict(type='BN', requires_grad=True) if norm_cfg is None else dict(norm_cfg)
        if init_cfg is not None and init_cfg.get('type') != 'Pretrained':
            raise ValueError(f"ResNet init_cfg must be None or dict(type='Pretrained', checkpoint=...), got {init_cfg}")
        self.depth, self.num_stages, self.out_indices = depth, num_stages, out_indices
        self.frozen_stages, self.norm_eval, self.init_cfg = frozen_stages, norm_eval, init_cfg

        builder, channels = _ARCH[depth]
        net = getattr(torchvision.models, builder)(weights=None, norm_layer=_norm_layer(norm_cfg))
        if in_channels != 3:
            net.conv1 = nn.Conv2d(in_channels, 64, kernel_size=7, stride=2, padding=3, bias=False)
        self.conv1, self.bn1, self.relu, self.maxpool = net.conv1, net.bn1, net.relu, net.maxpool
        self.stage_names = [f'layer{i + 1}' for i in range(num_stages)]
        for name in self.stage_names:
            setattr(self, name, getattr(net, name))
        if not norm_cfg.get('requires_grad', True):
            for m in self.modules():
                if isinstance(m, _BN_TYPES):
                    for p in m.parameters():
                        p.requires_grad_(False)
        self.out_channels = [channels[i] for i in out_indices]
        self.strides = [_STRIDES[i] for i in out_indices]
        self._freeze_stages()

    def output_shape(self) -> list[FeatureSpec]:
        """One FeatureSpec(channels, stride) per returned feature map."""
        return [FeatureSpec(c, s) for c, s in zip(self.out_channels, self.strides)]

    def _frozen_modules(self) -> list[nn.Module]:
        if self.frozen_stages < 0:
            return []
        return [self.conv1, self.bn1] + [getattr(self, f'layer{i}') for i in range(1, self.frozen_stages + 1)]

    def _freeze_stages(self) -> None:
        for m in self._frozen_modules():
            m.eval()
            for p in m.parameters():
                p.requires_grad_(False)

    def train(self, mode: bool = True) -> 'ResNet':
        super().train(mode)
        self._freeze_stages()
        if mode and self.norm_eval:
            for m in self.modules():
                if isinstance(m, nn.BatchNorm2d):
                    m.eval()
        return self

    def init_weights(self) -> None:
        """Load ``init_cfg``'s pretrained checkpoint (no-op without one); ``fc.*`` keys are skipped."""
        if not self.init_cfg:
            return
        from ...engine.checkpoint import extract_state_dict, load_checkpoint_file, load_model_weights
        source = self.init_cfg.get('checkpoint')
        if not source:
            raise ValueError("ResNet init_cfg=dict(type='Pretrained') needs a 'checkpoint'")
        path = resolve_checkpoint_path(str(source))
        try:
            ckpt = load_checkpoint_file(path)
        except RuntimeError as exc:
            raise RuntimeError(f'ResNet-{self.depth} pretrained weights ({source}): {exc}') from exc
        state = extract_state_dict(ckpt)
        prefix = self.init_cfg.get('prefix')
        if prefix:
            prefix = prefix.rstrip('.') + '.'
            state = {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}
        state = {k: v for k, v in state.items() if not k.startswith('fc.')
                 and k.split('.')[0] in ('conv1', 'bn1', *[f'layer{i}' for i in range(1, 5)])
                 and (not k.startswith('layer') or k.split('.')[0] in self.stage_names)}
        report = load_model_weights(self, state, logger=_logger)
        _logger.info(f'ResNet-{self.depth}: loaded {source}: {report}')

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        outs = []
        for i, name in enumerate(self.stage_names):
            x = getattr(self, name)(x)
            if i in self.out_indices:
                outs.append(x)
        return tuple(outs)
