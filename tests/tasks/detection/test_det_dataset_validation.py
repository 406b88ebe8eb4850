"""CocoDataset / VOCDataset validation: every fault of a generated file is ONE line naming the file, the record and
the field; ``skip_invalid=True`` skips and counts instead (one warning line)."""
from __future__ import annotations

import json
import logging
import math

import pytest

from conftest import visioncraft_warnings
from det_data_factory import make_coco, make_voc

import visioncraft  # noqa: F401  (fills the registries)
from visioncraft.data.coco_json import load_coco
from visioncraft.errors import InvalidAnnotationError, UserError, user_error_message
from visioncraft.tasks.detection.datasets import CocoDataset, VOCDataset

NAN, INF = math.nan, math.inf


@pytest.fixture(scope='module')
def coco_json(tmp_path_factory):
    root = tmp_path_factory.mktemp('coco_valid')
    return root, json.loads(make_coco(root).read_text())


def _write(root, name, data) -> str:
    path = root / name
    path.write_text(json.dumps(data))  # NaN / Infinity as JSON's NaN / Infinity tokens
    return str(path)


def _ann(data, k=0, **values):
    """``data`` with annotation ``k``'s keys set to ``values``."""
    out = json.loads(json.dumps(data))
    out['annotations'][k].update(values)
    return out


def _img(data, k=0, **values):
    out = json.loads(json.dumps(data))
    out['images'][k].update(values)
    return out


def _one_line(exc: BaseException) -> str:
    line = user_error_message(exc)
    assert '\n' not in line and line.startswith('error: ')
    return line


# name: (edit of the make_coco file, words the error line must hold besides the file name)
COCO_FAULTS = {
    'nan_bbox': (lambda d: _ann(d, 0, bbox=[NAN, 1, 2, 3]), ['annotation id 101 (image id 1)', 'bbox [nan, 1, 2, 3]',
                                                             'non-finite']),
    'inf_bbox': (lambda d: _ann(d, 1, bbox=[1, 2, INF, 3]), ['annotation id 102', 'bbox', 'non-finite']),
    'neg_inf_area': (lambda d: _ann(d, 0, area=-INF), ['annotation id 101', 'area -inf', 'not a finite number']),
    'string_bbox': (lambda d: _ann(d, 0, bbox=['8', 8, 20, 16]), ['annotation id 101', 'bbox', "the string '8'"]),
    'string_area': (lambda d: _ann(d, 0, area='320'), ['annotation id 101', 'area', 'not a number']),
    'bool_bbox': (lambda d: _ann(d, 0, bbox=[8, 8, 20, True]), ['annotation id 101', 'bbox', 'boolean']),
    'short_bbox': (lambda d: _ann(d, 0, bbox=[8, 8, 20]), ['annotation id 101', 'bbox', 'has 3 numbers']),
    'nan_polygon': (lambda d: _ann(d, 1, segmentation=[[30, 20, NAN, 20, 54, 40]]),
                    ['annotation id 102', 'segmentation polygon 0', 'non-finite']),
    'inf_polygon_2nd': (lambda d: _ann(d, 0, segmentation=[[8, 8, 28, 8, 28, 24], [1, 2, 3, 4, 5, INF]]),
                        ['annotation id 101', 'segmentation polygon 1', 'non-finite']),
    'short_polygon': (lambda d: _ann(d, 0, segmentation=[[8, 8, 28, 8]]),
                      ['annotation id 101', 'polygon 0', 'has 4 numbers', '>= 6']),
    'odd_polygon': (lambda d: _ann(d, 0, segmentation=[[8, 8, 28, 8, 28, 24, 8]]), ['polygon 0', 'has 7 numbers']),
    'string_polygon': (lambda d: _ann(d, 0, segmentation=[['8', 8, 28, 8, 28, 24]]), ['polygon 0', 'string']),
    'polygon_not_list': (lambda d: _ann(d, 0, segmentation=[5]), ['polygon 0', 'not a list of numbers']),
    'segmentation_text': (lambda d: _ann(d, 0, segmentation='poly'), ['segmentation', 'neither']),
    'rle_bad_size': (lambda d: _ann(d, 2, segmentation={'size': [48, -1], 'counts': [1, 2]}),
                     ['annotation id 103', 'RLE size']),
    'rle_bad_counts': (lambda d: _ann(d, 2, segmentation={'size': [48, 64], 'counts': [1, NAN]}),
                       ['annotation id 103', 'RLE counts']),
    'unknown_image': (lambda d: _ann(d, 1, image_id=77), ['annotations[1] (id 102) refers to image_id 77']),
    'unknown_category': (lambda d: _ann(d, 1, category_id=3), ['annotations[1] (id 102) has category_id 3']),
    'no_category': (lambda d: {**d, 'annotations': [{k: v for k, v in a.items() if k != 'category_id'}
                                                    for a in d['annotations']]}, ['annotations[0]', 'category_id']),
    'dup_ann_id': (lambda d: _ann(d, 4, id=101), ['annotations[4] (id 101) repeats the id of annotations[0]']),
    'dup_img_id': (lambda d: _img(d, 2, id=1), ['images[2] (id 1)', 'repeats the id of images[0]']),
    'no_ann_id': (lambda d: {**d, 'annotations': [{k: v for k, v in a.items() if k != 'id'} if i == 3 else a
                                                  for i, a in enumerate(d['annotations'])]},
                  ['annotations[3] (image id 1)', 'no "id"']),
    'list_ann_id': (lambda d: _ann(d, 0, id=[101]), ['annotations[0]', 'id [101] is a list']),
    'width_zero': (lambda d: _img(d, 1, width=0), ['image id 2', 'width 0 must be > 0']),
    'height_negative': (lambda d: _img(d, 1, height=-40), ['image id 2', 'height -40']),
    'width_nan': (lambda d: _img(d, 1, width=NAN), ['image id 2', 'width nan']),
    'width_string': (lambda d: _img(d, 1, width='40'), ['image id 2', 'width', 'string']),
    'file_name_number': (lambda d: _img(d, 1, file_name=7), ['image id 2', 'file_name 7']),
    'iscrowd_2': (lambda d: _ann(d, 0, iscrowd=2), ['annotation id 101', 'iscrowd 2']),
    'keypoints_visibility': (lambda d: _ann(d, 0, keypoints=[1, 2, 5]), ['annotation id 101', 'visibility flag 5']),
}


