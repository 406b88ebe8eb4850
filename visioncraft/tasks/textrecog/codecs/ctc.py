"""CTCCodec: CTC training targets from label strings (encode) and strings from per-frame class probabilities
(decode: greedy or CTC prefix beam search), in one class so the class layout used in training and in inference
cannot drift.

Class layout (``blank``): the network predicts ``num_classes`` scores per frame.

* ``'first'`` (default; PaddleOCR's layout): class 0 is the CTC blank and class ``k`` is dictionary token
  ``k - 1``; ``num_classes = len(dictionary) + 1``.
* ``'last'``: class ``len(dictionary)`` is the blank and class ``k`` is token ``k``; ``num_classes = len + 1``.
* ``'padding'`` (MMOCR's layout): the dictionary's ``<PAD>`` token is the blank (the dictionary needs
  ``with_padding=True``); class ``k`` is token ``k``; ``num_classes = len(dictionary)``.

``nn.CTCLoss`` must be built with ``blank=codec.blank_idx`` (:class:`~visioncraft.tasks.textrecog.models.CTCHead`
does this).

Decoding. Greedy: the best class per frame, repeats merged, blanks removed. Prefix beam search (``beam_width`` >
1): the most probable label sequence summed over all its frame alignments (Graves 2006 / Hannun 2014), which can
beat greedy when the probability mass of one string is spread over many paths. ``beam_width=1`` is greedy
decoding (not a width-1 prefix search). Start / end / padding tokens are dropped from the text; ``<UKN>`` stays
as its token string.

Character scores: the probability of each output token at the first frame of that token in the best
alignment of the output (greedy: the argmax path, as MMOCR / PaddleOCR score it; beam search: the Viterbi
alignment of the chosen string). One score per token.
"""
from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch

from visioncraft.registry import TASK_UTILS

from .dictionary import Dictionary

__all__ = ['CTCCodec', 'ctc_greedy_path', 'ctc_prefix_beam_search', 'ctc_best_alignment']

_BLANKS = ('first', 'last', 'padding')
_NEG_INF = -math.inf


def ctc_greedy_path(probs: np.ndarray, blank: int) -> tuple[list[int], list[int]]:
    """Greedy CTC decoding of a T x C probability table: ``(classes, first frame of each class)``."""
    best = probs.argmax(axis=1) if len(probs) else np.zeros(0, np.int64)
    classes, frames = [], []
    prev = -1
    for t, c in enumerate(best.tolist()):
        if c != blank and c != prev:
            classes.append(c)
            frames.append(t)
        prev = c
    return classes, frames


def _logsumexp(a: float, b: float) -> float:
    if a == _NEG_INF:
        return b
    if b == _NEG_INF:
        return a
    m = max(a, b)
    return m + math.log(math.exp(a - m) + math.exp(b - m))


def ctc_prefix_beam_search(log_probs: np.ndarray, blank: int, beam_width: int,
                           prune_log_prob: float = math.log(1e-4)) -> tuple[list[int], float]:
    """CTC prefix beam search on a T x C table of log probabilities: ``(classes, log probability of that
    label sequence summed over the alignments the beam kept)``.

    Each prefix carries two log probabilities: of its paths ending in a blank and ending in its last class.
    At each frame only classes with ``log p >= prune_log_prob`` (and always the best class and each prefix's
    last class) extend the beams; the ``beam_width`` most probable prefixes survive. Ties are broken by the
    prefix itself, so the result is deterministic.
    """
    T, C = log_probs.shape
    beams: dict[tuple[int, ...], tuple[float, float]] = {(): (0.0, _NEG_INF)}
    for t in range(T):
        row = log_probs[t]
        cands = set(np.nonzero(row >= prune_log_prob)[0].tolist())
        cands.add(int(row.argmax()))
        cands.discard(blank)
        nxt: dict[tuple[int, ...], list[float]] = {}

        def slot(prefix):
            s = nxt.get(prefix)
            if s is None:
                s = nxt[prefix] = [_NEG_INF, _NEG_INF]
            return s

        for prefix, (pb, pnb) in beams.items():
            total = _logsumexp(pb, pnb)
            s = slot(prefix)
            s[0] = _logsumexp(s[0], total + float(row[blank]))
            last = prefix[-1] if prefix else None
            for c in cands | ({last} if last is not None else set()):
                p = float(row[c])
                if c == last:
                    s[1] = _logsumexp(s[1], pnb + p)       # the last class continues: same prefix
                    n = slot(prefix + (c,))
                    n[1] = _logsumexp(n[1], pb + p)        # blank in between: the class repeats
                else:
                    n = slot(prefix + (c,))
                    n[1] = _logsumexp(n[1], total + p)
        ranked = sorted(nxt.items(), key=lambda kv: (-_logsumexp(*kv[1]), kv[0]))[:beam_width]
        beams = {k: (v[0], v[1]) for k, v in ranked}
    best, (pb, pnb) = min(beams.items(), key=lambda kv: (-_logsumexp(*kv[1]), kv[0]))
    return list(best), _logsumexp(pb, pnb)


