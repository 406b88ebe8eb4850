"""Text-recognition backbones: MiniVGG (CRNN's VGG-style conv stack, MMOCR's ``MiniVGG``), ResNet31OCR (the
ResNet-31 of SAR / NRTR, MMOCR's ``ResNet31OCR``) and PaddleOCR's recognition MobileNetV3."""
from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence

import torch
from torch import nn

from visioncraft.models.backbones.base import BackboneBase
from visioncraft.registry import MODELS

__all__ = ['MiniVGG', 'OCRBasicBlock', 'RecMobileNetV3', 'ResNet31OCR']


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


class OCRBasicBlock(nn.Module):
    """A residual block of two 3x3 convs (no bias, stride 1), each followed by BatchNorm, ReLU after the first and
    after the sum; ``downsample`` (a 1x1 conv without bias + BatchNorm, as ``downsample.0`` / ``downsample.1``)
    matches the shortcut's channels when ``in_channels != out_channels``. MMOCR's ``BasicBlock`` names
    (``conv1``, ``bn1``, ``conv2``, ``bn2``, ``downsample``). N x in x H x W -> N x out x H x W."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, out_channels, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.conv2 = nn.Conv2d(out_channels, out_channels, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = None
        if in_channels != out_channels:
            self.downsample = nn.Sequential(nn.Conv2d(in_channels, out_channels, 1, 1, bias=False),
                                            nn.BatchNorm2d(out_channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shortcut = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + shortcut)


def _pair(v, what: str) -> tuple[int, int]:
    if isinstance(v, int):
        return (v, v)
    if isinstance(v, Sequence) and len(v) == 2 and all(isinstance(i, int) for i in v):
        return (int(v[0]), int(v[1]))
    raise ValueError(f'ResNet31OCR: stage4_pool_cfg.{what} must be an int or a (height, width) pair, got {v!r}')


@MODELS.register_module()
class ResNet31OCR(BackboneBase):
    """The 31-layer ResNet of SAR (Li et al., "Show, Attend and Read", AAAI 2019) as MMOCR's ``ResNet31OCR`` lays it
    out (NRTR's R31 configs use it), with MMOCR's parameter names so its checkpoints load unchanged.

    Layout: ``conv1_1`` (3x3, ``channels[0]``) and ``conv1_2`` (3x3, ``channels[1]``), each with BatchNorm + ReLU;
    then four stages i = 2..5, each ``pool{i}`` (max-pool, ``ceil_mode``) -> ``block{i}`` (``layers[i-2]``
    :class:`OCRBasicBlock` s) -> ``conv{i}`` (3x3) -> ``bn{i}`` -> ReLU, with ``channels[i]`` outputs. The pools:
    stages 2 and 3 halve height and width; stage 4 uses ``stage4_pool_cfg`` (default kernel / stride (2, 1): the
    height only); stage 5 halves both when ``last_stage_pool`` and has no pool otherwise. The non-block convs have a
    bias, the block convs none.

    Args (MMOCR's names and defaults):
        base_channels: image channels (3).
        layers: blocks per stage (``[1, 2, 5, 3]``).
        channels: output channels of conv1_1, conv1_2 and stages 2-5 (at least six values; MMOCR's default lists a
            seventh, unused).
        out_indices: None (return the last stage only) or indices into the four stage outputs (a tuple returned).
        stage4_pool_cfg: ``dict(kernel_size=..., stride=...)`` of stage 4's pool (ints or (h, w) pairs).
        last_stage_pool: add stage 5's 2x2 pool.

    Forward: float N x C x H x W -> N x channels[5] x H/hs x W/ws (ceil at each pool), hs = 4 * s4h * (2 if
    last_stage_pool), ws = 4 * s4w * (2 if last_stage_pool): 32 x 160 gives 2 x 20 with NRTR's
    ``last_stage_pool=True`` and 4 x 40 without. ``out_channels`` / ``strides`` (horizontal, input pixels per
    column) list the returned maps.
    """

    def __init__(self, base_channels: int = 3, layers: Sequence[int] = (1, 2, 5, 3),
                 channels: Sequence[int] = (64, 128, 256, 256, 512, 512, 512), out_indices: Sequence[int] | None = None,
                 stage4_pool_cfg: dict | None = None, last_stage_pool: bool = False,
                 init_cfg: dict | list | None = None) -> None:
        super().__init__()
        if not isinstance(base_channels, int) or base_channels < 1:
            raise ValueError(f'ResNet31OCR: base_channels must be a positive int, got {base_channels!r}')
        layers, channels = [int(v) for v in layers], [int(v) for v in channels]
        if len(layers) != 4 or min(layers) < 1:
            raise ValueError(f'ResNet31OCR: layers needs 4 positive block counts, got {layers}')
        if len(channels) < 6 or min(channels) < 1:
            raise ValueError(f'ResNet31OCR: channels needs at least 6 positive channel counts, got {channels}')
        if out_indices is not None:
            out_indices = [int(i) for i in out_indices]
            if not out_indices or any(not -4 <= i < 4 for i in out_indices):
                raise ValueError(f'ResNet31OCR: out_indices must index the 4 stages (0-3), got {out_indices}')
        pool_cfg = dict(kernel_size=(2, 1), stride=(2, 1)) if stage4_pool_cfg is None else dict(stage4_pool_cfg)
        unknown = set(pool_cfg) - {'kernel_size', 'stride'}
        if unknown or 'kernel_size' not in pool_cfg:
            raise ValueError(f'ResNet31OCR: stage4_pool_cfg takes kernel_size and stride, got {stage4_pool_cfg!r}')
        kernel4 = _pair(pool_cfg['kernel_size'], 'kernel_size')
        stride4 = _pair(pool_cfg.get('stride', kernel4), 'stride')
        self.out_indices, self.last_stage_pool = out_indices, bool(last_stage_pool)
        self.init_cfg = init_cfg

        self.conv1_1 = nn.Conv2d(base_channels, channels[0], 3, 1, 1)
        self.bn1_1 = nn.BatchNorm2d(channels[0])
        self.relu1_1 = nn.ReLU(inplace=True)
        self.conv1_2 = nn.Conv2d(channels[0], channels[1], 3, 1, 1)
        self.bn1_2 = nn.BatchNorm2d(channels[1])
        self.relu1_2 = nn.ReLU(inplace=True)
        pools = {2: nn.MaxPool2d(2, 2, 0, ceil_mode=True), 3: nn.MaxPool2d(2, 2, 0, ceil_mode=True),
                 4: nn.MaxPool2d(kernel4, stride4, 0, ceil_mode=True),
                 5: nn.MaxPool2d(2, 2, 0, ceil_mode=True) if self.last_stage_pool else None}
        stage_strides = {2: 2, 3: 2, 4: stride4[1], 5: 2 if self.last_stage_pool else 1}
        stage_channels, stage_stride, stride, cin = [], [], 1, channels[1]
        for i in range(2, 6):
            cout = channels[i]
            setattr(self, f'pool{i}', pools[i])
            blocks = []
            for _ in range(layers[i - 2]):
                blocks.append(OCRBasicBlock(cin, cout))
                cin = cout
            setattr(self, f'block{i}', nn.Sequential(*blocks))
            setattr(self, f'conv{i}', nn.Conv2d(cout, cout, 3, 1, 1))
            setattr(self, f'bn{i}', nn.BatchNorm2d(cout))
            setattr(self, f'relu{i}', nn.ReLU(inplace=True))
            stride *= stage_strides[i]
            stage_channels.append(cout)
            stage_stride.append(stride)
        picked = out_indices if out_indices is not None else [3]
        self.out_channels = [stage_channels[i] for i in picked]
        self.strides = [stage_stride[i] for i in picked]
        self.input_channels = base_channels

    def init_weights(self) -> None:
        """MMOCR's default init: Kaiming-normal convs (fan_out, ReLU; zero bias), BatchNorm weights uniform in
        [0, 1) and zero bias."""
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode='fan_out', nonlinearity='relu')
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.uniform_(m.weight, 0.0, 1.0)
                nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor | tuple[torch.Tensor, ...]:
        if x.dim() != 4 or x.shape[1] != self.input_channels:
            raise ValueError(f'ResNet31OCR: expected N x {self.input_channels} x H x W images '
                             f'(base_channels={self.input_channels}), got shape {tuple(x.shape)}')
        x = self.relu1_1(self.bn1_1(self.conv1_1(x)))
        x = self.relu1_2(self.bn1_2(self.conv1_2(x)))
        outs = []
        for i in range(2, 6):
            pool = getattr(self, f'pool{i}')
            if pool is not None:
                x = pool(x)
            x = getattr(self, f'block{i}')(x)
            x = getattr(self, f'relu{i}')(getattr(self, f'bn{i}')(getattr(self, f'conv{i}')(x)))
            outs.append(x)
        if self.out_indices is None:
            return x
        return tuple(outs[i] for i in self.out_indices)


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
