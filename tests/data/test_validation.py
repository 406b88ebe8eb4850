"""visioncraft.data.validation: the shared checks, the one-line faults, skip_invalid's counting, the empty-dataset
error, and a training run on a dataset its filter empties (exit status 2, one line, no checkpoint)."""
from __future__ import annotations

import json
import logging
import math
import os
import random
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from conftest import REPO, tiny_det_model, visioncraft_warnings
from visioncraft.config import Config
from visioncraft.data import BaseDataset, ConcatDataset, RepeatDataset
from visioncraft.data.validation import (RecordFaults, check_coco, check_not_empty, find_duplicates, keypoints_problem,
                                         number_problem, numbers_problem, polygon_problem, screen_number_lists,
                                         screen_numbers, segmentation_problem)
from visioncraft.errors import (AnnotationError, EmptyDatasetError, InvalidAnnotationError, UserError, read_json,
                                read_text_lines, run_entry_point)

NAN, INF = math.nan, math.inf


# -- one value ------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize('value, kwargs, words', [
    ([1, 2, 3, 4], dict(length=4), None),
    ([1.5, -2, 0, 10 ** 6], dict(length=4), None),
    ([NAN, 1, 2, 3], dict(length=4), 'bbox [nan, 1, 2, 3] has a non-finite number'),
    ([1, 2, 3, 4, 5, -INF], {}, '(-inf at index 5)'),
    ([10 ** 400, 1], {}, 'non-finite'),
    (['1', 2, 3, 4], dict(length=4), "holds the string '1', not a number"),
    ([1, None, 3, 4], dict(length=4), 'holds null'),
    ([1, False, 3, 4], dict(length=4), 'holds the boolean false'),
    ([1, [2], 3, 4], dict(length=4), 'holds a list'),
    ('1,2,3,4', dict(length=4), "bbox '1,2,3,4' is the string"),
    (None, dict(length=4), 'bbox None is null, not a list of numbers'),
    ([1, 2, 3], dict(length=4), 'bbox [1, 2, 3] has 3 numbers, expected 4'),
    ([1, 2, 3, 4], dict(multiple=3), 'expected a multiple of 3'),
])
def test_numbers_problem(value, kwargs, words):
    problem = numbers_problem('bbox', value, **kwargs)
    assert problem is None if words is None else words in problem, problem


def test_scalar_polygon_segmentation_and_keypoint_problems():
    assert number_problem('width', 0, positive=True) == 'width 0 must be > 0'
    assert number_problem('width', 640.0, positive=True, integer=True) is None
    assert 'not an integer' in number_problem('width', 640.5, integer=True)
    assert 'not a finite number' in number_problem('area', INF)
    assert "the string '3'" in number_problem('area', '3')
    assert polygon_problem('polygon', [0, 0, 1, 0, 1, 1]) is None
    assert 'has 4 numbers, expected an even number >= 6' in polygon_problem('polygon', [0, 0, 1, 1])
    assert 'has 7 numbers' in polygon_problem('polygon', [0, 0, 1, 0, 1, 1, 2])
    assert segmentation_problem('segmentation', []) is None  # no mask
    assert segmentation_problem('segmentation', {'size': [4, 5], 'counts': 'abc'}) is None
    assert segmentation_problem('segmentation', {'size': [4, 5], 'counts': [0, 20]}) is None
    assert 'polygon 1' in segmentation_problem('segmentation', [[0, 0, 1, 0, 1, 1], [0, NAN, 1, 0, 1, 1]])
    assert 'RLE size' in segmentation_problem('segmentation', {'size': [4, 0], 'counts': 'x'})
    assert 'RLE counts' in segmentation_problem('segmentation', {'size': [4, 5], 'counts': [-1, 21]})
    assert 'neither' in segmentation_problem('segmentation', 'poly')
    assert keypoints_problem('keypoints', [1, 2, 2, 3, 4, 0], 2) is None
    assert keypoints_problem('keypoints', [1, 2, 2], 2) == 'keypoints has 3 values, expected 3 * 2 = 6 (x, y, v per ' \
                                                          'keypoint)'
    assert 'visibility flag 3 of keypoint 1' in keypoints_problem('keypoints', [1, 2, 2, 3, 4, 3])
    assert find_duplicates([1, 2, 3, 2, 1, 2]) == {3: 1, 4: 0, 5: 1} and find_duplicates(['a', 'b']) == {}


