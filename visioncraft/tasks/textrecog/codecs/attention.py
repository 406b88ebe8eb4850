"""AttentionCodec: targets of an autoregressive (attention) decoder from label strings (encode) and strings from
the decoded tokens (decode), in one class so the token layout of training and inference cannot drift
(MMOCR's ``AttnConvertor`` / ``BaseTextRecogModuleLoss.get_targets`` + ``AttentionPostprocessor`` roles).

Token layout: the :class:`Dictionary`'s own indices (characters ``0 .. n-1``, then start / end, padding,
unknown; see its docstring). The dictionary needs ``with_start`` and ``with_end`` (``same_start_end`` is fine:
the shared ``<BOS/EOS>`` token starts the sequence as input and ends it as output). The decoder predicts
``num_classes = len(dictionary)`` scores per step.

Encoded sequence of a label ``c1 .. cn`` (length ``max_seq_len + 1``, int64)::

    [<BOS>, c1, ..., cn, <EOS>, pad, pad, ...]

``pad`` is ``<PAD>`` when the dictionary has it, else ``<EOS>`` (MMOCR's ``pad_with='auto'``). The decoder reads
the sequence as its teacher-forced input; the loss compares output ``t`` with token ``t + 1``
(``CEModuleLoss(ignore_first_char=True)``) over the ``length - 1`` positions that are not padding, so at most
``max_seq_len`` tokens are predicted (the characters and the end token), as many as inference decodes. A label
longer than ``max_seq_len - 1`` characters is cut (its end token too) and counted in :attr:`num_truncated`.

Decoding: tokens are read up to the first end token (excluded); start and padding tokens are skipped; ``<UKN>``
stays as its token string. One character score per kept token: its probability at its step.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from visioncraft.registry import TASK_UTILS

from .dictionary import Dictionary

__all__ = ['AttentionCodec']


@TASK_UTILS.register_module()
class AttentionCodec:
    """Encode labels for an attention decoder and decode its tokens.

    Args:
        dictionary: a :class:`Dictionary` or its config; needs ``with_start=True`` and ``with_end=True``.
        max_seq_len: the most tokens the decoder emits for one word, end token included (MMOCR's decoder
            ``max_seq_len``); labels of up to ``max_seq_len - 1`` characters fit.
        beam_width: the decoder's default search: 1 = greedy, > 1 = beam search with that many beams.

    Attributes: ``num_classes`` (``len(dictionary)``), ``start_idx``, ``end_idx``, ``pad_idx`` (the token that
    fills the sequence after the end), ``num_truncated`` (labels cut to ``max_seq_len`` so far).
    """

    def __init__(self, dictionary: Dictionary | dict, max_seq_len: int = 25, beam_width: int = 1) -> None:
        self.dictionary = dictionary if isinstance(dictionary, Dictionary) else TASK_UTILS.build(
            dictionary, key_path='dictionary')
        d = self.dictionary
        if d.start_idx is None or d.end_idx is None:
            raise ValueError(f'AttentionCodec: the dictionary ({d.dict_file}) needs with_start=True and '
                             'with_end=True (optionally same_start_end=True): an attention decoder starts from the '
                             'start token and stops at the end token')
        if int(max_seq_len) < 2:
            raise ValueError(f'AttentionCodec: max_seq_len must be >= 2 (one character and the end token), got '
                             f'{max_seq_len}')
        if int(beam_width) < 1:
            raise ValueError(f'AttentionCodec: beam_width must be >= 1, got {beam_width}')
        self.max_seq_len, self.beam_width = int(max_seq_len), int(beam_width)
        self.num_classes = len(d)
        self.start_idx, self.end_idx = d.start_idx, d.end_idx
        self.pad_idx = d.padding_idx if d.padding_idx is not None else d.end_idx
        self.num_truncated = 0
        # tokens that never appear in a decoded string (the end token stops the reading before it)
        self._skipped = {i for i in (d.start_idx, d.padding_idx) if i is not None and i != d.end_idx}

    def __repr__(self) -> str:
        return (f'AttentionCodec({self.dictionary!r}, num_classes={self.num_classes}, start={self.start_idx}, '
                f'end={self.end_idx}, pad={self.pad_idx}, max_seq_len={self.max_seq_len}, '
                f'beam_width={self.beam_width})')

    # -- encode ----------------------------------------------------------------------------------
    def encode_one(self, text: str) -> list[int]:
        """``[start, chars..., end]`` of one label (case-folded, unknown characters handled and counted by the
        dictionary), cut to ``max_seq_len + 1`` tokens."""
        seq = [self.start_idx, *self.dictionary.str2idx(text), self.end_idx]
        if len(seq) > self.max_seq_len + 1:
            self.num_truncated += 1
            seq = seq[:self.max_seq_len + 1]
        return seq

    def encode(self, texts: Sequence[str]) -> tuple[torch.Tensor, torch.Tensor]:
        """``(padded, lengths)``: int64 ``N x (max_seq_len + 1)`` token sequences (layout in the module
        docstring) and int64 ``N`` lengths (start + characters + end, before padding)."""
        seqs = [self.encode_one(t) for t in texts]
        padded = torch.full((len(seqs), self.max_seq_len + 1), self.pad_idx, dtype=torch.int64)
        for i, s in enumerate(seqs):
            padded[i, :len(s)] = torch.tensor(s, dtype=torch.int64)
        return padded, torch.tensor([len(s) for s in seqs], dtype=torch.int64)

    # -- decode ----------------------------------------------------------------------------------
    def tokens2text(self, tokens: Sequence[int], scores: Sequence[float] | None = None
                    ) -> tuple[str, list[float]]:
        """``(text, char_scores)`` of one decoded token sequence (the first token is the first prediction,
        not the start token); reading stops at the first end token. ``scores``: the probability of each token
        (default 1.0 each)."""
        tokens = [int(t) for t in tokens]
        scores = [1.0] * len(tokens) if scores is None else [float(s) for s in scores]
        if len(scores) != len(tokens):
            raise ValueError(f'AttentionCodec.tokens2text: {len(scores)} scores for {len(tokens)} tokens')
        kept, kept_scores = [], []
        for t, s in zip(tokens, scores):
            if t == self.end_idx:
                break
            if t in self._skipped:
                continue
            kept.append(t)
            kept_scores.append(s)
        return self.dictionary.idx2str(kept), kept_scores

    def decode(self, probs: torch.Tensor | np.ndarray) -> list[tuple[str, list[float]]]:
        """Greedy reading of N x T x C per-step class probabilities (softmax outputs, e.g. ``mode='tensor'``):
        the best class per step, up to the first end token. Returns N ``(text, char_scores)``."""
        if isinstance(probs, torch.Tensor):
            probs = probs.detach().float().cpu().numpy()
        probs = np.asarray(probs)
        if probs.ndim != 3 or probs.shape[2] != self.num_classes:
            raise ValueError(f'AttentionCodec.decode: expected N x T x {self.num_classes} probabilities, got shape '
                             f'{probs.shape}')
        best = probs.argmax(-1)
        best_p = np.take_along_axis(probs, best[..., None], -1)[..., 0]
        return [self.tokens2text(b.tolist(), p.tolist()) for b, p in zip(best, best_p)]
