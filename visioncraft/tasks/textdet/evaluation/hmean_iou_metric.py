"""HmeanIOUMetric: the ICDAR 2015 text-detection protocol (polygon IoU, precision / recall / hmean)."""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from visioncraft.evaluation.metric import BaseMetric
from visioncraft.registry import METRICS
from visioncraft.structures import DataSample, to_numpy

__all__ = ['HmeanIOUMetric', 'polygon_iou_matrix', 'count_matches', 'match_pairs']


def _shape(poly: np.ndarray):
    from shapely.geometry import Polygon
    xy = np.asarray(poly, dtype=np.float64).reshape(-1, 2)
    if len(xy) < 3:
        return Polygon()
    shape = Polygon(xy)
    return shape if shape.is_valid else shape.buffer(0)


def polygon_iou_matrix(gts: Sequence[Any], preds: Sequence[Any]) -> tuple[np.ndarray, np.ndarray]:
    """``(iou, inter_over_pred)``, both float64 G x P, between flat polygons (absolute pixels). Degenerate
    polygons (fewer than 3 points, zero area) overlap nothing."""
    g, p = [_shape(x) for x in gts], [_shape(x) for x in preds]
    iou = np.zeros((len(g), len(p)))
    iop = np.zeros((len(g), len(p)))
    for i, a in enumerate(g):
        for j, b in enumerate(p):
            if a.is_empty or b.is_empty or not a.intersects(b):
                continue
            inter = a.intersection(b).area
            union = a.area + b.area - inter
            iou[i, j] = inter / union if union > 0 else 0.0
            iop[i, j] = inter / b.area if b.area > 0 else 0.0
    return iou, iop


def count_matches(hits: np.ndarray, strategy: str = 'vanilla') -> int:
    """Number of one-to-one gt / prediction matches in the bool G x P ``hits`` matrix.

    ``'vanilla'`` (ICDAR 2015's script, MMOCR's default): greedily, gt by gt and prediction by prediction in
    index order, a pair matches when neither is matched yet. ``'max_matching'``: a maximum bipartite matching.
    """
    return len(match_pairs(hits, strategy))


def match_pairs(hits: np.ndarray, strategy: str = 'vanilla') -> list[tuple[int, int]]:
    """The ``(gt index, prediction index)`` pairs of the one-to-one matching :func:`count_matches` counts."""
    if hits.size == 0:
        return []
    if strategy == 'max_matching':
        match_of_pred = [-1] * hits.shape[1]
        adj = [np.nonzero(row)[0].tolist() for row in hits]

        def augment(i: int, seen: set) -> bool:  # Kuhn's augmenting path
            for j in adj[i]:
                if j not in seen:
                    seen.add(j)
                    if match_of_pred[j] < 0 or augment(match_of_pred[j], seen):
                        match_of_pred[j] = i
                        return True
            return False
        for i in range(hits.shape[0]):
            augment(i, set())
        return sorted((i, j) for j, i in enumerate(match_of_pred) if i >= 0)
    gt_used = np.zeros(hits.shape[0], bool)
    pred_used = np.zeros(hits.shape[1], bool)
    pairs = []
    for i, j in zip(*np.nonzero(hits)):
        if not gt_used[i] and not pred_used[j]:
            gt_used[i] = pred_used[j] = True
            pairs.append((int(i), int(j)))
    return pairs


