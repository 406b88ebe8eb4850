"""analyze_results: exact per-image scores (detection mAP@[.5:.95], text-detection hmean, recognition 1-N.E.D, pose
OKS AP) from hand-made predictions, the best image first and the worst last, pictures in good/ and bad/."""
from __future__ import annotations

import json
import pickle
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from visioncraft.analysis.results import (average_precision, detection_image_score, keypoint_oks, main,
                                          pose_image_score)
from visioncraft.errors import UserError
from visioncraft.structures import DataSample, InstanceData


def _write_pickle(path: Path, samples: list[DataSample]) -> str:
    path.write_bytes(pickle.dumps([s.to_dict() for s in samples]))  # what tools/test.py --out writes
    return str(path)


def _config(tmp_path: Path, dataset: dict, extra: str = '') -> str:
    path = tmp_path / 'cfg.py'
    path.write_text(f'test_dataloader = dict(batch_size=1, num_workers=0, dataset={dataset!r})\n{extra}')
    return str(path)


def _scores(show_dir: Path) -> list[dict]:
    return json.loads((show_dir / 'scores.json').read_text())


# -- the scores themselves ------------------------------------------------------------------------------------------
def test_detection_score_is_the_images_map():
    gt, labels, ign = [[0, 0, 10, 10], [20, 20, 40, 40]], [0, 1], [False, False]
    assert detection_image_score(gt, labels, ign, gt, [0.9, 0.8], labels) == 1.0
    assert detection_image_score(gt, labels, ign, np.zeros((0, 4)), [], []) == 0.0
    # IoU 0.75 with the class-0 box: a hit at 0.50 ... 0.75 (6 of the 10 thresholds); class 1 perfect
    assert detection_image_score(gt, labels, ign, [[0, 0, 10, 7.5], [20, 20, 40, 40]], [0.9, 0.9], labels) == \
        pytest.approx((0.6 + 1.0) / 2)
    # a false positive scoring above the hit: precision 1/2 at recall 1 -> AP 0.5 at every threshold
    assert detection_image_score([[0, 0, 10, 10]], [0], [False], [[50, 50, 60, 60], [0, 0, 10, 10]], [0.9, 0.8],
                                 [0, 0]) == pytest.approx(0.5)
    # ... unless it lies on a crowd region, which is neither a hit nor a miss
    assert detection_image_score([[0, 0, 10, 10], [50, 50, 60, 60]], [0, 0], [False, True],
                                 [[50, 50, 60, 60], [0, 0, 10, 10]], [0.9, 0.8], [0, 0]) == 1.0
    # no ground truth: 1 - the highest score
    assert detection_image_score(np.zeros((0, 4)), [], [], [[0, 0, 5, 5]], [0.75], [0]) == pytest.approx(0.25)
    assert average_precision(np.ones((1, 0)), np.zeros(0), 0.5) == 0.0


def test_oks_and_pose_score():
    sigmas = np.full(3, 0.1)
    gt = np.array([[[10, 10], [20, 20], [30, 30]]], np.float64)
    vis = np.array([[1, 1, 0]])
    assert keypoint_oks(gt, vis, [100.0], gt, sigmas)[0, 0] == pytest.approx(1.0)
    moved = gt.copy()
    moved[0, 0] += [2, 0]  # 2 px off: e = 4 / (2 * 0.1)^2 / 100 / 2 = 0.5
    moved[0, 2] += [50, 50]  # not annotated: does not count
    assert keypoint_oks(gt, vis, [100.0], moved, sigmas)[0, 0] == pytest.approx((np.exp(-0.5) + 1) / 2)
    assert pose_image_score(gt, vis, [100.0], gt, [0.9], sigmas) == 1.0
    assert pose_image_score(gt, vis, [100.0], gt + 100, [0.9], sigmas) == 0.0


# -- detection, end to end ----------------------------------------------------------------------------------------
def _det(tmp_path: Path) -> tuple[str, str]:
    """Three 64 x 48 images with one cat [10, 10, 30, 30] each; predictions: a.png perfect, b.png a box of IoU 0.75,
    c.png the box called a dog."""
    root = tmp_path / 'det'
    (root / 'imgs').mkdir(parents=True)
    names = ('a.png', 'b.png', 'c.png')
    for n in names:
        cv2.imwrite(str(root / 'imgs' / n), np.full((48, 64, 3), 40, np.uint8))
    images = [dict(id=i + 1, file_name=n, width=64, height=48) for i, n in enumerate(names)]
    anns = [dict(id=i + 1, image_id=i + 1, category_id=1, bbox=[10, 10, 20, 20], area=400, iscrowd=0,
                 segmentation=[[10, 10, 30, 10, 30, 30, 10, 30]]) for i in range(3)]
    (root / 'ann.json').write_text(json.dumps(dict(images=images, annotations=anns,
                                                   categories=[dict(id=1, name='cat'), dict(id=2, name='dog')])))
    ds = dict(type='CocoDataset', data_root=str(root), ann_file='ann.json', data_prefix=dict(img='imgs/'),
              metainfo=dict(classes=('cat', 'dog')), test_mode=True,
              pipeline=[dict(type='LoadImageFromFile'), dict(type='PackDetInputs')])
    preds = []
    for i, (box, label) in enumerate((([10, 10, 30, 30], 0), ([10, 10, 30, 25], 0), ([10, 10, 30, 30], 1))):
        inst = InstanceData(bboxes=torch.tensor([box], dtype=torch.float32), scores=torch.tensor([0.9]),
                            labels=torch.tensor([label]))
        preds.append(DataSample(metainfo=dict(img_path=str(root / 'imgs' / names[i]), img_id=i + 1),
                                pred_instances=inst))
    return _config(tmp_path, ds), _write_pickle(tmp_path / 'preds.pkl', preds)