@pytest.mark.parametrize('name', sorted(COCO_FAULTS))
def test_coco_fault_is_one_line_naming_file_record_and_field(coco_json, tmp_path, name):
    root, data = coco_json
    edit, words = COCO_FAULTS[name]
    ann_file = _write(tmp_path, f'{name}.json', edit(data))
    with pytest.raises(InvalidAnnotationError) as err:
        CocoDataset(ann_file=ann_file, data_prefix=dict(img=str(root / 'images')))
    line = _one_line(err.value)
    assert line.startswith(f'error: CocoDataset: {ann_file}: '), line
    for w in words:
        assert w in line, (w, line)
    assert 'skip_invalid=True' in line and isinstance(err.value, (UserError, ValueError))


def test_coco_1e999_in_the_text_is_infinite(coco_json, tmp_path):
    root, data = coco_json
    text = json.dumps(data).replace('"bbox": [8, 8, 20, 16]', '"bbox": [8, 8, 20, 1e999]', 1)
    path = tmp_path / 'big.json'
    path.write_text(text)
    with pytest.raises(InvalidAnnotationError, match=r'big\.json: annotation id 101 \(image id 1\): bbox \[8, 8, 20, '
                                                     r'inf\] has a non-finite number'):
        CocoDataset(ann_file=str(path))