@METRICS.register_module()
class HmeanIOUMetric(BaseMetric):
    """ICDAR 2015 text-detection precision, recall and hmean, best over score thresholds (as MMOCR).

    Per image: predictions whose intersection with a do-not-care ground truth covers more than
    ``ignore_precision_thr`` of their own area are discarded (they count neither as hits nor as false
    positives); the remaining predictions scoring ``>= thr`` are matched one-to-one to the non-ignored ground
    truths with polygon IoU ``> match_iou_thr`` (see :func:`count_matches`). Over the dataset:
    ``precision = TP / #pred``, ``recall = TP / #gt``, ``hmean = 2 P R / (P + R)`` (0 when a denominator is 0).
    The threshold with the best hmean is reported (on a tie, the lowest).

    Inputs (``process``): data samples holding ``pred_instances`` (``polygons``: list of K flat float arrays,
    ORIGINAL-image pixels; ``scores``: float K) and ``gt_instances`` (``polygons``; ``ignored`` bool N). The
    ground truth must be in original-image pixels too: in the test pipeline, LoadOCRAnnotations comes after
    the resize (MMOCR's order), so the packed polygons are the file's.

    Returns ``{'precision', 'recall', 'hmean', 'best_score_thr'}`` (prefixed ``icdar/`` by default).
    """

    default_prefix = 'icdar'

    def __init__(self, match_iou_thr: float = 0.5, ignore_precision_thr: float = 0.5,
                 pred_score_thrs: dict | Sequence[float] = dict(start=0.3, stop=0.9, step=0.1),
                 strategy: str = 'vanilla', collect_device: str = 'cpu', prefix: str | None = None) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix)
        if strategy not in ('vanilla', 'max_matching'):
            raise ValueError(f"HmeanIOUMetric: strategy must be 'vanilla' or 'max_matching', got {strategy!r}")
        if isinstance(pred_score_thrs, dict):
            start, stop, step = (float(pred_score_thrs[k]) for k in ('start', 'stop', 'step'))
            thrs = np.round(np.arange(start, stop + step / 2, step), 6)
        else:
            thrs = np.asarray(list(pred_score_thrs), dtype=np.float64)
        if thrs.size == 0:
            raise ValueError('HmeanIOUMetric: pred_score_thrs is empty')
        self.pred_score_thrs = thrs
        self.match_iou_thr, self.ignore_precision_thr = float(match_iou_thr), float(ignore_precision_thr)
        self.strategy = strategy

    def process(self, data_batch: Any, data_samples: Sequence[DataSample]) -> None:
        """Append, per sample, ``(tp, n_pred)`` per threshold and the number of non-ignored ground truths."""
        for k, sample in enumerate(data_samples):
            gt_polys, gt_ign, pred_polys, scores = self._read_polygons(sample, k)
            hits, pred_ign, keep = self._match_image(gt_polys, gt_ign, pred_polys, scores)
            scores = scores[keep]
            tp, n_pred = [], []
            for thr in self.pred_score_thrs:
                valid = (scores >= thr - 1e-12) & ~pred_ign
                tp.append(count_matches(hits[:, valid], self.strategy))
                n_pred.append(int(valid.sum()))
            self.results.append(dict(tp=np.asarray(tp), n_pred=np.asarray(n_pred), n_gt=int((~gt_ign).sum())))

    def _read_polygons(self, sample: DataSample, k: int) -> tuple[list, np.ndarray, list, np.ndarray]:
        """``(gt polygons, gt ignore flags bool N, predicted polygons, scores float64 K)`` of data sample ``k``."""
        name = type(self).__name__
        pred, gt = sample.get('pred_instances'), sample.get('gt_instances')
        if gt is None:
            raise KeyError(f'{name}: data sample {k} has no gt_instances (the test pipeline must '
                           'load annotations: LoadOCRAnnotations + PackTextDetInputs)')
        gt_polys = list(gt.get('polygons') or [])
        gt_ign = gt.get('ignored')
        gt_ign = np.zeros(len(gt_polys), bool) if gt_ign is None else to_numpy(gt_ign, bool).reshape(-1)
        pred_polys = [] if pred is None else list(pred.get('polygons') or [])
        scores = None if pred is None else pred.get('scores')
        scores = np.ones(len(pred_polys)) if scores is None else to_numpy(scores, np.float64).reshape(-1)
        if len(scores) != len(pred_polys) or len(gt_ign) != len(gt_polys):
            raise ValueError(f'{name}: sample {k}: {len(pred_polys)} predicted polygons but '
                             f'{len(scores)} scores, or {len(gt_polys)} gt polygons but {len(gt_ign)} flags')
        return gt_polys, gt_ign, pred_polys, scores

    def _match_image(self, gt_polys: list, gt_ign: np.ndarray, pred_polys: list, scores: np.ndarray
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(hits, pred_ignored, keep)`` of one image: ``keep`` (bool K) marks the predictions scoring at
        least the lowest threshold; ``hits`` (bool G x K') are the IoU matches among the kept ones, with
        do-not-care ground truths and the kept predictions they cover (``pred_ignored``, bool K') cleared."""
        keep = scores >= self.pred_score_thrs.min() - 1e-12
        pred_polys = [p for p, ok in zip(pred_polys, keep) if ok]
        iou, iop = polygon_iou_matrix(gt_polys, pred_polys)
        pred_ign = (iop[gt_ign] > self.ignore_precision_thr).any(axis=0) if gt_ign.any() \
            else np.zeros(len(pred_polys), bool)
        hits = iou > self.match_iou_thr
        hits[gt_ign] = False
        hits[:, pred_ign] = False
        return hits, pred_ign, keep

    def compute_metrics(self, results: list[Any]) -> dict[str, Any]:
        tp = np.sum([r['tp'] for r in results], axis=0).astype(np.float64)
        n_pred = np.sum([r['n_pred'] for r in results], axis=0).astype(np.float64)
        n_gt = float(sum(r['n_gt'] for r in results))
        recall = tp / n_gt if n_gt > 0 else np.zeros_like(tp)
        precision = np.divide(tp, n_pred, out=np.zeros_like(tp), where=n_pred > 0)
        denom = precision + recall
        hmean = np.divide(2 * precision * recall, denom, out=np.zeros_like(tp), where=denom > 0)
        best = int(np.argmax(hmean))
        return dict(precision=float(precision[best]), recall=float(recall[best]), hmean=float(hmean[best]),
                    best_score_thr=float(self.pred_score_thrs[best]))
