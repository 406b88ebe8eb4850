"""PCKAccuracy, AUC, EPE and NME on two hand-checked samples (numbers worked out in the comments)."""
import numpy as np
import pytest
import torch

import visioncraft  # noqa: F401
from visioncraft.registry import METRICS
from visioncraft.structures import DataSample, InstanceData
from visioncraft.tasks.pose.evaluation import AUC, EPE, NME, PCKAccuracy, keypoint_pck_accuracy

# Sample A: gt (10,10) (20,20) (30,30), labelled [1, 1, 0], box 100 x 50 (longer side 100), head 50
#           pred (13,14) (20,20) (0,0)  -> pixel errors 5, 0, (not counted)
# Sample B: gt (0,0) (50,0) (0,0), labelled [1, 1, 1], box 40 x 80 (longer side 80), head 40
#           pred (0,8) (50,0) (6,0)     -> pixel errors 8, 0, 6


def _sample(gt, vis, box, head, pred):
    s = DataSample(metainfo=dict(img_id=0))
    s.gt_instances = InstanceData(keypoints=torch.tensor([gt], dtype=torch.float32),
                                  keypoints_visible=torch.tensor([vis], dtype=torch.float32),
                                  bboxes=torch.tensor([box], dtype=torch.float32),
                                  head_size=torch.tensor([head], dtype=torch.float32))
    s.pred_instances = InstanceData(keypoints=np.array([pred], np.float32),
                                    keypoint_scores=np.ones((1, 3), np.float32))
    return s


def _samples():
    return [_sample([[10, 10], [20, 20], [30, 30]], [1, 1, 0], [0, 0, 100, 50], 50, [[13, 14], [20, 20], [0, 0]]),
            _sample([[0, 0], [50, 0], [0, 0]], [1, 1, 1], [0, 0, 40, 80], 40, [[0, 8], [50, 0], [6, 0]])]


def _run(metric, meta=None):
    metric.dataset_meta = meta
    samples = _samples()
    metric.process(None, samples[:1])
    metric.process(None, samples[1:])
    return metric.evaluate(2)


def test_pck_bbox_and_head():
    # thr 0.05, box: A 5/100 = 0.05 (not < 0.05), 0; B 8/80 = 0.1, 0, 6/80 = 0.075
    #   per keypoint: k0 0/2, k1 2/2, k2 0/1 -> PCK = (0 + 1 + 0) / 3
    assert _run(PCKAccuracy(thr=0.05)) == pytest.approx({'PCK': 1 / 3})
    # thr 0.1, box: k0 {0.05 yes, 0.1 no} = 0.5, k1 1, k2 {0.075 yes} = 1 -> 2.5 / 3
    # thr 0.1, head: A 5/50 = 0.1 no; B 8/40 = 0.2 no, 6/40 = 0.15 no -> k0 0, k1 1, k2 0 -> 1 / 3
    got = _run(PCKAccuracy(thr=0.1, norm_item=['bbox', 'head'], prefix='mpii'))
    assert got == pytest.approx({'mpii/PCK': 2.5 / 3, 'mpii/PCKh': 1 / 3})


def test_pck_torso_from_keypoint_names_and_fallback():
    # torso = gt distance between left_shoulder (k0) and right_hip (k1): A 10*sqrt(2) = 14.14, B 50
    # thr 0.1: A 5/14.14 = 0.354 no; B 8/50 = 0.16 no, 6/50 = 0.12 no -> k0 0, k1 1, k2 0 -> 1/3
    meta = dict(keypoint_name2id=dict(left_shoulder=0, right_hip=1, nose=2))
    assert _run(PCKAccuracy(thr=0.1, norm_item='torso'), meta) == pytest.approx({'tPCK': 1 / 3})
    # with torso_indices (1, 2): A |(20,20)-(30,30)| = 14.14, B |(50,0)-(0,0)| = 50 -> the same numbers
    assert _run(PCKAccuracy(thr=0.1, norm_item='torso', torso_indices=(1, 2))) == pytest.approx({'tPCK': 1 / 3})
    # a ground-truth torso under 1 px falls back to the predicted one, with a warning
    m = PCKAccuracy(thr=0.1, norm_item='torso', torso_indices=(0, 2))
    s = _sample([[0, 0], [50, 0], [0, 0]], [1, 1, 1], [0, 0, 40, 80], 40, [[0, 8], [50, 0], [6, 0]])
    with pytest.warns(UserWarning, match='torso size < 1'):
        m.process(None, [s])
    # predicted torso |(0,8)-(6,0)| = 10: errors 8/10, 0, 6/10 -> k0 0, k1 1, k2 0
    assert m.evaluate(1) == pytest.approx({'tPCK': 1 / 3})


