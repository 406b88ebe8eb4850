"""SVTR (Du et al., "SVTR: Scene Text Recognition with a Single Visual Model", IJCAI 2022): a pure transformer
recogniser. An overlapping patch embedding cuts the word image into stride-4 tokens; stages of mixing blocks
(local mixing: attention inside a window around each token; global mixing: attention over all tokens) with a
height-halving merge between stages; a combining layer pools the height away and leaves one feature per column,
which a linear CTC head reads as a character sequence.
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from visioncraft.registry import MODELS

__all__ = ['SVTREncoder', 'local_mixing_mask']


def local_mixing_mask(h: int, w: int, window: tuple[int, int], device=None) -> torch.Tensor:
    """Additive attention mask (``h*w`` x ``h*w`` float) for local mixing: token ``(i, j)`` attends to the tokens
    ``(k, l)`` with ``|k - i| <= window[0] // 2`` and ``|l - j| <= window[1] // 2`` (0), and not to the others
    (``-inf``). Tokens are numbered row-major."""
    ys = torch.arange(h, device=device).repeat_interleave(w)
    xs = torch.arange(w, device=device).repeat(h)
    near = ((ys[:, None] - ys[None, :]).abs() <= window[0] // 2) & ((xs[:, None] - xs[None, :]).abs() <= window[1] // 2)
    mask = torch.zeros(h * w, h * w, device=device)
    return mask.masked_fill_(~near, float('-inf'))


class _ConvBNAct(nn.Sequential):
    def __init__(self, cin: int, cout: int, stride, act: bool = True) -> None:
        super().__init__(nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout),
                         nn.GELU() if act else nn.Identity())


class _Attention(nn.Module):
    def __init__(self, dim: int, heads: int, qkv_bias: bool, attn_drop: float, proj_drop: float) -> None:
        super().__init__()
        if dim % heads:
            raise ValueError(f'SVTREncoder: embed dim {dim} is not divisible by {heads} heads')
        self.heads = heads
        self.qkv = nn.Linear(dim, dim * 3, bias=qkv_bias)
        self.proj = nn.Linear(dim, dim)
        self.attn_drop, self.proj_drop = attn_drop, nn.Dropout(proj_drop)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        n, t, c = x.shape
        q, k, v = self.qkv(x).reshape(n, t, 3, self.heads, c // self.heads).permute(2, 0, 3, 1, 4)
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask,
                                           dropout_p=self.attn_drop if self.training else 0.0)
        return self.proj_drop(self.proj(y.transpose(1, 2).reshape(n, t, c)))


class _MixingBlock(nn.Module):
    """Post-norm transformer block (SVTR's default): ``x = norm1(x + mix(x)); x = norm2(x + mlp(x))``."""

    def __init__(self, dim: int, heads: int, mixer: str, mlp_ratio: float, qkv_bias: bool, drop: float,
                 attn_drop: float, drop_path: float) -> None:
        super().__init__()
        self.mixer = mixer
        self.attn = _Attention(dim, heads, qkv_bias, attn_drop, drop)
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        hidden = int(dim * mlp_ratio)
        self.mlp = nn.Sequential(nn.Linear(dim, hidden), nn.GELU(), nn.Dropout(drop), nn.Linear(hidden, dim),
                                 nn.Dropout(drop))
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.drop_path = drop_path

    def _dp(self, y: torch.Tensor) -> torch.Tensor:  # stochastic depth: drop the residual branch per sample
        if not self.training or self.drop_path == 0.0:
            return y
        keep = torch.rand(y.shape[0], 1, 1, device=y.device) >= self.drop_path
        return y * keep / (1.0 - self.drop_path)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        x = self.norm1(x + self._dp(self.attn(x, mask if self.mixer == 'Local' else None)))
        return self.norm2(x + self._dp(self.mlp(x)))


@MODELS.register_module()
class SVTREncoder(nn.Module):
    """SVTR backbone + encoder: word image -> one feature per stride-4 column.

    Args:
        img_size: (H, W) the positional embedding is made for (SVTR: 32 x 100). Other widths (and heights that are
            multiples of 4 * 2 ** (stages - 1)) work: the embedding is resized bilinearly.
        in_channels: image channels.
        embed_dims: token width of each stage (SVTR-Tiny: 64, 128, 256).
        depth: mixing blocks per stage (Tiny: 3, 6, 3).
        num_heads: attention heads per stage (Tiny: 2, 4, 8).
        mixer_types: ``'Local'`` or ``'Global'`` for every block, in order (Tiny: 6 x Local then 6 x Global).
        window_size: local-mixing window (height, width) in tokens (7, 11), or one per stage (MMOCR:
            ``[[7, 11], [7, 11], [7, 11]]``).
        merging_types: ``'Conv'`` (3x3 conv, stride (2, 1)) between stages.
        mlp_ratio, qkv_bias, drop_rate, attn_drop_rate, drop_path_rate: the usual transformer settings (drop path
            grows linearly from 0 to ``drop_path_rate`` over the blocks).
        out_channels: width of the combined column features (192); ``self.out_channels`` is ``[out_channels]``.
        max_seq_len: None: one feature per stride-4 column (W / 4: 25 for a 100-pixel-wide input). An int
            (MMOCR's): the columns are average-pooled to exactly that many features (MMOCR's ``AdaptiveAvgPool2d(
            (1, max_seq_len))``; the same when W / 4 equals it).
        prenorm: MMOCR's flag; only False (post-norm blocks, SVTR's default) is supported.

    Forward: float N x C x H x W (normalised) -> N x W/4 x ``out_channels`` column features, left to right.

    As a recogniser: ``dict(type='EncoderDecoderRecognizer', backbone=dict(type='SVTREncoder', ...),
    decoder=dict(type='CTCHead', codec=...))`` (see configs/textrecog/svtr/).
    """

    def __init__(self, img_size: Sequence[int] = (32, 100), in_channels: int = 3,
                 embed_dims: Sequence[int] = (64, 128, 256), depth: Sequence[int] = (3, 6, 3),
                 num_heads: Sequence[int] = (2, 4, 8), mixer_types: Sequence[str] | None = None,
                 window_size: Sequence[int] = (7, 11), merging_types: str = 'Conv', mlp_ratio: float = 4.0,
                 qkv_bias: bool = True, drop_rate: float = 0.0, attn_drop_rate: float = 0.0,
                 drop_path_rate: float = 0.1, out_channels: int = 192, max_seq_len: int | None = None,
                 prenorm: bool = False, init_cfg: dict | None = None) -> None:
        super().__init__()
        if prenorm:
            raise ValueError('SVTREncoder: prenorm=True (pre-norm mixing blocks) is not supported; use prenorm=False '
                             "(SVTR's post-norm blocks, MMOCR's default)")
        if max_seq_len is not None and int(max_seq_len) < 1:
            raise ValueError(f'SVTREncoder: max_seq_len must be None or >= 1, got {max_seq_len}')
        self.max_seq_len = None if max_seq_len is None else int(max_seq_len)
        stages = len(embed_dims)
        if not (len(depth) == len(num_heads) == stages):
            raise ValueError(f'SVTREncoder: embed_dims, depth and num_heads need one entry per stage, got '
                             f'{list(embed_dims)}, {list(depth)}, {list(num_heads)}')
        total = sum(depth)
        mixer_types = list(mixer_types) if mixer_types is not None else ['Local'] * (total // 2) + \
            ['Global'] * (total - total // 2)
        if len(mixer_types) != total or set(mixer_types) - {'Local', 'Global'}:
            raise ValueError(f"SVTREncoder: mixer_types needs {total} entries of 'Local'/'Global', got {mixer_types}")
        if merging_types != 'Conv':
            raise ValueError(f"SVTREncoder: merging_types must be 'Conv', got {merging_types!r}")
        self.img_size = tuple(int(s) for s in img_size)
        if isinstance(window_size[0], (list, tuple)):
            if len(window_size) != stages:
                raise ValueError(f'SVTREncoder: window_size needs one (h, w) per stage ({stages}), got '
                                 f'{list(window_size)}')
            self.window_sizes = [(int(ws[0]), int(ws[1])) for ws in window_size]
        else:
            self.window_sizes = [(int(window_size[0]), int(window_size[1]))] * stages
        self.window_size = self.window_sizes[0]
        self.patch_embed = nn.Sequential(_ConvBNAct(in_channels, embed_dims[0] // 2, 2),
                                         _ConvBNAct(embed_dims[0] // 2, embed_dims[0], 2))
        gh, gw = self.img_size[0] // 4, self.img_size[1] // 4
        self.pos_embed = nn.Parameter(torch.zeros(1, embed_dims[0], gh, gw))
        nn.init.trunc_normal_(self.pos_embed, std=0.02)
        self.pos_drop = nn.Dropout(drop_rate)
        rates = torch.linspace(0, drop_path_rate, total).tolist()
        self.stages = nn.ModuleList()
        self.merges = nn.ModuleList()
        b = 0
        for i in range(stages):
            self.stages.append(nn.ModuleList(
                _MixingBlock(embed_dims[i], num_heads[i], mixer_types[b + j], mlp_ratio, qkv_bias, drop_rate,
                             attn_drop_rate, rates[b + j]) for j in range(depth[i])))
            b += depth[i]
            if i + 1 < stages:
                self.merges.append(nn.ModuleDict(dict(
                    conv=nn.Conv2d(embed_dims[i], embed_dims[i + 1], 3, (2, 1), 1),
                    norm=nn.LayerNorm(embed_dims[i + 1], eps=1e-6))))
        self.combine = nn.Sequential(nn.Linear(embed_dims[-1], out_channels, bias=False), nn.Hardswish(),
                                     nn.Dropout(0.1))
        self.out_channels = [out_channels]  # a list, like the backbones' (the recogniser sizes its head from [-1])
        self.height_stride = 4 * 2 ** (stages - 1)
        self.apply(self._init)

    @staticmethod
    def _init(m: nn.Module) -> None:
        if isinstance(m, nn.Linear):
            nn.init.trunc_normal_(m.weight, std=0.02)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.LayerNorm):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[-2] % self.height_stride or x.shape[-1] % 4:
            raise ValueError(f'SVTREncoder: input height must be a multiple of {self.height_stride} and width a '
                             f'multiple of 4, got {tuple(x.shape[-2:])}')
        x = self.patch_embed(x)
        pos = self.pos_embed
        if pos.shape[-2:] != x.shape[-2:]:
            pos = F.interpolate(pos, size=x.shape[-2:], mode='bilinear', align_corners=False)
        x = self.pos_drop(x + pos)
        n, c, h, w = x.shape
        tokens = x.flatten(2).transpose(1, 2)  # N x (h*w) x c, row-major
        for i, blocks in enumerate(self.stages):
            mask = None
            if any(blk.mixer == 'Local' for blk in blocks):
                mask = local_mixing_mask(h, w, self.window_sizes[i], tokens.device).to(tokens.dtype)
            for blk in blocks:
                tokens = blk(tokens, mask)
            if i < len(self.merges):
                merge = self.merges[i]
                x = merge['conv'](tokens.transpose(1, 2).reshape(n, -1, h, w))
                h, w = x.shape[-2:]
                tokens = merge['norm'](x.flatten(2).transpose(1, 2))
        if self.max_seq_len is not None and w != self.max_seq_len:  # MMOCR: pool to max_seq_len columns
            grid = F.adaptive_avg_pool2d(tokens.reshape(n, h, w, -1).permute(0, 3, 1, 2), (1, self.max_seq_len))
            return self.combine(grid.flatten(2).transpose(1, 2))
        cols = tokens.reshape(n, h, w, -1).mean(dim=1)  # pool the height away: N x w x C
        return self.combine(cols)