def ctc_best_alignment(log_probs: np.ndarray, classes: Sequence[int], blank: int) -> list[int]:
    """First frame of each class of ``classes`` in the most probable CTC alignment (Viterbi) of that label
    sequence on a T x C log-probability table. Raises ValueError when no alignment fits in T frames."""
    L = len(classes)
    if L == 0:
        return []
    T = log_probs.shape[0]
    ext = [blank]
    for c in classes:
        ext += [int(c), blank]
    S = len(ext)
    lp = log_probs[:, ext]                                   # T x S
    dp = np.full((T, S), _NEG_INF)
    back = np.zeros((T, S), dtype=np.int64)
    dp[0, 0] = lp[0, 0]
    dp[0, 1] = lp[0, 1]
    skip = np.zeros(S, dtype=bool)                           # s may come from s - 2
    for s in range(2, S):
        skip[s] = ext[s] != blank and ext[s] != ext[s - 2]
    for t in range(1, T):
        prev = dp[t - 1]
        cand = np.full((3, S), _NEG_INF)
        cand[0] = prev                                       # stay in s
        cand[1, 1:] = prev[:-1]                              # from s - 1
        cand[2, 2:] = np.where(skip[2:], prev[:-2], _NEG_INF)  # from s - 2 (skip a blank)
        arg = cand.argmax(axis=0)                            # ties: stay, then s - 1
        dp[t] = cand[arg, np.arange(S)] + lp[t]
        back[t] = np.arange(S) - arg
    end = S - 1 if dp[T - 1, S - 1] >= dp[T - 1, S - 2] else S - 2
    if dp[T - 1, end] == _NEG_INF:
        raise ValueError(f'ctc_best_alignment: {L} classes (with repeats) do not fit in {T} frames')
    states = [0] * T
    s = end
    for t in range(T - 1, -1, -1):
        states[t] = s
        s = back[t, s]
    first = {}
    for t, s in enumerate(states):
        if s % 2 == 1 and s not in first:
            first[s] = t
    return [first[2 * k + 1] for k in range(L)]


