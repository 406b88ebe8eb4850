"""Building blocks of RTMPose's SimCC head: :class:`ScaleNorm`, :class:`Scale`, :func:`rope` and
:class:`RTMCCBlock`, the gated attention unit (GAU) of Hua et al., "Transformer Quality in Linear Time" (2022), as
RTMPose uses it over the K keypoint tokens.

Parameter names are MMPose's (``uv``, ``o``, ``gamma``, ``beta``, ``ln.g``, ``res_scale.scale``, ``w``), so the
``head.gau.*`` weights of an RTMPose checkpoint load unchanged.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ['ScaleNorm', 'Scale', 'rope', 'RTMCCBlock']


class ScaleNorm(nn.Module):
    """``x / max(||x||_2 / sqrt(dim), eps) * g`` over the last axis, with one learnt scalar ``g`` (init 1).
    Shape-preserving: (..., dim) -> (..., dim)."""

    def __init__(self, dim: int, eps: float = 1e-5) -> None:
        super().__init__()
        self.scale = dim ** -0.5
        self.eps = eps
        self.g = nn.Parameter(torch.ones(1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        norm = torch.linalg.vector_norm(x, dim=-1, keepdim=True) * self.scale
        return x / norm.clamp(min=self.eps) * self.g


class Scale(nn.Module):
    """Multiply the last axis by a learnt per-channel vector ``scale`` (init ``init_value``)."""

    def __init__(self, dim: int, init_value: float = 1.0, trainable: bool = True) -> None:
        super().__init__()
        self.scale = nn.Parameter(init_value * torch.ones(dim), requires_grad=trainable)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.scale


def rope(x: torch.Tensor, dim: int | list[int]) -> torch.Tensor:
    """Rotary position encoding of ``x`` along the axes ``dim`` (positions numbered in row-major order), rotating
    the two halves of the last axis. The frequencies are MMPose's: ``10000 ** (i / half)`` for ``i < half``
    (MMPose's sign convention, kept so that checkpoints trained with ``pos_enc=True`` behave the same)."""
    shape = x.shape
    dims = [dim] if isinstance(dim, int) else list(dim)
    spatial = [shape[i] for i in dims]
    position = torch.arange(math.prod(spatial), device=x.device, dtype=torch.float32).reshape(spatial)
    for _ in range(dims[-1] + 1, len(shape) - 1):
        position = position.unsqueeze(-1)
    half = shape[-1] // 2
    inv_freq = 10000.0 ** (torch.arange(half, device=x.device, dtype=torch.float32) / float(half))
    sinusoid = position[..., None] * inv_freq
    sin, cos = sinusoid.sin().to(x.dtype), sinusoid.cos().to(x.dtype)
    x1, x2 = torch.chunk(x, 2, dim=-1)
    return torch.cat([x1 * cos - x2 * sin, x2 * cos + x1 * sin], dim=-1)


class _DropPath(nn.Module):
    """Stochastic depth: zero a sample's residual branch with probability ``p`` while training (rescaling the
    kept ones by ``1 / (1 - p)``)."""

    def __init__(self, p: float) -> None:
        super().__init__()
        self.p = float(p)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0.0:
            return x
        keep = x.new_empty((x.shape[0],) + (1,) * (x.dim() - 1)).bernoulli_(1.0 - self.p)
        return x * keep / (1.0 - self.p)


_ACTS = {'SiLU': nn.SiLU, 'ReLU': nn.ReLU}


class RTMCCBlock(nn.Module):
    """Gated attention unit over a sequence of tokens (self-attention; MMPose's cross-attention variant is not
    provided).

    ``x`` (B, N, in_token_dims) -> ScaleNorm -> ``uv`` linear to ``2 e + s`` (``e = in_token_dims *
    expansion_factor``) -> activation -> split into ``u`` (B, N, e), ``v`` (B, N, e) and a shared base (B, N, s)
    giving ``q = base * gamma[0] + beta[0]`` and ``k = base * gamma[1] + beta[1]`` (optionally rotary-encoded);
    attention ``A = relu(q k^T / sqrt(s) [+ relative position bias]) ** 2`` (B, N, N); output ``o(u * (A v))``
    (B, N, out_token_dims), plus ``res_scale(x)`` (a learnt per-channel scale of the input) when the widths agree.

    Args:
        num_token: N, the sequence length (needed for the relative position bias ``w`` of ``2 N - 1`` entries).
        in_token_dims, out_token_dims: token widths in and out.
        expansion_factor: ``e / in_token_dims``.
        s: width of the shared query / key base.
        eps: ScaleNorm's epsilon.
        dropout_rate: dropout on the attention matrix.
        drop_path: stochastic-depth rate of the main branch.
        act_fn: 'SiLU' or 'ReLU'.
        bias: biases in the ``uv`` and ``o`` linears.
        use_rel_bias: add a learnt Toeplitz (relative position) bias to the attention logits.
        pos_enc: rotary position encoding of q and k (:func:`rope`).
    """

    def __init__(self, num_token: int, in_token_dims: int, out_token_dims: int, expansion_factor: float = 2,
                 s: int = 128, eps: float = 1e-5, dropout_rate: float = 0.0, drop_path: float = 0.0,
                 attn_type: str = 'self-attn', act_fn: str = 'SiLU', bias: bool = False, use_rel_bias: bool = True,
                 pos_enc: bool = False) -> None:
        super().__init__()
        if attn_type != 'self-attn':
            raise ValueError(f"RTMCCBlock: only attn_type='self-attn' is supported, got {attn_type!r}")
        if act_fn not in _ACTS:
            raise ValueError(f"RTMCCBlock act_fn must be 'SiLU' or 'ReLU', got {act_fn!r}")
        self.s, self.num_token, self.use_rel_bias, self.pos_enc = int(s), int(num_token), use_rel_bias, pos_enc
        self.attn_type = attn_type
        self.e = int(in_token_dims * expansion_factor)
        self.drop_path = _DropPath(drop_path) if drop_path > 0 else nn.Identity()
        if use_rel_bias:
            self.w = nn.Parameter(torch.rand(2 * num_token - 1))
        self.o = nn.Linear(self.e, out_token_dims, bias=bias)
        self.uv = nn.Linear(in_token_dims, 2 * self.e + self.s, bias=bias)
        self.gamma = nn.Parameter(torch.rand(2, self.s))
        self.beta = nn.Parameter(torch.rand(2, self.s))
        self.ln = ScaleNorm(in_token_dims, eps=eps)
        nn.init.xavier_uniform_(self.uv.weight)
        self.act_fn = _ACTS[act_fn](inplace=True)
        self.shortcut = in_token_dims == out_token_dims
        if self.shortcut:
            self.res_scale = Scale(in_token_dims)
        self.sqrt_s = math.sqrt(self.s)
        self.dropout = nn.Dropout(dropout_rate) if dropout_rate > 0 else nn.Identity()

    def rel_pos_bias(self, seq_len: int) -> torch.Tensor:
        """(1, seq_len, seq_len) Toeplitz matrix: entry (i, j) is ``w[j - i + seq_len - 1]``."""
        if seq_len > self.num_token:
            raise ValueError(f'RTMCCBlock: sequence of {seq_len} tokens, the relative bias covers {self.num_token}')
        idx = torch.arange(seq_len, device=self.w.device)
        return self.w[idx[None, :] - idx[:, None] + seq_len - 1][None]

    def _attend(self, x: torch.Tensor) -> torch.Tensor:
        uv = self.act_fn(self.uv(self.ln(x)))
        u, v, base = torch.split(uv, [self.e, self.e, self.s], dim=-1)
        base = base.unsqueeze(2) * self.gamma + self.beta                         # (B, N, 2, s)
        if self.pos_enc:
            base = rope(base, dim=1)
        q, k = base.unbind(dim=2)
        qk = torch.bmm(q, k.transpose(1, 2))                                       # (B, N, N)
        if self.use_rel_bias:
            qk = qk + self.rel_pos_bias(q.shape[1])
        kernel = self.dropout(torch.square(F.relu(qk / self.sqrt_s)))
        return self.o(u * torch.bmm(kernel, v))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` float (B, N, in_token_dims) -> (B, N, out_token_dims)."""
        out = self.drop_path(self._attend(x))
        return self.res_scale(x) + out if self.shortcut else out
