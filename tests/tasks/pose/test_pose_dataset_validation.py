"""Pose datasets' validation (COCO keypoints, MPII, bbox_file): every fault of a generated file is ONE line naming
the file, the record and the field; ``skip_invalid=True`` skips and counts (one warning line); a dataset whose
every person is left out is an error naming the file and why, where the run builds its loader."""
from __future__ import annotations

import json
import logging
import math

import pytest

from conftest import visioncraft_warnings

from visioncraft.data.validation import check_not_empty
from visioncraft.errors import EmptyDatasetError, InvalidAnnotationError, user_error_message
from visioncraft.tasks.pose.datasets import CocoPoseDataset, MpiiDataset

NAN, INF = math.nan, math.inf
K = 17


def _kpts(seed: int, vis: int = 2) -> list:
    return [v for j in range(K) for v in (5.0 + j + seed, 10.0 + 2 * j, vis)]


def coco_kpts() -> dict:
    images = [dict(id=1, file_name='a.jpg', width=100, height=80), dict(id=2, file_name='b.jpg', width=60, height=50)]
    anns = [dict(id=11, image_id=1, category_id=1, bbox=[10, 10, 40, 50], area=1500.0, iscrowd=0, num_keypoints=K,
                 keypoints=_kpts(0), segmentation=[[10, 10, 50, 10, 50, 60]]),
            dict(id=12, image_id=1, category_id=1, bbox=[20, 5, 30, 30], area=900.0, iscrowd=0, num_keypoints=K,
                 keypoints=_kpts(1, vis=1)),
            dict(id=21, image_id=2, category_id=1, bbox=[1, 1, 40, 40], area=1600.0, iscrowd=0, num_keypoints=K,
                 keypoints=_kpts(2))]
    return dict(images=images, annotations=anns, categories=[dict(id=1, name='person')])


def _ann(data, k, **values):
    out = json.loads(json.dumps(data))
    out['annotations'][k].update(values)
    return out


def _write(tmp_path, name, data) -> str:
    path = tmp_path / name
    path.write_text(json.dumps(data))
    return str(path)


def _line(exc) -> str:
    line = user_error_message(exc)
    assert '\n' not in line
    return line


KP = _kpts(0)
POSE_FAULTS = {
    'nan_keypoint': (dict(keypoints=[NAN] + KP[1:]), ['annotation id 11 (image id 1)', 'keypoints', 'non-finite',
                                                      'nan at index 0']),
    'inf_keypoint': (dict(keypoints=KP[:4] + [INF] + KP[5:]), ['keypoints', 'inf at index 4']),
    'string_keypoints': (dict(keypoints=[str(v) for v in KP]), ['keypoints', "the string '5.0'"]),
    'null_keypoint': (dict(keypoints=KP[:3] + [None] + KP[4:]), ['keypoints', 'null']),
    'keypoints_not_list': (dict(keypoints={'x': 1}), ['keypoints', 'an object, not a list']),
    'wrong_length': (dict(keypoints=KP[:-3]), ['keypoints has 48 values, expected 3 * 17 = 51']),
    'visibility_3': (dict(keypoints=KP[:5] + [3] + KP[6:]), ['visibility flag 3 of keypoint 1 is not 0, 1 or 2']),
    'visibility_negative': (dict(keypoints=KP[:2] + [-1] + KP[3:]), ['visibility flag -1 of keypoint 0']),
    'visibility_half': (dict(keypoints=KP[:2] + [0.5] + KP[3:]), ['visibility flag 0.5']),
    'nan_bbox': (dict(bbox=[10, NAN, 40, 50]), ['annotation id 11', 'bbox [10, nan, 40, 50]', 'non-finite']),
    'string_bbox': (dict(bbox=['10', 10, 40, 50]), ['bbox', 'string']),
    'nan_area': (dict(area=NAN), ['area nan']),
    'nan_polygon': (dict(segmentation=[[10, 10, 50, NAN, 50, 60]]), ['segmentation polygon 0', 'non-finite']),
    'num_keypoints_text': (dict(num_keypoints='17'), ['num_keypoints']),
    'unknown_category': (dict(category_id=5), ['annotations[0] (id 11) has category_id 5']),
    'unknown_image': (dict(image_id=9), ['annotations[0] (id 11) refers to image_id 9']),
    'duplicate_id': (dict(id=21), ['annotations[2] (id 21) repeats the id of annotations[0]']),
}


@pytest.mark.parametrize('name', sorted(POSE_FAULTS))
def test_keypoint_fault_is_one_line_naming_file_record_and_field(tmp_path, name):
    values, words = POSE_FAULTS[name]
    ann_file = _write(tmp_path, f'{name}.json', _ann(coco_kpts(), 0, **values))
    with pytest.raises(InvalidAnnotationError) as err:
        CocoPoseDataset(ann_file=ann_file)
    line = _line(err.value)
    assert line.startswith(f'error: CocoPoseDataset: {ann_file}: '), line
    for w in words:
        assert w in line, (w, line)


