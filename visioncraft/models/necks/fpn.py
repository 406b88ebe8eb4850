"""Feature Pyramid Network (Lin et al., 2017) with optional extra stride-2 levels (P6, P7)."""
from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ...registry import MODELS
from ..backbones.base import FeatureSpec

__all__ = ['FPN']

_EXTRA_SOURCES = ('on_input', 'on_lateral', 'on_output')


@MODELS.register_module()
class FPN(nn.Module):
    """Lateral 1x1 convs + nearest-neighbour top-down pathway + 3x3 output convs, then extra levels.

    Parameters as MMDetection's ``FPN``: ``lateral_convs.i``, then ``fpn_convs.i`` (the output convs of the
    used inputs, then the extra levels' convs).

    Args:
        in_channels: channels of every input feature map (e.g. a backbone's ``out_channels``).
        out_channels: channels of every output level.
        num_outs: number of output levels (the used inputs plus extra levels).
        start_level: first input used (ResNet C2..C5 with ``start_level=1`` -> P3..P5).
        end_level: last input used (inclusive); -1 is the last one.
        add_extra_convs: how the levels beyond the inputs are made. ``False``: stride-2 max pooling of
            the last output (Faster R-CNN's P6). ``'on_input'`` (also ``True``): a stride-2 3x3 conv on
            the last used input (C5, as RetinaNet in its paper and torchvision's v2); ``'on_lateral'``:
            on the last lateral; ``'on_output'``: on the last output (P5, as torchvision's
            ``retinanet_resnet50_fpn``). Further levels apply a stride-2 3x3 conv to the previous one.
        relu_before_extra_convs: apply ReLU before every extra conv after the first (torchvision's
            ``LastLevelP6P7`` does: P7 = conv(relu(P6))).
        in_strides: stride of every input; default 4, 8, 16, ... (ResNet's C2..C5). Only used to
            declare :attr:`strides`.

    Forward: a sequence of N x in_channels[i] x H_i x W_i tensors -> tuple of ``num_outs`` tensors
    N x out_channels x H_j x W_j, finest first; ``out_channels`` (list) and ``strides`` describe them.
    """

    def __init__(self, in_channels: Sequence[int], out_channels: int, num_outs: int, start_level: int = 0,
                 end_level: int = -1, add_extra_convs: bool | str = False, relu_before_extra_convs: bool = False,
                 in_strides: Sequence[int] | None = None, init_cfg: dict | None = None) -> None:
        super().__init__()
        in_channels = list(in_channels)
        n_in = len(in_channels)
        end = n_in - 1 if end_level == -1 else end_level
        if not 0 <= start_level <= end < n_in:
            raise ValueError(f'FPN: need 0 <= start_level <= end_level < len(in_channels)={n_in}, '
                             f'got start_level={start_level}, end_level={end_level}')
        used = end - start_level + 1
        if num_outs < used:
            raise ValueError(f'FPN: num_outs={num_outs} is less than the {used} input levels used')
        if add_extra_convs is True:
            add_extra_convs = 'on_input'
        if add_extra_convs not in (False, *_EXTRA_SOURCES):
            raise ValueError(f'FPN add_extra_convs must be False, True or one of {_EXTRA_SOURCES}, '
                             f'got {add_extra_convs!r}')
        if in_strides is None:
            in_strides = [4 * 2 ** i for i in range(n_in)]
        if len(in_strides) != n_in:
            raise ValueError(f'FPN: in_strides has {len(in_strides)} entries, in_channels {n_in}')
        self.in_channels, self.start_level, self.end_level = in_channels, start_level, end
        self.num_outs, self.add_extra_convs = num_outs, add_extra_convs
        self.relu_before_extra_convs = relu_before_extra_convs
        self.lateral_convs = nn.ModuleList(nn.Conv2d(in_channels[i], out_channels, 1)
                                           for i in range(start_level, end + 1))
        # MMDetection's layout (so its checkpoints load by name): one list, the ``used`` output convs, then the
        # extra levels' stride-2 convs
        self.fpn_convs = nn.ModuleList(nn.Conv2d(out_channels, out_channels, 3, padding=1) for _ in range(used))
        self.num_used = used
        if add_extra_convs:
            for j in range(num_outs - used):
                c_in = in_channels[end] if j == 0 and add_extra_convs == 'on_input' else out_channels
                self.fpn_convs.append(nn.Conv2d(c_in, out_channels, 3, stride=2, padding=1))
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_uniform_(m.weight, a=1)
                nn.init.zeros_(m.bias)
        strides = list(in_strides[start_level:end + 1])
        while len(strides) < num_outs:
            strides.append(strides[-1] * 2)
        self.out_channels = [out_channels] * num_outs
        self.strides = strides

    def output_shape(self) -> list[FeatureSpec]:
        return [FeatureSpec(c, s) for c, s in zip(self.out_channels, self.strides)]

    def forward(self, inputs: Sequence[torch.Tensor]) -> tuple[torch.Tensor, ...]:
        if len(inputs) != len(self.in_channels):
            raise ValueError(f'FPN expects {len(self.in_channels)} feature maps, got {len(inputs)}')
        feats = inputs[self.start_level:self.end_level + 1]
        laterals = [conv(x) for conv, x in zip(self.lateral_convs, feats)]
        for i in range(len(laterals) - 1, 0, -1):  # top-down: coarse to fine
            laterals[i - 1] = _add_upsampled(laterals[i - 1], laterals[i])
        outs = [conv(x) for conv, x in zip(self.fpn_convs[:self.num_used], laterals)]
        if self.num_outs > len(outs):
            if not self.add_extra_convs:
                while len(outs) < self.num_outs:
                    outs.append(F.max_pool2d(outs[-1], 1, stride=2))
            else:
                source = {'on_input': feats[-1], 'on_lateral': laterals[-1], 'on_output': outs[-1]}
                x = source[self.add_extra_convs]
                for j, conv in enumerate(self.fpn_convs[self.num_used:]):
                    if j > 0 and self.relu_before_extra_convs:
                        x = F.relu(x)
                    x = conv(x)
                    outs.append(x)
        return tuple(outs)


def _add_upsampled(fine: torch.Tensor, coarse: torch.Tensor) -> torch.Tensor:
    """``fine + nearest_upsample(coarse, fine's size)``.

    When ``fine`` is exactly twice ``coarse`` in both sides (every level of an input padded to a multiple
    of the coarsest stride), the upsampling is a broadcast over 2 x 2 views of ``fine``: no upsampled copy,
    and in place when no gradient is recorded (``fine`` is a lateral conv's output, used nowhere else).
    Otherwise ``F.interpolate(mode='nearest')``, whose index rule (``src = floor(dst * in / out)``) the
    broadcast equals at ratio 2.
    """
    n, c, h, w = coarse.shape
    if fine.shape[-2:] != (2 * h, 2 * w):
        return fine + F.interpolate(coarse, size=fine.shape[-2:], mode='nearest')
    blocks = fine.unflatten(3, (w, 2)).unflatten(2, (h, 2))  # N x C x h x 2 x w x 2 view
    up = coarse[:, :, :, None, :, None]
    exporting = torch.jit.is_tracing() or torch.onnx.is_in_onnx_export()
    if not exporting and (not torch.is_grad_enabled() or not (fine.requires_grad or coarse.requires_grad)):
        # (not while tracing: TorchScript-based ONNX export records an in-place add into a view wrongly)
        blocks.add_(up)
        return fine
    return (blocks + up).flatten(4, 5).flatten(2, 3)
