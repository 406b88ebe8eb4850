"""confusion_matrix: MMDetection's matrix with a background row and column, from hand-made predictions whose
counts are worked out by hand; the picture, the JSON of counts, and clear errors."""
from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from visioncraft.analysis.confusion import color_lut, image_confusion, main
from visioncraft.errors import UserError
from visioncraft.structures import DataSample, InstanceData

REPO = Path(__file__).resolve().parents[2]


def test_one_image_counts_as_mmdetection_defines_them():
    gt = [[0, 0, 10, 10], [20, 20, 30, 30], [40, 40, 50, 50], [60, 0, 70, 10]]
    gt_labels, gt_ignore = [0, 1, 2, 0], [0, 0, 0, 1]  # the last one is a crowd region
    boxes = [[0, 0, 10, 10],    # class 0 on the class-0 box: correct
             [20, 20, 30, 30],  # class 2 on the class-1 box: a confusion
             [80, 80, 90, 90],  # class 1 on nothing: a false positive
             [0, 0, 10, 10.5],  # class 1, scores under --score-thr: left out
             [60, 0, 70, 10]]   # class 0 on the crowd region: left out
    scores, labels = [0.9, 0.8, 0.7, 0.1, 0.9], [0, 2, 1, 1, 0]
    m = image_confusion(gt, gt_labels, gt_ignore, boxes, scores, labels, 3)
    expected = np.zeros((4, 4), int)
    expected[0, 0] = 1  # hit
    expected[1, 2] = 1  # confused
    expected[2, 3] = 1  # the class-2 box is missed: background column
    expected[3, 1] = 1  # false positive: background row
    np.testing.assert_array_equal(m, expected)
    # two predictions on one box both count (MMDetection's rule); a per-class NMS removes the duplicate
    boxes2 = [[0, 0, 10, 10], [0, 0, 10, 11]]
    assert image_confusion([[0, 0, 10, 10]], [0], [0], boxes2, [0.9, 0.8], [0, 0], 1)[0, 0] == 2
    assert image_confusion([[0, 0, 10, 10]], [0], [0], boxes2, [0.9, 0.8], [0, 0], 1, nms_iou_thr=0.5)[0, 0] == 1
    # --tp-iou-thr: IoU 0.75 hits at 0.5, misses at 0.8 (a miss and a false positive)
    loose = image_confusion([[0, 0, 10, 10]], [0], [0], [[0, 0, 10, 7.5]], [1.0], [0], 1, tp_iou_thr=0.5)
    strict = image_confusion([[0, 0, 10, 10]], [0], [0], [[0, 0, 10, 7.5]], [1.0], [0], 1, tp_iou_thr=0.8)
    np.testing.assert_array_equal(loose, [[1, 0], [0, 0]])
    np.testing.assert_array_equal(strict, [[0, 1], [1, 0]])


def _dataset(tmp_path: Path) -> str:
    """Three 64 x 48 images, classes cat / dog: 1 has a cat and a dog, 2 a dog and a crowd cat, 3 nothing."""
    root = tmp_path / 'det'
    (root / 'imgs').mkdir(parents=True)
    for name in ('a.png', 'b.png', 'c.png'):
        cv2.imwrite(str(root / 'imgs' / name), np.full((48, 64, 3), 40, np.uint8))
    anns = [dict(id=1, image_id=1, category_id=1, bbox=[8, 8, 20, 16], area=320, iscrowd=0),
            dict(id=2, image_id=1, category_id=2, bbox=[30, 20, 24, 20], area=480, iscrowd=0),
            dict(id=3, image_id=2, category_id=2, bbox=[10, 10, 20, 20], area=400, iscrowd=0),
            dict(id=4, image_id=2, category_id=1, bbox=[40, 10, 20, 20], area=400, iscrowd=1)]
    images = [dict(id=i + 1, file_name=n, width=64, height=48) for i, n in enumerate(('a.png', 'b.png', 'c.png'))]
    (root / 'ann.json').write_text(json.dumps(dict(images=images, annotations=anns,
                                                   categories=[dict(id=1, name='cat'), dict(id=2, name='dog')])))
    ds = dict(type='CocoDataset', data_root=str(root), ann_file='ann.json', data_prefix=dict(img='imgs/'),
              metainfo=dict(classes=('cat', 'dog')), test_mode=True,
              pipeline=[dict(type='LoadImageFromFile'), dict(type='PackDetInputs')])
    cfg = tmp_path / 'cfg.py'
    cfg.write_text(f'test_dataloader = dict(batch_size=1, num_workers=0, dataset={ds!r})\n')
    return str(cfg)


def _pickle(tmp_path: Path, per_image: list[list[tuple]], name: str = 'preds.pkl') -> str:
    """``per_image``: lists of (x1, y1, x2, y2, score, label); written as tools/test.py --out writes them."""
    samples = []
    for i, preds in enumerate(per_image):
        arr = np.asarray(preds, np.float32).reshape(-1, 6)
        inst = InstanceData(bboxes=torch.from_numpy(arr[:, :4]), scores=torch.from_numpy(arr[:, 4]),
                            labels=torch.from_numpy(arr[:, 5].astype(np.int64)))
        sample = DataSample(metainfo=dict(img_id=i + 1, img_path=f'/somewhere/{"abc"[i]}.png', ori_shape=(48, 64)),
                            pred_instances=inst)
        samples.append(sample.to_dict())
    path = tmp_path / name
    path.write_bytes(pickle.dumps(samples))
    return str(path)