def test_coco_skip_invalid_skips_counts_and_warns_once(coco_json, tmp_path):
    root, data = coco_json
    bad = _ann(_ann(_ann(data, 0, bbox=[NAN, 8, 20, 16]), 1, segmentation=[[1, 2, 3, 4]]), 5, image_id=99)
    bad = _img(bad, 2, width=0)  # image 3 (c.jpg) and its annotation 301 go
    ann_file = _write(tmp_path, 'skip.json', bad)
    with visioncraft_warnings() as records:
        ds = CocoDataset(ann_file=ann_file, skip_invalid=True)
    # 101 (NaN), 102 (short polygon), 401 (unknown image), image 3 and its annotation 301
    assert ds.num_invalid_skipped == 5
    assert [ds.get_data_info(i)['img_id'] for i in range(len(ds))] == [1, 2, 4]
    assert [i['ann_id'] for i in ds.get_data_info(0)['instances']] == [103]
    assert [i['ann_id'] for i in ds.get_data_info(2)['instances']] == [402]
    warnings = [r.getMessage() for r in records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and '\n' not in warnings[0]
    line = warnings[0]
    assert line.startswith(f'CocoDataset: {ann_file}: skipped 5 invalid records (1 image(s), 4 annotation(s))')
    assert 'image id 3: width 0 must be > 0' in line and 'annotation id 101 (image id 1): bbox [nan' in line
    assert 'and 2 more' in line


def test_coco_duplicate_image_skipped_keeps_the_first(coco_json, tmp_path):
    root, data = coco_json
    ann_file = _write(tmp_path, 'dup.json', _img(data, 3, id=2))  # d.jpg claims b.jpg's id
    ds = CocoDataset(ann_file=ann_file, skip_invalid=True)
    # the repeated image, and d.jpg's two annotations, whose image_id 4 no image has any more
    assert ds.num_invalid_skipped == 3 and ds.img_ids == [1, 2, 3]
    assert ds.get_data_info(1)['img_path'].endswith('b.jpg') and ds.get_data_info(1)['instances'] == []


def test_coco_valid_file_is_unchanged_by_the_checks(coco_json):
    root, _ = coco_json
    ds = CocoDataset(ann_file=str(root / 'instances.json'))
    assert len(ds) == 4 and ds.num_invalid_skipped == 0


def test_load_coco_for_metrics_is_strict_without_the_skip_hint(coco_json, tmp_path):
    root, data = coco_json
    ann_file = _write(tmp_path, 'gt.json', _ann(data, 0, bbox=[NAN, 1, 2, 3]))
    with pytest.raises(InvalidAnnotationError) as err:
        load_coco(ann_file, 'CocoMetric')
    assert str(err.value) == (f'CocoMetric: {ann_file}: annotation id 101 (image id 1): bbox [nan, 1, 2, 3] has a '
                              'non-finite number')


def test_coco_parse_errors_name_file_line_and_column(tmp_path):
    bad = tmp_path / 'syntax.json'
    bad.write_text('{"images": [\n  {"id": 1,}\n]}')
    with pytest.raises(ValueError, match=r'syntax\.json, line 2 column 12: invalid JSON'):
        CocoDataset(ann_file=str(bad))
    latin = tmp_path / 'latin.json'
    latin.write_bytes(b'{"images": [],\n "info": "caf\xe9"}')
    with pytest.raises(ValueError, match=r'latin\.json, line 2: not UTF-8 text'):
        CocoDataset(ann_file=str(latin))


# -- VOC ----------------------------------------------------------------------------------------------------------
def test_voc_non_finite_or_negative_box_names_xml_and_object(tmp_path):
    ann = make_voc(tmp_path, '2007', {'000001': ((50, 40), (50, 40), [('dog', 0, (5, 6, 20, 25)),
                                                                      ('cat', 0, (1, 'nan', 5, 5))]),
                                      '000002': ((50, 40), (50, 40), [('car', 0, (10, 10, 4, 30))]),
                                      '000003': ((50, 40), (50, 40), [('car', 0, (10, 10, 'inf', 30))])})
    kw = dict(data_root=str(tmp_path), ann_file=ann, data_prefix=dict(sub_data_root='VOC2007/'))
    with pytest.raises(InvalidAnnotationError) as err:
        VOCDataset(**kw)
    line = _one_line(err.value)
    assert '000001.xml: object 1 (cat): bndbox [xmin, ymin, xmax, ymax] = [1.0, nan, 5.0, 5.0] has a non-finite' \
        in line and line.startswith('error: VOCDataset: ')
    with visioncraft_warnings() as records:
        ds = VOCDataset(**kw, skip_invalid=True)
    assert ds.num_invalid_skipped == 3 and len(ds) == 3
    assert [len(ds.get_data_info(i)['instances']) for i in range(3)] == [1, 0, 0]
    warnings = [r.getMessage() for r in records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and 'skipped 3 invalid object(s)' in warnings[0] and 'negative size' in warnings[0]


def test_voc_split_file_not_utf8_names_the_line(tmp_path):
    ann = make_voc(tmp_path, '2007', {'000001': ((50, 40), (50, 40), [])})
    (tmp_path / ann).write_bytes(b'000001\n00\xff02\n')
    with pytest.raises(ValueError, match=r'trainval\.txt, line 2: not UTF-8'):
        VOCDataset(data_root=str(tmp_path), ann_file=ann, data_prefix=dict(sub_data_root='VOC2007/'))


def test_voc_xml_syntax_error_names_file_line_and_column(tmp_path):
    ann = make_voc(tmp_path, '2007', {'000001': ((50, 40), (50, 40), [])})
    (tmp_path / 'VOC2007' / 'Annotations' / '000001.xml').write_text('<annotation>\n<size><width>5</size>')
    with pytest.raises(ValueError, match=r'000001\.xml: mismatched tag: line 2, column'):
        VOCDataset(data_root=str(tmp_path), ann_file=ann, data_prefix=dict(sub_data_root='VOC2007/'))
