"""EncoderWithSVTR: PP-OCRv3 / v4's recognition neck (SVTR global mixing on a reduced CNN feature map)."""
from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from visioncraft.registry import MODELS

__all__ = ['EncoderWithSVTR', 'SVTRMixingBlock']


class _ConvBNSwish(nn.Sequential):
    def __init__(self, cin: int, cout: int, kernel_size: Sequence[int] | int) -> None:
        k = (kernel_size, kernel_size) if isinstance(kernel_size, int) else tuple(kernel_size)
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, k, padding=(k[0] // 2, k[1] // 2), bias=False)
        self.bn = nn.BatchNorm2d(cout)
        self.act = nn.SiLU()


class _Attention(nn.Module):
    """Multi-head self-attention over all tokens (SVTR's global mixer): one qkv linear, softmax(q k^T / sqrt(d)),
    an output projection."""

    def __init__(self, dim: int, num_heads: int, qkv_bias: bool = True, attn_drop: float = 0.0,
                 proj_drop: float = 0.0) -> None:
        super().__init__()
        if dim % num_heads:
            raise ValueError(f'EncoderWithSVTR: hidden_dims={dim} is not divisible by num_heads={num_heads}')
        self.num_heads, self.head_dim = num_heads, dim // num_heads
        self.qkv = nn.Linear(dim, dim * 3, bias=qkv_bias)
        self.attn_drop = nn.Dropout(attn_drop)
        self.proj = nn.Linear(dim, dim)
        self.proj_drop = nn.Dropout(proj_drop)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, t, c = x.shape
        qkv = self.qkv(x).reshape(n, t, 3, self.num_heads, self.head_dim).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0] * self.head_dim ** -0.5, qkv[1], qkv[2]
        attn = self.attn_drop((q @ k.transpose(-2, -1)).softmax(dim=-1))
        out = (attn @ v).transpose(1, 2).reshape(n, t, c)
        return self.proj_drop(self.proj(out))


class SVTRMixingBlock(nn.Module):
    """Pre-norm transformer block: ``x + attn(norm1(x))`` then ``x + mlp(norm2(x))`` (MLP: linear, SiLU, linear);
    LayerNorm eps 1e-5. Input / output N x T x ``dim``."""

    def __init__(self, dim: int, num_heads: int, mlp_ratio: float = 2.0, qkv_bias: bool = True, drop: float = 0.0,
                 attn_drop: float = 0.0) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=1e-5)
        self.mixer = _Attention(dim, num_heads, qkv_bias, attn_drop, drop)
        self.norm2 = nn.LayerNorm(dim, eps=1e-5)
        hidden = int(dim * mlp_ratio)
        self.fc1 = nn.Linear(dim, hidden)
        self.fc2 = nn.Linear(hidden, dim)
        self.drop = nn.Dropout(drop)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.mixer(self.norm1(x))
        return x + self.drop(self.fc2(self.drop(F.silu(self.fc1(self.norm2(x))))))


@MODELS.register_module()
class EncoderWithSVTR(nn.Module):
    """PaddleOCR's ``EncoderWithSVTR`` (``SequenceEncoder`` with ``encoder_type: svtr``), the neck of the PP-OCRv3 /
    v4 CTC recognisers.

    ``conv1`` (kxk, C -> C/8) and ``conv2`` (1x1 -> ``hidden_dims``), each conv-BN-SiLU, reduce the backbone
    map; ``depth`` :class:`SVTRMixingBlock` s mix all its positions (flattened H x W tokens) globally; a LayerNorm
    (eps 1e-6) and ``conv3`` (1x1 -> C) bring it back; the result is concatenated with the input and ``conv4``
    (kxk, 2C -> C/8) and ``conv1x1`` (1x1 -> ``dims``) give the output.

    Args:
        in_channels: backbone channels (PPLCNetV3 x0.95 rec: 480).
        dims: output channels (PP-OCRv4: 120).
        depth: mixing blocks (2).
        hidden_dims: token width (120).
        num_heads: attention heads (8).
        mlp_ratio: MLP hidden width / ``hidden_dims`` (2.0).
        kernel_size: ``conv1`` / ``conv4`` kernel (h, w) (PP-OCRv4: (1, 3); PaddleOCR's default (3, 3)).
        use_guide: stop the gradient at the input (PaddleOCR sets it when a second, attention head trains the
            backbone alongside CTC); with a CTC head alone keep it False, else the backbone never learns.
        drop_rate / attn_drop_rate: dropout in the blocks (PaddleOCR: 0.1 / 0.1).

    Input: N x ``in_channels`` x H x W (PPLCNetV3 rec: H = 1). Output: N x ``dims`` x H x W.
    """

    def __init__(self, in_channels: int, dims: int = 64, depth: int = 2, hidden_dims: int = 120,
                 num_heads: int = 8, mlp_ratio: float = 2.0, kernel_size: Sequence[int] = (3, 3),
                 use_guide: bool = False, qkv_bias: bool = True, drop_rate: float = 0.1,
                 attn_drop_rate: float = 0.1, init_cfg: dict | None = None) -> None:
        super().__init__()
        if in_channels % 8:
            raise ValueError(f'EncoderWithSVTR: in_channels must be a multiple of 8, got {in_channels}')
        self.use_guide = use_guide
        self.conv1 = _ConvBNSwish(in_channels, in_channels // 8, kernel_size)
        self.conv2 = _ConvBNSwish(in_channels // 8, hidden_dims, 1)
        self.svtr_block = nn.ModuleList(SVTRMixingBlock(hidden_dims, num_heads, mlp_ratio, qkv_bias, drop_rate,
                                                        attn_drop_rate) for _ in range(depth))
        self.norm = nn.LayerNorm(hidden_dims, eps=1e-6)
        self.conv3 = _ConvBNSwish(hidden_dims, in_channels, 1)
        self.conv4 = _ConvBNSwish(2 * in_channels, in_channels // 8, kernel_size)
        self.conv1x1 = _ConvBNSwish(in_channels // 8, dims, 1)
        self.out_channels = dims

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if isinstance(x, (list, tuple)):
            x = x[-1]
        h = x.detach() if self.use_guide else x
        z = self.conv2(self.conv1(h))
        n, c, hh, ww = z.shape
        z = z.flatten(2).transpose(1, 2)
        for blk in self.svtr_block:
            z = blk(z)
        z = self.norm(z).reshape(n, hh, ww, c).permute(0, 3, 1, 2)
        z = self.conv3(z)
        return self.conv1x1(self.conv4(torch.cat((h, z), dim=1)))
