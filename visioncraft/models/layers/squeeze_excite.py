"""Squeeze-excite as PaddleOCR's mobile networks use it (PP-MobileNetV3, PPLCNetV3, RSEFPN)."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ['SqueezeExcite']


class SqueezeExcite(nn.Module):
    """Global average pool -> 1x1 conv (C // ``reduction``, bias) -> ReLU -> 1x1 conv (C, bias) -> gate -> times the
    input (N x C x H x W in and out).

    ``gate``: ``'hardsigmoid'`` (``x / 6 + 1/2`` clipped to [0, 1], PyTorch's ``F.hardsigmoid``; PPLCNetV3) or
    ``'paddle'`` (``0.2 x + 0.5`` clipped to [0, 1], Paddle's ``hard_sigmoid`` default slope; PP-MobileNetV3 and
    RSEFPN). The convs are ``conv1`` / ``conv2``, the names the ONNX weight import and the checkpoints use.
    """

    def __init__(self, channels: int, reduction: int = 4, gate: str = 'hardsigmoid') -> None:
        super().__init__()
        if gate not in ('hardsigmoid', 'paddle'):
            raise ValueError(f"SqueezeExcite: gate must be 'hardsigmoid' or 'paddle', got {gate!r}")
        self.gate = gate
        self.conv1 = nn.Conv2d(channels, channels // reduction, 1)
        self.conv2 = nn.Conv2d(channels // reduction, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = self.conv2(F.relu(self.conv1(F.adaptive_avg_pool2d(x, 1))))
        w = F.hardsigmoid(w) if self.gate == 'hardsigmoid' else (0.2 * w + 0.5).clamp(0.0, 1.0)
        return x * w