def test_detection_best_first_worst_last(tmp_path):
    cfg, preds = _det(tmp_path)
    show = tmp_path / 'show'
    scores = main([cfg, preds, str(show)])
    assert [(s['image'], s['score']) for s in scores] == [('a.png', 1.0), ('b.png', 0.6), ('c.png', 0.0)]
    assert _scores(show) == scores
    assert sorted(p.name for p in (show / 'good').iterdir()) == ['a_1.000.jpg', 'b_0.600.jpg', 'c_0.000.jpg']
    pic = cv2.imread(str(show / 'good' / 'a_1.000.jpg'))
    assert pic.shape == (192, 512, 3)  # 64 x 48 enlarged x4 (DetLocalVisualizer), ground truth | predictions
    # the cat's box, [10, 10, 30, 30] x 4: green in the ground-truth panel, red in the predictions' one
    b, g, r = pic[80, 40].astype(int)
    assert g > 150 and r < 110 and b < 110
    b, g, r = pic[80, 256 + 40].astype(int)
    assert r > 150 and g < 110 and b < 110
    assert abs(pic[80, 256 + 100].astype(int) - 40).max() < 12  # inside the predicted box: the image
    show1 = tmp_path / 'top1'
    main([cfg, preds, str(show1), '--topk', '1'])
    assert [p.name for p in (show1 / 'good').iterdir()] == ['a_1.000.jpg']
    assert [p.name for p in (show1 / 'bad').iterdir()] == ['c_0.000.jpg']


def test_detection_bad_input(tmp_path):
    cfg, preds = _det(tmp_path)
    with pytest.raises(UserError, match='--topk must be a positive number, got 0'):
        main([cfg, preds, str(tmp_path / 's'), '--topk', '0'])
    swapped = pickle.loads(Path(preds).read_bytes())
    swapped[0]['img_path'], swapped[2]['img_path'] = swapped[2]['img_path'], swapped[0]['img_path']
    other = tmp_path / 'swapped.pkl'
    other.write_bytes(pickle.dumps(swapped))
    with pytest.raises(UserError, match=r'sample 0 is a prediction for .*c\.png but sample 0 of the test dataset'):
        main([cfg, str(other), str(tmp_path / 's')])
    (tmp_path / 'dict.pkl').write_bytes(pickle.dumps({'a': 1}))
    with pytest.raises(UserError, match='holds a list of samples'):
        main([cfg, str(tmp_path / 'dict.pkl'), str(tmp_path / 's')])


# -- text detection, recognition, pose ------------------------------------------------------------------------------
def test_text_detection_hmean_per_image(tmp_path):
    root = tmp_path / 'td'
    (root / 'imgs').mkdir(parents=True)
    (root / 'annotations').mkdir()
    for i in (1, 2):
        cv2.imwrite(str(root / 'imgs' / f'img_{i}.jpg'), np.full((40, 100, 3), 40, np.uint8))
        (root / 'annotations' / f'gt_img_{i}.txt').write_text('10,10,50,10,50,30,10,30,word\n')
    ds = dict(type='ICDAR2015Dataset', data_root=str(root), test_mode=True,
              data_prefix=dict(img_path='imgs/', ann_path='annotations/'),
              pipeline=[dict(type='LoadImageFromFile'), dict(type='LoadOCRAnnotations'),
                        dict(type='PackTextDetInputs')])
    cfg = _config(tmp_path, ds, "test_evaluator = dict(type='HmeanIOUMetric', match_iou_thr=0.5)\n")
    found = InstanceData(polygons=[np.array([10, 10, 50, 10, 50, 30, 10, 30], np.float32)],
                         scores=torch.tensor([0.9]))
    wrong = InstanceData(polygons=[np.array([60, 5, 90, 5, 90, 25, 60, 25], np.float32)], scores=torch.tensor([0.9]))
    preds = _write_pickle(tmp_path / 'p.pkl', [DataSample(pred_instances=found), DataSample(pred_instances=wrong)])
    show = tmp_path / 'show'
    scores = main([cfg, preds, str(show), '--topk', '1'])
    assert [(s['image'], s['score']) for s in scores] == [('img_1.jpg', 1.0), ('img_2.jpg', 0.0)]
    pic = cv2.imread(str(show / 'good' / 'img_1_1.000.jpg'))
    assert pic.shape == (int(np.ceil(256 / 100)) * 40, 2 * int(np.ceil(256 / 100)) * 100, 3)


