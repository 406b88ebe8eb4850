import numpy as np
import pytest
import torch

from visioncraft.registry import METRICS
from visioncraft.structures import DataSample, InstanceData
from visioncraft.tasks.detection.evaluation import VOCMetric
from visioncraft.tasks.detection.evaluation.voc_metric import average_precision, bbox_iou, eval_map, eval_recalls

A, B = 0, 1


def inst(boxes, labels, scores=None):
    fields = dict(bboxes=torch.tensor(boxes, dtype=torch.float32).reshape(-1, 4),
                  labels=torch.tensor(labels, dtype=torch.int64))
    if scores is not None:
        fields['scores'] = torch.tensor(scores, dtype=torch.float32)
    return InstanceData(**fields)


def hand_case(drop_difficult_match=False):
    """Two images, classes A and B (see the derivation in test_map_hand_computed).

    Image 1: GT A g1=[0,0,10,10], g2=[20,20,30,30]; difficult A d1=[40,40,50,50]; GT B gB=[100,100,120,140].
      preds A: p1 g1-exact .9 (TP), p2 d1-exact .8 (matches difficult: ignored), p3 g1-exact .7 (g1 taken: FP),
               p4 [60,60,70,70] .6 (FP); pred B: pB [100,100,120,130] .3 (IoU 600/800 = .75).
    Image 2: GT A g3=[0,0,10,10]. preds A: p6 [20,20,30,30] .95 (FP), p5 g3-exact .5 (TP);
      pred B: pB2 [5,5,15,15] .4 (FP, no B here).
    """
    pa = [[0, 0, 10, 10], [40, 40, 50, 50], [0, 0, 10, 10], [60, 60, 70, 70], [100, 100, 120, 130]]
    sa = [.9, .8, .7, .6, .3]
    la = [A, A, A, A, B]
    if drop_difficult_match:
        del pa[1], sa[1], la[1]
    s1 = DataSample(metainfo=dict(img_id=1, ori_shape=(200, 200)),
                    gt_instances=inst([[0, 0, 10, 10], [20, 20, 30, 30], [100, 100, 120, 140]], [A, A, B]),
                    ignored_instances=inst([[40, 40, 50, 50]], [A]),
                    pred_instances=inst(pa, la, sa))
    s2 = DataSample(metainfo=dict(img_id=2, ori_shape=(200, 200)),
                    gt_instances=inst([[0, 0, 10, 10]], [A]),
                    ignored_instances=inst(np.zeros((0, 4)), []),
                    pred_instances=inst([[20, 20, 30, 30], [0, 0, 10, 10], [5, 5, 15, 15]], [A, A, B], [.95, .5, .4]))
    return [s1, s2]


def evaluate(metric, samples, classes=('a', 'b')):
    metric.dataset_meta = dict(classes=classes)
    metric.process({}, samples)
    return metric.evaluate(len(samples))


def raw_results(samples):
    m = VOCMetric()
    m.process({}, samples)
    return m.results


def test_map_hand_computed():
    # Class A, all detections by score: p6 FP, p1 TP, p2 ignored, p3 FP, p4 FP, p5 TP; 3 counted GT (d1 is
    # difficult). Counted points: cum TP 0,1,1,1,2 / cum FP 1,1,2,3,3 ->
    #   recall 0, 1/3, 1/3, 1/3, 2/3; precision 0, 1/2, 1/3, 1/4, 2/5.
    #   area: precision envelope .5 on (0, 1/3], .4 on (1/3, 2/3], 0 after -> 1/3*.5 + 1/3*.4 = 0.3
    #   11 points: t=0..0.3 -> .5 (4x), t=0.4..0.6 -> .4 (3x), t=0.7..1 -> 0 -> 3.2 / 11
    # Class B: pB2 .4 FP, pB .3 TP (IoU .75), 1 GT: recall 0, 1; precision 0, 1/2 -> AP .5 in both modes.
    results = raw_results(hand_case())
    mean_ap, aps, num_gts = eval_map(results, 2, 0.5, eval_mode='area')
    assert num_gts.tolist() == [3, 1]
    assert aps == pytest.approx([0.3, 0.5], abs=1e-12) and mean_ap == pytest.approx(0.4, abs=1e-12)
    mean_ap, aps, _ = eval_map(results, 2, 0.5, eval_mode='11points')
    assert aps == pytest.approx([3.2 / 11, 0.5], abs=1e-12)
    assert mean_ap == pytest.approx((3.2 / 11 + 0.5) / 2, abs=1e-12)
    # At IoU 0.8 pB (IoU .75) turns into an FP: class B AP 0, class A unchanged (its TPs are exact boxes).
    _, aps, _ = eval_map(results, 2, 0.8, eval_mode='area')
    assert aps == pytest.approx([0.3, 0.0], abs=1e-12)


