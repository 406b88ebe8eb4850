"""SVTR (Du et al., "SVTR: Scene Text Recognition with a Single Visual Model", IJCAI 2022): a pure transformer
recogniser. An overlapping patch embedding cuts the word image into stride-4 tokens; stages of mixing blocks
(local mixing: attention inside a window around each token; global mixing: attention over all tokens) with a
height-halving merge between stages; a combining layer pools the height away and leaves one feature per column,
which a linear CTC head reads as a character sequence.

The parameter and buffer names and shapes are MMOCR's ``SVTREncoder``'s (``patch_embed.net.ConvModule<i>``,
``absolute_pos_embed`` (1 x tokens x C), ``blocks<s>.<i>.{norm1,mixer,norm2,mlp}``, ``downsample<s>``,
``layer_norm``, ``last_conv`` (a 1x1 conv), and each local mixer's ``mask`` buffer), so MMOCR's checkpoints load as
they are.
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
    ``(k, l)`` with ``-(window[0] // 2) <= k - i < window[0] - window[0] // 2`` (the same for columns with
    ``window[1]``; for odd windows ``|k - i| <= window[0] // 2``) (0), and not to the others (``-inf``). Tokens are
    numbered row-major."""
    ys = torch.arange(h, device=device).repeat_interleave(w)
    xs = torch.arange(w, device=device).repeat(h)
    dy, dx = ys[None, :] - ys[:, None], xs[None, :] - xs[:, None]
    hk, wk = window
    near = (dy >= -(hk // 2)) & (dy < hk - hk // 2) & (dx >= -(wk // 2)) & (dx < wk - wk // 2)
    mask = torch.zeros(h * w, h * w, device=device)
    return mask.masked_fill_(~near, float('-inf'))


def _pool_to_columns(grid: torch.Tensor, columns: int | None) -> torch.Tensor:
    """``F.adaptive_avg_pool2d(grid, (1, columns or W))`` as the ONNX graph writes it (the exporter refuses adaptive
    pooling of a map whose size it cannot see, which is every map here, the width being dynamic): the mean over the
    height, then each output column the mean of its adaptive bin ``[floor(i W / T), ceil((i + 1) W / T))``, as a
    product with the N-independent W x T matrix of bin weights built from the traced width."""
    rows = grid.mean(2, keepdim=True)  # N x C x 1 x W
    if columns is None:
        return rows
    w = grid.shape[3]
    w = w if isinstance(w, torch.Tensor) else torch.tensor(w)
    i = torch.arange(columns, device=grid.device)
    start, end = torch.div(i * w, columns, rounding_mode='floor'), torch.div((i + 1) * w + columns - 1, columns,
                                                                             rounding_mode='floor')
    j = torch.arange(grid.shape[3], device=grid.device)[:, None]
    weights = ((j >= start) & (j < end)).to(grid.dtype) / (end - start).to(grid.dtype)  # W x T
    return rows @ weights


class _ConvBNAct(nn.Module):
    """3x3 conv (stride 2; no bias as MMOCR's, a bias as PaddleOCR's) -> BatchNorm -> GELU, with MMOCR's ConvModule
    names (``conv``, ``bn``)."""

    def __init__(self, cin: int, cout: int, bias: bool = False) -> None:
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, 3, 2, 1, bias=bias)
        self.bn = nn.BatchNorm2d(cout)
        self.activate = nn.GELU()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.activate(self.bn(self.conv(x)))


class _PatchEmbed(nn.Module):
    """``num_layers`` stride-2 conv layers (``net.ConvModule0`` ...), widths ``embed_dims / 2 ** (left)``."""

    def __init__(self, in_channels: int, embed_dims: int, num_layers: int, bias: bool = False) -> None:
        super().__init__()
        self.net = nn.Sequential()
        cin = in_channels
        for i in range(num_layers):
            cout = embed_dims // 2 ** (num_layers - 1 - i)
            self.net.add_module(f'ConvModule{i}', _ConvBNAct(cin, cout, bias))
            cin = cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class _AttnMixer(nn.Module):
    """Multi-head self-attention over the tokens; ``'Local'`` adds the window mask (the ``mask`` buffer, 1 x 1 x
    T x T, made for the token grid of ``img_size``; other grids get a mask made on the fly)."""

    def __init__(self, dim: int, heads: int, mixer: str, grid: tuple[int, int], window: tuple[int, int],
                 qkv_bias: bool, qk_scale: float | None, attn_drop: float, proj_drop: float) -> None:
        super().__init__()
        if dim % heads:
            raise ValueError(f'SVTREncoder: embed dim {dim} is not divisible by {heads} heads')
        self.heads, self.kind, self.grid, self.window = heads, mixer, grid, window
        self.scale = qk_scale
        self.qkv = nn.Linear(dim, dim * 3, bias=qkv_bias)
        self.proj = nn.Linear(dim, dim)
        self.attn_drop, self.proj_drop = attn_drop, nn.Dropout(proj_drop)
        if mixer == 'Local':
            self.register_buffer('mask', local_mixing_mask(*grid, window)[None, None])

    def forward(self, x: torch.Tensor, grid: tuple[int, int]) -> torch.Tensor:
        n, t, c = x.shape
        q, k, v = self.qkv(x).reshape(n, t, 3, self.heads, c // self.heads).permute(2, 0, 3, 1, 4)
        mask = None
        if self.kind == 'Local':
            mask = self.mask if tuple(grid) == self.grid else local_mixing_mask(*grid, self.window, x.device)
            mask = mask.to(q.dtype)
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, scale=self.scale,
                                           dropout_p=self.attn_drop if self.training else 0.0)
        return self.proj_drop(self.proj(y.transpose(1, 2).reshape(n, t, c)))


class _ConvMixer(nn.Module):
    """MMOCR's ``'Conv'`` mixer: a grouped (one group per head) conv of the window size over the token grid."""

    def __init__(self, dim: int, heads: int, window: tuple[int, int]) -> None:
        super().__init__()
        self.local_mixer = nn.Conv2d(dim, dim, window, 1, (window[0] // 2, window[1] // 2), groups=heads)

    def forward(self, x: torch.Tensor, grid: tuple[int, int]) -> torch.Tensor:
        n, t, c = x.shape
        y = self.local_mixer(x.transpose(1, 2).reshape(n, c, *grid))
        return y.flatten(2).transpose(1, 2)


class _Mlp(nn.Module):
    def __init__(self, dim: int, hidden: int, drop: float) -> None:
        super().__init__()
        self.fc1, self.act, self.fc2, self.drop = nn.Linear(dim, hidden), nn.GELU(), nn.Linear(hidden, dim), \
            nn.Dropout(drop)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.drop(self.fc2(self.drop(self.act(self.fc1(x)))))


class _MixingBlock(nn.Module):
    """A mixing block. ``prenorm=True`` (MMOCR's and PaddleOCR's flag name; SVTR's default): the norm follows the
    residual sum, ``x = norm1(x + mix(x)); x = norm2(x + mlp(x))``. ``prenorm=False``: the norm comes first,
    ``x = x + mix(norm1(x)); x = x + mlp(norm2(x))``."""

    def __init__(self, dim: int, heads: int, mixer: str, grid: tuple[int, int], window: tuple[int, int],
                 mlp_ratio: float, qkv_bias: bool, qk_scale: float | None, drop: float, attn_drop: float,
                 drop_path: float, prenorm: bool) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=1e-6)
        if mixer == 'Conv':
            self.mixer = _ConvMixer(dim, heads, window)
        else:
            self.mixer = _AttnMixer(dim, heads, mixer, grid, window, qkv_bias, qk_scale, attn_drop, drop)
        self.norm2 = nn.LayerNorm(dim, eps=1e-6)
        self.mlp = _Mlp(dim, int(dim * mlp_ratio), drop)
        self.drop_path, self.prenorm = float(drop_path), prenorm

    def _dp(self, y: torch.Tensor) -> torch.Tensor:  # stochastic depth: drop the residual branch per sample
        if not self.training or self.drop_path == 0.0:
            return y
        keep = torch.rand(y.shape[0], 1, 1, device=y.device) >= self.drop_path
        return y * keep / (1.0 - self.drop_path)

    def forward(self, x: torch.Tensor, grid: tuple[int, int]) -> torch.Tensor:
        if self.prenorm:
            x = self.norm1(x + self._dp(self.mixer(x, grid)))
            return self.norm2(x + self._dp(self.mlp(x)))
        x = x + self._dp(self.mixer(self.norm1(x), grid))
        return x + self._dp(self.mlp(self.norm2(x)))


class _Merging(nn.Module):
    """Between stages: halve the token grid's height (``'Conv'``: 3x3 conv, stride (2, 1); ``'Pool'``: the mean of
    a 3x5 average and max pool, stride (2, 1), then a linear ``proj``) and LayerNorm (``norm``). The average pool
    counts the zero padding (MMOCR's) or not (``pool_exclude_pad``: PaddleOCR's ``AvgPool2D`` default)."""

    def __init__(self, cin: int, cout: int, kind: str, pool_exclude_pad: bool = False) -> None:
        super().__init__()
        self.kind = kind
        if kind == 'Pool':
            self.avgpool = nn.AvgPool2d((3, 5), (2, 1), (1, 2), count_include_pad=not pool_exclude_pad)
            self.maxpool = nn.MaxPool2d((3, 5), (2, 1), (1, 2))
            self.proj = nn.Linear(cin, cout)
        else:
            self.conv = nn.Conv2d(cin, cout, 3, (2, 1), 1)
        self.norm = nn.LayerNorm(cout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # N x C x h x w -> N x (h/2 * w) x C', h/2
        if self.kind == 'Pool':
            x = (self.avgpool(x) + self.maxpool(x)) * 0.5
            h = x.shape[2]
            return self.norm(self.proj(x.flatten(2).transpose(1, 2))), h
        x = self.conv(x)
        return self.norm(x.flatten(2).transpose(1, 2)), x.shape[2]


@MODELS.register_module()
class SVTREncoder(nn.Module):
    """SVTR backbone + encoder: word image -> one feature per stride-4 column (MMOCR's ``SVTREncoder``).

    Args (MMOCR's):
        img_size: (H, W) the positional embedding and the local-mixing masks are made for (SVTR: 32 x 100). Other
            sizes work too (the embedding is resized bilinearly, the masks are made on the fly); the height must
            be a multiple of ``2 ** num_layers * 2 ** (stages - 1)`` and the width of ``2 ** num_layers``.
        in_channels: image channels.
        embed_dims: token width of each stage (SVTR-Tiny: 64, 128, 256); any number of stages (MMOCR: 3).
        depth: mixing blocks per stage (Tiny: 3, 6, 3).
        num_heads: attention heads per stage (Tiny: 2, 4, 8).
        mixer_types: ``'Local'``, ``'Global'`` or ``'Conv'`` for every block, in order (default: the first half
            local, the rest global; Tiny: 6 x Local then 6 x Global).
        window_size: local-mixing window (height, width) in tokens, one for all stages (7, 11) or one per stage
            (MMOCR: ``[[7, 11], [7, 11], [7, 11]]``).
        merging_types: ``'Conv'`` or ``'Pool'``: the height-halving merge between stages.
        mlp_ratio, qkv_bias, qk_scale (None: head_dim ** -0.5), drop_rate, attn_drop_rate, drop_path_rate: the usual
            transformer settings (drop path grows linearly from 0 to ``drop_path_rate`` over the blocks).
        last_drop: dropout after the combining layer (0.1).
        out_channels: width of the combined column features (192); ``self.out_channels`` is ``[out_channels]``.
        max_seq_len: None: one feature per token column (W / 4: 25 for a 100-pixel-wide input). An int (MMOCR's
            configs: 25): the columns are average-pooled to exactly that many features (MMOCR's
            ``AdaptiveAvgPool2d((1, max_seq_len))``; the same when W / 4 equals it). MMOCR's default is 25.
        num_layers: stride-2 convolutions in the patch embedding (2 or 3).
        prenorm: MMOCR's flag: True (its default, SVTR's post-norm blocks ``norm(x + f(x))``) or False (pre-norm
            blocks ``x + f(norm(x))`` and a final ``layer_norm``; MMOCR's SVTR configs).
        patch_bias: the patch embedding's convolutions have a bias (PaddleOCR's SVTRNet: True; MMOCR's: False).
        pool_exclude_pad: ``'Pool'`` merging averages over the window's pixels inside the map only (PaddleOCR's
            SVTRNet: True) or over the whole window, padding zeros included (MMOCR's: False).
        last_drop_mode: how the dropout after the combining layer scales: ``'upscale_in_train'`` (MMOCR's, torch's
            ``nn.Dropout``: kept values / (1 - p) in training, identity at inference) or ``'downscale_in_infer'``
            (PaddleOCR's SVTRNet: kept values as they are in training, everything x (1 - p) at inference).

    Forward: float N x C x H x W (normalised) -> N x T x ``out_channels`` column features, left to right.

    As MMOCR writes it: ``dict(type='SVTR', preprocessor=dict(type='STN', ...), encoder=dict(type='SVTREncoder',
    ...), decoder=dict(type='SVTRDecoder', ...))`` (see configs/textrecog/svtr/); it also serves as the backbone
    of an ``EncoderDecoderRecognizer`` with a ``CTCHead`` or an attention decoder.
    """

    def __init__(self, img_size: Sequence[int] = (32, 100), in_channels: int = 3,
                 embed_dims: Sequence[int] = (64, 128, 256), depth: Sequence[int] = (3, 6, 3),
                 num_heads: Sequence[int] = (2, 4, 8), mixer_types: Sequence[str] | None = None,
                 window_size: Sequence = (7, 11), merging_types: str = 'Conv', mlp_ratio: float = 4.0,
                 qkv_bias: bool = True, qk_scale: float | None = None, drop_rate: float = 0.0,
                 last_drop: float = 0.1, attn_drop_rate: float = 0.0, drop_path_rate: float = 0.1,
                 out_channels: int = 192, max_seq_len: int | None = None, num_layers: int = 2,
                 prenorm: bool = True, patch_bias: bool = False, pool_exclude_pad: bool = False,
                 last_drop_mode: str = 'upscale_in_train',
                 init_cfg: dict | None = None) -> None:
        super().__init__()
        if last_drop_mode not in ('upscale_in_train', 'downscale_in_infer'):
            raise ValueError(f"SVTREncoder: last_drop_mode must be 'upscale_in_train' or 'downscale_in_infer', got "
                             f'{last_drop_mode!r}')
        self.last_drop_mode, self.last_drop = last_drop_mode, float(last_drop)
        if max_seq_len is not None and int(max_seq_len) < 1:
            raise ValueError(f'SVTREncoder: max_seq_len must be None or >= 1, got {max_seq_len}')
        if num_layers not in (2, 3):
            raise ValueError(f'SVTREncoder: num_layers (patch-embedding convolutions) must be 2 or 3, got '
                             f'{num_layers!r}')
        self.max_seq_len = None if max_seq_len is None else int(max_seq_len)
        self.prenorm = bool(prenorm)
        stages = len(embed_dims)
        if not (len(depth) == len(num_heads) == stages):
            raise ValueError(f'SVTREncoder: embed_dims, depth and num_heads need one entry per stage, got '
                             f'{list(embed_dims)}, {list(depth)}, {list(num_heads)}')
        total = sum(depth)
        mixer_types = list(mixer_types) if mixer_types is not None else ['Local'] * (total // 2) + \
            ['Global'] * (total - total // 2)
        if len(mixer_types) != total or set(mixer_types) - {'Local', 'Global', 'Conv'}:
            raise ValueError(f"SVTREncoder: mixer_types needs {total} entries of 'Local'/'Global'/'Conv', got "
                             f'{mixer_types}')
        if merging_types not in ('Conv', 'Pool'):
            raise ValueError(f"SVTREncoder: merging_types must be 'Conv' or 'Pool', got {merging_types!r}")
        self.img_size = tuple(int(s) for s in img_size)
        if isinstance(window_size[0], (list, tuple)):
            if len(window_size) != stages:
                raise ValueError(f'SVTREncoder: window_size needs one (h, w) per stage ({stages}), got '
                                 f'{list(window_size)}')
            self.window_sizes = [(int(ws[0]), int(ws[1])) for ws in window_size]
        else:
            self.window_sizes = [(int(window_size[0]), int(window_size[1]))] * stages
        self.window_size = self.window_sizes[0]
        self.embed_dims = [int(d) for d in embed_dims]
        self.patch_stride = 2 ** num_layers
        self.height_stride = self.patch_stride * 2 ** (stages - 1)
        if self.img_size[0] % self.height_stride or self.img_size[1] % self.patch_stride:
            raise ValueError(f'SVTREncoder: img_size {self.img_size} must have a height that is a multiple of '
                             f'{self.height_stride} and a width that is a multiple of {self.patch_stride}')
        self.patch_embed = _PatchEmbed(in_channels, self.embed_dims[0], num_layers, bias=bool(patch_bias))
        gh, gw = self.img_size[0] // self.patch_stride, self.img_size[1] // self.patch_stride
        self.grid = (gh, gw)
        self.absolute_pos_embed = nn.Parameter(torch.zeros(1, gh * gw, self.embed_dims[0]))
        self.pos_drop = nn.Dropout(drop_rate)
        rates = torch.linspace(0, drop_path_rate, total).tolist()
        b = 0
        for i in range(stages):
            grid = (gh // 2 ** i, gw)
            setattr(self, f'blocks{i + 1}', nn.ModuleList(
                _MixingBlock(self.embed_dims[i], num_heads[i], mixer_types[b + j], grid, self.window_sizes[i],
                             mlp_ratio, qkv_bias, qk_scale, drop_rate, attn_drop_rate, rates[b + j], self.prenorm)
                for j in range(depth[i])))
            b += depth[i]
            if i + 1 < stages:
                setattr(self, f'downsample{i + 1}', _Merging(self.embed_dims[i], self.embed_dims[i + 1],
                                                             merging_types, bool(pool_exclude_pad)))
        self.num_stages = stages
        self.layer_norm = nn.LayerNorm(self.embed_dims[-1], eps=1e-6)
        self.last_conv = nn.Conv2d(self.embed_dims[-1], out_channels, 1, bias=False)
        self.hardwish = nn.Hardswish()
        self.dropout = nn.Dropout(last_drop)
        self.out_channels = [out_channels]  # a list, like the backbones' (the recogniser sizes its head from [-1])
        nn.init.trunc_normal_(self.absolute_pos_embed, std=0.02)
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
        elif isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode='fan_out', nonlinearity='relu')

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.shape[-2] % self.height_stride or x.shape[-1] % self.patch_stride:
            raise ValueError(f'SVTREncoder: input height must be a multiple of {self.height_stride} and width a '
                             f'multiple of {self.patch_stride}, got {tuple(x.shape[-2:])}')
        x = self.patch_embed(x)
        n, c, h, w = x.shape
        pos = self.absolute_pos_embed
        if (h, w) != self.grid:
            pos = pos.transpose(1, 2).reshape(1, c, *self.grid)
            pos = F.interpolate(pos, size=(h, w), mode='bilinear', align_corners=False).flatten(2).transpose(1, 2)
        tokens = self.pos_drop(x.flatten(2).transpose(1, 2) + pos)  # N x (h*w) x c, row-major
        for i in range(self.num_stages):
            for blk in getattr(self, f'blocks{i + 1}'):
                tokens = blk(tokens, (h, w))
            if i + 1 < self.num_stages:
                tokens, h = getattr(self, f'downsample{i + 1}')(tokens.transpose(1, 2).reshape(n, -1, h, w))
        if not self.prenorm:
            tokens = self.layer_norm(tokens)
        grid = tokens.transpose(1, 2).reshape(n, -1, h, w)
        if torch.onnx.is_in_onnx_export():
            pooled = _pool_to_columns(grid, self.max_seq_len)
        else:  # pool the height away (and to T)
            pooled = F.adaptive_avg_pool2d(grid, (1, self.max_seq_len or w))
        out = self.hardwish(self.last_conv(pooled))
        if self.last_drop_mode == 'downscale_in_infer' and self.last_drop > 0:  # PaddleOCR's dropout
            out = out * (torch.rand_like(out) >= self.last_drop) if self.training else out * (1.0 - self.last_drop)
        else:
            out = self.dropout(out)
        return out.flatten(2).transpose(1, 2)  # N x T x out_channels
