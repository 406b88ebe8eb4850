"""PPLCNetV3: the backbone of PaddleOCR's PP-OCRv4 mobile detector and recogniser.

An LCNet (depthwise kxk conv -> optional squeeze-excite -> pointwise 1x1 conv per block) whose convolutions are
MobileOne-style re-parameterisable layers, each followed by a *learnable affine block* (LAB: ``scale * x + bias``
with one scalar scale and one scalar bias), and whose hardswish activations are each followed by another LAB.

Two forms of the same network:

* training form (``deploy=False``): every :class:`LearnableRepLayer` sums ``conv_kxk_num`` conv-BN branches, a
  1x1 conv-BN branch (kxk layers only) and an identity BN (when the layer keeps its channels and stride 1);
* deploy form (``deploy=True``, or :meth:`PPLCNetV3.reparameterize` on a trained model): each of those layers is
  one convolution with a bias (the branches and their BatchNorms folded together), which is what PaddleOCR's
  inference models (and their ONNX exports) hold.

Both forms compute the same function (the fold is exact up to float rounding); the imported official weights
(:mod:`visioncraft.models.onnx_weights`) load into the deploy form, which also trains (plain convs with bias).

Checkpoints across the forms: a training-form checkpoint loads into a deploy-form model, folded while it loads
(each layer's load hook); a folded checkpoint is refused by a training-form model
(:class:`~visioncraft.fileio.checkpoint.CheckpointMismatchError` saying to build ``deploy=True``), because a folded
conv cannot be split back into conv-BN branches and loading "what fits" would leave them random.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.modules import module as _torch_module

from ...fileio.checkpoint import CheckpointMismatchError
from ...registry import MODELS
from ..layers.squeeze_excite import SqueezeExcite
from .base import BackboneBase

__all__ = ['LearnableAffineBlock', 'LearnableRepLayer', 'LCNetV3Block', 'PPLCNetV3', 'make_divisible_lcnet',
           'reparameterize_model']

# (kernel, in_channels, out_channels, stride, use_se) per block, before scaling; PaddleOCR's two layouts.
# The recognition layout keeps the width (strides (2, 1) halve the height only; (1, 2) the width only).
_DET_BLOCKS = {
    'blocks2': [(3, 16, 32, 1, False)],
    'blocks3': [(3, 32, 64, 2, False), (3, 64, 64, 1, False)],
    'blocks4': [(3, 64, 128, 2, False), (3, 128, 128, 1, False)],
    'blocks5': [(3, 128, 256, 2, False)] + [(5, 256, 256, 1, False)] * 4,
    'blocks6': [(5, 256, 512, 2, True), (5, 512, 512, 1, True), (5, 512, 512, 1, False), (5, 512, 512, 1, False)],
}
_REC_BLOCKS = {
    'blocks2': [(3, 16, 32, 1, False)],
    'blocks3': [(3, 32, 64, 1, False), (3, 64, 64, 1, False)],
    'blocks4': [(3, 64, 128, (2, 1), False), (3, 128, 128, 1, False)],
    'blocks5': [(3, 128, 256, (1, 2), False)] + [(5, 256, 256, 1, False)] * 4,
    'blocks6': [(5, 256, 512, (2, 1), True), (5, 512, 512, 1, True), (5, 512, 512, (2, 1), False),
                (5, 512, 512, 1, False)],
}
# Detection: the four stage outputs are projected by 1x1 convs to these widths (x scale), as PaddleOCR does so the
# RSEFPN neck sees MobileNetV3-like channel counts.
_DET_PROJ = (16, 24, 56, 480)


def make_divisible_lcnet(v: float, divisor: int = 16, min_value: int | None = None) -> int:
    """Round ``v`` to the nearest multiple of ``divisor`` (at least ``min_value``, default ``divisor``), adding one
    ``divisor`` when that falls more than 10 % below ``v`` (PPLCNetV3's channel rounding)."""
    min_value = divisor if min_value is None else min_value
    new_v = max(min_value, int(v + divisor / 2) // divisor * divisor)
    if new_v < 0.9 * v:
        new_v += divisor
    return new_v


class LearnableAffineBlock(nn.Module):
    """``scale * x + bias`` with one learnable scalar each (PP-LCNetV3's LAB)."""

    def __init__(self, scale_value: float = 1.0, bias_value: float = 0.0) -> None:
        super().__init__()
        self.scale = nn.Parameter(torch.tensor([float(scale_value)]))
        self.bias = nn.Parameter(torch.tensor([float(bias_value)]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.scale * x + self.bias


class _HardswishLAB(nn.Module):
    """Hardswish followed by a learnable affine block (PaddleOCR's ``Act``)."""

    def __init__(self) -> None:
        super().__init__()
        self.lab = LearnableAffineBlock()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.lab(F.hardswish(x))


class _ConvBN(nn.Sequential):
    """Conv (no bias) + BatchNorm, padding ``(k - 1) // 2``."""

    def __init__(self, cin: int, cout: int, k: int, stride, groups: int = 1) -> None:
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, k, stride, (k - 1) // 2, groups=groups, bias=False)
        self.bn = nn.BatchNorm2d(cout)


#: a training-form branch as tensors: (conv kernel, or None for the identity branch; BatchNorm weight, bias,
#: running_mean, running_var; eps)
_Branch = tuple[torch.Tensor | None, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, float]


def _fold_branches(branches: list[_Branch], kernel_size: int, in_channels: int, groups: int
                   ) -> tuple[torch.Tensor, torch.Tensor]:
    """One ``out x in/groups x k x k`` kernel and bias equal to the sum of ``bn(conv(x))`` branches (BatchNorm in
    eval form; a 1x1 kernel is padded to k x k; a None kernel is the identity, which keeps the channels)."""
    k = kernel_size
    kernel = bias = None
    for conv_w, w, b, mean, var, eps in branches:
        if conv_w is None:
            per_group = in_channels // groups
            conv_w = torch.zeros(in_channels, per_group, k, k, dtype=w.dtype, device=w.device)
            for i in range(in_channels):
                conv_w[i, i % per_group, k // 2, k // 2] = 1.0
        elif conv_w.shape[-1] != k:
            conv_w = F.pad(conv_w, [(k - conv_w.shape[-1]) // 2] * 4)
        std = (var + eps).sqrt()
        kw, kb = conv_w * (w / std).reshape(-1, 1, 1, 1), b - mean * w / std
        kernel, bias = (kw, kb) if kernel is None else (kernel + kw, bias + kb)
    return kernel, bias


def _bn_tensors(bn: nn.BatchNorm2d) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, float]:
    return bn.weight, bn.bias, bn.running_mean, bn.running_var, bn.eps


#: the eps of the training form's BatchNorms (nn.BatchNorm2d's default), used when folding a checkpoint's tensors
_BN_EPS = 1e-5


def _fold_training_form_on_load(layer: 'LearnableRepLayer', state_dict: dict, prefix: str, *args) -> None:
    """Load-state-dict pre-hook of a deploy-form layer: a checkpoint of the training form (``conv_kxk.*``,
    ``conv_1x1.*``, ``identity.*`` under ``prefix``) is folded, in the state dict, into ``reparam_conv.weight`` /
    ``.bias`` (exactly what :meth:`LearnableRepLayer.reparameterize` computes, BatchNorm statistics in eval form),
    so a model trained in the training form loads into a ``deploy=True`` config (to export it folded)."""
    if not layer.deploy or f'{prefix}reparam_conv.weight' in state_dict:
        return
    n_kxk = sum(1 for k in state_dict if k.startswith(f'{prefix}conv_kxk.') and k.endswith('.conv.weight'))
    sources = [(f'conv_kxk.{i}.conv.weight', f'conv_kxk.{i}.bn.') for i in range(n_kxk)]
    sources += [('conv_1x1.conv.weight', 'conv_1x1.bn.'), (None, 'identity.')]
    branches = []
    for conv_key, bn_prefix in sources:
        if f'{prefix}{bn_prefix}weight' not in state_dict:
            continue
        bn = [state_dict.get(f'{prefix}{bn_prefix}{t}') for t in ('weight', 'bias', 'running_mean', 'running_var')]
        conv = state_dict.get(f'{prefix}{conv_key}') if conv_key else None
        if any(t is None for t in bn) or (conv_key and conv is None):
            return  # incomplete: leave it to the loader, which reports the keys
        branches.append((conv, *bn, _BN_EPS))
    if not branches:
        return
    dtype = branches[0][1].dtype
    with torch.no_grad():
        kernel, bias = _fold_branches([tuple(t.double() if isinstance(t, torch.Tensor) else t for t in b)
                                       for b in branches], layer.kernel_size, layer.in_channels, layer.groups)
    for key in [k for k in state_dict if k.startswith((f'{prefix}conv_kxk.', f'{prefix}conv_1x1.',
                                                       f'{prefix}identity.'))]:
        del state_dict[key]
    state_dict[f'{prefix}reparam_conv.weight'] = kernel.to(dtype)
    state_dict[f'{prefix}reparam_conv.bias'] = bias.to(dtype)


def _hooked(layer: nn.Module) -> bool:
    """Whether a forward hook would see the layer's modules one by one (the ONNX weight import records the layer
    order with hooks; FLOP counters use them too)."""
    if _torch_module._global_forward_hooks or _torch_module._global_forward_pre_hooks:
        return True
    return any(m._forward_hooks or m._forward_pre_hooks for m in layer.modules())


class LearnableRepLayer(nn.Module):
    """A re-parameterisable conv (MobileOne-style) + LAB, then hardswish + LAB unless the stride is the integer 2
    (PaddleOCR skips the activation after its stride-2 depthwise convs; (2, 1) / (1, 2) strides keep it).

    Training form: ``sum(conv_kxk[i](x)) + conv_1x1(x) + identity(x)`` (conv-BN branches; ``conv_1x1`` when
    ``kernel_size > 1``, ``identity`` (a BatchNorm) when ``in_channels == out_channels`` and ``stride == 1``).
    Deploy form: one ``reparam_conv`` (kxk, bias). :meth:`reparameterize` folds the former into the latter.

    Shapes: N x ``in_channels`` x H x W -> N x ``out_channels`` x ceil(H / sh) x ceil(W / sw).
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride=1, groups: int = 1,
                 num_conv_branches: int = 1, deploy: bool = False) -> None:
        super().__init__()
        self.in_channels, self.out_channels, self.kernel_size = in_channels, out_channels, kernel_size
        self.stride, self.groups = stride, groups
        self.padding = (kernel_size - 1) // 2
        self.use_act = not (isinstance(stride, int) and stride == 2)
        self.deploy = deploy
        if deploy:
            self.reparam_conv = nn.Conv2d(in_channels, out_channels, kernel_size, stride, self.padding, groups=groups)
        else:
            self.identity = nn.BatchNorm2d(in_channels) if in_channels == out_channels and stride == 1 else None
            self.conv_kxk = nn.ModuleList(_ConvBN(in_channels, out_channels, kernel_size, stride, groups)
                                          for _ in range(num_conv_branches))
            self.conv_1x1 = _ConvBN(in_channels, out_channels, 1, stride, groups) if kernel_size > 1 else None
        self.lab = LearnableAffineBlock()
        self.act = _HardswishLAB() if self.use_act else None
        # a training-form checkpoint loads into the deploy form, folded on the way (see the hook)
        self.register_load_state_dict_pre_hook(_fold_training_form_on_load)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.deploy and not torch.is_grad_enabled() and not _hooked(self):
            return self._fused_forward(x)
        if self.deploy:
            out = self.reparam_conv(x)
        else:
            out = 0
            if self.identity is not None:
                out = out + self.identity(x)
            if self.conv_1x1 is not None:
                out = out + self.conv_1x1(x)
            for conv in self.conv_kxk:
                out = out + conv(x)
        out = self.lab(out)
        return self.act(out) if self.act is not None else out

    def _fused_forward(self, x: torch.Tensor) -> torch.Tensor:
        """The deploy form's function with the LAB folded into the conv on the fly (``s (W x + b) + c = (s W) x +
        (s b + c)``) and the activation's LAB as one ``addcmul``: two passes over the activations fewer, about a
        third of the recogniser's time on one CPU thread (ONNX Runtime fuses the same way). Same values up to
        float rounding; used without autograd (inference) and when no module of the layer has hooks."""
        conv, lab = self.reparam_conv, self.lab
        out = F.conv2d(x, conv.weight * lab.scale, conv.bias * lab.scale + lab.bias, conv.stride, conv.padding,
                       conv.dilation, conv.groups)
        if self.act is None:
            return out
        return torch.addcmul(self.act.lab.bias, F.hardswish(out), self.act.lab.scale)

    @torch.no_grad()
    def folded_kernel_bias(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The single kxk kernel (``out x in/groups x k x k``) and bias equal to the training-form branches."""
        branches = [(b.conv.weight, *_bn_tensors(b.bn)) for b in self.conv_kxk]
        if self.conv_1x1 is not None:
            branches.append((self.conv_1x1.conv.weight, *_bn_tensors(self.conv_1x1.bn)))
        if self.identity is not None:
            branches.append((None, *_bn_tensors(self.identity)))
        return _fold_branches(branches, self.kernel_size, self.in_channels, self.groups)

    @torch.no_grad()
    def reparameterize(self) -> None:
        """Fold the branches into one ``reparam_conv`` (in place; no-op in the deploy form)."""
        if self.deploy:
            return
        kernel, bias = self.folded_kernel_bias()
        conv = nn.Conv2d(self.in_channels, self.out_channels, self.kernel_size, self.stride, self.padding,
                         groups=self.groups).to(kernel.device)
        conv.weight.copy_(kernel)
        conv.bias.copy_(bias)
        for name in ('identity', 'conv_kxk', 'conv_1x1'):
            delattr(self, name)
        self.reparam_conv = conv
        self.deploy = True


class LCNetV3Block(nn.Module):
    """Depthwise ``LearnableRepLayer`` (kernel ``dw_size``, ``stride``) -> optional SE -> pointwise one."""

    def __init__(self, in_channels: int, out_channels: int, stride, dw_size: int, use_se: bool = False,
                 conv_kxk_num: int = 4, deploy: bool = False) -> None:
        super().__init__()
        self.dw_conv = LearnableRepLayer(in_channels, in_channels, dw_size, stride, groups=in_channels,
                                         num_conv_branches=conv_kxk_num, deploy=deploy)
        self.se = SqueezeExcite(in_channels) if use_se else None
        self.pw_conv = LearnableRepLayer(in_channels, out_channels, 1, 1, num_conv_branches=conv_kxk_num,
                                         deploy=deploy)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.dw_conv(x)
        if self.se is not None:
            x = self.se(x)
        return self.pw_conv(x)


def _refuse_folded_into_training_form(net: 'PPLCNetV3', state_dict: dict, prefix: str, *args) -> None:
    """Load-state-dict pre-hook of the backbone: a folded checkpoint (``*.reparam_conv.*``, e.g. the imported
    official PP-OCR weights) cannot fill a training-form model's branches. The loaders load what fits and report
    the rest, which would leave every re-parameterisable layer at its random initialisation; refuse instead,
    saying how to build the folded form."""
    training = [m for m in net.modules() if isinstance(m, LearnableRepLayer) and not m.deploy]
    folded = [k for k in state_dict if k.startswith(prefix) and '.reparam_conv.' in k]
    if training and folded:
        raise CheckpointMismatchError(
            f'the checkpoint holds PPLCNetV3 in its folded (deploy) form ({len(folded) // 2} re-parameterised convs, '
            f'e.g. {folded[0]}), as the imported PP-OCR inference weights are, but the model\'s backbone is in the '
            'training form (deploy=False), whose conv-BN branches a folded conv cannot fill. Build the backbone '
            'folded: model.backbone.deploy=True (configs/ppocr/ppocrv4_mobile_det_deploy_icdar2015.py and '
            'ppocrv4_mobile_rec.py are), or for a PaddleOCR YAML -o +Architecture.Backbone.deploy=True '
            '(docs/ppocr.md)')


@MODELS.register_module()
class PPLCNetV3(BackboneBase):
    """PP-LCNetV3 (PaddleOCR's ``PPLCNetV3``), for detection (``det=True``) or recognition.

    A 3x3 stride-2 conv-BN stem (no activation) and five stages of :class:`LCNetV3Block` (``blocks2`` ...
    ``blocks6``), channels ``make_divisible(c * scale, 16)``.

    Args:
        scale: width multiplier (PP-OCRv4 mobile: 0.75 for detection, 0.95 for recognition).
        det: the detection layout: stride-2 stages, the outputs of ``blocks3`` ... ``blocks6`` (strides 4, 8, 16,
            32) each projected by a 1x1 conv (with bias) to ``int(c * scale)`` for c in (16, 24, 56, 480)
            (x0.75: 12, 18, 42, 360 channels). Otherwise the recognition layout: height-only / width-only strides
            and a final 3 x 2 average pool, so a 48-pixel-high line becomes one row of ``W / 8`` columns.
        conv_kxk_num: kxk branches of each re-parameterisable layer in the training form (4).
        deploy: build the folded form (one conv with bias per re-parameterisable layer), the form the official
            inference weights have; a training-form model gets there with :meth:`reparameterize`.

    Forward: ``x`` float N x 3 x H x W. Detection: a tuple of 4 tensors N x C_i x H/s_i x W/s_i (H, W multiples
    of 32). Recognition (H = 48): a 1-tuple with an N x ``make_divisible(512 * scale)`` x 1 x W/8 tensor
    (x0.95: 480 channels). PaddleOCR pools adaptively to 40 columns while training; this backbone always uses the
    3 x 2 average pool, which is the same for PaddleOCR's 48 x 320 training crops.
    """

    def __init__(self, scale: float = 1.0, det: bool = False, conv_kxk_num: int = 4, deploy: bool = False,
                 init_cfg: dict | None = None) -> None:
        super().__init__()
        if scale <= 0:
            raise ValueError(f'PPLCNetV3: scale must be positive, got {scale}')
        self.scale, self.det, self.deploy = float(scale), bool(det), bool(deploy)
        layout = _DET_BLOCKS if det else _REC_BLOCKS

        def ch(c):
            return make_divisible_lcnet(c * scale)

        self.conv1 = _ConvBN(3, ch(16), 3, 2)
        for name, cfg in layout.items():
            setattr(self, name, nn.Sequential(*[
                LCNetV3Block(ch(cin), ch(cout), stride=s, dw_size=k, use_se=se, conv_kxk_num=conv_kxk_num,
                             deploy=deploy) for k, cin, cout, s, se in cfg]))
        stage_channels = [ch(layout[n][-1][2]) for n in ('blocks3', 'blocks4', 'blocks5', 'blocks6')]
        if det:
            proj = [int(c * scale) for c in _DET_PROJ]
            self.layer_list = nn.ModuleList(nn.Conv2d(cin, cout, 1) for cin, cout in zip(stage_channels, proj))
            self.out_channels, self.strides = proj, [4, 8, 16, 32]
        else:
            self.layer_list = None
            self.out_channels, self.strides = [stage_channels[-1]], [8]
        self.init_cfg = init_cfg
        self.register_load_state_dict_pre_hook(_refuse_folded_into_training_form)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        x = self.blocks2(self.conv1(x))
        outs = []
        for name in ('blocks3', 'blocks4', 'blocks5', 'blocks6'):
            x = getattr(self, name)(x)
            outs.append(x)
        if self.det:
            return tuple(proj(o) for proj, o in zip(self.layer_list, outs))
        return (F.avg_pool2d(x, (3, 2)),)

    def reparameterize(self) -> 'PPLCNetV3':
        """Fold every :class:`LearnableRepLayer` into its deploy form, in place; returns self."""
        for m in self.modules():
            if isinstance(m, LearnableRepLayer):
                m.reparameterize()
        self.deploy = True
        return self


def reparameterize_model(model: nn.Module) -> nn.Module:
    """Fold every :class:`LearnableRepLayer` of ``model`` (any depth) into its deploy form, in place."""
    for m in list(model.modules()):
        if isinstance(m, LearnableRepLayer):
            m.reparameterize()
        if isinstance(m, PPLCNetV3):
            m.deploy = True
    return model