def test_the_vectorised_screens_agree_with_the_one_value_checks():
    """Random lists with every kind of fault: a list is flagged exactly when its one-value check finds a problem."""
    rng = random.Random(7)
    pool = [0, 1, 2, -3.5, 1e300, NAN, INF, -INF, '1', None, True, [1], 10 ** 400]
    for visibility in (False, True):
        values = []
        for _ in range(400):
            if rng.random() < 0.1:
                values.append(rng.choice([None, 'x', 5, {'a': 1}]))
                continue
            n = rng.choice([3, 6, 7, 9]) if visibility else rng.choice([3, 4, 5, 6])
            good = rng.random() < 0.6
            values.append([rng.choice([0, 1, 2, 3.25]) if good else rng.choice(pool) for _ in range(n)])
        if visibility:
            mask = screen_number_lists(values, multiple=3, visibility_every=3)
            expect = [keypoints_problem('keypoints', v) is not None for v in values]
        else:
            mask = screen_number_lists(values, min_len=6, even=True)
            expect = [polygon_problem('polygon', v) is not None for v in values]
        assert mask.tolist() == expect
    scalars = [1, 2.5, NAN, '3', None, True, INF, 10 ** 400, 0]
    assert screen_numbers(scalars).tolist() == [number_problem('a', v) is not None for v in scalars]


# -- faults: raise one line, or skip and count ----------------------------------------------------------------------
def test_record_faults_raise_one_line_or_count_and_warn_once():
    strict = RecordFaults('CocoDataset', 'data/x.json')
    with pytest.raises(InvalidAnnotationError) as err:
        strict.fault('annotation id 7 (image id 3)', 'bbox [nan, 1, 2, 3] has a non-finite number')
    assert str(err.value) == ('CocoDataset: data/x.json: annotation id 7 (image id 3): bbox [nan, 1, 2, 3] has a '
                              'non-finite number; fix the file, or pass skip_invalid=True to skip such records')
    assert isinstance(err.value, (AnnotationError, UserError, ValueError))
    lenient = RecordFaults('CocoDataset', 'data/x.json', skip_invalid=True)
    assert lenient.summary() is None
    for i in range(5):
        lenient.fault(f'annotation id {i}', 'area nan is not a finite number')
    lenient.fault('image id 9', 'width 0 must be > 0', kind='image')
    assert lenient.count == 6
    with visioncraft_warnings() as records:
        lenient.warn()
    lines = [r.getMessage() for r in records]
    assert lines == ['CocoDataset: data/x.json: skipped 6 invalid records (5 annotation(s), 1 image(s)) '
                     '(skip_invalid=True): annotation id 0: area nan is not a finite number; annotation id 1: area nan '
                     'is not a finite number; annotation id 2: area nan is not a finite number; and 3 more']


def test_check_coco_returns_the_same_dict_when_valid_and_a_cleaned_one_when_skipping():
    data = dict(images=[dict(id=1, file_name='a.jpg', width=4, height=4)], categories=[dict(id=1, name='a')],
                annotations=[dict(id=1, image_id=1, category_id=1, bbox=[0, 0, 1, 1]),
                             dict(id=2, image_id=1, category_id=1, bbox=[0, 0, NAN, 1])])
    with pytest.raises(InvalidAnnotationError, match=r'^x: f\.json: annotation id 2 \(image id 1\): bbox'):
        check_coco(data, RecordFaults('x', 'f.json'))
    faults = RecordFaults('x', 'f.json', skip_invalid=True)
    out = check_coco(data, faults)
    assert [a['id'] for a in out['annotations']] == [1] and faults.count == 1 and len(data['annotations']) == 2
    data['annotations'].pop()
    assert check_coco(data, RecordFaults('x', 'f.json')) is data