def test_text_recognition_one_minus_ned(tmp_path):
    root = tmp_path / 'tr'
    (root / 'imgs').mkdir(parents=True)
    for n in ('w1.png', 'w2.png'):
        cv2.imwrite(str(root / 'imgs' / n), np.full((16, 40, 3), 90, np.uint8))
    data_list = [dict(img_path='imgs/w1.png', instances=[dict(text='hello')]),
                 dict(img_path='imgs/w2.png', instances=[dict(text='world')])]
    (root / 'ann.json').write_text(json.dumps(dict(metainfo=dict(task_name='textrecog'), data_list=data_list)))
    ds = dict(type='TextRecogDataset', data_root=str(root), ann_file='ann.json', test_mode=True,
              pipeline=[dict(type='LoadImageFromFile'), dict(type='PackTextRecogInputs')])
    preds = _write_pickle(tmp_path / 'p.pkl', [DataSample(pred_text='hello', pred_score=0.9),
                                               DataSample(pred_text='word', pred_score=0.5)])
    show = tmp_path / 'show'
    scores = main([_config(tmp_path, ds), preds, str(show), '--topk', '1'])
    # 'world' read as 'word': one deletion in five characters
    assert [s['image'] for s in scores] == ['w1.png', 'w2.png']
    assert [s['score'] for s in scores] == [1.0, pytest.approx(0.8)]
    pic = cv2.imread(str(show / 'bad' / 'w2_0.800.jpg'))
    assert pic.shape[0] == 64 + 2 * 24  # the word enlarged to 64 pixels, a strip for the label, one for the reading


def test_pose_oks_ap_per_image(tmp_path):
    """Image 1 holds two people, predicted exactly; image 2 one person, predicted 60 px off."""
    root = tmp_path / 'pose'
    (root / 'imgs').mkdir(parents=True)
    for n in ('p1.png', 'p2.png'):
        cv2.imwrite(str(root / 'imgs' / n), np.full((100, 120, 3), 40, np.uint8))
    rng = np.random.default_rng(0)
    people = [(1, [10, 10, 40, 60]), (1, [60, 20, 40, 60]), (2, [30, 20, 40, 60])]
    anns, kpts_of = [], []
    for k, (img, (x, y, w, h)) in enumerate(people):
        kp = np.stack([rng.uniform(x, x + w, 17), rng.uniform(y, y + h, 17)], 1)
        kpts_of.append(kp)
        anns.append(dict(id=k + 1, image_id=img, category_id=1, bbox=[x, y, w, h], area=float(w * h), iscrowd=0,
                         num_keypoints=17, keypoints=np.concatenate([kp, np.full((17, 1), 2)], 1).ravel().tolist()))
    images = [dict(id=1, file_name='p1.png', width=120, height=100), dict(id=2, file_name='p2.png', width=120,
                                                                          height=100)]
    (root / 'kpts.json').write_text(json.dumps(dict(images=images, annotations=anns,
                                                    categories=[dict(id=1, name='person')])))
    ds = dict(type='CocoPoseDataset', data_root=str(root), ann_file='kpts.json', data_prefix=dict(img='imgs/'),
              test_mode=True, pipeline=[dict(type='LoadImage'), dict(type='PackPoseInputs')])
    preds = []
    for k, kp in enumerate(kpts_of):
        off = 0 if k < 2 else 60
        preds.append(DataSample(metainfo=dict(img_id=people[k][0], id=k + 1),
                                pred_instances=InstanceData(keypoints=(kp + off)[None].astype(np.float32),
                                                            keypoint_scores=np.ones((1, 17), np.float32),
                                                            bbox_scores=np.ones(1, np.float32))))
    show = tmp_path / 'show'
    scores = main([_config(tmp_path, ds), _write_pickle(tmp_path / 'p.pkl', preds), str(show)])
    assert [(s['image'], s['score']) for s in scores] == [('p1.png', 1.0), ('p2.png', 0.0)]  # images, not people
    assert [p.name for p in (show / 'good').iterdir()] and (show / 'bad' / 'p2_0.000.jpg').is_file()
    assert cv2.imread(str(show / 'good' / 'p1_1.000.jpg')).shape == (100, 240, 3)  # ground truth | predictions