def test_metric_keys_both_modes():
    out = evaluate(METRICS.build(dict(type='VOCMetric', eval_mode='area', iou_thrs=[0.5, 0.8])), hand_case())
    assert out == {'pascal_voc/mAP': round((0.4 + 0.15) / 2, 3), 'pascal_voc/AP50': 0.4, 'pascal_voc/AP80': 0.15}
    assert list(out)[0] == 'pascal_voc/mAP'
    out = evaluate(VOCMetric(prefix='voc'), hand_case())  # default: VOC2007 11 points at IoU .5
    assert out == {'voc/mAP': round((3.2 / 11 + 0.5) / 2, 3), 'voc/AP50': round((3.2 / 11 + 0.5) / 2, 3)}


def test_difficult_ground_truth_is_neither_fn_nor_fp():
    # A detection matched to a difficult box changes nothing: dropping it gives the same APs.
    with_match = eval_map(raw_results(hand_case()), 2, 0.5, eval_mode='area')[1]
    without = eval_map(raw_results(hand_case(drop_difficult_match=True)), 2, 0.5, eval_mode='area')[1]
    np.testing.assert_array_equal(with_match, without)
    # An unmatched difficult box is no missed ground truth: one more, far away, leaves AP unchanged ...
    samples = hand_case()
    samples[1].ignored_instances = inst([[150, 150, 190, 190]], [A])
    assert eval_map(raw_results(samples), 2, 0.5, eval_mode='area')[1] == pytest.approx([0.3, 0.5])
    # ... whereas the same box as ordinary ground truth is a miss: recall 2/4, AP 1/4*.5 + 1/4*.4 = .225.
    samples[1].gt_instances = inst([[0, 0, 10, 10], [150, 150, 190, 190]], [A, A])
    samples[1].ignored_instances = inst(np.zeros((0, 4)), [])
    assert eval_map(raw_results(samples), 2, 0.5, eval_mode='area')[1] == pytest.approx([0.225, 0.5])
    # The difficult box made an ordinary one: p2 becomes a TP.
    # Counted: FP, TP, TP, FP, FP, TP over 4 GT -> precision envelope 2/3 up to recall 1/2, then 1/2 up to 3/4.
    samples = hand_case()
    samples[0].gt_instances = inst([[0, 0, 10, 10], [20, 20, 30, 30], [100, 100, 120, 140], [40, 40, 50, 50]],
                                   [A, A, B, A])
    samples[0].ignored_instances = inst(np.zeros((0, 4)), [])
    aps = eval_map(raw_results(samples), 2, 0.5, eval_mode='area')[1]
    assert aps[A] == pytest.approx(0.5 * 2 / 3 + 0.25 * 0.5)


def test_classes_without_ground_truth_are_left_out_of_the_mean():
    samples = hand_case()
    samples[1].pred_instances = inst([[20, 20, 30, 30], [0, 0, 10, 10], [5, 5, 15, 15], [1, 1, 5, 5]],
                                     [A, A, B, 2], [.95, .5, .4, .99])
    out = evaluate(VOCMetric(eval_mode='area'), samples, classes=('a', 'b', 'c'))
    assert out['pascal_voc/mAP'] == 0.4


def test_scale_ranges():
    # Side 16 splits the 10x10 class A boxes (area 100) from the 20x40 class B box (area 800).
    # Small: A as before (0.3), B has no GT in range -> left out. Large: A left out; for B, pB2 (area 100) is
    # unmatched and out of range, so not an FP, and pB is a TP -> AP 1.
    out = evaluate(VOCMetric(eval_mode='area', scale_ranges=[(0, 16), (16, float('inf'))]), hand_case())
    assert out == {'pascal_voc/mAP': 0.4, 'pascal_voc/mAP_0-16': 0.3, 'pascal_voc/mAP_16-inf': 1.0,
                   'pascal_voc/AP50': 0.4, 'pascal_voc/AP50_0-16': 0.3, 'pascal_voc/AP50_16-inf': 1.0}


