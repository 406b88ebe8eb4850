"""The synthetic detection shapes: deterministic files, valid COCO annotations, loading through the registry."""
from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

import visioncraft  # noqa: F401  (fills the registries)
from visioncraft.data.synthetic.det_shapes import DET_SHAPE_CLASSES, generate_det_shapes, shape_polygon
from visioncraft.registry import DATASETS, TRANSFORMS
from visioncraft.structures import PolygonMasks
from visioncraft.tasks.detection.datasets import CocoDataset

SETTINGS = dict(num_train=10, num_val=4, image_size=(96, 80), max_objects=5, seed=1)


def _tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob('*')) if p.is_file()}


@pytest.fixture(scope='module')
def shapes_root(tmp_path_factory) -> Path:
    return generate_det_shapes(tmp_path_factory.mktemp('det') / 'shapes', **SETTINGS)


def test_same_seed_gives_identical_files(shapes_root, tmp_path):
    again = generate_det_shapes(tmp_path / 'again', **SETTINGS)
    first, second = _tree(shapes_root), _tree(again)
    assert sorted(first) == sorted(second)
    assert len([k for k in first if k.endswith('.png')]) == 14
    assert first == second
    other = _tree(generate_det_shapes(tmp_path / 'other', **dict(SETTINGS, seed=2)))
    assert other['annotations/instances_train.json'] != first['annotations/instances_train.json']
    assert other['train/00000.png'] != first['train/00000.png']
    assert not [p for p in tmp_path.iterdir() if p.name.startswith('.')]  # no temporary folder left behind


def test_regenerates_only_when_settings_change(tmp_path):
    root = generate_det_shapes(tmp_path / 'ds', **SETTINGS)
    (root / 'keep.txt').write_text('x')
    generate_det_shapes(root, **SETTINGS)
    assert (root / 'keep.txt').exists()  # same settings: untouched
    generate_det_shapes(root, **dict(SETTINGS, num_val=3))
    assert not (root / 'keep.txt').exists()
    val = json.loads((root / 'annotations' / 'instances_val.json').read_text())
    assert len(val['images']) == 3 and val['info']['generated_with']['num_val'] == 3
    with pytest.raises(ValueError, match='object_size'):
        generate_det_shapes(tmp_path / 'bad', object_size=(30, 20))


def test_annotations_are_valid_coco(shapes_root):
    for split, n in (('train', 10), ('val', 4)):
        coco = json.loads((shapes_root / 'annotations' / f'instances_{split}.json').read_text())
        assert [c['id'] for c in coco['categories']] == [1, 2, 3, 4]
        assert tuple(c['name'] for c in coco['categories']) == DET_SHAPE_CLASSES
        assert [im['id'] for im in coco['images']] == list(range(1, n + 1))
        assert len({a['id'] for a in coco['annotations']}) == len(coco['annotations']) >= n
        by_img: dict[int, list] = {}
        for ann in coco['annotations']:
            by_img.setdefault(ann['image_id'], []).append(ann)
        for im in coco['images']:
            img = cv2.imread(str(shapes_root / im['file_name']))
            assert img.shape == (80, 96, 3) and (im['width'], im['height']) == (96, 80)
            anns = by_img.get(im['id'], [])
            assert 1 <= len(anns) <= 5
            boxes = []
            for ann in anns:
                x, y, w, h = ann['bbox']
                assert ann['iscrowd'] == 0 and 12 * 0.4 < max(w, h) <= 48
                assert 0 <= x and 0 <= y and x + w <= 96 and y + h <= 80
                poly = np.asarray(ann['segmentation'][0]).reshape(-1, 2)
                assert len(poly) in (3, 4, 10, 24)
                np.testing.assert_allclose([x, y, x + w, y + h], [*poly.min(0), *poly.max(0)], atol=0.02)
                m = PolygonMasks([ann['segmentation']], 80, 96).to_ndarray()[0].astype(bool)
                assert abs(float(m.sum()) - ann['area']) < 0.1 * ann['area'] + 4
                # the shape is really drawn there, in one flat colour (plus noise / antialiasing)
                inside = img[m].mean(0)
                assert np.abs(img[m] - inside).mean() < 30
                boxes.append((x, y, x + w, y + h))
            for i, a in enumerate(boxes):  # objects do not overlap
                for b in boxes[i + 1:]:
                    assert min(a[2], b[2]) <= max(a[0], b[0]) or min(a[3], b[3]) <= max(a[1], b[1])


def test_loads_with_coco_dataset_and_pipeline(shapes_root):
    ds = CocoDataset(ann_file='annotations/instances_train.json', data_root=str(shapes_root),
                     metainfo=dict(classes=DET_SHAPE_CLASSES),
                     pipeline=[dict(type='LoadImageFromFile'), dict(type='LoadAnnotations', with_mask=True)])
    assert len(ds) == 10
    raw = json.loads((shapes_root / 'annotations' / 'instances_train.json').read_text())
    for i in range(len(ds)):
        info = ds.get_data_info(i)
        anns = [a for a in raw['annotations'] if a['image_id'] == info['img_id']]
        assert len(info['instances']) == len(anns)
        for inst, ann in zip(info['instances'], anns):
            x, y, w, h = ann['bbox']
            np.testing.assert_allclose(inst['bbox'], [x, y, x + w, y + h])
            assert inst['bbox_label'] == ann['category_id'] - 1 and inst['ignore_flag'] == 0
        out = ds[i]
        assert out['img'].shape == (80, 96, 3)
        assert len(out['gt_masks']) == len(out['gt_bboxes']) == len(anns)
        assert (out['gt_bboxes'][:, 2] <= 96).all() and (out['gt_bboxes'][:, 3] <= 80).all()
        # each mask lies in its box and fills it up to the sharp tips' sub-pixel slivers
        for mask, box in zip(out['gt_masks'].to_ndarray(), out['gt_bboxes']):
            ys, xs = np.nonzero(mask)
            extent = np.array([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1])
            assert (extent[:2] >= np.floor(box[:2])).all() and (extent[2:] <= np.ceil(box[2:])).all()
            np.testing.assert_allclose(extent, box, atol=2.5)


def test_registered_dataset_generates_on_first_use(tmp_path):
    ds = DATASETS.build(dict(type='DetShapesDataset', data_root=str(tmp_path / 'auto'),
                             ann_file='annotations/instances_val.json', num_train=3, num_val=5,
                             image_size=(64, 64), seed=4, test_mode=True,
                             pipeline=[dict(type='LoadImageFromFile'), dict(type='LoadAnnotations'),
                                       dict(type='PackDetInputs')]))
    assert len(ds) == 5 and ds.metainfo['classes'] == DET_SHAPE_CLASSES
    sample = ds[0]
    assert tuple(sample['inputs'].shape) == (3, 64, 64)
    assert len(sample['data_samples'].gt_instances) >= 1
    assert (tmp_path / 'auto' / 'train' / '00002.png').is_file()
    assert TRANSFORMS.get('LoadAnnotations') is not None


def test_shape_polygon():
    circle = shape_polygon('circle', 10, 20, 8, 0.3)
    assert circle.shape == (24, 2)
    np.testing.assert_allclose(np.hypot(circle[:, 0] - 10, circle[:, 1] - 20), 4)
    assert shape_polygon('star', 0, 0, 10, 0).shape == (10, 2)
    with pytest.raises(ValueError, match='unknown shape'):
        shape_polygon('hexagon', 0, 0, 1, 0)
