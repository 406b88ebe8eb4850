"""E2EHmeanIOUMetric (detection matched by IoU AND text right) on hand-made cases with known answers."""
import numpy as np
import pytest
import torch

import visioncraft  # noqa: F401
from visioncraft.registry import METRICS
from visioncraft.structures import DataSample, InstanceData
from visioncraft.tasks.textdet.evaluation import count_matches, e2e_text_match, match_pairs


def box(x0, y0, x1, y1):
    return np.array([x0, y0, x1, y0, x1, y1, x0, y1], np.float32)


def sample(gts, gt_texts, preds, pred_texts, scores=None, ignored=None):
    s = DataSample()
    s.gt_instances = InstanceData(polygons=list(gts), texts=list(gt_texts), ignored=torch.tensor(
        ignored if ignored is not None else [False] * len(gts), dtype=torch.bool))
    s.pred_instances = InstanceData(polygons=list(preds), texts=list(pred_texts), scores=torch.tensor(
        scores if scores is not None else [1.0] * len(preds), dtype=torch.float32))
    return s


def run(samples, **kw):
    m = METRICS.build(dict(type='E2EHmeanIOUMetric', **kw))
    m.process(None, samples)
    return m.evaluate(len(samples))


A, B, C = box(0, 0, 10, 10), box(20, 0, 30, 10), box(40, 0, 50, 10)


def test_detected_and_read():
    # both boxes detected; 'cafe' reads CAFE (case-insensitive by default), 'BAT' is not 'BAR' -> TP 1 of 2 / 2
    r = run([sample([A, B], ['CAFE', 'BAR'], [A, B], ['cafe', 'BAT'])])
    assert (r['e2e/precision'], r['e2e/recall'], r['e2e/hmean']) == (0.5, 0.5, 0.5)
    r = run([sample([A, B], ['CAFE', 'BAR'], [A, B], ['cafe', 'BAT'])], case_sensitive=True)
    assert r['e2e/hmean'] == 0.0  # 'cafe' != 'CAFE' now
    # a right text on a box with IoU 0.4 is no hit: gt 10x10, pred 10x4 inside it
    r = run([sample([A], ['CAFE'], [box(0, 0, 10, 4)], ['CAFE'])])
    assert r['e2e/hmean'] == 0.0


def test_do_not_care_and_empty_images():
    gts, texts = [A, box(50, 50, 60, 60)], ['OPEN', '###']
    preds = [A, box(51, 51, 60, 60), C]
    # pred 2 lies inside the do-not-care gt: dropped whatever it reads; pred 3 (no gt) is a false positive;
    # the ignored gt is not counted -> TP 1, 2 predictions, 1 gt
    r = run([sample(gts, texts, preds, ['open', 'xyz', 'EXIT'], ignored=[False, True])])
    assert r['e2e/precision'] == 0.5 and r['e2e/recall'] == 1.0
    # dataset-level sums: image 2 has a gt and no prediction, image 3 nothing at all -> TP 1, 2 preds, 2 gts
    r = run([sample([A], ['A'], [A, B], ['A', 'B']), sample([A], ['A'], [], []), sample([], [], [], [])])
    assert (r['e2e/precision'], r['e2e/recall']) == (0.5, 0.5)


def test_special_characters_at_the_ends():
    assert e2e_text_match('(CAFE)', 'cafe')  # both ends may be left out
    assert e2e_text_match('(CAFE)', 'CAFE)') and e2e_text_match('CAFE.', 'CAFE')
    assert not e2e_text_match('CAFE', 'CAFE.')  # nothing is removed from the prediction
    assert not e2e_text_match('((CAFE', 'CAFE')  # only one character at each end
    assert not e2e_text_match('(CAFE)', 'CAFE', special_characters='')
    assert e2e_text_match('', '') and not e2e_text_match('', 'A') and not e2e_text_match('(', 'A')
    assert e2e_text_match('(', '')  # the one special character left out
    assert e2e_text_match('Ärger', 'ÄRGER')  # unicode upper-casing
    r = run([sample([A, B], ['(CAFE)', 'BAR'], [A, B], ['CAFE', 'BAR.'])])
    assert r['e2e/recall'] == 0.5  # '(CAFE)' ok, 'BAR.' for 'BAR' not


def test_vanilla_pairs_by_iou_first_then_checks_the_text():
    # pred 0 (exact box, wrong text) takes the gt in the IoU matching; pred 1 (IoU 0.9, right text) is left over
    gts, preds = [A], [A, box(0, 0, 10, 9)]
    r = run([sample(gts, ['AB'], preds, ['XX', 'AB'])])
    assert (r['e2e/precision'], r['e2e/recall']) == (0.0, 0.0)
    # max_matching pairs only on IoU AND right text: gt - pred 1 -> TP 1, 2 predictions
    r = run([sample(gts, ['AB'], preds, ['XX', 'AB'])], strategy='max_matching')
    assert (r['e2e/precision'], r['e2e/recall']) == (0.5, 1.0)


def test_best_score_threshold():
    preds, texts = [A, B, C], ['A', 'B', 'Q']
    # thr 0.3..0.5: 3 preds, TP 2 -> P 2/3, R 1; 0.6..0.8: 2 preds (A, B) -> P 1, R 1 (best, first); 0.9: A only
    r = run([sample([A, B], ['A', 'B'], preds, texts, scores=[0.95, 0.85, 0.5])])
    assert r['e2e/hmean'] == 1.0 and r['e2e/best_score_thr'] == pytest.approx(0.6)


def test_match_pairs_helper_and_errors():
    hits = np.array([[True, True], [True, False]])
    assert match_pairs(hits, 'vanilla') == [(0, 0)]
    assert match_pairs(hits, 'max_matching') == [(0, 1), (1, 0)]
    assert count_matches(hits, 'max_matching') == 2 and match_pairs(np.zeros((0, 3), bool)) == []
    m = METRICS.build(dict(type='E2EHmeanIOUMetric'))
    s = sample([A], ['A'], [A], ['A'])
    del s.pred_instances.texts
    with pytest.raises(KeyError, match='pred_instances has no "texts"'):
        m.process(None, [s])
    s = sample([A], ['A'], [A], ['A'])
    s.gt_instances = InstanceData(polygons=[A], ignored=torch.zeros(1, dtype=torch.bool))
    with pytest.raises(KeyError, match='with_text=True'):
        m.process(None, [s])
    with pytest.raises(ValueError, match='strategy'):
        METRICS.build(dict(type='E2EHmeanIOUMetric', strategy='best'))
