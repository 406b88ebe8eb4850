"""Text-detection readers reject non-finite / non-numeric polygons and boxes and bytes that are not UTF-8 with ONE
line naming the reader, the file, the record (line / data_list entry and instance) and the field."""
from __future__ import annotations

import json
import math

import pytest

import visioncraft  # noqa: F401  (fills the registries)
from visioncraft.data.validation import check_not_empty
from visioncraft.errors import AnnotationError, EmptyDatasetError, InvalidAnnotationError, user_error_message
from visioncraft.registry import DATASETS

NAN = math.nan


def _line(exc) -> str:
    line = user_error_message(exc)
    assert '\n' not in line
    return line


def _mmocr(tmp_path, inst: dict) -> str:
    data = dict(metainfo=dict(dataset_type='TextDetDataset', task_name='textdet'), data_list=[
        dict(img_path='a.jpg', height=40, width=100, instances=[
            dict(polygon=[0, 0, 10, 0, 10, 10, 0, 10], bbox=[0, 0, 10, 10], bbox_label=0, ignore=False, text='ok'),
            inst])])
    path = tmp_path / 'ann.json'
    path.write_text(json.dumps(data))
    return str(path)


@pytest.mark.parametrize('inst, words', [
    (dict(polygon=[0, 0, NAN, 0, 10, 10], ignore=False), 'polygon [0, 0, nan, 0, 10, 10] has a non-finite number'),
    (dict(polygon=[0, 0, 10, 0, 10, math.inf], ignore=False), 'non-finite'),
    (dict(polygon=['0', 0, 10, 0, 10, 10], ignore=False), "holds the string '0', not a number"),
    (dict(polygon=[0, 0, 10, 0, True, 10], ignore=False), 'holds the boolean true'),
    (dict(polygon=[0, 0, 10, 0], ignore=False), '4 coordinates'),
    (dict(polygon=[0, 0, 10, 0, 10, 10], bbox=[0, 0, NAN, 10], ignore=False), 'bbox [0, 0, nan, 10] has a non-finite'),
    (dict(polygon=[0, 0, 10, 0, 10, 10], bbox=['0', 0, 10, 10], ignore=False), 'bbox'),
    (dict(polygon=[0, 0, 10, 0, 10, 10], bbox_label='0', ignore=False), 'bbox_label'),
])
def test_mmocr_json_fault_names_reader_file_entry_instance_and_field(tmp_path, inst, words):
    path = _mmocr(tmp_path, inst)
    with pytest.raises(AnnotationError) as err:
        DATASETS.build(dict(type='OCRDataset', ann_file=path))
    line = _line(err.value)
    assert f"OCRDataset: {path}, data_list entry 'a.jpg', instance 1: " in line and words in line, line


def test_mmocr_json_image_size_must_be_positive(tmp_path):
    path = tmp_path / 'ann.json'
    path.write_text(json.dumps(dict(data_list=[dict(img_path='a.jpg', height=0, width=10, instances=[])])))
    with pytest.raises(InvalidAnnotationError, match=r"ann\.json, data_list entry 'a\.jpg': height 0 must be > 0"):
        DATASETS.build(dict(type='OCRDataset', ann_file=str(path)))


@pytest.mark.parametrize('points, words', [
    ('[[1, 2], [NaN, 2], [9, 8]]', 'non-finite'), ('[[1, 2], [9, Infinity], [9, 8]]', 'non-finite'),
    ('[["1", 2], [9, 2], [9, 8]]', "the string '1'"),
])
def test_paddle_points_fault_names_reader_file_line_and_annotation(tmp_path, points, words):
    path = tmp_path / 'label.txt'
    path.write_text('ok.jpg\t[]\n' + f'x.jpg\t[{{"transcription": "a", "points": {points}}}]\n', encoding='utf-8')
    with pytest.raises(InvalidAnnotationError) as err:
        DATASETS.build(dict(type='PaddleOCRDetDataset', label_file_list=str(path)))
    line = _line(err.value)
    assert f'PaddleOCRDetDataset: {path}, line 2, annotation 0: polygon' in line and words in line, line


def _icdar(tmp_path, gt: bytes) -> str:
    (tmp_path / 'imgs').mkdir()
    (tmp_path / 'annotations').mkdir()
    (tmp_path / 'imgs' / 'img_1.jpg').write_bytes(b'')
    (tmp_path / 'annotations' / 'gt_img_1.txt').write_bytes(gt)
    return str(tmp_path)


@pytest.mark.parametrize('gt, words', [
    (b'0,0,10,0,10,10,0,10,ok\n1,2,3,4,5,6,nan,8,word\n', 'line 2: polygon [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, nan, 8.0] '
                                                           'has a non-finite number'),
    (b'0,0,10,0,10,10,0,10,ok\n1,2,3,4,5,inf,7,8,word\n', 'line 2: polygon'),
    (b'0,0,10,0,10,10,0,10,ok\n0,0,1,0,1,1,0,1,caf\xe9\n', 'line 2: not UTF-8 text'),
])
def test_icdar2015_fault_names_reader_file_and_line(tmp_path, gt, words):
    root = _icdar(tmp_path, gt)
    with pytest.raises(AnnotationError) as err:
        DATASETS.build(dict(type='ICDAR2015Dataset', data_root=root))
    line = _line(err.value)
    assert line.startswith('error: ICDAR2015Dataset: ') and 'gt_img_1.txt, line 2' in line and words in line, line


def test_not_utf8_json_names_the_line(tmp_path):
    path = tmp_path / 'ann.json'
    path.write_bytes(b'{"data_list": [\n{"img_path": "\xff.jpg", "instances": []}]}')
    with pytest.raises(AnnotationError, match=r'ann\.json, line 2: not UTF-8 text'):
        DATASETS.build(dict(type='OCRDataset', ann_file=str(path)))


def test_filter_that_removes_every_image_is_named(tmp_path):
    path = _mmocr(tmp_path, dict(polygon=[0, 0, 10, 0, 10, 10], ignore=True))
    ds = DATASETS.build(dict(type='OCRDataset', ann_file=path, filter_cfg=dict(min_size=1000)))
    assert len(ds) == 0
    with pytest.raises(EmptyDatasetError, match=rf'train_dataloader\.dataset: OCRDataset: {path}: '
                                                 r"filter_cfg=dict\(min_size=1000\) removed all 1 images, so there is "
                                                 'nothing to train on'):
        check_not_empty(ds, 'train_dataloader')
