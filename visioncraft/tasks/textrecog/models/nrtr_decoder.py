"""NRTRDecoder: an autoregressive transformer decoder over image features (NRTR, Sheng et al., ICDAR 2019; the
decoder of SATRN and of MMOCR's ``NRTRDecoder``), trained teacher-forced with a causal mask and decoded greedily or
by beam search, with key / value caching.

Layers are pre-norm (``x + self_attn(norm1(x))``, ``x + enc_attn(norm2(x), memory)``, ``x + mlp(norm3(x))``)
followed by a final LayerNorm and a linear classifier over the dictionary's tokens: MMOCR's ``TFDecoderLayer`` in
its default order, with its parameter names (``linear_q`` / ``linear_k`` / ``linear_v`` / ``fc`` without biases,
``mlp.w_1`` / ``mlp.w_2`` with GELU, ``position_enc.position_table``), so MMOCR's checkpoints load as they are.
Attention is ``F.scaled_dot_product_attention`` with per-head query / key width ``d_k`` and value width ``d_v``.
"""
from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from visioncraft.registry import MODELS, TASK_UTILS

from ..codecs import AttentionCodec

from .ctc_head import encode_gt_texts

__all__ = ['MultiHeadAttention', 'NRTRDecoder', 'PositionalEncoding', 'PositionwiseFeedForward', 'attention_memory',
           'build_activation', 'sinusoid_table']

_POSTPROCESSORS = (None, 'AttentionPostprocessor')


def sinusoid_table(n_position: int, dim: int) -> torch.Tensor:
    """float32 ``n_position x dim`` sinusoidal position encodings (Vaswani et al.): channel ``j`` at position ``p``
    is ``sin`` (even ``j``) or ``cos`` (odd ``j``) of ``p / 10000 ** (2 * (j // 2) / dim)`` (MMOCR's table)."""
    j = torch.arange(dim, dtype=torch.float64)
    freq = (1.0 / torch.pow(10000.0, 2 * torch.div(j, 2, rounding_mode='floor') / dim)).float()
    table = torch.arange(n_position, dtype=torch.float32)[:, None] * freq[None]
    table[:, 0::2] = torch.sin(table[:, 0::2])
    table[:, 1::2] = torch.cos(table[:, 1::2])
    return table


