"""Text-recognition backbones: MiniVGG (CRNN's VGG-style conv stack, MMOCR's ``MiniVGG``)."""
from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from visioncraft.models.backbones.base import BackboneBase
from visioncraft.registry import MODELS

__all__ = ['MiniVGG']


@MODELS.register_module()
class MiniVGG(BackboneBase):
    """CRNN's backbone (Shi et al., "An End-to-End Trainable Neural Network for Image-based Sequence Recognition",
    2015), the layout of MMOCR's ``MiniVGG``: seven convs (3x3 pad 1, the last 2x2 pad 0), each followed by ReLU
    (LeakyReLU 0.2 with ``leaky_relu``); BatchNorm after convs 3, 5 and 7; max-pools 2x2 after convs 1 and 2 and
    (2, 2) kernel / (2, 1) stride / (0, 1) padding after convs 4 and 6, which halve the height only.

    Args:
        leaky_relu: LeakyReLU(0.2) instead of ReLU (MMOCR's CRNN config uses ReLU).
        input_channels: 1 (grey) or 3 (colour).
        widths: output channels of the seven convs (CRNN's ``(64, 128, 256, 256, 512, 512, 512)``); a small
            model passes narrower ones.
        norm_all: BatchNorm after every conv, not only convs 3, 5 and 7 (trains faster from scratch).

    Forward: ``x`` float N x C x 32 x W -> N x widths[-1] x 1 x (W // 4 + 1) (W = 100 gives 26 frames; a height
    of 32 is what makes the output one row high). ``out_channels = [widths[-1]]``, ``strides = [4]`` (the
    horizontal stride; the height is reduced 32x).
    """

    def __init__(self, leaky_relu: bool = True, input_channels: int = 3,
                 widths: Sequence[int] = (64, 128, 256, 256, 512, 512, 512), norm_all: bool = False,
                 init_cfg: dict | None = None) -> None:
        super().__init__()
        widths = [int(w) for w in widths]
        if len(widths) != 7 or min(widths) < 1:
            raise ValueError(f'MiniVGG: widths needs 7 positive channel counts, got {widths}')
        if input_channels < 1:
            raise ValueError(f'MiniVGG: input_channels must be >= 1, got {input_channels}')
        layers: list[nn.Module] = []
        cin = input_channels
        for i, cout in enumerate(widths):
            k, p = (2, 0) if i == 6 else (3, 1)
            bn = norm_all or i in (2, 4, 6)
            layers.append(nn.Conv2d(cin, cout, k, 1, p, bias=not bn))
            if bn:
                layers.append(nn.BatchNorm2d(cout))
            layers.append(nn.LeakyReLU(0.2, inplace=True) if leaky_relu else nn.ReLU(inplace=True))
            if i in (0, 1):
                layers.append(nn.MaxPool2d(2, 2))
            elif i in (3, 5):
                layers.append(nn.MaxPool2d((2, 2), (2, 1), (0, 1)))
            cin = cout
        self.cnn = nn.Sequential(*layers)
        self.input_channels = input_channels
        self.out_channels, self.strides = [widths[-1]], [4]
        self.init_cfg = init_cfg

    def init_weights(self) -> None:
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode='fan_out', nonlinearity='relu')
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[1] != self.input_channels:
            raise ValueError(f'MiniVGG: built for {self.input_channels}-channel images, got input of shape '
                             f'{tuple(x.shape)} (grey images need input_channels=1 and LoadImageFromFile '
                             "color_type='grayscale')")
        return self.cnn(x)
