"""Text-recognition metrics with MMOCR 1.x's names and definitions: WordMetric, CharMetric, OneMinusNEDMetric.

Every metric reads two strings per data sample: ``gt_text`` (the label) and ``pred_text`` (the recogniser's
output), from a :class:`~visioncraft.structures.DataSample` (the evaluator converts dict samples). MMOCR's
``LabelData(item=...)`` wrappers (anything with an ``item`` attribute, or the dict ``to_dict()`` makes of one)
are unwrapped. They append one entry per sample to ``self.results``, so they work the same in one process or
many (see :class:`~visioncraft.evaluation.BaseMetric`).

Normalisation shared by the ``ignore_case_symbol`` word accuracy, CharMetric and OneMinusNEDMetric:
``re.sub(valid_symbol, '', text.lower())``. The default ``valid_symbol`` ``[^A-Z^a-z^0-9^\\u4e00-\\u9fa5]`` is
MMOCR's: it removes every character that is not an ASCII letter, an ASCII digit, a CJK unified ideograph or
``^`` (the ``^`` after the first one are literal inside a character class, so ``^`` survives, as in MMOCR).
Accented letters are removed too: ``'Café'`` becomes ``'caf'``.

Unlike MMOCR, values are not rounded to 4 decimals, and denominators are not padded with 1e-8 (a metric over
zero characters is 0.0).
"""
from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from difflib import SequenceMatcher
from typing import Any

from visioncraft.evaluation.metric import BaseMetric
from visioncraft.registry import METRICS
from visioncraft.structures import DataSample

__all__ = ['WordMetric', 'CharMetric', 'OneMinusNEDMetric', 'normalize_text', 'matched_chars', 'read_text',
           'DEFAULT_VALID_SYMBOL']

#: MMOCR's default pattern of the characters removed by the symbol-insensitive metrics
DEFAULT_VALID_SYMBOL = '[^A-Z^a-z^0-9^\u4e00-\u9fa5]'
_WORD_MODES = ('exact', 'ignore_case', 'ignore_case_symbol')


def read_text(sample: DataSample, key: str, k: int, metric: str) -> str:
    """``sample.get(key)`` as a str; a ``LabelData``-like ``item`` is unwrapped. A missing or non-string value
    raises an error naming the metric, the sample index ``k`` and the key."""
    value = sample.get(key)
    if value is not None and not isinstance(value, str):
        # MMOCR's LabelData(item=...), or the dict its to_dict() gives
        item = value.get('item') if isinstance(value, Mapping) else getattr(value, 'item', None)
        value = item if isinstance(item, str) else value
    if value is None:
        hint = ('the test pipeline must pack the label (PackTextRecogInputs puts gt_text)' if key.startswith('gt')
                else "the model must predict in mode='predict' (the recogniser sets pred_text)")
        raise KeyError(f'{metric}: data sample {k} has no {key!r}; {hint}')
    if not isinstance(value, str):
        raise TypeError(f'{metric}: data sample {k}: {key} must be a str, got {type(value).__name__}: {value!r}')
    return value


def normalize_text(text: str, pattern: re.Pattern | str = DEFAULT_VALID_SYMBOL) -> str:
    """``text`` lower-cased, then every character matched by ``pattern`` removed (MMOCR's normalisation)."""
    return re.sub(pattern, '', text.lower())


def matched_chars(pred: str, gt: str) -> int:
    """Characters of ``pred`` matched in ``gt``: the total length of the ``'equal'`` blocks of
    ``difflib.SequenceMatcher(None, pred, gt)`` (MMOCR's definition; ``autojunk`` is off here, which changes
    nothing below 200 characters). SequenceMatcher takes the longest common substring, then recurses left
    and right of it, so the count equals the longest common subsequence (LCS) on most words but can be
    lower: ``matched_chars('bba', 'baba') == 2`` while the LCS ``'bba'`` has 3.
    """
    return sum(block.size for block in SequenceMatcher(None, pred, gt, autojunk=False).get_matching_blocks())


class _TextMetric(BaseMetric):
    default_prefix = 'recog'

    def __init__(self, valid_symbol: str = DEFAULT_VALID_SYMBOL, collect_device: str = 'cpu',
                 prefix: str | None = None) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix)
        try:
            self.valid_symbol = re.compile(valid_symbol)
        except (re.error, TypeError) as exc:
            raise ValueError(f'{type(self).__name__}: valid_symbol {valid_symbol!r} is not a valid regular '
                             f'expression ({exc})') from None

    def _pairs(self, data_samples: Sequence[DataSample]):
        name = type(self).__name__
        for k, sample in enumerate(data_samples):
            yield read_text(sample, 'gt_text', k, name), read_text(sample, 'pred_text', k, name)


