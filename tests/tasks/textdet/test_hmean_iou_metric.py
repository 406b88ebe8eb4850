"""HmeanIOUMetric on hand-made cases with known answers."""
import numpy as np
import pytest
import torch

import visioncraft  # noqa: F401
from visioncraft.registry import METRICS
from visioncraft.structures import DataSample, InstanceData
from visioncraft.tasks.textdet.evaluation import count_matches


def box(x0, y0, x1, y1):
    return np.array([x0, y0, x1, y0, x1, y1, x0, y1], np.float32)


def sample(gts, preds, scores=None, ignored=None):
    s = DataSample()
    s.gt_instances = InstanceData(polygons=list(gts), ignored=torch.tensor(
        ignored if ignored is not None else [False] * len(gts), dtype=torch.bool))
    s.pred_instances = InstanceData(polygons=list(preds), scores=torch.tensor(
        scores if scores is not None else [1.0] * len(preds), dtype=torch.float32))
    return s


def run(samples, **kw):
    m = METRICS.build(dict(type='HmeanIOUMetric', **kw))
    m.process(None, samples)
    return m.evaluate(len(samples))


def test_exact_match():
    r = run([sample([box(0, 0, 10, 10), box(20, 0, 30, 10)], [box(0, 0, 10, 10), box(20, 0, 30, 10)])])
    assert r['icdar/precision'] == r['icdar/recall'] == r['icdar/hmean'] == 1.0


def test_overlap_above_and_below_threshold():
    # IoU 60/100... pred (0,0,10,10) vs gt (0,0,10,6) -> 60/100 = 0.6 > 0.5 hit; (0,0,10,4) -> 0.4 miss
    assert run([sample([box(0, 0, 10, 6)], [box(0, 0, 10, 10)])])['icdar/hmean'] == 1.0
    assert run([sample([box(0, 0, 10, 4)], [box(0, 0, 10, 10)])])['icdar/hmean'] == 0.0
    # exactly 0.5 is not a match (IoU must exceed match_iou_thr)
    assert run([sample([box(0, 0, 10, 5)], [box(0, 0, 10, 10)])])['icdar/hmean'] == 0.0


def test_split_one_gt_two_preds():
    r = run([sample([box(0, 0, 20, 10)], [box(0, 0, 10, 10), box(10, 0, 20, 10)])])
    assert (r['icdar/precision'], r['icdar/recall']) == (0.0, 0.0)  # each half has IoU 0.5


def test_merged_one_pred_two_gts_matches_once():
    r = run([sample([box(0, 0, 20, 10), box(20, 0, 22, 10)], [box(0, 0, 22, 10)])])
    assert r['icdar/precision'] == 1.0 and r['icdar/recall'] == 0.5
    assert r['icdar/hmean'] == pytest.approx(2 / 3)


def test_ignored_gt_discards_overlapping_pred():
    gts = [box(0, 0, 10, 10), box(50, 50, 60, 60)]
    preds = [box(0, 0, 10, 10), box(51, 51, 60, 60), box(100, 100, 110, 110)]
    r = run([sample(gts, preds, ignored=[False, True])])
    # pred 2 lies inside the do-not-care gt: dropped; pred 3 is a false positive; the ignored gt is not counted
    assert r['icdar/precision'] == 0.5 and r['icdar/recall'] == 1.0


def test_empty_images_and_dataset_level_sums():
    r = run([sample([], []), sample([box(0, 0, 10, 10)], []), sample([], [box(0, 0, 5, 5)]),
             sample([box(0, 0, 10, 10)], [box(0, 0, 10, 10)])])
    assert r['icdar/precision'] == 0.5 and r['icdar/recall'] == 0.5 and r['icdar/hmean'] == 0.5
    assert run([sample([], [])])['icdar/hmean'] == 0.0


def test_best_score_threshold():
    gts = [box(0, 0, 10, 10), box(20, 0, 30, 10)]
    preds = [box(0, 0, 10, 10), box(20, 0, 30, 10), box(50, 0, 60, 10), box(70, 0, 80, 10)]
    r = run([sample(gts, preds, scores=[0.95, 0.85, 0.5, 0.2])])
    # thr 0.3..0.5: 3 preds -> P 2/3, R 1; thr 0.6..0.8: P 1, R 1 (best, first); 0.9: P 1, R 0.5
    assert r['icdar/hmean'] == 1.0 and r['icdar/best_score_thr'] == pytest.approx(0.6)
    r = run([sample(gts, preds, scores=[0.95, 0.85, 0.5, 0.2])], pred_score_thrs=[0.1, 0.9])
    # thr 0.1: P 1/2, R 1; thr 0.9: P 1, R 1/2: a tie, the lowest threshold wins
    assert r['icdar/hmean'] == pytest.approx(2 / 3) and r['icdar/best_score_thr'] == 0.1
    assert (r['icdar/precision'], r['icdar/recall']) == (0.5, 1.0)


def test_matching_strategies_differ():
    hits = np.array([[True, True], [True, False]])
    assert count_matches(hits, 'vanilla') == 1  # gt0 takes pred0, gt1 is left out
    assert count_matches(hits, 'max_matching') == 2


def test_multi_batch_and_errors():
    m = METRICS.build(dict(type='HmeanIOUMetric', prefix='x'))
    m.process(None, [sample([box(0, 0, 10, 10)], [box(0, 0, 10, 10)])])
    m.process(None, [sample([box(0, 0, 10, 10)], [])])
    assert m.evaluate(2)['x/recall'] == 0.5
    with pytest.raises(KeyError, match='gt_instances'):
        m.process(None, [DataSample()])
    with pytest.raises(ValueError, match='strategy'):
        METRICS.build(dict(type='HmeanIOUMetric', strategy='best'))
