"""Text-recognition backbones: MiniVGG (CRNN's VGG-style conv stack, MMOCR's ``MiniVGG``)."""
from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence

import torch
from torch import nn

from visioncraft.models.backbones.base import BackboneBase
from visioncraft.registry import MODELS

__all__ = ['MiniVGG', 'RecMobileNetV3']


@MODELS.register_module()
class MiniVGG(BackboneBase):
    """CRNN's backbone (Shi et al., "An End-to-End Trainable Neural Network for Image-based Sequence Recognition",
    2015), the layout of MMOCR's ``MiniVGG``: seven convs (3x3 pad 1, the last 2x2 pad 0), each followed by ReLU
    (LeakyReLU 0.2 with ``leaky_relu``); BatchNorm after convs 3, 5 and 7; every conv has a bias; max-pools 2x2
    after convs 1 and 2 and (2, 2) kernel / (2, 1) stride / (0, 1) padding after convs 4 and 6, which halve the
    height only. The layers carry MMOCR's names (``cnn.conv0``, ``cnn.batchnorm2``, ...).

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
        # MMOCR's layer names (conv{i}, batchnorm{i}, relu{i}, pooling{k}) and biased convs throughout, so its
        # checkpoints load as they are
        layers: dict[str, nn.Module] = {}
        cin = input_channels
        pools = 0
        for i, cout in enumerate(widths):
            k, p = (2, 0) if i == 6 else (3, 1)
            layers[f'conv{i}'] = nn.Conv2d(cin, cout, k, 1, p)
            if norm_all or i in (2, 4, 6):
                layers[f'batchnorm{i}'] = nn.BatchNorm2d(cout)
            layers[f'relu{i}'] = nn.LeakyReLU(0.2, inplace=True) if leaky_relu else nn.ReLU(inplace=True)
            if i in (0, 1):
                layers[f'pooling{pools}'] = nn.MaxPool2d(2, 2)
                pools += 1
            elif i in (3, 5):
                layers[f'pooling{pools}'] = nn.MaxPool2d((2, 2), (2, 1), (0, 1))
                pools += 1
            cin = cout
        self.cnn = nn.Sequential(OrderedDict(layers))
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


# torchvision's MobileNetV3 feature indices (block = index - 1) where PaddleOCR's recognition variant sets the stride:
# the stem conv keeps (2, 2); the stage strides become (s, 1) so the width keeps 1/2 of the input until the pool.
_REC_MV3_STAGES = {'large': (1, 2, 4, 13), 'small': (1, 2, 4, 9)}
_REC_MV3_STRIDE_ONE = {'large': (7,), 'small': ()}  # torchvision's stride-2 block PaddleOCR's large cfg runs at 1
_REC_MV3_DEFAULT_STRIDES = {'large': (1, 2, 2, 2), 'small': (2, 2, 2, 2)}


@MODELS.register_module()
class RecMobileNetV3(BackboneBase):
    """PaddleOCR's recognition MobileNetV3 (``rec_mobilenet_v3``, the backbone of ``rec_mv3_none_bilstm_ctc``): the
    MobileNetV3 layers (built from torchvision's, ``width_mult=scale``) with the four stage strides turned into
    height-only strides ``(s, 1)``, then a 2 x 2 max-pool: a 32-pixel-high word becomes one row of
    ``W / 4`` columns (32 x 100 -> 1 x 25), as CRNN's CTC head expects.

    Args:
        model_name: ``'large'`` or ``'small'``.
        scale: width multiplier (PaddleOCR's ``scale``: 0.35, 0.5, 0.75, 1.0, 1.25).
        in_channels: 3 (colour) or 1 (grey: the stem conv takes one channel).
        strides: the four stage height strides (PaddleOCR's ``large_stride`` [1, 2, 2, 2] / ``small_stride``
            [2, 2, 2, 2]). With the small model's default the height is 1 before the pool; the pool
            (``ceil_mode``) then keeps it at 1.

    Forward: N x C x 32 x W -> N x out_channels[-1] x 1 x ceil(W / 4). ``out_channels = [C_last]`` (480 for
    large at scale 0.5, 288 for small).

    Weights: PaddlePaddle ``.pdparams`` files do not load; the layer names are torchvision's.
    """

    def __init__(self, model_name: str = 'large', scale: float = 0.5, in_channels: int = 3,
                 strides: Sequence[int] | None = None, init_cfg: dict | None = None) -> None:
        super().__init__()
        self.init_cfg = init_cfg
        import torchvision
        if model_name not in _REC_MV3_STAGES:
            raise ValueError(f"RecMobileNetV3: model_name must be 'large' or 'small', got {model_name!r}")
        strides = tuple(int(s) for s in (strides if strides is not None else _REC_MV3_DEFAULT_STRIDES[model_name]))
        if len(strides) != 4 or any(s not in (1, 2) for s in strides):
            raise ValueError(f'RecMobileNetV3: strides needs four values of 1 or 2, got {strides}')
        if in_channels not in (1, 3):
            raise ValueError(f'RecMobileNetV3: in_channels must be 1 or 3, got {in_channels}')
        build = torchvision.models.mobilenet_v3_large if model_name == 'large' else torchvision.models.mobilenet_v3_small
        features = build(weights=None, width_mult=float(scale)).features
        for idx, s in zip(_REC_MV3_STAGES[model_name], strides):
            self._set_stride(features[idx], (s, 1))
        for idx in _REC_MV3_STRIDE_ONE[model_name]:
            self._set_stride(features[idx], (1, 1))
        if in_channels == 1:
            stem = features[0][0]
            features[0][0] = nn.Conv2d(1, stem.out_channels, stem.kernel_size, stem.stride, stem.padding, bias=False)
        self.features = features
        self.pool = nn.MaxPool2d(2, 2, ceil_mode=True)
        self.out_channels = [features[-1].out_channels]
        self.strides = [4]
        self.model_name, self.scale = model_name, float(scale)

    @staticmethod
    def _set_stride(block: nn.Module, stride: tuple[int, int]) -> None:
        """Give the block's strided (or, for the stem, first) spatial conv the stride ``stride``."""
        for mod in block.modules():
            if isinstance(mod, nn.Conv2d) and mod.kernel_size != (1, 1):
                mod.stride = stride
                return
        raise RuntimeError(f'RecMobileNetV3: no spatial conv in {type(block).__name__}')

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pool(self.features(x))
