"""The parts of MMDetection's C4 two-stage detectors (``faster-rcnn_r50-caffe-c4``, ``mask-rcnn_r50-caffe-c4``):
the ResNet stage run on every RoI's pooled features (:class:`ResLayer`, a ``StandardRoIHead`` ``shared_head``) and
the plain :class:`BBoxHead` (optional global average pool, then one linear classifier and one linear regressor).

In a C4 detector the backbone stops after its third stage (stride 16, ``out_indices=(2,)``), RoIAlign pools
14 x 14 RoIs from that single map, the shared head (the backbone's fourth stage, stride 2) turns them into
2048 x 7 x 7, and both the box head and the mask head read that.
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn
from torchvision.models.resnet import BasicBlock, Bottleneck
from torchvision.ops import FrozenBatchNorm2d

from visioncraft.models.backbones.pretrained import check_pretrained_init_cfg, load_pretrained
from visioncraft.registry import MODELS

from .roi_heads import Shared2FCBBoxHead

__all__ = ['ResLayer', 'BBoxHead']

# depth -> (block, blocks per stage); the stage widths are 64 * 2 ** stage (times the block's expansion)
_RESNET_STAGES = {18: (BasicBlock, (2, 2, 2, 2)), 34: (BasicBlock, (3, 4, 6, 3)), 50: (Bottleneck, (3, 4, 6, 3)),
                  101: (Bottleneck, (3, 4, 23, 3)), 152: (Bottleneck, (3, 8, 36, 3))}


def _norm(norm_cfg: dict | None):
    kind = (norm_cfg or {}).get('type', 'BN')
    if kind in ('BN', 'BN2d', 'SyncBN'):
        return nn.BatchNorm2d
    if kind in ('FrozenBN', 'FrozenBatchNorm2d'):
        return FrozenBatchNorm2d
    raise ValueError(f"roi_head.shared_head.norm_cfg type must be 'BN' or 'FrozenBN', got {kind!r}")


@MODELS.register_module()
class ResLayer(nn.Module):
    """One ResNet stage as a module of its own (MMDetection's ``shared_head=dict(type='ResLayer', ...)``): stage
    ``stage`` (0-based; 3 is ``layer4``) of a ResNet of ``depth``, registered as ``layer{stage + 1}`` so the
    parameter names are the backbone's (``layer4.0.conv1.weight``; inside a detector
    ``roi_head.shared_head.layer4.*``, MMDetection's names, so its checkpoints and ImageNet ResNet weights load).

    Args:
        depth: 18, 34, 50, 101 or 152.
        stage: which stage (0-3). Input channels: the previous stage's output (1024 for a depth-50 ``stage=3``);
            output channels :attr:`out_channels` (2048).
        stride: stride of the first block (2: 14 x 14 RoIs -> 7 x 7). dilation: of every block's 3x3 conv.
        style: ``'pytorch'`` (a Bottleneck strides on its 3x3 conv) or ``'caffe'`` (on its first 1x1 conv).
        norm_cfg: ``dict(type='BN', requires_grad=...)`` or ``dict(type='FrozenBN')``; ``requires_grad=False``
            freezes the norm layers' affine parameters.
        norm_eval: keep the BatchNorm layers in eval mode (running statistics) while training.
        init_cfg: ``None`` (PyTorch's default init; kaiming-normal convs, unit norms) or
            ``dict(type='Pretrained', checkpoint=...)``: the checkpoint's ``layer{stage + 1}.*`` keys are loaded by
            :meth:`init_weights` (a ResNet ImageNet checkpoint works as it is).

    Forward: float R x C_in x S x S -> R x :attr:`out_channels` x ceil(S / stride) x ceil(S / stride).
    """

    def __init__(self, depth: int = 50, stage: int = 3, stride: int = 2, dilation: int = 1, style: str = 'pytorch',
                 norm_cfg: dict | None = None, norm_eval: bool = True, with_cp: bool = False, dcn: dict | None = None,
                 pretrained: str | None = None, init_cfg: dict | None = None) -> None:
        super().__init__()
        if depth not in _RESNET_STAGES:
            raise ValueError(f'roi_head.shared_head.depth must be one of {sorted(_RESNET_STAGES)}, got {depth!r}')
        if stage not in (0, 1, 2, 3):
            raise ValueError(f'roi_head.shared_head.stage must be 0..3 (3 is layer4), got {stage!r}')
        if style not in ('pytorch', 'caffe'):
            raise ValueError(f"roi_head.shared_head.style must be 'pytorch' or 'caffe', got {style!r}")
        if dcn is not None or with_cp:
            raise NotImplementedError('roi_head.shared_head: dcn and with_cp are not supported')
        if pretrained is not None:
            if init_cfg is not None:
                raise ValueError('roi_head.shared_head: give pretrained or init_cfg, not both')
            init_cfg = dict(type='Pretrained', checkpoint=pretrained)
        check_pretrained_init_cfg(init_cfg, 'roi_head.shared_head')
        self.init_cfg, self.stage, self.norm_eval = init_cfg, int(stage), bool(norm_eval)
        norm_cfg = dict(type='BN', requires_grad=True) if norm_cfg is None else dict(norm_cfg)
        norm_layer = _norm(norm_cfg)
        block, blocks = _RESNET_STAGES[depth]
        planes = 64 * 2 ** stage
        in_channels = 64 if stage == 0 else 64 * 2 ** (stage - 1) * block.expansion  # the stem gives 64
        self.in_channels, self.out_channels = in_channels, planes * block.expansion
        downsample = None
        if stride != 1 or in_channels != self.out_channels:
            downsample = nn.Sequential(nn.Conv2d(in_channels, self.out_channels, 1, stride=stride, bias=False),
                                       norm_layer(self.out_channels))
        layers = []
        for i in range(blocks[stage]):
            cin = in_channels if i == 0 else self.out_channels
            if block is Bottleneck:
                b = Bottleneck(cin, planes, stride if i == 0 else 1, downsample if i == 0 else None,
                               dilation=dilation, norm_layer=norm_layer)
                if style == 'caffe' and i == 0:  # the stride on the first 1x1 conv instead of the 3x3 one
                    b.conv1.stride, b.conv2.stride = b.conv2.stride, (1, 1)
            else:
                b = BasicBlock(cin, planes, stride if i == 0 else 1, downsample if i == 0 else None,
                               norm_layer=norm_layer)
                b.conv1.dilation = b.conv1.padding = (dilation, dilation)
            layers.append(b)
        self.add_module(f'layer{stage + 1}', nn.Sequential(*layers))
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode='fan_out', nonlinearity='relu')
        if not norm_cfg.get('requires_grad', True):
            for m in self.modules():
                if isinstance(m, (nn.BatchNorm2d, FrozenBatchNorm2d)):
                    for p in m.parameters():
                        p.requires_grad_(False)

    @property
    def layer(self) -> nn.Sequential:
        return getattr(self, f'layer{self.stage + 1}')

    def init_weights(self) -> None:
        """Load ``init_cfg``'s checkpoint (its ``layer{stage + 1}.*`` keys); no-op without one."""
        if self.init_cfg:
            prefix = f'layer{self.stage + 1}.'
            load_pretrained(self, self.init_cfg, name='roi_head.shared_head', keep=lambda k: k.startswith(prefix))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layer(x)

    def train(self, mode: bool = True) -> 'ResLayer':
        super().train(mode)
        if mode and self.norm_eval:
            for m in self.modules():
                if isinstance(m, nn.BatchNorm2d):
                    m.eval()
        return self


@MODELS.register_module()
class BBoxHead(Shared2FCBBoxHead):
    """MMDetection's plain ``BBoxHead``: no hidden layers; the RoI features (average-pooled over their
    ``roi_feat_size`` window with ``with_avg_pool``, flattened otherwise) go straight into a linear classifier
    (``num_classes + 1``, background last) and a linear regressor (``num_classes * 4`` deltas, ``4`` with
    ``reg_class_agnostic``). Targets, losses and post-processing are :class:`Shared2FCBBoxHead`'s.

    Args:
        with_avg_pool: average-pool ``roi_feat_size x roi_feat_size`` windows first (C4: 2048 x 7 x 7 -> 2048).
        in_channels, roi_feat_size: the RoI features (C x S x S).
        with_cls, with_reg: both must be True (a head without one of them is not supported).
        cls_predictor_cfg, reg_predictor_cfg: ``dict(type='Linear')`` only.
        Other arguments: :class:`Shared2FCBBoxHead`'s (``num_classes``, ``bbox_coder``, ``reg_class_agnostic``,
        ``loss_cls``, ``loss_bbox``, ``init_cfg``); the classifier is normal(0.01), the regressor normal(0.001).

    Forward: R x C x S x S -> (cls_score R x (num_classes + 1), bbox_pred R x (num_classes * 4)).
    """

    num_shared_fcs = 0

    def __init__(self, with_avg_pool: bool = False, with_cls: bool = True, with_reg: bool = True,
                 roi_feat_size: int | Sequence[int] = 7, in_channels: int = 256, predict_box_type: str = 'hbox',
                 cls_predictor_cfg: dict | None = None, reg_predictor_cfg: dict | None = None, **kwargs) -> None:
        if not (with_cls and with_reg):
            raise NotImplementedError('roi_head.bbox_head (BBoxHead): with_cls=False / with_reg=False is not '
                                      'supported')
        for key, cfg in (('cls_predictor_cfg', cls_predictor_cfg), ('reg_predictor_cfg', reg_predictor_cfg)):
            if cfg is not None and dict(cfg).get('type', 'Linear') not in ('Linear', 'nn.Linear'):
                raise NotImplementedError(f"roi_head.bbox_head.{key}: only dict(type='Linear'), got {cfg!r}")
        if predict_box_type != 'hbox':
            raise NotImplementedError(f"roi_head.bbox_head.predict_box_type: only 'hbox', got {predict_box_type!r}")
        if not isinstance(roi_feat_size, int):
            size = tuple(roi_feat_size)
            if len(size) != 2 or size[0] != size[1]:
                raise ValueError(f'roi_head.bbox_head.roi_feat_size must be square, got {roi_feat_size!r}')
            roi_feat_size = size[0]
        # with the pool the linear layers see one value per channel
        super().__init__(in_channels=in_channels, roi_feat_size=1 if with_avg_pool else roi_feat_size, **kwargs)
        self.with_avg_pool, self.roi_feat_size = bool(with_avg_pool), int(roi_feat_size)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if self.with_avg_pool:
            x = x.mean(dim=(-2, -1)) if x.numel() == 0 else F.avg_pool2d(x, self.roi_feat_size)
        return super().forward(x)