# -- parse errors ---------------------------------------------------------------------------------------------------
def test_readers_name_file_and_line_of_a_byte_that_is_not_utf8(tmp_path):
    bad = tmp_path / 'a.json'
    bad.write_bytes(b'{\n"a": [1,\n "\xff"]}')
    with pytest.raises(AnnotationError, match=r'a\.json, line 3: not UTF-8 text \(byte 13'):
        read_json(bad, 'annotation file')
    bad.write_bytes(b'{\n"a": [1,\n 2,]}')
    with pytest.raises(AnnotationError, match=r'a\.json, line 3 column 4: invalid JSON'):
        read_json(bad, 'annotation file')
    txt = tmp_path / 'l.txt'
    txt.write_bytes(b'ok\nok\n\xe9\n')
    with pytest.raises(AnnotationError, match=r'l\.txt, line 3: not UTF-8'):
        read_text_lines(txt, 'label file')


# -- empty datasets -------------------------------------------------------------------------------------------------
class _Images(BaseDataset):
    sample_name = 'image'

    def __init__(self, sizes=(8, 16, 24), **kwargs):
        self.sizes = sizes
        super().__init__(**kwargs)

    def load_data_list(self):
        return [dict(img_path=f'{i}.jpg', width=s, height=s) for i, s in enumerate(self.sizes)]

    def filter_data(self, data_list):
        return [d for d in data_list if d['width'] >= (self.filter_cfg or {}).get('min_size', 0)]


def test_empty_dataset_errors_name_class_file_and_filter(tmp_path):
    x, y = tmp_path / 'x.json', tmp_path / 'y.json'
    x.write_text('{}')
    y.write_text('{}')
    ok = _Images(ann_file=str(x))
    check_not_empty(ok, 'train_dataloader')
    cases = [
        (_Images(ann_file=str(x), filter_cfg=dict(min_size=32)), 'train_dataloader',
         f'train_dataloader.dataset: _Images: {x}: filter_cfg=dict(min_size=32) removed all 3 images, so there is '
         'nothing to train on'),
        (_Images(sizes=(), ann_file=str(x)), 'val_dataloader',
         f'val_dataloader.dataset: _Images: {x}: holds no images, so there is nothing to validate on'),
        (_Images(ann_file=str(x), indices=[]), 'test_dataloader',
         f'test_dataloader.dataset: _Images: {x}: indices=[] kept none of the 3 images, so there is nothing to test '
         'on'),
        (ConcatDataset([_Images(sizes=()), _Images(ann_file=str(y), filter_cfg=dict(min_size=99))]),
         'train_dataloader', 'train_dataloader.dataset: ConcatDataset: all 2 datasets are empty; the first: _Images: '
                             '(no ann_file): holds no images, so there is nothing to train on'),
        (RepeatDataset(_Images(ann_file=str(x), filter_cfg=dict(min_size=99)), times=3), 'train_dataloader',
         f'train_dataloader.dataset: RepeatDataset of _Images: {x}: filter_cfg=dict(min_size=99) removed all 3 '
         'images, so there is nothing to train on'),
    ]
    for dataset, key, message in cases:
        assert len(dataset) == 0
        with pytest.raises(EmptyDatasetError) as err:
            check_not_empty(dataset, key)
        assert str(err.value) == message


# -- a training run -------------------------------------------------------------------------------------------------
DET_MODEL = tiny_det_model(num_classes=2)