PREDS = [
    [(8, 8, 28, 24, 0.9, 0),      # the cat, found
     (8.5, 8, 28, 24, 0.85, 0),   # ... twice (an NMS at 0.5 removes it)
     (30, 20, 54, 40, 0.8, 0),    # the dog, called a cat
     (0, 30, 6, 40, 0.7, 1),      # a dog on nothing
     (30, 20, 54, 40, 0.1, 1)],   # the dog, found, but under --score-thr
    [(40, 10, 60, 30, 0.9, 0)],   # on the crowd cat only: the dog is missed
    [(5, 5, 20, 20, 0.95, 1)],    # a dog in the empty image
]


def test_matrix_from_a_predictions_pickle(tmp_path):
    cfg, preds = _dataset(tmp_path), _pickle(tmp_path, PREDS)
    out = tmp_path / 'out'
    result = main([cfg, preds, str(out)])
    saved = json.loads((out / 'confusion_matrix.json').read_text())
    assert saved['classes'] == ['cat', 'dog', 'background'] == result['classes']
    #                       pred: cat dog bg
    assert saved['matrix'] == [[2, 0, 0],   # gt cat: found twice (no NMS)
                               [1, 0, 1],   # gt dog: called a cat once, missed once
                               [0, 2, 0]]   # background: two dogs on nothing
    picture = cv2.imread(str(out / 'confusion_matrix.png'))
    assert picture is not None and picture.shape[0] > 100 and picture.shape[1] > 100
    top = color_lut('plasma')[255]  # the 100 % colour: the cat row's cell
    assert (np.abs(picture.astype(int) - top.astype(int)).max(-1) < 3).sum() > 30 * 30
    main([cfg, preds, str(out), '--nms-iou-thr', '0.5', '--score-thr', '0.05', '--color-theme', 'viridis_r'])
    saved = json.loads((out / 'confusion_matrix.json').read_text())
    assert saved['nms_iou_thr'] == 0.5
    # NMS drops the second cat; at score 0.05 the low dog on the dog box of image 1 is a hit too (the dog of
    # image 2 is still missed)
    assert saved['matrix'] == [[1, 0, 0], [1, 1, 1], [0, 2, 0]]


def test_bad_input_is_one_clear_error(tmp_path):
    cfg = _dataset(tmp_path)
    short = _pickle(tmp_path, PREDS[:2], 'short.pkl')
    with pytest.raises(UserError, match=r'short\.pkl holds 2 predictions but the test dataset of .*cfg\.py has 3'):
        main([cfg, short, str(tmp_path / 'o')])
    bad_label = _pickle(tmp_path, [[(0, 0, 5, 5, 0.9, 7)], [], []], 'label.pkl')
    with pytest.raises(UserError, match=r'label\.pkl: sample 0 predicts label 7 but the dataset has 2 classes'):
        main([cfg, bad_label, str(tmp_path / 'o')])
    with pytest.raises(UserError, match="--color-theme 'Blues' is not a colour map here"):
        main([cfg, _pickle(tmp_path, PREDS), str(tmp_path / 'o'), '--color-theme', 'Blues'])
    with pytest.raises(UserError, match=r'--tp-iou-thr must be in \[0, 1\], got 1.5'):
        main([cfg, _pickle(tmp_path, PREDS), str(tmp_path / 'o'), '--tp-iou-thr', '1.5'])
    text = tmp_path / 'text.pkl'
    text.write_bytes(pickle.dumps([dict(pred_instances=dict(polygons=[np.zeros(8)], scores=np.ones(1)))] * 3))
    with pytest.raises(UserError, match='holds textdet predictions; the confusion matrix is for detection'):
        main([cfg, str(text), str(tmp_path / 'o')])
    junk = tmp_path / 'junk.pkl'
    junk.write_bytes(b'not a pickle at all')
    with pytest.raises(UserError, match=r'junk\.pkl: not a predictions pickle'):
        main([cfg, str(junk), str(tmp_path / 'o')])


@pytest.mark.slow
def test_the_tools_run_as_commands(tmp_path):
    """The three tools/analysis_tools/*.py scripts: --help answers, and a mistake is one `error:` line, exit 2."""
    env = dict(os.environ, OMP_NUM_THREADS='1')
    env.pop('VISIONCRAFT_DEBUG', None)
    script = ('import runpy, sys\n'
              'for tool, argv in [("browse_dataset", ["-h"]), ("analyze_results", ["-h"]), '
              '("confusion_matrix", ["-h"])]:\n'
              '    sys.argv = [tool] + argv\n'
              '    try:\n'
              '        runpy.run_path(f"tools/analysis_tools/{tool}.py", run_name="__main__")\n'
              '    except SystemExit as e:\n'
              '        print("exit", tool, e.code)\n')
    helped = subprocess.run([sys.executable, '-c', script], cwd=REPO, env=env, capture_output=True, text=True,
                            timeout=120)
    assert [ln for ln in helped.stdout.splitlines() if ln.startswith('exit')] == \
        ['exit browse_dataset 0', 'exit analyze_results 0', 'exit confusion_matrix 0'], helped.stderr
    assert '--score-thr' in helped.stdout and '--topk' in helped.stdout and '--max-samples' in helped.stdout
    cfg = _dataset(tmp_path)
    bad = subprocess.run([sys.executable, 'tools/analysis_tools/confusion_matrix.py', cfg,
                          str(tmp_path / 'missing.pkl'), str(tmp_path / 'out')],
                         cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2
    lines = bad.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith('error: ') and 'missing.pkl' in lines[0], bad.stderr
