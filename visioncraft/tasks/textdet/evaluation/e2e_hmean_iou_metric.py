"""E2EHmeanIOUMetric: end-to-end text spotting (ICDAR 2015 "end-to-end" protocol): a word counts when its
detection matches a ground truth AND its transcription is right.

Built on :class:`~visioncraft.tasks.textdet.evaluation.HmeanIOUMetric` (same polygon IoU, do-not-care
handling, score-threshold sweep and hmean); only the true-positive count differs. Text spotting joins the
two tasks, so this module imports the text-detection metric.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from visioncraft.registry import METRICS
from visioncraft.structures import DataSample, InstanceData

from .hmean_iou_metric import HmeanIOUMetric, count_matches, match_pairs

__all__ = ['E2EHmeanIOUMetric', 'e2e_text_match']

#: the punctuation the ICDAR 2015 end-to-end script lets a prediction leave out at a word's start or end
ICDAR_SPECIAL_CHARACTERS = "'!?.:,*\"()·[]/"


def e2e_text_match(gt: str, pred: str, case_sensitive: bool = False,
                   special_characters: str = ICDAR_SPECIAL_CHARACTERS) -> bool:
    """Whether ``pred`` is a right transcription of ``gt`` under the ICDAR 2015 end-to-end rule.

    Both are upper-cased unless ``case_sensitive``. Equal strings match; otherwise a prediction may leave
    out ONE character of ``special_characters`` at the start of ``gt``, at its end, or both (``gt='(CAFE)'``
    accepts ``'CAFE'``, ``'(CAFE'`` and ``'CAFE)'``). Nothing is removed from the prediction.
    """
    if not case_sensitive:
        gt, pred = gt.upper(), pred.upper()
    if gt == pred:
        return True
    if not gt or not special_characters:
        return False
    head, tail = gt[0] in special_characters, gt[-1] in special_characters
    return ((head and gt[1:] == pred) or (tail and gt[:-1] == pred)
            or (head and tail and len(gt) >= 2 and gt[1:-1] == pred))


def _texts(instances: InstanceData | None, n: int, what: str, k: int) -> list[str]:
    texts = None if instances is None else instances.get('texts')
    if texts is None:
        if n == 0:
            return []
        raise KeyError(f'E2EHmeanIOUMetric: data sample {k}: {what} has no "texts" (list of {n} str); '
                       + ('the test pipeline needs LoadOCRAnnotations(with_text=True)' if what.startswith('gt')
                          else 'the end-to-end model must set pred_instances.texts'))
    texts = list(texts)
    if len(texts) != n:
        raise ValueError(f'E2EHmeanIOUMetric: data sample {k}: {what} has {n} polygons but {len(texts)} texts')
    bad = [t for t in texts if not isinstance(t, str)]
    if bad:
        raise TypeError(f'E2EHmeanIOUMetric: data sample {k}: {what}.texts must be str, got {bad[0]!r}')
    return texts


@METRICS.register_module()
class E2EHmeanIOUMetric(HmeanIOUMetric):
    """End-to-end precision, recall and hmean, best over detection-score thresholds.

    Per image, as :class:`HmeanIOUMetric`: predictions scoring below the lowest threshold are dropped, and
    those covering a do-not-care ground truth (``gt_instances.ignored``) by more than
    ``ignore_precision_thr`` of their area are discarded (neither hits nor false positives). Then, for each
    threshold, among the remaining predictions scoring ``>= thr``:

    * ``strategy='vanilla'`` (the ICDAR 2015 end-to-end script, MMOCR's default): ground truths and
      predictions are paired one-to-one by IoU ``> match_iou_thr`` in index order, exactly as for detection;
      a pair is a true positive when :func:`e2e_text_match` accepts its texts.
    * ``strategy='max_matching'``: a maximum one-to-one matching among the pairs with IoU ``> match_iou_thr``
      AND matching texts.

    ``precision = TP / #predictions``, ``recall = TP / #non-ignored ground truths``, ``hmean`` their harmonic
    mean, at the threshold with the best hmean (the lowest on a tie).

    Inputs (``process``): ``pred_instances`` with ``polygons`` (K flat float arrays, ORIGINAL-image pixels),
    ``scores`` (float K) and ``texts`` (K str); ``gt_instances`` with ``polygons``, ``ignored`` (bool N) and
    ``texts`` (N str; ``LoadOCRAnnotations(with_text=True)``).

    Args:
        case_sensitive: compare texts as written (default: upper-cased, as the ICDAR script).
        special_characters: see :func:`e2e_text_match`; ``''`` asks for equal strings.
        match_iou_thr, ignore_precision_thr, pred_score_thrs, strategy, collect_device, prefix: as
            :class:`HmeanIOUMetric`.

    Returns ``{'precision', 'recall', 'hmean', 'best_score_thr'}`` with the prefix ``e2e`` by default (not
    ``icdar``, so the detection and end-to-end numbers can sit in one evaluator).
    """

    default_prefix = 'e2e'

    def __init__(self, match_iou_thr: float = 0.5, ignore_precision_thr: float = 0.5,
                 pred_score_thrs: dict | Sequence[float] = dict(start=0.3, stop=0.9, step=0.1),
                 strategy: str = 'vanilla', case_sensitive: bool = False,
                 special_characters: str = ICDAR_SPECIAL_CHARACTERS, collect_device: str = 'cpu',
                 prefix: str | None = None) -> None:
        super().__init__(match_iou_thr=match_iou_thr, ignore_precision_thr=ignore_precision_thr,
                         pred_score_thrs=pred_score_thrs, strategy=strategy, collect_device=collect_device,
                         prefix=prefix)
        self.case_sensitive = bool(case_sensitive)
        self.special_characters = str(special_characters)

    def process(self, data_batch: Any, data_samples: Sequence[DataSample]) -> None:
        """Append, per sample, ``(tp, n_pred)`` per threshold and the number of non-ignored ground truths."""
        for k, sample in enumerate(data_samples):
            gt_polys, gt_ign, pred_polys, scores = self._read_polygons(sample, k)
            gt_texts = _texts(sample.get('gt_instances'), len(gt_polys), 'gt_instances', k)
            pred_texts = _texts(sample.get('pred_instances'), len(pred_polys), 'pred_instances', k)
            hits, pred_ign, keep = self._match_image(gt_polys, gt_ign, pred_polys, scores)
            scores = scores[keep]
            pred_texts = [t for t, ok in zip(pred_texts, keep) if ok]
            right = np.array([[e2e_text_match(g, p, self.case_sensitive, self.special_characters)
                               for p in pred_texts] for g in gt_texts], dtype=bool).reshape(hits.shape)
            tp, n_pred = [], []
            for thr in self.pred_score_thrs:
                valid = (scores >= thr - 1e-12) & ~pred_ign
                if self.strategy == 'vanilla':
                    sub = right[:, valid]
                    tp.append(sum(int(sub[i, j]) for i, j in match_pairs(hits[:, valid], 'vanilla')))
                else:
                    tp.append(count_matches(hits[:, valid] & right[:, valid], 'max_matching'))
                n_pred.append(int(valid.sum()))
            self.results.append(dict(tp=np.asarray(tp), n_pred=np.asarray(n_pred), n_gt=int((~gt_ign).sum())))
