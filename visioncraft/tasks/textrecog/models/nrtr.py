"""NRTR (Sheng et al., "NRTR: A No-Recurrence Sequence-to-Sequence Model for Scene Text Recognition", ICDAR 2019):
a two-conv "modality transform" turns the word image into a sequence of column features, a transformer encoder
contextualises them and :class:`~visioncraft.tasks.textrecog.models.NRTRDecoder` reads the characters one by one.
MMOCR's names: ``NRTRModalityTransform``, ``NRTREncoder``, ``NRTR``.
"""
from __future__ import annotations

import torch
from torch import nn

from visioncraft.registry import MODELS

from .nrtr_decoder import MultiHeadAttention, PositionwiseFeedForward, attention_memory, sinusoid_table
from .recognizer import EncoderDecoderRecognizer

__all__ = ['NRTR', 'NRTREncoder', 'NRTRModalityTransform', 'TFEncoderLayer']


@MODELS.register_module()
class NRTRModalityTransform(nn.Module):
    """Two stride-2 3x3 convs (32 and 64 channels, each ReLU then BatchNorm) and a linear layer over each column's
    ``64 * H / 4`` values, read row by row (the 64 channels of the top row first, MMOCR's order).

    Args:
        in_channels: image channels. input_height: the image height the linear layer is built for (32).
        out_channels: width of each column feature (512 for H = 32, MMOCR's).
        init_cfg: unused (MMOCR's argument; ``init_detector`` sets it to None to skip pretrained downloads,
            so it must be accepted).

    Forward: float N x C x H x W -> N x out_channels x 1 x ceil(W / 4). ``out_channels`` is ``[out_channels]``.
    """

    def __init__(self, in_channels: int = 3, input_height: int = 32, out_channels: int = 512,
                 init_cfg: dict | None = None) -> None:
        super().__init__()
        self.conv_1 = nn.Conv2d(in_channels, 32, 3, 2, 1)
        self.bn_1 = nn.BatchNorm2d(32)
        self.conv_2 = nn.Conv2d(32, 64, 3, 2, 1)
        self.bn_2 = nn.BatchNorm2d(64)
        self.input_height = int(input_height)
        self.linear = nn.Linear(64 * ((self.input_height + 3) // 4), out_channels)
        self.out_channels = [out_channels]
        for m in (self.conv_1, self.conv_2):
            nn.init.kaiming_normal_(m.weight, mode='fan_out', nonlinearity='relu')

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[-2] != self.input_height:
            raise ValueError(f'NRTRModalityTransform: built for {self.input_height}-pixel-high images, got height '
                             f'{x.shape[-2]} (resize with RescaleToHeight(height={self.input_height}))')
        x = self.bn_1(torch.relu(self.conv_1(x)))
        x = self.bn_2(torch.relu(self.conv_2(x)))
        n, c, h, w = x.shape
        cols = self.linear(x.permute(0, 3, 2, 1).reshape(n, w, h * c))   # N x W x out
        return cols.transpose(1, 2)[:, :, None, :]


class TFEncoderLayer(nn.Module):
    """MMOCR's ``TFEncoderLayer`` in its default (pre-norm) order: ``x + attn(norm1(x))``, ``x + mlp(norm2(x))``."""

    def __init__(self, d_model: int, d_inner: int, n_head: int, d_k: int, d_v: int, dropout: float,
                 qkv_bias: bool = False, act_cfg: dict | None = None) -> None:
        super().__init__()
        self.attn = MultiHeadAttention(d_model, n_head, d_k, d_v, dropout, qkv_bias)
        self.norm1 = nn.LayerNorm(d_model)
        self.mlp = PositionwiseFeedForward(d_model, d_inner, dropout, act_cfg)
        self.norm2 = nn.LayerNorm(d_model)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        h = self.norm1(x)
        x = x + self.attn(h, *self.attn.keys_values(h), mask=mask)
        return x + self.mlp(self.norm2(x))


@MODELS.register_module()
class NRTREncoder(nn.Module):
    """MMOCR's NRTR encoder: pre-norm transformer layers (:class:`TFEncoderLayer`, in ``layer_stack``) over the
    features, then a LayerNorm; the right padding of narrower images (``valid_fracs``) is kept out of the
    attention (of an H x W map, MMOCR's way: the first ``ceil(valid_frac * H * W)`` row-major positions).

    Args (MMOCR's names): n_layers, n_head, d_k, d_v, d_model, d_inner, dropout; and ours: in_channels (filled by
    the recogniser; projected to ``d_model`` when different), qkv_bias / act_cfg (MMOCR: no attention biases,
    GELU), pos_encoding (add sinusoidal position encodings to the input, as the NRTR paper does; MMOCR's encoder,
    the default here, has none, which leaves column order to the convolutions' borders), n_position.

    Forward: N x C x H x W feature map (flattened row-major) or N x T x C -> N x T x d_model.
    ``out_channels = d_model``.
    """

    #: the recogniser passes the valid (unpadded) share of each image to forward
    takes_valid_fracs = True

    def __init__(self, in_channels: int | None = None, n_layers: int = 6, n_head: int = 8, d_k: int = 64,
                 d_v: int = 64, d_model: int = 512, d_inner: int = 256, dropout: float = 0.1,
                 qkv_bias: bool = False, act_cfg: dict | None = None, pos_encoding: bool = False,
                 n_position: int = 1024, init_cfg: dict | None = None) -> None:
        super().__init__()
        if min(n_layers, n_head, d_k, d_v, d_model, d_inner) < 1:
            raise ValueError('NRTREncoder: n_layers, n_head, d_k, d_v, d_model and d_inner must be >= 1')
        self.in_proj = nn.Linear(in_channels, d_model) if in_channels not in (None, d_model) else nn.Identity()
        self.layer_stack = nn.ModuleList(TFEncoderLayer(d_model, d_inner, n_head, d_k, d_v, dropout, qkv_bias,
                                                        act_cfg) for _ in range(n_layers))
        self.layer_norm = nn.LayerNorm(d_model)
        self.register_buffer('position_table', sinusoid_table(n_position, d_model) if pos_encoding else None,
                             persistent=False)
        self.in_channels, self.out_channels = in_channels, d_model

    def forward(self, feat: torch.Tensor, valid_fracs=None) -> torch.Tensor:
        if feat.dim() == 4:
            # MMOCR's order, which its checkpoints were trained with (and which the decoder's memory mask uses):
            # the map flattened row by row, then the first ceil(valid_frac * H * W) positions kept. For a one-row
            # map (NRTRModalityTransform) these are the unpadded columns; for ResNet31OCR's 2- or 4-row maps the
            # top rows are kept first.
            feat = feat.flatten(2).transpose(1, 2)
        x, keep = attention_memory(feat, valid_fracs, 'NRTREncoder')
        x = self.in_proj(x)
        if self.position_table is not None:
            if x.shape[1] > len(self.position_table):
                raise ValueError(f'NRTREncoder: {x.shape[1]} positions but n_position={len(self.position_table)}')
            x = x + self.position_table[:x.shape[1]]
        for layer in self.layer_stack:
            x = layer(x, keep)
        return self.layer_norm(x)


@MODELS.register_module()
class NRTR(EncoderDecoderRecognizer):
    """NRTR: ``NRTRModalityTransform`` -> ``NRTREncoder`` -> ``NRTRDecoder`` (MMOCR's defaults: 12 encoder and 6
    decoder layers of width 512; see configs/textrecog/nrtr/). ``decoder`` is required (it holds the codec)."""

    def __init__(self, *, decoder: dict | nn.Module, backbone: dict | nn.Module | None = None,
                 encoder: dict | nn.Module | None = None, data_preprocessor: dict | nn.Module | None = None,
                 init_cfg: dict | None = None) -> None:
        super().__init__(backbone=backbone if backbone is not None else dict(type='NRTRModalityTransform'),
                         encoder=encoder if encoder is not None else dict(type='NRTREncoder', n_layers=12),
                         decoder=decoder, data_preprocessor=data_preprocessor, init_cfg=init_cfg)