def test_recall_hand_computed():
    # Class-agnostic, difficult boxes excluded: 4 GT (g1, g2, gB in image 1; g3 in image 2).
    # top-1: image 1 p1 covers g1; image 2 p6 misses g3 -> 1/4.
    # top-3: + image 2 p5 covers g3 (p3 duplicates p1, g1 is taken) -> 2/4.
    # top-10: + pB covers gB at IoU .75 -> 3/4 at .5, still 2/4 at .8.
    out = evaluate(VOCMetric(metric='recall', proposal_nums=(1, 3, 10), iou_thrs=(0.5, 0.8), prefix='r'),
                   hand_case())
    assert out == {'r/recall@1@0.5': 0.25, 'r/recall@1@0.8': 0.25, 'r/recall@3@0.5': 0.5, 'r/recall@3@0.8': 0.5,
                   'r/recall@10@0.5': 0.75, 'r/recall@10@0.8': 0.5,
                   'r/AR@1': 0.25, 'r/AR@3': 0.5, 'r/AR@10': 0.625}


def test_recall_matching_is_one_to_one_greedy():
    gts = [np.array([[0, 0, 10, 10], [0, 0, 10, 12]], float)]
    props = [np.array([[0, 0, 10, 11]], float)]
    # one proposal can recall only one box (the better overlap, IoU 11/12)
    assert eval_recalls(gts, props, [1], [0.5]).tolist() == [[0.5]]
    props = [np.array([[0, 0, 10, 11], [0, 0, 10, 10]], float)]
    assert eval_recalls(gts, props, [2], [0.5, 0.95]).tolist() == [[1.0, 0.5]]


def test_helpers():
    assert bbox_iou([[0, 0, 10, 10]], [[5, 0, 15, 10], [20, 20, 30, 30]]).tolist() == [[50 / 150, 0.0]]
    assert bbox_iou([[0, 0, 9, 9]], [[5, 0, 14, 9]], legacy=True)[0, 0] == pytest.approx(1 / 3)
    assert bbox_iou(np.zeros((0, 4)), np.zeros((3, 4))).shape == (0, 3)
    assert average_precision(np.array([1.0]), np.array([1.0]), '11points') == pytest.approx(1.0)
    assert average_precision(np.zeros(0), np.zeros(0), 'area') == 0.0
    with pytest.raises(ValueError):
        average_precision(np.zeros(1), np.zeros(1), 'voc')
    with pytest.raises(KeyError):
        VOCMetric(metric='bbox')
    with pytest.raises(ValueError):
        VOCMetric(eval_mode='101points')


def test_empty_predictions_and_dict_samples():
    samples = [s.to_dict() for s in hand_case()]
    for s in samples:
        s['pred_instances'] = dict(bboxes=torch.zeros(0, 4), scores=torch.zeros(0), labels=torch.zeros(0).long())
    samples = [DataSample.from_dict(s) for s in samples]  # as the Evaluator converts dict samples
    assert evaluate(VOCMetric(), samples) == {'pascal_voc/mAP': 0.0, 'pascal_voc/AP50': 0.0}
    out = evaluate(VOCMetric(metric='recall'), samples)
    assert out['pascal_voc/AR@100'] == 0.0


def test_two_simulated_ranks_give_single_process_results(monkeypatch):
    from visioncraft.engine import dist
    expected = evaluate(VOCMetric(eval_mode='area'), hand_case())
    other = VOCMetric(eval_mode='area')
    other.process({}, hand_case()[1:])
    rank0 = VOCMetric(eval_mode='area')
    rank0.dataset_meta = dict(classes=('a', 'b'))
    rank0.process({}, hand_case()[:1])
    monkeypatch.setattr(dist, 'get_dist_info', lambda: (0, 2))
    monkeypatch.setattr(dist, 'all_gather_object', lambda obj: [obj, list(other.results)])
    monkeypatch.setattr(dist, 'broadcast_object', lambda obj, src=0: obj)
    assert rank0.evaluate(2) == expected == {'pascal_voc/mAP': 0.4, 'pascal_voc/AP50': 0.4}
