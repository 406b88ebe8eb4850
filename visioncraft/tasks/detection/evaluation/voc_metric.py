"""Pascal VOC-style detection metrics: per-class AP (VOC2007 11-point or VOC2012 area) and proposal recall.

Matching rule (the VOC devkit's): within one image and class, detections are taken by decreasing score; a
detection whose best IoU over all ground truth (difficult included) reaches the threshold is

* ignored (neither TP nor FP) when that best box is difficult (``ignored_instances``) or outside the scale range,
* a TP when that box is not yet matched, else an FP (no fall-back to the second-best box);

any other detection is an FP (with a scale range: only when its own area lies in the range). Difficult boxes
never count as ground truth, so missing them costs no recall.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from visioncraft.evaluation.metric import BaseMetric
from visioncraft.registry import METRICS
from visioncraft.structures import DataSample, to_numpy

from ._utils import boxes_of, instances_of, labels_of

__all__ = ['VOCMetric', 'bbox_iou', 'average_precision', 'tpfp_image', 'eval_map', 'eval_recalls']

_EPS = np.finfo(np.float32).eps


def _areas(boxes: np.ndarray, legacy: bool) -> np.ndarray:
    extra = 1.0 if legacy else 0.0
    return (boxes[:, 2] - boxes[:, 0] + extra) * (boxes[:, 3] - boxes[:, 1] + extra)


def bbox_iou(a: np.ndarray, b: np.ndarray, legacy: bool = False) -> np.ndarray:
    """IoU matrix (len(a) x len(b)) of xyxy boxes; ``legacy`` counts pixels inclusively (width = x2 - x1 + 1)."""
    a = np.asarray(a, dtype=np.float64).reshape(-1, 4)
    b = np.asarray(b, dtype=np.float64).reshape(-1, 4)
    extra = 1.0 if legacy else 0.0
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    wh = np.clip(rb - lt + extra, 0, None)
    inter = wh[..., 0] * wh[..., 1]
    union = _areas(a, legacy)[:, None] + _areas(b, legacy)[None, :] - inter
    return inter / np.maximum(union, _EPS)


def average_precision(recall: np.ndarray, precision: np.ndarray, mode: str = 'area') -> float:
    """AP of one precision/recall curve (points in decreasing-score order).

    ``'area'`` (VOC2010+): area under the curve after making precision monotonically non-increasing.
    ``'11points'`` (VOC2007): mean over t in {0, 0.1, ..., 1} of the best precision at recall >= t.
    """
    recall = np.asarray(recall, dtype=np.float64)
    precision = np.asarray(precision, dtype=np.float64)
    if mode == 'area':
        mrec = np.concatenate([[0.0], recall, [1.0]])
        mpre = np.concatenate([[0.0], precision, [0.0]])
        mpre = np.maximum.accumulate(mpre[::-1])[::-1]
        steps = np.nonzero(mrec[1:] != mrec[:-1])[0]
        return float(np.sum((mrec[steps + 1] - mrec[steps]) * mpre[steps + 1]))
    if mode == '11points':
        total = 0.0
        for t in np.linspace(0, 1, 11):
            hit = precision[recall >= t]
            total += float(hit.max()) if hit.size else 0.0
        return total / 11
    raise ValueError(f"eval_mode must be 'area' or '11points', got {mode!r}")


def tpfp_image(dets: np.ndarray, gts: np.ndarray, gt_ignore: np.ndarray, iou_thr: float,
               area_range: tuple[float, float] | None = None, legacy: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """TP / FP flags (float 0/1, both 0 for an ignored detection) of one image's detections of one class.

    Args:
        dets: Kx4 xyxy, in the order the flags are returned (sort by score first).
        gts: Gx4 xyxy ground truth, difficult ones included.
        gt_ignore: G bool, True for difficult boxes.
        area_range: (min, max) area; ground truth outside it is ignored, unmatched detections outside it
            are not FPs.
    """
    k = len(dets)
    tp, fp = np.zeros(k), np.zeros(k)
    if k == 0:
        return tp, fp
    ignore = np.asarray(gt_ignore, dtype=bool).copy()
    det_in_range = np.ones(k, dtype=bool)
    if area_range is not None:
        lo, hi = area_range
        gt_area = _areas(gts, legacy)
        ignore |= (gt_area < lo) | (gt_area >= hi)
        det_area = _areas(dets, legacy)
        det_in_range = (det_area >= lo) & (det_area < hi)
    if len(gts) == 0:
        fp[det_in_range] = 1
        return tp, fp
    ious = bbox_iou(dets, gts, legacy)
    best = ious.argmax(axis=1)
    best_iou = ious[np.arange(k), best]
    covered = np.zeros(len(gts), dtype=bool)
    for i in range(k):  # sequential by nature: a box taken by a higher-scored detection is gone
        if best_iou[i] >= iou_thr:
            j = best[i]
            if ignore[j]:
                continue
            if covered[j]:
                fp[i] = 1
            else:
                covered[j] = True
                tp[i] = 1
        elif det_in_range[i]:
            fp[i] = 1
    return tp, fp


def eval_map(results: list[dict], num_classes: int, iou_thr: float = 0.5,
             area_range: tuple[float, float] | None = None, eval_mode: str = 'area',
             legacy: bool = False) -> tuple[float, np.ndarray, np.ndarray]:
    """VOC mAP over images.

    Args:
        results: one dict per image with ``bboxes`` (Kx4 xyxy), ``scores`` (K), ``labels`` (K) predictions and
            ``gt_bboxes``, ``gt_labels``, ``ignored_bboxes``, ``ignored_labels`` ground truth (numpy).
        num_classes: C; labels are 0..C-1.

    Returns:
        (mean AP over classes that have ground truth (0.0 when none has), per-class AP (C,), per-class
        number of counted ground-truth boxes (C,)).
    """
    aps = np.zeros(num_classes)
    num_gts = np.zeros(num_classes, dtype=np.int64)
    for c in range(num_classes):
        all_scores, all_tp, all_fp = [], [], []
        for r in results:
            gts = np.concatenate([r['gt_bboxes'][r['gt_labels'] == c], r['ignored_bboxes'][r['ignored_labels'] == c]])
            ignore = np.zeros(len(gts), dtype=bool)
            ignore[int((r['gt_labels'] == c).sum()):] = True
            if area_range is None:
                num_gts[c] += int((~ignore).sum())
            else:
                area = _areas(gts, legacy)
                num_gts[c] += int((~ignore & (area >= area_range[0]) & (area < area_range[1])).sum())
            keep = r['labels'] == c
            scores = r['scores'][keep]
            order = np.argsort(-scores, kind='stable')
            tp, fp = tpfp_image(r['bboxes'][keep][order], gts, ignore, iou_thr, area_range, legacy)
            all_scores.append(scores[order])
            all_tp.append(tp)
            all_fp.append(fp)
        if num_gts[c] == 0:
            continue
        scores = np.concatenate(all_scores) if all_scores else np.zeros(0)
        order = np.argsort(-scores, kind='stable')  # ties keep image order
        tp = np.concatenate(all_tp)[order] if all_tp else np.zeros(0)
        fp = np.concatenate(all_fp)[order] if all_fp else np.zeros(0)
        counted = (tp + fp) > 0  # ignored detections change no point of the curve
        tp, fp = np.cumsum(tp[counted]), np.cumsum(fp[counted])
        recall = tp / num_gts[c]
        precision = tp / np.maximum(tp + fp, _EPS)
        aps[c] = average_precision(recall, precision, eval_mode)
    valid = num_gts > 0
    mean_ap = float(aps[valid].mean()) if valid.any() else 0.0
    return mean_ap, aps, num_gts


def eval_recalls(gt_boxes: list[np.ndarray], proposals: list[np.ndarray], proposal_nums: Sequence[int],
                 iou_thrs: Sequence[float], legacy: bool = False) -> np.ndarray:
    """Class-agnostic recall of the top-n proposals: array (len(proposal_nums), len(iou_thrs)).

    Per image, ground truth and the first ``n`` proposals (already in decreasing-score order) are paired one to
    one, greedily by highest IoU; a box is recalled at threshold t when its pair's IoU >= t.
    """
    total = sum(len(g) for g in gt_boxes)
    out = np.zeros((len(proposal_nums), len(iou_thrs)))
    if total == 0:
        return out
    for i, n in enumerate(proposal_nums):
        matched = []
        for gts, props in zip(gt_boxes, proposals):
            best = np.zeros(len(gts))
            if len(gts) and len(props):
                ious = bbox_iou(gts, props[:n], legacy)
                for _ in range(min(ious.shape)):
                    g, p = np.unravel_index(int(ious.argmax()), ious.shape)
                    if ious[g, p] < 0:
                        break
                    best[g] = ious[g, p]
                    ious[g, :] = -1
                    ious[:, p] = -1
            matched.append(best)
        matched = np.concatenate(matched)
        for j, thr in enumerate(iou_thrs):
            out[i, j] = float((matched >= thr).sum()) / total
    return out


def _fmt(x: float) -> str:
    return f'{x:g}'


@METRICS.register_module()
class VOCMetric(BaseMetric):
    """Pascal VOC mAP or proposal recall.

    Args:
        iou_thrs: one IoU threshold or several.
        scale_ranges: optional list of (min, max) box side lengths (area = side**2, max may be ``inf``);
            each adds keys for boxes in that range only.
        metric: ``'mAP'`` or ``'recall'``.
        proposal_nums: numbers of top-scored proposals for ``'recall'``.
        eval_mode: ``'11points'`` (VOC2007) or ``'area'`` (VOC2012).
        legacy_coordinate: count pixels inclusively (width = x2 - x1 + 1) as the VOC devkit and MMDetection's
            VOCMetric do; off by default (boxes are continuous xyxy in VisionCraft).
        collect_device, prefix: see :class:`~visioncraft.evaluation.BaseMetric` (default prefix ``'pascal_voc'``).

    Keys, rounded to 3 decimals: ``'mAP'`` first (mean of the per-threshold values), then ``'AP50'``, ``'AP75'``...
    per threshold (percent of IoU, two digits); with scale ranges also ``'AP50_{min}-{max}'`` and
    ``'mAP_{min}-{max}'``. For ``'recall'``: ``'recall@{n}@{thr}'`` and ``'AR@{n}'`` (mean over thresholds).
    Ground truth is ``gt_instances``; difficult boxes are ``ignored_instances``. The class count is
    ``len(dataset_meta['classes'])`` when known, else the largest label + 1. Detections with equal scores are
    taken in dataset order.
    """

    default_prefix = 'pascal_voc'

    def __init__(self, iou_thrs: float | Sequence[float] = 0.5,
                 scale_ranges: Sequence[tuple[float, float]] | None = None, metric: str = 'mAP',
                 proposal_nums: Sequence[int] = (100, 300, 1000), eval_mode: str = '11points',
                 legacy_coordinate: bool = False, collect_device: str = 'cpu', prefix: str | None = None) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix)
        self.iou_thrs = [float(iou_thrs)] if isinstance(iou_thrs, (int, float)) else [float(t) for t in iou_thrs]
        if not self.iou_thrs or not all(0 < t <= 1 for t in self.iou_thrs):
            raise ValueError(f'VOCMetric: iou_thrs must be in (0, 1], got {iou_thrs!r}')
        if metric not in ('mAP', 'recall'):
            raise KeyError(f"VOCMetric: metric must be 'mAP' or 'recall', got {metric!r}")
        if eval_mode not in ('11points', 'area'):
            raise ValueError(f"VOCMetric: eval_mode must be '11points' or 'area', got {eval_mode!r}")
        self.scale_ranges = None if scale_ranges is None else [(float(a), float(b)) for a, b in scale_ranges]
        self.metric = metric
        self.proposal_nums = tuple(int(n) for n in proposal_nums)
        self.eval_mode = eval_mode
        self.legacy_coordinate = bool(legacy_coordinate)

    def process(self, data_batch: Any, data_samples: Sequence[DataSample]) -> None:
        """Store numpy predictions and ground truth, one dict per sample."""
        for sample in data_samples:
            pred = instances_of(sample, 'pred_instances')
            gt = instances_of(sample, 'gt_instances')
            ign = instances_of(sample, 'ignored_instances')
            boxes = boxes_of(pred)
            scores = pred.get('scores') if pred is not None else None
            gt_boxes, ign_boxes = boxes_of(gt), boxes_of(ign)
            self.results.append(dict(
                bboxes=boxes, labels=labels_of(pred, len(boxes)),
                scores=np.zeros(len(boxes)) if scores is None else to_numpy(scores, np.float64).reshape(-1),
                gt_bboxes=gt_boxes, gt_labels=labels_of(gt, len(gt_boxes)),
                ignored_bboxes=ign_boxes, ignored_labels=labels_of(ign, len(ign_boxes))))

    def _num_classes(self, results: list[dict]) -> int:
        classes = (self.dataset_meta or {}).get('classes')
        if classes is not None:
            return len(classes)
        top = [int(r[k].max()) for r in results for k in ('labels', 'gt_labels', 'ignored_labels') if len(r[k])]
        return max(top, default=-1) + 1

    def compute_metrics(self, results: list) -> dict[str, float]:
        out: dict[str, float] = {}
        if self.metric == 'recall':
            gts = [r['gt_bboxes'] for r in results]
            props = [r['bboxes'][np.argsort(-r['scores'], kind='stable')] for r in results]
            recalls = eval_recalls(gts, props, self.proposal_nums, self.iou_thrs, self.legacy_coordinate)
            for i, n in enumerate(self.proposal_nums):
                for j, thr in enumerate(self.iou_thrs):
                    out[f'recall@{n}@{_fmt(thr)}'] = round(float(recalls[i, j]), 3)
            for i, n in enumerate(self.proposal_nums):
                out[f'AR@{n}'] = round(float(recalls[i].mean()), 3)
            return out
        num_classes = self._num_classes(results)
        ranges: list[tuple[str, tuple[float, float] | None]] = [('', None)]
        if self.scale_ranges:
            ranges += [(f'_{_fmt(lo)}-{_fmt(hi)}', (lo ** 2, hi ** 2)) for lo, hi in self.scale_ranges]
        for suffix, area_range in ranges:
            maps = []
            for thr in self.iou_thrs:
                mean_ap, _, _ = eval_map(results, num_classes, thr, area_range, self.eval_mode,
                                         self.legacy_coordinate)
                maps.append(mean_ap)
                out[f'AP{int(round(thr * 100)):02d}{suffix}'] = round(mean_ap, 3)
            out[f'mAP{suffix}'] = round(float(np.mean(maps)), 3)
        first = {k: out.pop(k) for k in [k for k in out if k.startswith('mAP')]}
        return {**first, **out}

    def __repr__(self) -> str:
        return (f'VOCMetric(metric={self.metric!r}, iou_thrs={self.iou_thrs}, eval_mode={self.eval_mode!r}, '
                f'prefix={self.prefix!r})')