def test_auc():
    # norm 10, 4 thresholds 0, .25, .5, .75; normalised errors A: .5, 0; B: .8, 0, .6
    #   t=0    : nothing < 0                  -> 0
    #   t=.25  : k0 0, k1 1, k2 0             -> 1/3
    #   t=.5   : k0 0 (.5 is not < .5), k1 1, k2 0 -> 1/3
    #   t=.75  : k0 .5, k1 1, k2 1            -> 2.5/3
    # AUC = (0 + 1/3 + 1/3 + 2.5/3) / 4 = 0.375
    assert _run(AUC(norm_factor=10, num_thrs=4)) == pytest.approx({'AUC': 0.375})


def test_epe():
    # counted errors 5, 0, 8, 0, 6 -> 19 / 5
    assert _run(EPE()) == pytest.approx({'EPE': 3.8})


def test_nme_norm_item_and_keypoint_distance():
    # bbox_size: A /100 -> .05, 0; B /80 -> .1, 0, .075; mean over 5 = .225 / 5 = .045
    assert _run(NME(norm_mode='use_norm_item', norm_item='bbox_size')) == pytest.approx({'NME': 0.045})
    # head_size read from gt_instances: A /50 -> .1, 0; B /40 -> .2, 0, .15; mean = .45 / 5 = .09
    assert _run(NME(norm_mode='use_norm_item', norm_item='head_size')) == pytest.approx({'NME': 0.09})
    # keypoint distance k0-k1: A 10*sqrt(2), B 50: (5 / (10 sqrt 2) + 8/50 + 6/50) / 5
    expected = (5 / (10 * np.sqrt(2)) + 0.16 + 0.12) / 5
    assert _run(NME(norm_mode='keypoint_distance', keypoint_indices=[0, 1])) == pytest.approx({'NME': expected})
    # default pair by dataset_name (300w: 36, 45) is looked up; unknown names need keypoint_indices
    with pytest.raises(ValueError, match='keypoint_indices'):
        _run(NME(norm_mode='keypoint_distance'), dict(dataset_name='mine'))


def test_functional_pck_returns_per_keypoint_and_count():
    pred = np.array([[[0.0, 0.0], [3.0, 4.0]]])
    gt = np.zeros((1, 2, 2))
    acc, avg, cnt = keypoint_pck_accuracy(pred, gt, np.array([[True, True]]), 0.5, np.array([[10.0, 10.0]]))
    # errors 0 and 5 -> normalised 0 and 0.5 -> k0 correct, k1 not (0.5 is not < 0.5)
    assert acc.tolist() == [1.0, 0.0] and avg == 0.5 and cnt == 2
    # an instance with a zero normaliser is left out: no keypoint counted -> acc -1, average 0
    acc, avg, cnt = keypoint_pck_accuracy(pred, gt, np.array([[True, True]]), 0.5, np.array([[0.0, 10.0]]))
    assert acc.tolist() == [-1.0, -1.0] and avg == 0.0 and cnt == 0


def test_registered_and_errors():
    for name in ('PCKAccuracy', 'AUC', 'EPE', 'NME'):
        assert name in METRICS
    with pytest.raises(ValueError, match='norm_item'):
        PCKAccuracy(norm_item='face')
    with pytest.raises(ValueError, match='norm_item'):
        NME(norm_mode='use_norm_item')
    bad = _samples()[0]
    bad.pred_instances = InstanceData(keypoints=np.zeros((1, 5, 2), np.float32))
    with pytest.raises(ValueError, match='differ in shape'):
        EPE().process(None, [bad])
    no_gt = DataSample(metainfo=dict(img_id=1))
    no_gt.pred_instances = InstanceData(keypoints=np.zeros((1, 3, 2), np.float32))
    with pytest.raises(KeyError, match="'gt_instances'"):
        EPE().process(None, [no_gt])