def attention_memory(feat: torch.Tensor, valid_fracs: Sequence[float] | None, who: str
                     ) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Encoder output -> ``(memory, key_mask)`` for cross attention.

    ``feat``: N x T x C frames (left to right) or an N x C x H x W feature map (flattened row-major to
    N x (H*W) x C). ``valid_fracs``: per sample, the share of the batch width that is image (the rest is right
    padding), or None. ``key_mask``: bool N x 1 x 1 x S, True where a position may be attended: the first
    ``ceil(frac * W)`` columns (at least one) of every row; None when nothing is masked.

    ``valid_fracs`` may also be a float64 tensor of N (an exported graph's input): the same rule in tensor
    operations (float64, as Python's floats), traceable with W symbolic; the mask is then always returned.
    """
    if feat.dim() == 4:
        n, c, h, w = feat.shape
        mem = feat.flatten(2).transpose(1, 2)
    elif feat.dim() == 3:
        (n, w, c), h = feat.shape, 1
        mem = feat
    else:
        raise ValueError(f'{who}: expected N x T x C encoder frames or an N x C x H x W feature map, got shape '
                         f'{tuple(feat.shape)}')
    if valid_fracs is None:
        return mem, None
    if isinstance(valid_fracs, torch.Tensor):
        pos = torch.arange(w, device=feat.device, dtype=torch.float64)           # W read from the shape, traced
        width = pos[-1:] + 1
        cols = torch.minimum(torch.clamp(torch.ceil(valid_fracs.to(torch.float64).reshape(-1, 1) * width - 1e-6),
                                         min=1.0), width)                            # N x 1
        keep = pos[None, :] < cols                                                   # N x W
        return mem, keep[:, None, :].expand(-1, h, -1).flatten(1)[:, None, None, :]
    if len(valid_fracs) != n:
        raise ValueError(f'{who}: {len(valid_fracs)} valid ratios for a batch of {n}')
    cols = torch.tensor([max(1, min(w, math.ceil(float(f) * w - 1e-6))) for f in valid_fracs], device=feat.device)
    if bool((cols == w).all()):
        return mem, None
    keep = torch.arange(w, device=feat.device)[None, :] < cols[:, None]        # N x W
    keep = keep[:, None, :].expand(n, h, w).reshape(n, 1, 1, h * w)
    return mem, keep


_ACTIVATIONS = {'GELU': lambda: nn.GELU(), 'ReLU': lambda: nn.ReLU(inplace=True)}


def build_activation(act_cfg: dict | None, who: str) -> nn.Module:
    """``dict(type='GELU')`` (MMOCR's transformer default; ``mmengine.GELU`` too) or ``dict(type='ReLU')``."""
    kind = str((act_cfg or {}).get('type', 'GELU')).split('.')[-1]
    if kind not in _ACTIVATIONS or set(act_cfg or {}) - {'type', 'inplace'}:
        raise ValueError(f"{who}: act_cfg must be dict(type='GELU') or dict(type='ReLU'), got {act_cfg!r}")
    return _ACTIVATIONS[kind]()


class MultiHeadAttention(nn.Module):
    """Multi-head attention with per-head widths ``d_k`` (queries, keys) and ``d_v`` (values), MMOCR's layout
    (``linear_q``, ``linear_k``, ``linear_v``, ``fc``; biases only with ``qkv_bias``), computed with
    ``F.scaled_dot_product_attention``; dropout on the attention weights and on the output (``proj_drop``)."""

    def __init__(self, d_model: int, n_head: int, d_k: int, d_v: int, dropout: float, qkv_bias: bool = False
                 ) -> None:
        super().__init__()
        self.n_head, self.d_k, self.d_v, self.dropout = n_head, d_k, d_v, dropout
        self.linear_q = nn.Linear(d_model, n_head * d_k, bias=qkv_bias)
        self.linear_k = nn.Linear(d_model, n_head * d_k, bias=qkv_bias)
        self.linear_v = nn.Linear(d_model, n_head * d_v, bias=qkv_bias)
        self.fc = nn.Linear(n_head * d_v, d_model, bias=qkv_bias)
        self.proj_drop = nn.Dropout(dropout)

    def _heads(self, x: torch.Tensor, width: int) -> torch.Tensor:
        return x.reshape(x.shape[0], x.shape[1], self.n_head, width).transpose(1, 2)  # N x H x T x width

    def keys_values(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """N x S x d_model -> keys N x H x S x d_k, values N x H x S x d_v."""
        return self._heads(self.linear_k(x), self.d_k), self._heads(self.linear_v(x), self.d_v)

    def forward(self, x: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: torch.Tensor | None = None,
                causal: bool = False) -> torch.Tensor:
        """``mask``: bool, broadcastable to N x H x T x S, True where a key may be attended."""
        q = self._heads(self.linear_q(x), self.d_k)
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, is_causal=causal,
                                           dropout_p=self.dropout if self.training else 0.0)
        return self.proj_drop(self.fc(y.transpose(1, 2).reshape(x.shape[0], x.shape[1], -1)))


class PositionwiseFeedForward(nn.Module):
    """``w_2(act(w_1(x)))`` then dropout (MMOCR's layout and names)."""

    def __init__(self, d_in: int, d_hid: int, dropout: float, act_cfg: dict | None = None) -> None:
        super().__init__()
        self.w_1 = nn.Linear(d_in, d_hid)
        self.w_2 = nn.Linear(d_hid, d_in)
        self.act = build_activation(act_cfg, 'PositionwiseFeedForward')
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.dropout(self.w_2(self.act(self.w_1(x))))


class PositionalEncoding(nn.Module):
    """The sinusoidal table as MMOCR keeps it: a persistent ``position_table`` buffer, 1 x n_position x dim (MMOCR's
    checkpoints carry it)."""

    def __init__(self, dim: int, n_position: int) -> None:
        super().__init__()
        self.register_buffer('position_table', sinusoid_table(n_position, dim)[None])


class _DecoderLayer(nn.Module):
    """MMOCR's ``TFDecoderLayer`` in its default (pre-norm) order: ``x + self_attn(norm1(x))``,
    ``x + enc_attn(norm2(x), memory)``, ``x + mlp(norm3(x))``."""

    def __init__(self, d_model: int, d_inner: int, n_head: int, d_k: int, d_v: int, dropout: float,
                 qkv_bias: bool = False, act_cfg: dict | None = None) -> None:
        super().__init__()
        self.norm1, self.norm2, self.norm3 = nn.LayerNorm(d_model), nn.LayerNorm(d_model), nn.LayerNorm(d_model)
        self.self_attn = MultiHeadAttention(d_model, n_head, d_k, d_v, dropout, qkv_bias)
        self.enc_attn = MultiHeadAttention(d_model, n_head, d_k, d_v, dropout, qkv_bias)
        self.mlp = PositionwiseFeedForward(d_model, d_inner, dropout, act_cfg)

    def forward(self, x: torch.Tensor, mem_kv: tuple[torch.Tensor, torch.Tensor], mem_mask: torch.Tensor | None,
                cache: list | None = None) -> torch.Tensor:
        """``x`` N x T x d_model. Without ``cache``: all T positions at once, causally masked (training). With
        ``cache`` (``[keys, values]`` of the earlier positions, or ``[None, None]``): ``x`` holds the next
        position(s), whose keys / values are appended to the cache (incremental decoding).

        MMOCR's greedy decoding also hides, from later steps, a position whose predicted token is the padding
        token; here every fed token is attended (greedy decoding equals teacher forcing on its own output). The
        two differ only after a predicted padding token, which a trained model does not predict before the end
        token (the loss ignores padding)."""
        h = self.norm1(x)
        k, v = self.self_attn.keys_values(h)
        if cache is None:
            x = x + self.self_attn(h, k, v, causal=x.shape[1] > 1)
        else:
            if cache[0] is not None:
                k, v = torch.cat([cache[0], k], 2), torch.cat([cache[1], v], 2)
            cache[0], cache[1] = k, v
            # the new position(s) follow every cached one: a causal mask is only needed among the new ones
            mask = None if x.shape[1] == 1 else torch.ones(
                x.shape[1], k.shape[2], dtype=torch.bool, device=x.device).tril(k.shape[2] - x.shape[1])
            x = x + self.self_attn(h, k, v, mask=mask)
        x = x + self.enc_attn(self.norm2(x), *mem_kv, mask=mem_mask)
        return x + self.mlp(self.norm3(x))


@MODELS.register_module()
class NRTRDecoder(nn.Module):
    """Transformer decoder head of an attention recogniser, with its codec and loss (``loss`` / ``predict`` as
    :class:`~visioncraft.tasks.textrecog.models.CTCHead`).

    Args (MMOCR's names):
        in_channels: channels of the encoder frames / feature map (filled by the recogniser); projected to
            ``d_model`` by a linear layer when they differ.
        codec: :class:`~visioncraft.tasks.textrecog.codecs.AttentionCodec` config or object. Or, as in MMOCR,
            ``dictionary`` (a Dictionary config with start / end tokens) + ``max_seq_len``, which build one.
        n_layers: decoder layers. d_embedding: token embedding width (projected to ``d_model`` if different).
        n_head, d_k, d_v: attention heads and their query-key / value widths. d_model: layer width.
        d_inner: feed-forward hidden width. n_position: rows of the sinusoidal position table
            (>= ``max_seq_len + 1``). dropout: embedding, attention and feed-forward dropout.
        module_loss: loss config, default ``CEModuleLoss(ignore_first_char=True, flatten=True, reduction='mean')``.
        postprocessor: None or ``dict(type='AttentionPostprocessor')`` (accepted for MMOCR configs; the codec
            decodes).
        beam_width: overrides the codec's default search (1 = greedy, > 1 = beam search).
        qkv_bias, act_cfg: the layers' attention biases (MMOCR: none) and feed-forward activation
            (``dict(type='GELU')``, MMOCR's, or ``dict(type='ReLU')``).

    Shapes: ``feat`` N x T x in_channels (or N x in_channels x H x W); teacher-forced logits N x
    (max_seq_len + 1) x num_classes; ``forward(feat)`` (``mode='tensor'``): greedy logits N x max_seq_len x
    num_classes (every step run, the argmax fed back even after the end token).
    """

    def __init__(self, *, in_channels: int | None = None, codec: dict | object | None = None,
                 dictionary: dict | object | None = None, max_seq_len: int | None = None, n_layers: int = 6,
                 d_embedding: int = 512, n_head: int = 8, d_k: int = 64, d_v: int = 64, d_model: int = 512,
                 d_inner: int = 256, n_position: int = 200, dropout: float = 0.1, module_loss: dict | None = None,
                 postprocessor: dict | None = None, beam_width: int | None = None, qkv_bias: bool = False,
                 act_cfg: dict | None = None, init_cfg: dict | None = None) -> None:
        super().__init__()
        if (codec is None) == (dictionary is None):
            raise ValueError('NRTRDecoder: give exactly one of codec (an AttentionCodec config) and dictionary (+ '
                             f'max_seq_len, MMOCR style); got codec={codec!r}, dictionary={dictionary!r}')
        if codec is None:
            codec = dict(type='AttentionCodec', dictionary=dictionary, max_seq_len=max_seq_len or 25)
        elif max_seq_len is not None:
            raise ValueError('NRTRDecoder: max_seq_len belongs to the codec when codec is given '
                             '(codec=dict(type="AttentionCodec", max_seq_len=...))')
        self.codec = TASK_UTILS.build(codec, key_path='codec') if isinstance(codec, dict) else codec
        if not isinstance(self.codec, AttentionCodec):
            raise TypeError(f'NRTRDecoder: codec must be an AttentionCodec, got {type(self.codec).__name__}')
        ptype = postprocessor.get('type') if isinstance(postprocessor, dict) else postprocessor
        if ptype not in _POSTPROCESSORS:
            raise ValueError(f"NRTRDecoder: postprocessor must be None or dict(type='AttentionPostprocessor') (the "
                             f'codec decodes), got {postprocessor!r}')
        if n_position < self.codec.max_seq_len + 1:
            raise ValueError(f'NRTRDecoder: n_position={n_position} must be >= max_seq_len + 1 = '
                             f'{self.codec.max_seq_len + 1}')
        if min(n_layers, d_embedding, n_head, d_k, d_v, d_model, d_inner) < 1:
            raise ValueError('NRTRDecoder: n_layers, d_embedding, n_head, d_k, d_v, d_model and d_inner must be >= 1')
        if beam_width is not None and int(beam_width) < 1:
            raise ValueError(f'NRTRDecoder: beam_width must be >= 1, got {beam_width}')
        self.beam_width = None if beam_width is None else int(beam_width)
        self.in_channels, self.d_model, self.max_seq_len = in_channels, d_model, self.codec.max_seq_len
        num_classes = self.codec.num_classes
        self.in_proj = nn.Linear(in_channels, d_model) if in_channels not in (None, d_model) else nn.Identity()
        self.trg_word_emb = nn.Embedding(num_classes, d_embedding,
                                         padding_idx=self.codec.dictionary.padding_idx)
        self.emb_proj = nn.Linear(d_embedding, d_model) if d_embedding != d_model else nn.Identity()
        self.position_enc = PositionalEncoding(d_embedding, n_position)
        self.dropout = nn.Dropout(dropout)
        self.layer_stack = nn.ModuleList(_DecoderLayer(d_model, d_inner, n_head, d_k, d_v, dropout, qkv_bias, act_cfg)
                                         for _ in range(n_layers))
        self.layer_norm = nn.LayerNorm(d_model, eps=1e-6)
        self.classifier = nn.Linear(d_model, num_classes)
        loss = dict(module_loss or dict(type='CEModuleLoss', ignore_first_char=True, flatten=True, reduction='mean'))
        for key in ('dictionary', 'max_seq_len', 'letter_case', 'pad_with'):  # MMOCR keys the codec now holds
            if key in loss:
                raise ValueError(f'NRTRDecoder: module_loss.{key} is set by the codec here; remove it from the loss')
        self.module_loss = MODELS.build(loss, key_path='module_loss')

    @property
    def position_table(self) -> torch.Tensor:
        """The n_position x d_embedding sinusoidal table (``position_enc.position_table``, MMOCR's buffer)."""
        return self.position_enc.position_table[0]

    # -- building blocks -------------------------------------------------------------------------
    def _embed(self, tokens: torch.Tensor, start: int = 0) -> torch.Tensor:
        """int64 N x T tokens at positions ``start ..`` -> N x T x d_model."""
        pos = self.position_table[start:start + tokens.shape[1]]
        return self.emb_proj(self.dropout(self.trg_word_emb(tokens) + pos))

    def memory(self, feat: torch.Tensor, valid_fracs: Sequence[float] | None = None
               ) -> tuple[list[tuple[torch.Tensor, torch.Tensor]], torch.Tensor | None]:
        """Per layer, the cross-attention keys / values of the encoder output (computed once per image), and the
        key mask of the padded positions (see :func:`attention_memory`)."""
        mem, mask = attention_memory(feat, valid_fracs, 'NRTRDecoder')
        if self.in_channels is not None and mem.shape[-1] != self.in_channels:
            raise ValueError(f'NRTRDecoder: the encoder output has {mem.shape[-1]} channels, in_channels is '
                             f'{self.in_channels}')
        mem = self.in_proj(mem)
        return [layer.enc_attn.keys_values(mem) for layer in self.layer_stack], mask

    def forward_train(self, feat: torch.Tensor, tokens: torch.Tensor,
                      valid_fracs: Sequence[float] | None = None) -> torch.Tensor:
        """Teacher forcing: ``tokens`` int64 N x L (the codec's padded sequences) -> logits N x L x C; output
        ``t`` depends only on tokens ``0 .. t`` (causal mask)."""
        mem_kv, mask = self.memory(feat, valid_fracs)
        x = self._embed(tokens.to(feat.device))
        for layer, kv in zip(self.layer_stack, mem_kv):
            x = layer(x, kv, mask)
        return self.classifier(self.layer_norm(x))

    def _step(self, tokens: torch.Tensor, pos: int, caches: list, mem_kv: list, mask: torch.Tensor | None
              ) -> torch.Tensor:
        """One decoding step: int64 N last tokens at position ``pos`` -> N x C logits (caches updated)."""
        x = self._embed(tokens[:, None], pos)
        for layer, kv, cache in zip(self.layer_stack, mem_kv, caches):
            x = layer(x, kv, mask, cache)
        return self.classifier(self.layer_norm(x[:, 0]))

    # -- decoding --------------------------------------------------------------------------------
    def greedy(self, feat: torch.Tensor, valid_fracs: Sequence[float] | None = None, early_stop: bool = True
               ) -> tuple[torch.Tensor, torch.Tensor]:
        """Greedy decoding: ``(tokens int64 N x T, logits N x T x C)``, T <= max_seq_len (all steps unless
        ``early_stop``, which stops once every sample has produced the end token)."""
        mem_kv, mask = self.memory(feat, valid_fracs)
        n = feat.shape[0]
        caches = [[None, None] for _ in self.layer_stack]
        last = torch.full((n,), self.codec.start_idx, dtype=torch.int64, device=feat.device)
        ended = torch.zeros(n, dtype=torch.bool, device=feat.device)
        tokens, logits = [], []
        for step in range(self.max_seq_len):
            out = self._step(last, step, caches, mem_kv, mask)
            last = out.argmax(-1)
            tokens.append(last)
            logits.append(out)
            ended |= last == self.codec.end_idx
            if early_stop and bool(ended.all()):
                break
        return torch.stack(tokens, 1), torch.stack(logits, 1)

    def beam_search(self, feat: torch.Tensor, valid_fracs: Sequence[float] | None = None, beam_width: int = 3
                    ) -> list[tuple[list[int], list[float], float]]:
        """Beam search for the most probable token sequence (sum of log probabilities, ending at the end token
        or after ``max_seq_len`` tokens). Returns per sample ``(tokens, token_probs, log_prob)``; ``tokens``
        starts with the first predicted token and ends with the end token when one was produced.

        All ``N * beam_width`` hypotheses run as one batch with cached keys / values; a finished hypothesis
        stays in the beam at its score (it can only be extended by the padding token, at no cost), so the
        search stops as soon as the best hypothesis of every sample has finished (scores only decrease).
        """
        k = int(beam_width)
        if not 1 <= k <= self.codec.num_classes:
            raise ValueError(f'NRTRDecoder.beam_search: beam_width must be in 1..{self.codec.num_classes}, got {k}')
        mem_kv, mask = self.memory(feat, valid_fracs)
        n, dev = feat.shape[0], feat.device
        mem_kv = [(a.repeat_interleave(k, 0), b.repeat_interleave(k, 0)) for a, b in mem_kv]
        mask = mask.repeat_interleave(k, 0) if mask is not None else None
        caches = [[None, None] for _ in self.layer_stack]
        scores = torch.full((n, k), -math.inf, device=dev)
        scores[:, 0] = 0.0                                   # one live hypothesis to start with
        last = torch.full((n * k,), self.codec.start_idx, dtype=torch.int64, device=dev)
        done = torch.zeros(n * k, dtype=torch.bool, device=dev)
        hist = torch.zeros(n * k, 0, dtype=torch.int64, device=dev)
        probs = torch.zeros(n * k, 0, device=dev)
        base = torch.arange(n, device=dev)[:, None] * k
        end, pad = self.codec.end_idx, self.codec.pad_idx
        for step in range(self.max_seq_len):
            logp = self._step(last, step, caches, mem_kv, mask).float().log_softmax(-1)   # (N*K) x C
            c = logp.shape[-1]
            frozen = torch.full_like(logp, -math.inf)
            frozen[:, pad] = 0.0
            logp = torch.where(done[:, None], frozen, logp)
            cand = (scores.reshape(-1, 1) + logp).reshape(n, k * c)
            scores, flat = cand.topk(k, dim=1)                # N x K, best first
            parent = (base + flat // c).reshape(-1)
            tok = (flat % c).reshape(-1)
            hist = torch.cat([hist[parent], tok[:, None]], 1)
            probs = torch.cat([probs[parent], logp[parent, tok].exp()[:, None]], 1)
            done = done[parent] | (tok == end)
            for cache in caches:
                if cache[0] is not None:
                    cache[0], cache[1] = cache[0][parent], cache[1][parent]
            last = tok
            if bool(done.reshape(n, k)[:, 0].all()):
                break
        out = []
        for i in range(n):
            seq, p = hist[i * k].tolist(), probs[i * k].tolist()
            if end in seq:
                cut = seq.index(end) + 1
                seq, p = seq[:cut], p[:cut]
            out.append((seq, p, float(scores[i, 0].detach())))
        return out

    # -- the head interface ------------------------------------------------------------------------
    def forward(self, feat: torch.Tensor, valid_fracs: Sequence[float] | None = None) -> torch.Tensor:
        """Greedy logits N x max_seq_len x num_classes (what ``mode='tensor'`` softmaxes)."""
        return self.greedy(feat, valid_fracs, early_stop=False)[1]

    def loss(self, feat: torch.Tensor, data_samples: list, valid_fracs: Sequence[float] | None = None
             ) -> dict[str, torch.Tensor]:
        """``dict(loss_ce, num_unknown_chars)``; samples need ``gt_text`` (str). ``num_unknown_chars`` (logged,
        not a loss) counts the label characters of this batch that the dictionary does not hold."""
        tokens, lengths, unknown = encode_gt_texts(self.codec, data_samples, 'NRTRDecoder.loss')
        tokens, lengths = tokens.to(feat.device), lengths.to(feat.device)
        logits = self.forward_train(feat, tokens, valid_fracs)
        return dict(loss_ce=self.module_loss(logits, tokens, lengths),
                    num_unknown_chars=torch.tensor(float(unknown), device=feat.device))

    def predict(self, feat: torch.Tensor, data_samples: list | None = None,
                valid_fracs: Sequence[float] | None = None, beam_width: int | None = None
                ) -> list[tuple[str, float, list[float]]]:
        """``(text, score, char_scores)`` per sample: greedy (``beam_width`` 1) or beam search; the score is
        the mean of the character scores (0 for '')."""
        beam = beam_width or self.beam_width or self.codec.beam_width
        if beam <= 1:
            tokens, logits = self.greedy(feat, valid_fracs)
            p = logits.float().softmax(-1).gather(-1, tokens[..., None])[..., 0]
            decoded = [self.codec.tokens2text(t, s) for t, s in zip(tokens.tolist(), p.tolist())]
        else:
            decoded = [self.codec.tokens2text(t, s) for t, s, _ in self.beam_search(feat, valid_fracs, beam)]
        return [(text, float(sum(s) / len(s)) if s else 0.0, s) for text, s in decoded]