@TASK_UTILS.register_module()
class CTCCodec:
    """Encode label strings into ``nn.CTCLoss`` targets and decode per-frame probabilities into strings.

    Args:
        dictionary: a :class:`Dictionary` or its config (e.g. ``dict(type='Dictionary',
            builtin='lower_english_digits', case='lower')``).
        blank: where the CTC blank is (see the module docstring): ``'first'`` (index 0), ``'last'`` or
            ``'padding'`` (the dictionary's padding token, MMOCR's layout).
        beam_width: default of :meth:`decode`: 1 = greedy, > 1 = prefix beam search with that many beams.
        prune_prob: beam search extends prefixes only with classes at least this probable in a frame (and
            always the best class), which keeps it fast on real networks' peaked distributions.
    """

    def __init__(self, dictionary: Dictionary | dict, blank: str = 'first', beam_width: int = 1,
                 prune_prob: float = 1e-4) -> None:
        self.dictionary = dictionary if isinstance(dictionary, Dictionary) else TASK_UTILS.build(
            dictionary, key_path='dictionary')
        if blank not in _BLANKS:
            raise ValueError(f'CTCCodec: blank must be one of {_BLANKS}, got {blank!r}')
        if blank == 'padding' and self.dictionary.padding_idx is None:
            raise ValueError("CTCCodec: blank='padding' uses the dictionary's padding token as the CTC blank; "
                             'build the Dictionary with with_padding=True')
        if int(beam_width) < 1:
            raise ValueError(f'CTCCodec: beam_width must be >= 1, got {beam_width}')
        if not 0 < prune_prob < 1:
            raise ValueError(f'CTCCodec: prune_prob must be in (0, 1), got {prune_prob}')
        self.blank, self.beam_width, self.prune_prob = blank, int(beam_width), float(prune_prob)
        n = len(self.dictionary)
        self.offset = 1 if blank == 'first' else 0
        self.num_classes = n if blank == 'padding' else n + 1
        self.blank_idx = {'first': 0, 'last': n, 'padding': self.dictionary.padding_idx}[blank]
        # classes that never appear in a decoded string: the blank and start / end / padding tokens
        self._dropped = {self.blank_idx} | {i + self.offset for i in self.dictionary.special_indices}

    def __repr__(self) -> str:
        return (f'CTCCodec({self.dictionary!r}, blank={self.blank!r} (class {self.blank_idx}), '
                f'num_classes={self.num_classes}, beam_width={self.beam_width})')

    # -- encode ----------------------------------------------------------------------------------
    def text2classes(self, text: str) -> list[int]:
        """Class indices of ``text`` (case-folded; unknown characters handled and counted by the dictionary)."""
        return [i + self.offset for i in self.dictionary.str2idx(text)]

    def encode(self, texts: Sequence[str]) -> tuple[torch.Tensor, torch.Tensor]:
        """``(targets, target_lengths)`` for ``nn.CTCLoss``: int64 tensors, ``targets`` the concatenated class
        indices of all N texts (1-D, sum of lengths), ``target_lengths`` N lengths. An empty label (or one whose
        characters are all unknown and dropped) has length 0."""
        seqs = [self.text2classes(t) for t in texts]
        flat = [c for s in seqs for c in s]
        return torch.tensor(flat, dtype=torch.int64), torch.tensor([len(s) for s in seqs], dtype=torch.int64)

    # -- decode ----------------------------------------------------------------------------------
    def classes2text(self, classes: Sequence[int]) -> str:
        """The string of a decoded class sequence (blank, start, end and padding classes dropped)."""
        return self.dictionary.idx2str(c - self.offset for c in classes if c not in self._dropped)

    def decode_one(self, probs: np.ndarray, beam_width: int | None = None) -> tuple[str, list[float]]:
        """``(text, char_scores)`` from one T x C table of class probabilities (rows sum to 1)."""
        probs = np.asarray(probs, dtype=np.float64)
        if probs.ndim != 2 or probs.shape[1] != self.num_classes:
            raise ValueError(f'CTCCodec.decode: expected T x {self.num_classes} probabilities, got shape '
                             f'{probs.shape}')
        beam = self.beam_width if beam_width is None else int(beam_width)
        if beam <= 1 or len(probs) == 0:
            classes, frames = ctc_greedy_path(probs, self.blank_idx)
        else:
            log_probs = np.log(np.clip(probs, 1e-30, None))
            classes, _ = ctc_prefix_beam_search(log_probs, self.blank_idx, beam, math.log(self.prune_prob))
            frames = ctc_best_alignment(log_probs, classes, self.blank_idx)
        keep = [k for k, c in enumerate(classes) if c not in self._dropped]
        text = self.dictionary.idx2str(classes[k] - self.offset for k in keep)
        return text, [float(probs[frames[k], classes[k]]) for k in keep]

    def decode(self, probs: torch.Tensor | np.ndarray, lengths: Sequence[int] | None = None,
               beam_width: int | None = None) -> list[tuple[str, list[float]]]:
        """Decode N x T x C class probabilities (softmax outputs). ``lengths``: frames to read per sample (the
        rest is padding; see ``valid_ratio``), default all T. Returns N ``(text, char_scores)``."""
        if isinstance(probs, torch.Tensor):
            probs = probs.detach().float().cpu().numpy()
        probs = np.asarray(probs)
        if probs.ndim != 3:
            raise ValueError(f'CTCCodec.decode: expected N x T x C probabilities, got shape {probs.shape}')
        n, t = probs.shape[:2]
        lengths = [t] * n if lengths is None else [max(0, min(t, int(v))) for v in lengths]
        if len(lengths) != n:
            raise ValueError(f'CTCCodec.decode: {len(lengths)} lengths for {n} samples')
        return [self.decode_one(p[:k], beam_width) for p, k in zip(probs, lengths)]
