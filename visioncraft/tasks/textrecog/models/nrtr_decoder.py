"""NRTRDecoder: an autoregressive transformer decoder over image features (NRTR, Sheng et al., ICDAR 2019; the
decoder of SATRN and of MMOCR's ``NRTRDecoder``), trained teacher-forced with a causal mask and decoded greedily or
by beam search, with key / value caching.

Layers are pre-norm (``x + self_attn(norm(x))``, ``x + cross_attn(norm(x), memory)``, ``x + ffn(norm(x))``)
followed by a final LayerNorm and a linear classifier over the dictionary's tokens, MMOCR's default layer order.
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

__all__ = ['NRTRDecoder', 'sinusoid_table', 'attention_memory']

_POSTPROCESSORS = (None, 'AttentionPostprocessor')


def sinusoid_table(n_position: int, dim: int) -> torch.Tensor:
    """float32 ``n_position x dim`` sinusoidal position encodings (Vaswani et al.): sin on even, cos on odd
    channels."""
    pos = torch.arange(n_position, dtype=torch.float32)[:, None]
    freq = torch.exp(torch.arange(0, dim, 2, dtype=torch.float32) * (-math.log(10000.0) / dim))
    table = torch.zeros(n_position, dim)
    table[:, 0::2] = torch.sin(pos * freq)
    table[:, 1::2] = torch.cos(pos * freq)[:, :dim // 2]
    return table


def attention_memory(feat: torch.Tensor, valid_fracs: Sequence[float] | None, who: str
                     ) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Encoder output -> ``(memory, key_mask)`` for cross attention.

    ``feat``: N x T x C frames (left to right) or an N x C x H x W feature map (flattened row-major to
    N x (H*W) x C). ``valid_fracs``: per sample, the share of the batch width that is image (the rest is right
    padding), or None. ``key_mask``: bool N x 1 x 1 x S, True where a position may be attended: the first
    ``ceil(frac * W)`` columns (at least one) of every row; None when nothing is masked.
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
    if len(valid_fracs) != n:
        raise ValueError(f'{who}: {len(valid_fracs)} valid ratios for a batch of {n}')
    cols = torch.tensor([max(1, min(w, math.ceil(float(f) * w - 1e-6))) for f in valid_fracs], device=feat.device)
    if bool((cols == w).all()):
        return mem, None
    keep = torch.arange(w, device=feat.device)[None, :] < cols[:, None]        # N x W
    keep = keep[:, None, :].expand(n, h, w).reshape(n, 1, 1, h * w)
    return mem, keep


class _Attention(nn.Module):
    """Multi-head attention with per-head widths ``d_k`` (queries, keys) and ``d_v`` (values)."""

    def __init__(self, d_model: int, n_head: int, d_k: int, d_v: int, dropout: float) -> None:
        super().__init__()
        self.n_head, self.d_k, self.d_v, self.dropout = n_head, d_k, d_v, dropout
        self.q = nn.Linear(d_model, n_head * d_k)
        self.k = nn.Linear(d_model, n_head * d_k)
        self.v = nn.Linear(d_model, n_head * d_v)
        self.out = nn.Linear(n_head * d_v, d_model)

    def _heads(self, x: torch.Tensor, width: int) -> torch.Tensor:
        return x.reshape(x.shape[0], x.shape[1], self.n_head, width).transpose(1, 2)  # N x H x T x width

    def keys_values(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """N x S x d_model -> keys N x H x S x d_k, values N x H x S x d_v."""
        return self._heads(self.k(x), self.d_k), self._heads(self.v(x), self.d_v)

    def forward(self, x: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: torch.Tensor | None = None,
                causal: bool = False) -> torch.Tensor:
        q = self._heads(self.q(x), self.d_k)
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, is_causal=causal,
                                           dropout_p=self.dropout if self.training else 0.0)
        return self.out(y.transpose(1, 2).reshape(x.shape[0], x.shape[1], -1))


class _DecoderLayer(nn.Module):
    def __init__(self, d_model: int, d_inner: int, n_head: int, d_k: int, d_v: int, dropout: float) -> None:
        super().__init__()
        self.norm1, self.norm2, self.norm3 = nn.LayerNorm(d_model), nn.LayerNorm(d_model), nn.LayerNorm(d_model)
        self.self_attn = _Attention(d_model, n_head, d_k, d_v, dropout)
        self.cross_attn = _Attention(d_model, n_head, d_k, d_v, dropout)
        self.ffn = nn.Sequential(nn.Linear(d_model, d_inner), nn.ReLU(inplace=True), nn.Dropout(dropout),
                                 nn.Linear(d_inner, d_model))
        self.drop = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, mem_kv: tuple[torch.Tensor, torch.Tensor], mem_mask: torch.Tensor | None,
                cache: list | None = None) -> torch.Tensor:
        """``x`` N x T x d_model. Without ``cache``: all T positions at once, causally masked (training). With
        ``cache`` (``[keys, values]`` of the earlier positions, or ``[None, None]``): ``x`` holds the next
        position(s), whose keys / values are appended to the cache (incremental decoding)."""
        h = self.norm1(x)
        k, v = self.self_attn.keys_values(h)
        if cache is None:
            x = x + self.drop(self.self_attn(h, k, v, causal=x.shape[1] > 1))
        else:
            if cache[0] is not None:
                k, v = torch.cat([cache[0], k], 2), torch.cat([cache[1], v], 2)
            cache[0], cache[1] = k, v
            # the new position(s) follow every cached one: a causal mask is only needed among the new ones
            x = x + self.drop(self.self_attn(h, k, v, mask=None if x.shape[1] == 1 else torch.ones(
                x.shape[1], k.shape[2], dtype=torch.bool, device=x.device).tril(k.shape[2] - x.shape[1])))
        x = x + self.drop(self.cross_attn(self.norm2(x), *mem_kv, mask=mem_mask))
        return x + self.drop(self.ffn(self.norm3(x)))


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

    Shapes: ``feat`` N x T x in_channels (or N x in_channels x H x W); teacher-forced logits N x
    (max_seq_len + 1) x num_classes; ``forward(feat)`` (``mode='tensor'``): greedy logits N x max_seq_len x
    num_classes (every step run, the argmax fed back even after the end token).
    """

    def __init__(self, *, in_channels: int | None = None, codec: dict | object | None = None,
                 dictionary: dict | object | None = None, max_seq_len: int | None = None, n_layers: int = 6,
                 d_embedding: int = 512, n_head: int = 8, d_k: int = 64, d_v: int = 64, d_model: int = 512,
                 d_inner: int = 256, n_position: int = 200, dropout: float = 0.1, module_loss: dict | None = None,
                 postprocessor: dict | None = None, beam_width: int | None = None, init_cfg: dict | None = None
                 ) -> None:
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
        self.register_buffer('position_table', sinusoid_table(n_position, d_embedding), persistent=False)
        self.dropout = nn.Dropout(dropout)
        self.layer_stack = nn.ModuleList(_DecoderLayer(d_model, d_inner, n_head, d_k, d_v, dropout)
                                         for _ in range(n_layers))
        self.layer_norm = nn.LayerNorm(d_model, eps=1e-6)
        self.classifier = nn.Linear(d_model, num_classes)
        loss = dict(module_loss or dict(type='CEModuleLoss', ignore_first_char=True, flatten=True, reduction='mean'))
        for key in ('dictionary', 'max_seq_len', 'letter_case', 'pad_with'):  # MMOCR keys the codec now holds
            if key in loss:
                raise ValueError(f'NRTRDecoder: module_loss.{key} is set by the codec here; remove it from the loss')
        self.module_loss = MODELS.build(loss, key_path='module_loss')

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
        return [layer.cross_attn.keys_values(mem) for layer in self.layer_stack], mask

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
