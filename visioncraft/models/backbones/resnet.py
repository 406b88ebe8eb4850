"""ResNet backbone (torchvision's ResNet-18/34/50/101/152 layers) returning multi-scale feature maps.

Parameter names are torchvision's (``conv1``, ``bn1``, ``layer1.0.conv1`` ...), so an ImageNet
checkpoint from torchvision loads without renaming.
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
import torchvision
from torch import nn
from torchvision.models.resnet import BasicBlock, Bottleneck
from torchvision.models.resnet import ResNet as _TorchvisionResNet
from torchvision.ops import FrozenBatchNorm2d

from ...registry import MODELS
from ..layers import ModulatedDeformConv2d
from .base import BackboneBase
from .pretrained import load_pretrained, resolve_checkpoint_path  # noqa: F401  (re-exported)

__all__ = ['MMPoseResNeXt', 'ResNeXt', 'ResNet', 'ResNetV1d', 'resolve_checkpoint_path']


# depth -> (block, blocks per stage, channels of the stage outputs)
_ARCH = {
    18: (BasicBlock, (2, 2, 2, 2), (64, 128, 256, 512)),
    34: (BasicBlock, (3, 4, 6, 3), (64, 128, 256, 512)),
    50: (Bottleneck, (3, 4, 6, 3), (256, 512, 1024, 2048)),
    101: (Bottleneck, (3, 4, 23, 3), (256, 512, 1024, 2048)),
    152: (Bottleneck, (3, 8, 36, 3), (256, 512, 1024, 2048)),
}
_STAGE_STRIDES = (1, 2, 2, 2)  # the default per-stage strides (after the stride-4 stem)
_BN_TYPES = (nn.BatchNorm2d, FrozenBatchNorm2d)


def _norm_layer(norm_cfg: dict):
    kind = norm_cfg.get('type', 'BN')
    if kind in ('BN', 'BN2d', 'SyncBN'):
        return nn.BatchNorm2d
    if kind in ('FrozenBN', 'FrozenBatchNorm2d'):
        return FrozenBatchNorm2d
    raise ValueError(f"ResNet norm_cfg type must be 'BN' or 'FrozenBN', got {kind!r}")


@MODELS.register_module()
class ResNet(BackboneBase):
    """ResNet returning the feature maps of the stages in ``out_indices``.

    Args:
        depth: 18, 34, 50, 101 or 152.
        num_stages: residual stages built (1-4); later ones are dropped.
        strides: stride of each built stage's first block (``num_stages`` entries; default ``(1, 2, 2, 2)``).
        dilations: dilation of the 3x3 convs of each built stage (``num_stages`` entries; default all 1), applied
            to every block of the stage with ``padding = dilation`` (MMDetection's layout; the DC5 configs use
            ``strides=(1, 2, 2, 1), dilations=(1, 1, 1, 2)``, the C4 ones ``num_stages=3``). In a BasicBlock only
            the first 3x3 conv is dilated, as in MMDetection.
        groups, base_width: ResNeXt's cardinality and width per group of the Bottleneck 3x3 conv, whose width is
            ``planes * base_width // 64 * groups`` (``planes`` when ``groups == 1``); use :class:`ResNeXt`, which
            takes MMDetection's defaults. Depth 50/101/152 only when ``groups > 1``.
        out_indices: stages (0-based) whose outputs are returned, in increasing order.
        frozen_stages: -1 freezes nothing; 0 freezes the stem (conv1, bn1); ``k`` the stem and stages
            1..k. Frozen parts get ``requires_grad=False`` and stay in eval mode.
        norm_cfg: ``dict(type='BN', requires_grad=True)`` (``requires_grad=False`` freezes the affine
            parameters of every norm layer) or ``dict(type='FrozenBN')`` (torchvision's FrozenBatchNorm2d).
        norm_eval: keep every BatchNorm in eval mode (running statistics) while training.
        fold_bn: fold every norm layer that is a fixed affine map at the time of the call (FrozenBatchNorm2d;
            BatchNorm2d in eval mode, e.g. with ``norm_eval``) into the preceding conv: ``conv(x, W * s) + b``
            with ``s = gamma / sqrt(var + eps)``, ``b = beta - mean * s``, recomputed from the parameters
            on every call, so ``W``, ``gamma`` and ``beta`` still train. Saves a pass over every activation
            and its temporary; the state dict is unchanged. Results equal the unfolded ones to float
            rounding (~1e-6 relative in the features). ``None`` (default): on when ``norm_cfg`` is
            FrozenBN (fixed-statistics fine-tuning and deployment), off for BN, whose models then run
            torchvision's exact sequence of operations (bit-close parity with converted weights).
        channels_last: run in channels-last memory format (NHWC): the input is converted once, the outputs
            stay NHWC (convolutions downstream keep it). Same values to float rounding, faster oneDNN
            convolutions on CPU. ``None`` (default): on for CPU inputs when ``fold_bn`` is on.
        style: ``'pytorch'`` (a Bottleneck strides on its 3x3 conv ``conv2``, as torchvision) or ``'caffe'``
            (MMDetection's caffe style, the original MSRA/Detectron layout: the stride is on the 1x1 ``conv1``,
            ``conv2`` has stride 1). The parameters and state-dict keys are the same in both, so caffe-layout
            checkpoints (``open-mmlab://detectron/resnet50_caffe``) load into ``style='caffe'``. BasicBlock
            (depth 18 / 34) is the same in both styles.
        dcn: ``None`` or ``dict(type='DCNv2', deform_groups=1)``: in the stages marked by ``stage_with_dcn``
            the 3x3 conv of every block (Bottleneck's ``conv2``, which carries the stride; BasicBlock's
            second conv ``conv2``) becomes a :class:`~visioncraft.models.layers.ModulatedDeformConv2d` with
            the same weight shape, so ImageNet weights still load (only the new ``conv2.conv_offset.*`` keys
            are missing). Its offsets start at zero and its mask at 0.5, so a block starts at half its plain
            conv2 response (see the layer). MMOCR's ``dbnet_resnet50-dcnv2_fpnc`` uses
            ``stage_with_dcn=(False, True, True, True)``.
        stage_with_dcn: one flag per stage (4 entries), used with ``dcn``.
        deep_stem: replace the 7x7 stem conv by three 3x3 convs (``stem_channels // 2``, ``stem_channels // 2``,
            ``stem_channels``; the first with stride 2), each followed by the norm and ReLU, in ``self.stem``
            (the "C"/"vd" stem of Bag of Tricks, He et al. 2019).
        avg_down: in each stage's first block that strides, downsample the shortcut with a 2x2 average pool
            (``ceil_mode``, padding not counted) followed by a stride-1 1x1 conv instead of a strided 1x1 conv
            (the "D"/"vd" shortcut); ``downsample`` is then ``[AvgPool2d, Conv2d, norm]``.
        stem_channels: output channels of the deep stem (64; the stages expect 64).
        init_cfg: ``None`` (torchvision's random init) or ``dict(type='Pretrained', checkpoint=...)``
            where checkpoint is a local file, an http(s) URL (downloaded once into
            ``$TORCH_HOME/hub/checkpoints``) or ``'torchvision://resnet50'``; loaded by
            :meth:`init_weights` (the Runner calls it after building the model).

    Forward: ``x`` float N x 3 x H x W -> tuple of N x C_i x H/s_i x W/s_i tensors, one per
    ``out_indices`` entry, with C_i = ``out_channels[i]`` and s_i = ``self.strides[i]`` (the output strides:
    4 times the product of the stage strides so far; 4, 8, 16, 32 by default).
    """

    def __init__(self, depth: int = 50, num_stages: int = 4, out_indices: Sequence[int] = (0, 1, 2, 3),
                 frozen_stages: int = -1, norm_cfg: dict | None = None, norm_eval: bool = True,
                 style: str = 'pytorch', init_cfg: dict | None = None, in_channels: int = 3,
                 fold_bn: bool | None = None, channels_last: bool | None = None, dcn: dict | None = None,
                 stage_with_dcn: Sequence[bool] = (False, False, False, False), deep_stem: bool = False,
                 avg_down: bool = False, stem_channels: int = 64, strides: Sequence[int] | None = None,
                 dilations: Sequence[int] | None = None, groups: int = 1, base_width: int = 64) -> None:
        super().__init__()
        if depth not in _ARCH:
            raise ValueError(f'ResNet depth must be one of {sorted(_ARCH)}, got {depth}')
        if not 1 <= num_stages <= 4:
            raise ValueError(f'ResNet num_stages must be in 1..4, got {num_stages}')
        stage_strides = _per_stage('strides', strides, _STAGE_STRIDES, num_stages)
        stage_dilations = _per_stage('dilations', dilations, (1, 1, 1, 1), num_stages)
        block, layers, channels = _ARCH[depth]
        if not (isinstance(groups, int) and groups >= 1 and isinstance(base_width, int) and base_width >= 1):
            raise ValueError(f'ResNet groups and base_width must be positive ints, got groups={groups!r}, '
                             f'base_width={base_width!r}')
        if groups > 1 and block is not Bottleneck:
            raise ValueError(f'ResNeXt (groups={groups}) needs a Bottleneck depth (50, 101 or 152), got {depth}')
        if groups == 1:
            base_width = 64  # MMDetection: a groups=1 Bottleneck is plain ResNet whatever base_width says
        self.groups, self.base_width = groups, base_width
        out_indices = tuple(out_indices)
        if not out_indices or list(out_indices) != sorted(set(out_indices)) or max(out_indices) >= num_stages \
                or min(out_indices) < 0:
            raise ValueError(f'ResNet out_indices must be increasing stage indices below num_stages={num_stages}, '
                             f'got {out_indices}')
        if not -1 <= frozen_stages <= num_stages:
            raise ValueError(f'ResNet frozen_stages must be in -1..{num_stages}, got {frozen_stages}')
        if style not in ('pytorch', 'caffe'):
            raise ValueError(f"ResNet style must be 'pytorch' (stride on the 3x3 conv) or 'caffe' (stride on the "
                             f"first 1x1 conv), got {style!r}")
        self.style = style
        norm_cfg = dict(type='BN', requires_grad=True) if norm_cfg is None else dict(norm_cfg)
        if init_cfg is not None and init_cfg.get('type') != 'Pretrained':
            raise ValueError(f"ResNet init_cfg must be None or dict(type='Pretrained', checkpoint=...), got {init_cfg}")
        self.depth, self.num_stages, self.out_indices = depth, num_stages, out_indices
        self.frozen_stages, self.norm_eval, self.init_cfg = frozen_stages, norm_eval, init_cfg
        if fold_bn is None:
            fold_bn = norm_cfg.get('type') in ('FrozenBN', 'FrozenBatchNorm2d')
        self.fold_bn, self.channels_last = bool(fold_bn), channels_last

        net = _TorchvisionResNet(block, list(layers), groups=groups, width_per_group=base_width,
                                 norm_layer=_norm_layer(norm_cfg))
        if in_channels != 3:
            net.conv1 = nn.Conv2d(in_channels, 64, kernel_size=7, stride=2, padding=3, bias=False)
        self.deep_stem, self.avg_down = bool(deep_stem), bool(avg_down)
        if self.deep_stem:
            if stem_channels != 64:
                raise ValueError(f'ResNet stem_channels must be 64 (the first stage expects 64 inputs), '
                                 f'got {stem_channels}')
            self.stem = _deep_stem(in_channels, stem_channels, _norm_layer(norm_cfg))
        else:
            self.conv1, self.bn1 = net.conv1, net.bn1
        self.relu, self.maxpool = net.relu, net.maxpool
        self.stage_names = [f'layer{i + 1}' for i in range(num_stages)]
        for i, name in enumerate(self.stage_names):
            setattr(self, name, getattr(net, name))
            _set_stride_dilation(getattr(self, name), stage_strides[i], stage_dilations[i], _norm_layer(norm_cfg))
            if self.avg_down:
                _avg_down_shortcut(getattr(self, name)[0])
            if style == 'caffe':
                _caffe_stride(getattr(self, name)[0])
        self.dcn, self.stage_with_dcn = _check_dcn(dcn, stage_with_dcn)
        if self.dcn is not None:
            for name, with_dcn in zip(self.stage_names, self.stage_with_dcn):
                if with_dcn:
                    for block in getattr(self, name):
                        block.conv2 = _deformable_like(block.conv2, self.dcn['deform_groups'])
        if not norm_cfg.get('requires_grad', True):
            for m in self.modules():
                if isinstance(m, _BN_TYPES):
                    for p in m.parameters():
                        p.requires_grad_(False)
        self.out_channels = [channels[i] for i in out_indices]
        self.stage_strides, self.dilations = stage_strides, stage_dilations
        out_strides, total = [], 4
        for stride in stage_strides:
            total *= stride
            out_strides.append(total)
        self.strides = [out_strides[i] for i in out_indices]
        self._freeze_stages()

    def _frozen_modules(self) -> list[nn.Module]:
        if self.frozen_stages < 0:
            return []
        stem = [self.stem] if self.deep_stem else [self.conv1, self.bn1]
        return stem + [getattr(self, f'layer{i}') for i in range(1, self.frozen_stages + 1)]

    def init_weights(self) -> None:
        """Load ``init_cfg``'s pretrained checkpoint (no-op without one); ``fc.*`` keys are skipped."""
        if not self.init_cfg:
            return
        stages = ('stem',) if self.deep_stem else ('conv1', 'bn1')
        stages = (*stages, *self.stage_names)
        load_pretrained(self, self.init_cfg, name=f'{type(self).__name__}-{self.depth}', keep=lambda k: k.split('.')[0] in stages)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        if self.channels_last or (self.channels_last is None and self.fold_bn and x.device.type == 'cpu'):
            x = x.contiguous(memory_format=torch.channels_last)
        if self.deep_stem:
            stem = self.stem
            for i in range(0, len(stem), 3):  # (conv, norm, ReLU) x 3
                x = _conv_norm(x, stem[i], stem[i + 1], relu=True) if self.fold_bn else stem[i + 2](stem[i + 1](
                    stem[i](x)))
            x = self.maxpool(x)
            stage_forward = _folded_stage if self.fold_bn else nn.Module.__call__
        elif not self.fold_bn:
            x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
            stage_forward = nn.Module.__call__
        else:
            x = self.maxpool(_conv_norm(x, self.conv1, self.bn1, relu=True))
            stage_forward = _folded_stage
        outs = []
        for i, name in enumerate(self.stage_names):
            x = stage_forward(getattr(self, name), x)
            if i in self.out_indices:
                outs.append(x)
        return tuple(outs)


@MODELS.register_module()
class ResNetV1d(ResNet):
    """ResNet-D ("vd" in PaddleOCR, ``ResNetV1d`` in MMDetection): :class:`ResNet` with ``deep_stem=True`` and
    ``avg_down=True`` (Bag of Tricks for Image Classification, He et al. 2019). Same arguments and outputs as
    :class:`ResNet`; torchvision has no ImageNet weights for this layout, so ``init_cfg`` must name a checkpoint
    saved from this class."""

    def __init__(self, **kwargs) -> None:
        for key in ('deep_stem', 'avg_down'):
            if kwargs.pop(key, True) is not True:
                raise ValueError(f'ResNetV1d always has {key}=True; use ResNet for the plain layout')
        super().__init__(deep_stem=True, avg_down=True, **kwargs)


@MODELS.register_module()
class ResNeXt(ResNet):
    """ResNeXt (Xie et al. 2017): :class:`ResNet` whose Bottleneck 3x3 conv is a grouped conv of ``groups``
    groups of ``base_width`` channels per 64 planes (``32x4d``: ``groups=32, base_width=4``; its ``layer1``
    3x3 conv weight is 128 x 4 x 3 x 3). Depth 50, 101 or 152; every other argument and the parameter names are
    :class:`ResNet`'s (MMDetection's ``ResNeXt`` names, so its checkpoints load). ``groups=1`` is plain ResNet.
    """

    def __init__(self, depth: int = 50, groups: int = 1, base_width: int = 4, **kwargs) -> None:
        if depth not in (50, 101, 152):
            raise ValueError(f'ResNeXt depth must be 50, 101 or 152, got {depth}')
        super().__init__(depth=depth, groups=groups, base_width=base_width, **kwargs)


@MODELS.register_module(name='mmpose.ResNeXt')
class MMPoseResNeXt(ResNeXt):
    """MMPose's ``ResNeXt`` (``type='ResNeXt'`` under ``default_scope='mmpose'``): :class:`ResNeXt` with MMPose's
    argument name ``width_per_group`` and its defaults ``groups=32, width_per_group=4`` (MMDetection's default is
    ``groups=1``), so ``dict(type='ResNeXt', depth=50)`` in an MMPose config is ResNeXt-50 32x4d."""

    def __init__(self, depth: int = 50, groups: int = 32, width_per_group: int = 4, **kwargs) -> None:
        super().__init__(depth=depth, groups=groups, base_width=kwargs.pop('base_width', width_per_group), **kwargs)


def _per_stage(name: str, values: Sequence[int] | None, default: Sequence[int], num_stages: int) -> tuple[int, ...]:
    """``values`` (one positive int per built stage, or the 4-entry default) as a tuple of ``num_stages`` ints."""
    if values is None:
        return tuple(default[:num_stages])
    values = tuple(values)
    if len(values) not in (num_stages, 4) or not all(isinstance(v, int) and v >= 1 for v in values):
        raise ValueError(f'ResNet {name} must hold one positive int per stage (num_stages={num_stages}), '
                         f'got {values}')
    return values[:num_stages]


def _set_stride_dilation(stage: nn.Sequential, stride: int, dilation: int, norm_layer) -> None:
    """Give a torchvision stage MMDetection's layout: the first block strides by ``stride``, every block's
    strided 3x3 conv (Bottleneck ``conv2``, BasicBlock ``conv1``) has ``dilation`` and ``padding=dilation``."""
    for k, block in enumerate(stage):
        conv = block.conv2 if isinstance(block, Bottleneck) else block.conv1
        conv.stride = (stride, stride) if k == 0 else (1, 1)
        conv.dilation = conv.padding = (dilation, dilation)
    first = stage[0]
    out_channels = first.conv3.out_channels if isinstance(first, Bottleneck) else first.conv2.out_channels
    in_channels = first.conv1.in_channels
    if first.downsample is not None:
        first.downsample[0].stride = (stride, stride)
    elif stride != 1 or in_channels != out_channels:
        first.downsample = nn.Sequential(nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=False),
                                         norm_layer(out_channels))
    first.stride = stride


def _deep_stem(in_channels: int, channels: int, norm_layer) -> nn.Sequential:
    mid = channels // 2
    layers: list[nn.Module] = []
    for cin, cout, stride in ((in_channels, mid, 2), (mid, mid, 1), (mid, channels, 1)):
        layers += [nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False), norm_layer(cout),
                   nn.ReLU(inplace=True)]
    return nn.Sequential(*layers)


def _caffe_stride(block: nn.Module) -> None:
    """Caffe style: move a Bottleneck's stride from its 3x3 ``conv2`` to its 1x1 ``conv1`` (same weights)."""
    if not isinstance(block, torchvision.models.resnet.Bottleneck) or block.conv2.stride == (1, 1):
        return
    block.conv1.stride, block.conv2.stride = block.conv2.stride, (1, 1)


def _avg_down_shortcut(block: nn.Module) -> None:
    """Turn ``block.downsample = [1x1 conv stride s, norm]`` with s > 1 into ``[AvgPool s, 1x1 conv stride 1, norm]``."""
    ds = block.downsample
    if ds is None or ds[0].stride == (1, 1):
        return
    conv, norm = ds[0], ds[1]
    stride = conv.stride
    conv.stride = (1, 1)
    block.downsample = nn.Sequential(nn.AvgPool2d(stride, stride, ceil_mode=True, count_include_pad=False),
                                     conv, norm)


def _check_dcn(dcn: dict | None, stage_with_dcn: Sequence[bool]) -> tuple[dict | None, tuple[bool, ...]]:
    stage_with_dcn = tuple(bool(f) for f in stage_with_dcn)
    if len(stage_with_dcn) != 4:
        raise ValueError(f'ResNet stage_with_dcn needs one flag per stage (4), got {stage_with_dcn}')
    if dcn is None:
        if any(stage_with_dcn):
            raise ValueError(f"ResNet stage_with_dcn={stage_with_dcn} marks stages but dcn is None; "
                             f"pass dcn=dict(type='DCNv2', deform_groups=1)")
        return None, stage_with_dcn
    dcn = dict(dcn)
    kind = dcn.pop('type', 'DCNv2')
    if kind not in ('DCNv2', 'ModulatedDeformConv2d', 'ModulatedDeformConv2dPack'):
        raise ValueError(f"ResNet dcn type must be 'DCNv2' (modulated deformable conv), got {kind!r}")
    groups = dcn.pop('deform_groups', 1)
    if dcn.pop('fallback_on_stride', False):
        raise ValueError('ResNet dcn fallback_on_stride=True is not supported (the strided conv2 is deformable too)')
    if dcn:
        raise ValueError(f'ResNet dcn: unknown keys {sorted(dcn)}; supported: type, deform_groups, fallback_on_stride')
    if not isinstance(groups, int) or groups < 1:
        raise ValueError(f'ResNet dcn deform_groups must be a positive int, got {groups!r}')
    return {'type': 'DCNv2', 'deform_groups': groups}, stage_with_dcn


def _deformable_like(conv: nn.Conv2d, deform_groups: int) -> ModulatedDeformConv2d:
    """A DCNv2 layer with ``conv``'s shape and arguments (and its weight, so the init is unchanged)."""
    dcn = ModulatedDeformConv2d(conv.in_channels, conv.out_channels, conv.kernel_size, stride=conv.stride,
                                padding=conv.padding, dilation=conv.dilation, groups=conv.groups,
                                deform_groups=deform_groups, bias=conv.bias is not None)
    with torch.no_grad():
        dcn.weight.copy_(conv.weight)
        if conv.bias is not None:
            dcn.bias.copy_(conv.bias)
    return dcn


def _is_fixed_affine(norm: nn.Module) -> bool:
    """True when ``norm`` is a fixed per-channel affine map now (FrozenBN, or BatchNorm using running stats)."""
    if isinstance(norm, FrozenBatchNorm2d):
        return True
    return (type(norm) is nn.BatchNorm2d and not norm.training and norm.running_mean is not None
            and norm.affine)


def _conv_norm(x: torch.Tensor, conv: nn.Conv2d, norm: nn.Module, relu: bool) -> torch.Tensor:
    """``relu(norm(conv(x)))`` with the norm folded into the conv when it is a fixed affine map (only for a
    plain ``nn.Conv2d``; any other conv, e.g. a deformable one, runs unfolded: ``norm(conv(x))``)."""
    if type(conv) is not nn.Conv2d or conv.padding_mode != 'zeros' or not _is_fixed_affine(norm):
        y = norm(conv(x))
    else:
        scale = norm.weight * (norm.running_var + norm.eps).rsqrt()
        bias = norm.bias - norm.running_mean * scale
        if conv.bias is not None:
            bias = bias + conv.bias * scale
        args = (conv.stride, conv.padding, conv.dilation, conv.groups)
        if torch.is_grad_enabled() and (x.requires_grad or conv.weight.requires_grad) \
                and not (scale.requires_grad or bias.requires_grad):
            y = _FoldedConv.apply(x, conv.weight, scale.detach(), bias.detach(), *args)
        else:  # no gradient, or trainable norm parameters (autograd differentiates through the fold)
            y = F.conv2d(x, conv.weight * scale.reshape(-1, 1, 1, 1), bias, *args)
    return F.relu(y, inplace=True) if relu else y


class _FoldedConv(torch.autograd.Function):
    """``conv2d(x, weight * scale, bias)`` for a fixed ``scale`` and ``bias`` that saves ``weight`` (the
    parameter, no copy) instead of the folded weight, and refolds it in backward: training keeps no extra
    copy of the weights alive between forward and backward."""

    @staticmethod
    def forward(ctx, x, weight, scale, bias, stride, padding, dilation, groups):
        ctx.save_for_backward(x, weight, scale)
        ctx.conv_args = (stride, padding, dilation, groups)
        return F.conv2d(x, weight * scale.reshape(-1, 1, 1, 1), bias, stride, padding, dilation, groups)

    @staticmethod
    def backward(ctx, grad):
        x, weight, scale = ctx.saved_tensors
        stride, padding, dilation, groups = ctx.conv_args
        folded = (weight * scale.reshape(-1, 1, 1, 1)).to(grad.dtype)  # grad's dtype: fp16 / bf16 under autocast
        grad_x, grad_w, _ = torch.ops.aten.convolution_backward(
            grad, x.to(grad.dtype), folded, None, list(stride), list(padding), list(dilation), False, [0, 0],
            groups, [ctx.needs_input_grad[0], ctx.needs_input_grad[1], False])
        if grad_x is not None:
            grad_x = grad_x.to(x.dtype)
        if grad_w is not None:
            grad_w = (grad_w * scale.reshape(-1, 1, 1, 1)).to(weight.dtype)
        return grad_x, grad_w, None, None, None, None, None, None


def _folded_block(block: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """torchvision's Bottleneck / BasicBlock forward with folded norms (other modules: their own forward)."""
    downsample = block.downsample
    if not isinstance(block, (Bottleneck, BasicBlock)) or not (
            downsample is None or (isinstance(downsample, nn.Sequential) and len(downsample) in (2, 3))):
        return block(x)
    out = _conv_norm(x, block.conv1, block.bn1, relu=True)
    if isinstance(block, Bottleneck):
        out = _conv_norm(out, block.conv2, block.bn2, relu=True)
        out = _conv_norm(out, block.conv3, block.bn3, relu=False)
    else:
        out = _conv_norm(out, block.conv2, block.bn2, relu=False)
    if downsample is None:
        identity = x
    elif len(downsample) == 3:  # avg_down: [AvgPool2d, conv, norm]
        identity = _conv_norm(downsample[0](x), downsample[1], downsample[2], relu=False)
    else:
        identity = _conv_norm(x, downsample[0], downsample[1], relu=False)
    # in place is safe: ``out`` is a conv or norm output, which no backward formula needs
    return F.relu(out.add_(identity), inplace=True)


def _folded_stage(stage: nn.Module, x: torch.Tensor) -> torch.Tensor:
    for block in stage:
        x = _folded_block(block, x)
    return x