def test_image_size_zero_and_bottomup_and_bbox_file(tmp_path):
    data = coco_kpts()
    data['images'][1]['height'] = 0
    with pytest.raises(InvalidAnnotationError, match=r'size0\.json: image id 2: height 0 must be > 0'):
        CocoPoseDataset(ann_file=_write(tmp_path, 'size0.json', data), data_mode='bottomup')
    ann_file = _write(tmp_path, 'ok.json', coco_kpts())
    det = tmp_path / 'dets.json'
    det.write_text(json.dumps([dict(image_id=1, category_id=1, bbox=[1, 2, 3, 4], score=0.9),
                               dict(image_id=2, category_id=1, bbox=[1, 2, 3, 4], score=NAN)]))
    with pytest.raises(InvalidAnnotationError, match=r'bbox_file .*dets\.json: detection 1 \(image id 2\): score nan '
                                                     r'is not a finite number'):
        CocoPoseDataset(ann_file=ann_file, bbox_file=str(det), test_mode=True)
    ds = CocoPoseDataset(ann_file=ann_file, bbox_file=str(det), test_mode=True, skip_invalid=True)
    assert len(ds) == 1 and ds.num_invalid_skipped == 1


def test_skip_invalid_skips_counts_and_warns_once(tmp_path):
    data = _ann(_ann(coco_kpts(), 0, keypoints=[NAN] + KP[1:]), 2, image_id=42)
    ann_file = _write(tmp_path, 'skip.json', data)
    with visioncraft_warnings() as records:
        ds = CocoPoseDataset(ann_file=ann_file, skip_invalid=True)
    assert len(ds) == 1 and ds.get_data_info(0)['id'] == 12 and ds.num_invalid_skipped == 2
    lines = [r.getMessage() for r in records if r.levelno == logging.WARNING]
    assert len(lines) == 1 and lines[0].startswith(f'CocoPoseDataset: {ann_file}: skipped 2 invalid annotation(s)')
    assert 'annotation id 11 (image id 1): keypoints' in lines[0] and 'refers to image_id 42' in lines[0]


def test_not_utf8_names_the_line(tmp_path):
    path = tmp_path / 'latin.json'
    path.write_bytes(json.dumps(coco_kpts(), indent=1).encode().replace(b'"b.jpg"', b'"b\xe9.jpg"'))
    with pytest.raises(ValueError, match=r'CocoPoseDataset: .*latin\.json, line \d+: not UTF-8 text'):
        CocoPoseDataset(ann_file=str(path))


def test_every_person_left_out_is_an_empty_dataset_error(tmp_path):
    data = coco_kpts()
    for ann in data['annotations']:
        ann['iscrowd'] = 1
    ann_file = _write(tmp_path, 'crowd.json', data)
    ds = CocoPoseDataset(ann_file=ann_file)
    assert len(ds) == 0
    with pytest.raises(EmptyDatasetError) as err:
        check_not_empty(ds, 'train_dataloader')
    assert str(err.value) == (f'train_dataloader.dataset: CocoPoseDataset: {ann_file}: holds no person instances '
                              '(all 3 annotations with keypoints were left out as MMPose does: crowd, num_keypoints 0, '
                              'no keypoint labelled, or an empty box), so there is nothing to train on')


# -- MPII -----------------------------------------------------------------------------------------------------------
def _mpii(tmp_path, **changes) -> str:
    recs = [dict(image='015601864.jpg', center=[50.0, 40.0], scale=0.2, joints=[[10.0 + j, 20.0] for j in range(16)],
                 joints_vis=[1] * 16),
            dict(image='015601865.jpg', center=[80.0, 60.0], scale=0.5, joints=[[30.0, 40.0 + j] for j in range(16)],
                 joints_vis=[1] * 16)]
    recs[1].update(changes)
    path = tmp_path / 'mpii.json'
    path.write_text(json.dumps(recs))
    return str(path)


@pytest.mark.parametrize('changes, words', [
    (dict(center=[NAN, 60.0]), 'center [nan, 60.0] has a non-finite number'),
    (dict(scale=0), 'scale 0 must be > 0'),
    (dict(scale='0.5'), "scale '0.5' is the string"),
    (dict(joints=[[30.0, INF]] + [[30.0, 40.0]] * 15), 'joints'),
    (dict(joints=[[30.0, 40.0]] * 15), 'joints [30.0, 40.0, 30.0'),
    (dict(joints_vis=[1] * 15 + [4]), 'joints_vis flag 4 of joint 15 is not 0, 1 or 2'),
    (dict(joints_vis=['1'] * 16), 'joints_vis'),
])
def test_mpii_fault_names_file_record_and_field(tmp_path, changes, words):
    path = _mpii(tmp_path, **changes)
    with pytest.raises(InvalidAnnotationError) as err:
        MpiiDataset(ann_file=path)
    line = _line(err.value)
    assert line.startswith(f"error: MpiiDataset: {path}: record 1 ('015601865.jpg'): ") and words in line, line
    ds = MpiiDataset(ann_file=path, skip_invalid=True)
    assert len(ds) == 1 and ds.num_invalid_skipped == 1
