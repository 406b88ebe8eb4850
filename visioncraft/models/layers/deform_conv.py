"""Modulated deformable convolution (DCNv2; Zhu et al., "Deformable ConvNets v2", 2019).

Built on :func:`torchvision.ops.deform_conv2d`; the offsets and the modulation mask are predicted from the
input by a plain convolution (``conv_offset``) that starts at zero.
"""
from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn.modules.utils import _pair
from torchvision.ops import deform_conv2d

from ...registry import MODELS

__all__ = ['ModulatedDeformConv2d']


@MODELS.register_module(name=['ModulatedDeformConv2d', 'DCNv2'])
class ModulatedDeformConv2d(nn.Module):
    """A ``k x k`` convolution whose sampling points move by learned offsets and are weighted by a learned
    mask in (0, 1), both predicted per output position from the input.

    Parameters: ``weight`` (C_out x C_in / groups x kh x kw) and ``bias`` (C_out, optional) named as in
    ``nn.Conv2d``, so a plain conv's state dict entries load into it unchanged; ``conv_offset`` (an
    ``nn.Conv2d`` with the same kernel / stride / padding / dilation, ``3 * deform_groups * kh * kw`` outputs:
    the y / x offsets interleaved per kernel point as :func:`torchvision.ops.deform_conv2d` reads them, then
    the mask logits) is the only new part.

    Initialisation: ``conv_offset`` is zero, so at the start every offset is 0 and every mask value is
    ``sigmoid(0) = 0.5``: the layer computes exactly ``0.5 * conv2d(x, weight) + bias`` (half the response
    of the plain conv with the same weights), as MMCV's ``ModulatedDeformConv2dPack`` does. The following
    BatchNorm absorbs the scale while fine-tuning.

    Args:
        in_channels / out_channels / kernel_size / stride / padding / dilation / groups / bias: as ``nn.Conv2d``.
        deform_groups: channel groups of the input that share one offset field and mask (``in_channels``
            must be divisible by it).

    Forward: ``x`` float N x C_in x H x W -> N x C_out x H_out x W_out (H_out as ``nn.Conv2d``), in ``x``'s dtype
    (float16 / bfloat16 inputs, e.g. under autocast, are sampled in float32). torchvision's kernel
    has no channels-last path: a channels-last input is computed in NCHW and the output converted back to
    channels-last (two copies), so the layers downstream keep their memory format.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int | tuple[int, int] = 3,
                 stride: int | tuple[int, int] = 1, padding: int | tuple[int, int] = 0,
                 dilation: int | tuple[int, int] = 1, groups: int = 1, deform_groups: int = 1,
                 bias: bool = True) -> None:
        super().__init__()
        if in_channels % groups or out_channels % groups:
            raise ValueError(f'ModulatedDeformConv2d: in_channels={in_channels} and out_channels={out_channels} '
                             f'must be divisible by groups={groups}')
        if deform_groups < 1 or in_channels % deform_groups:
            raise ValueError(f'ModulatedDeformConv2d: in_channels={in_channels} must be divisible by '
                             f'deform_groups={deform_groups}')
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel_size, self.stride = _pair(kernel_size), _pair(stride)
        self.padding, self.dilation = _pair(padding), _pair(dilation)
        self.groups, self.deform_groups = groups, deform_groups
        kh, kw = self.kernel_size
        self.weight = nn.Parameter(torch.empty(out_channels, in_channels // groups, kh, kw))
        self.bias = nn.Parameter(torch.empty(out_channels)) if bias else None
        self.conv_offset = nn.Conv2d(in_channels, 3 * deform_groups * kh * kw, self.kernel_size,
                                     stride=self.stride, padding=self.padding, dilation=self.dilation, bias=True)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """``weight`` / ``bias`` as ``nn.Conv2d`` (Kaiming-uniform); ``conv_offset`` zero."""
        nn.init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            fan_in = self.weight.shape[1] * self.kernel_size[0] * self.kernel_size[1]
            nn.init.uniform_(self.bias, -1 / math.sqrt(fan_in), 1 / math.sqrt(fan_in))
        nn.init.zeros_(self.conv_offset.weight)
        nn.init.zeros_(self.conv_offset.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        nhwc = x.dim() == 4 and not x.is_contiguous() and x.is_contiguous(memory_format=torch.channels_last)
        x = x.contiguous()  # torchvision's deform_conv2d indexes NCHW memory
        out = self.conv_offset(x)
        n_off = 2 * self.deform_groups * self.kernel_size[0] * self.kernel_size[1]
        offset, mask = out[:, :n_off], torch.sigmoid(out[:, n_off:])
        # the deformable sampling runs in float32 for half / bfloat16 inputs (torchvision's CPU kernel has no
        # reduced-precision path; its CUDA autocast rule does the same); the output comes back in x's dtype
        dtype = x.dtype if x.dtype in (torch.float32, torch.float64) else torch.float32
        bias = self.bias.to(dtype) if self.bias is not None else None
        with torch.autocast(device_type=x.device.type, enabled=False):
            y = deform_conv2d(x.to(dtype), offset.to(dtype).contiguous(), self.weight.to(dtype), bias,
                              stride=self.stride, padding=self.padding, dilation=self.dilation,
                              mask=mask.to(dtype).contiguous())
        y = y.to(x.dtype)
        # hand a channels-last input's layout back, so the convolutions downstream stay channels-last
        return y.contiguous(memory_format=torch.channels_last) if nhwc else y

    def extra_repr(self) -> str:
        return (f'{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}, '
                f'padding={self.padding}, dilation={self.dilation}, groups={self.groups}, '
                f'deform_groups={self.deform_groups}, bias={self.bias is not None}')