def _det_train_config(root: Path, **dataset) -> Path:
    """A tiny RetinaNet training config on 12 generated 24x24 images, one box each, with ``dataset`` keys."""
    import cv2
    (root / 'images').mkdir(parents=True, exist_ok=True)
    images, anns = [], []
    for i in range(12):
        cv2.imwrite(str(root / 'images' / f'{i}.png'), np.full((24, 24, 3), 40 + i, np.uint8))
        images.append(dict(id=i + 1, file_name=f'{i}.png', width=24, height=24))
        anns.append(dict(id=i + 1, image_id=i + 1, category_id=1 + i % 2, bbox=[2, 2, 12, 12], area=144, iscrowd=0))
    (root / 'train.json').write_text(json.dumps(dict(images=images, annotations=anns, categories=[
        dict(id=1, name='a'), dict(id=2, name='b')])))
    pipeline = [dict(type='LoadImageFromFile'), dict(type='LoadAnnotations', with_bbox=True),
                dict(type='PackDetInputs')]
    cfg = dict(
        model=DET_MODEL, work_dir=str(root / 'work'),
        train_dataloader=dict(batch_size=2, num_workers=0, sampler=dict(type='DefaultSampler', shuffle=True),
                              dataset=dict(type='CocoDataset', data_root=str(root), ann_file='train.json',
                                           data_prefix=dict(img='images/'), metainfo=dict(classes=('a', 'b')),
                                           pipeline=pipeline, **dataset)),
        train_cfg=dict(by_epoch=True, max_epochs=1),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.01)),
        param_scheduler=[dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0, end=5),
                         dict(type='MultiStepLR', milestones=[1], by_epoch=True)])
    path = root / 'det_train.py'
    Config(cfg).dump(path)
    return path


EMPTIED = ("train_dataloader.dataset: CocoDataset: {root}/train.json: filter_cfg=dict(filter_empty_gt=True, "
           "min_size=32) removed all 12 images, so there is nothing to train on")


def test_training_on_a_dataset_its_filter_empties_exits_2_with_one_line_and_no_checkpoint(tmp_path, capsys,
                                                                                          monkeypatch):
    from visioncraft.cli.main import main as vc_main
    monkeypatch.delenv('VISIONCRAFT_DEBUG', raising=False)
    cfg = _det_train_config(tmp_path, filter_cfg=dict(filter_empty_gt=True, min_size=32))
    with pytest.raises(SystemExit) as exit_:
        run_entry_point(vc_main, ['train', str(cfg)])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert err == 'error: ' + EMPTIED.format(root=tmp_path) + '\n'
    assert not list((tmp_path / 'work').rglob('*.pth')) and not (tmp_path / 'work' / 'last_checkpoint').exists()


@pytest.mark.slow
def test_tools_train_on_an_emptied_dataset_or_a_nan_box_exits_2_without_traceback(tmp_path):
    """The same through the real command lines (tools/train.py and `python -m visioncraft.cli.main train`)."""
    cfg = _det_train_config(tmp_path / 'empty', filter_cfg=dict(filter_empty_gt=True, min_size=32))
    nan_cfg = _det_train_config(tmp_path / 'nan')
    data = json.loads((tmp_path / 'nan' / 'train.json').read_text())
    data['annotations'][4]['bbox'] = [2, NAN, 12, 12]
    (tmp_path / 'nan' / 'train.json').write_text(json.dumps(data))
    env = {k: v for k, v in os.environ.items() if k != 'VISIONCRAFT_DEBUG'}
    env.update(PYTHONPATH=str(REPO), OMP_NUM_THREADS='1')
    runs = [([sys.executable, 'tools/train.py', str(cfg)], 'error: ' + EMPTIED.format(root=tmp_path / 'empty')),
            ([sys.executable, '-m', 'visioncraft.cli.main', 'train', str(nan_cfg)],
             f'error: {nan_cfg}: train_dataloader.dataset: CocoDataset: {tmp_path}/nan/train.json: annotation id 5 '
             '(image id 5): bbox [2, nan, 12, 12] has a non-finite number; fix the file, or pass skip_invalid=True to '
             'skip such records')]
    for argv, line in runs:
        out = subprocess.run(argv, capture_output=True, text=True, env=env, cwd=REPO, timeout=300)
        assert out.returncode == 2, out.stderr[-3000:]
        assert 'Traceback' not in out.stderr and out.stderr.strip().splitlines()[-1] == line, out.stderr[-3000:]
        assert [ln for ln in out.stderr.splitlines() if ln.startswith('error: ')] == [line]
    for sub in ('empty', 'nan'):
        assert not list((tmp_path / sub / 'work').rglob('*.pth'))