@METRICS.register_module()
class WordMetric(_TextMetric):
    """Word accuracy: the share of samples whose predicted text equals the label.

    Args:
        mode: ``'exact'`` (-> ``word_acc``), ``'ignore_case'`` (both lower-cased -> ``word_acc_ignore_case``),
            ``'ignore_case_symbol'`` (both normalised, see the module docstring ->
            ``word_acc_ignore_case_symbol``; the academic benchmarks' number) or a list of them.
        valid_symbol: regular expression of the characters removed in ``'ignore_case_symbol'`` mode.
        collect_device, prefix: see :class:`~visioncraft.evaluation.BaseMetric` (default prefix ``recog``).

    Returns the keys of the modes asked for, each ``matches / samples`` in [0, 1].
    """

    def __init__(self, mode: str | Sequence[str] = 'ignore_case_symbol', valid_symbol: str = DEFAULT_VALID_SYMBOL,
                 collect_device: str = 'cpu', prefix: str | None = None) -> None:
        super().__init__(valid_symbol=valid_symbol, collect_device=collect_device, prefix=prefix)
        modes = [mode] if isinstance(mode, str) else list(mode)
        bad = [m for m in modes if m not in _WORD_MODES]
        if bad or not modes:
            raise ValueError(f'WordMetric: mode must be one of {_WORD_MODES} or a non-empty list of them, got '
                             f'{mode!r}')
        self.mode = tuple(m for m in _WORD_MODES if m in modes)

    def process(self, data_batch: Any, data_samples: Sequence[DataSample]) -> None:
        """Append, per sample, a dict ``mode -> bool`` (the prediction matches under that mode)."""
        for gt, pred in self._pairs(data_samples):
            entry = {}
            if 'exact' in self.mode:
                entry['exact'] = pred == gt
            if 'ignore_case' in self.mode:
                entry['ignore_case'] = pred.lower() == gt.lower()
            if 'ignore_case_symbol' in self.mode:
                entry['ignore_case_symbol'] = (normalize_text(pred, self.valid_symbol)
                                               == normalize_text(gt, self.valid_symbol))
            self.results.append(entry)

    def compute_metrics(self, results: list[Any]) -> dict[str, float]:
        keys = dict(exact='word_acc', ignore_case='word_acc_ignore_case',
                    ignore_case_symbol='word_acc_ignore_case_symbol')
        n = len(results)
        return {keys[m]: (sum(bool(r[m]) for r in results) / n if n else 0.0) for m in self.mode}


@METRICS.register_module()
class CharMetric(_TextMetric):
    """Character precision and recall over the dataset (MMOCR's definition).

    Both texts are normalised (lower-cased, ``valid_symbol`` characters removed). Per sample,
    ``tp = matched_chars(pred, gt)`` (see :func:`matched_chars`); over the dataset
    ``char_recall = sum(tp) / sum(len(gt))`` and ``char_precision = sum(tp) / sum(len(pred))`` (0.0 when
    the denominator is 0), lengths in characters (code points) after normalisation.

    Returns ``{'char_recall', 'char_precision'}`` (prefix ``recog`` by default).
    """

    def process(self, data_batch: Any, data_samples: Sequence[DataSample]) -> None:
        """Append, per sample, ``dict(gt_chars, pred_chars, tp)`` counted on the normalised texts."""
        for gt, pred in self._pairs(data_samples):
            gt, pred = normalize_text(gt, self.valid_symbol), normalize_text(pred, self.valid_symbol)
            self.results.append(dict(gt_chars=len(gt), pred_chars=len(pred), tp=matched_chars(pred, gt)))

    def compute_metrics(self, results: list[Any]) -> dict[str, float]:
        tp = sum(r['tp'] for r in results)
        n_gt = sum(r['gt_chars'] for r in results)
        n_pred = sum(r['pred_chars'] for r in results)
        return dict(char_recall=tp / n_gt if n_gt else 0.0, char_precision=tp / n_pred if n_pred else 0.0)


@METRICS.register_module()
class OneMinusNEDMetric(_TextMetric):
    """One minus the mean normalised edit distance (MMOCR's ``1-N.E.D``, the ICDAR 2019 ReCTS / LSVT metric).

    Per sample, on the normalised texts (lower-cased, ``valid_symbol`` characters removed),
    ``ned = Levenshtein(pred, gt) / max(len(pred), len(gt))`` (rapidfuzz's
    ``Levenshtein.normalized_distance``: unit costs; 0 when both are empty). Returns
    ``{'1-N.E.D': 1 - mean(ned)}`` over the samples.
    """

    def process(self, data_batch: Any, data_samples: Sequence[DataSample]) -> None:
        """Append, per sample, ``dict(ned=float in [0, 1])``."""
        from rapidfuzz.distance import Levenshtein
        for gt, pred in self._pairs(data_samples):
            gt, pred = normalize_text(gt, self.valid_symbol), normalize_text(pred, self.valid_symbol)
            self.results.append(dict(ned=float(Levenshtein.normalized_distance(pred, gt))))

    def compute_metrics(self, results: list[Any]) -> dict[str, float]:
        n = len(results)
        return {'1-N.E.D': 1.0 - sum(r['ned'] for r in results) / n if n else 0.0}
