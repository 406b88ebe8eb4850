"""tools/dataset_converters: Pascal VOC, Cityscapes and image-folder conversion to COCO JSON."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

import visioncraft  # noqa: F401  (fills the registries)
from visioncraft.cli.converters import main_cityscapes, main_images2coco, main_pascal_voc
from visioncraft.tasks.detection.converters import CITYSCAPES_CLASSES, convert_cityscapes, images_to_coco
from visioncraft.tasks.detection.datasets import CocoDataset, VOCDataset
from visioncraft.tasks.detection.datasets.voc import VOC_CLASSES

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / 'tests' / 'tasks' / 'detection'))
from det_data_factory import make_voc  # noqa: E402


def _load_coco(path: Path):
    import contextlib
    import io

    from pycocotools.coco import COCO
    with contextlib.redirect_stdout(io.StringIO()):
        return COCO(str(path))


# -- Pascal VOC -----------------------------------------------------------------------------------
@pytest.fixture(scope='module')
def devkit(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp('voc') / 'VOCdevkit'
    items07 = {
        '000001': ((64, 48), (64, 48), [('dog', 0, (5, 6, 30, 40)), ('person', 1, (33, 2, 60, 47))]),
        '000002': ((40, 40), (40, 40), [('car', 0, (1, 1, 40, 40))]),
        '000003': (None, (32, 24), [('tvmonitor', 0, (3, 3, 10, 12))]),  # size from the image header
    }
    make_voc(root, '2007', items07, split='trainval')
    main = root / 'VOC2007' / 'ImageSets' / 'Main'
    (main / 'train.txt').write_text('000001\n000003\n')
    (main / 'val.txt').write_text('000002\n')
    make_voc(root, '2007', {'000009': ((50, 50), (50, 50), [('bird', 0, (10, 10, 20, 20))])}, split='test')
    make_voc(root, '2012', {'2008_000001': ((30, 20), (30, 20), [('boat', 0, (2, 2, 29, 19))])},
             split='trainval')
    (root / 'VOC2012' / 'ImageSets' / 'Main' / 'train.txt').write_text('2008_000001\n')
    return root


def test_voc_writes_every_split_with_voc_categories(devkit, tmp_path):
    main_pascal_voc([str(devkit), '-o', str(tmp_path), '--out-format', 'coco'])
    names = sorted(p.name for p in tmp_path.glob('*.json'))
    assert names == ['voc0712_trainval.json', 'voc07_test.json', 'voc07_train.json', 'voc07_trainval.json',
                     'voc07_val.json', 'voc12_train.json', 'voc12_trainval.json']
    coco = json.loads((tmp_path / 'voc07_trainval.json').read_text())
    assert [(c['id'], c['name']) for c in coco['categories']] == list(enumerate(VOC_CLASSES, 1))
    assert [(im['id'], im['file_name'], im['width'], im['height']) for im in coco['images']] == [
        (1, 'VOC2007/JPEGImages/000001.jpg', 64, 48), (2, 'VOC2007/JPEGImages/000002.jpg', 40, 40),
        (3, 'VOC2007/JPEGImages/000003.jpg', 32, 24)]
    dog, person = coco['annotations'][:2]
    assert dog['bbox'] == [4, 5, 26, 35] and dog['area'] == 26 * 35 and dog['iscrowd'] == 0
    assert dog['category_id'] == VOC_CLASSES.index('dog') + 1
    assert person['iscrowd'] == 1  # difficult
    both = json.loads((tmp_path / 'voc0712_trainval.json').read_text())
    assert [im['file_name'] for im in both['images']][-1] == 'VOC2012/JPEGImages/2008_000001.jpg'
    assert [im['id'] for im in both['images']] == [1, 2, 3, 4]
    assert len(json.loads((tmp_path / 'voc07_val.json').read_text())['images']) == 1


def test_voc_output_loads_like_the_voc_dataset(devkit, tmp_path):
    main_pascal_voc([str(devkit), '-o', str(tmp_path)])
    ann = tmp_path / 'voc07_trainval.json'
    assert len(_load_coco(ann).getAnnIds()) == 4
    from_coco = CocoDataset(ann_file=str(ann), data_root=str(devkit), metainfo=dict(classes=VOC_CLASSES),
                            test_mode=True)
    from_voc = VOCDataset(ann_file='VOC2007/ImageSets/Main/trainval.txt', data_root=str(devkit),
                          data_prefix=dict(sub_data_root='VOC2007/'), test_mode=True)
    assert len(from_coco) == len(from_voc) == 3
    for i in range(3):
        a, b = from_coco.get_data_info(i), from_voc.get_data_info(i)
        assert a['img_path'] == b['img_path'] and (a['width'], a['height']) == (b['width'], b['height'])
        assert [(x['bbox'], x['bbox_label'], x['ignore_flag']) for x in a['instances']] == \
            [(x['bbox'], x['bbox_label'], x['ignore_flag']) for x in b['instances']]


def test_voc_errors_name_the_problem(tmp_path):
    with pytest.raises(FileNotFoundError, match='neither VOC2007'):
        main_pascal_voc([str(tmp_path)])
    make_voc(tmp_path, '2007', {'1': ((10, 10), (10, 10), [('unicorn', 0, (1, 1, 5, 5))])})
    with pytest.raises(ValueError, match=r"1\.xml: object class 'unicorn'"):
        main_pascal_voc([str(tmp_path), '-o', str(tmp_path / 'out')])


# -- Cityscapes -----------------------------------------------------------------------------------
def _city_image(root: Path, split: str, city: str, idx: int, objects: list[dict], size=(64, 32)) -> None:
    stem = f'{city}_000000_{idx:06d}'
    img_dir = root / 'leftImg8bit' / split / city
    gt_dir = root / 'gtFine' / split / city
    img_dir.mkdir(parents=True, exist_ok=True)
    gt_dir.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(img_dir / f'{stem}_leftImg8bit.png'), np.zeros((size[1], size[0], 3), np.uint8))
    (gt_dir / f'{stem}_gtFine_polygons.json').write_text(
        json.dumps(dict(imgHeight=size[1], imgWidth=size[0], objects=objects)))


@pytest.fixture(scope='module')
def cityscapes(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp('cityscapes')
    rng = np.random.default_rng(0)
    labels = ['road', 'car', 'person', 'cargroup', 'bicycle', 'sky', 'rider', 'truck', 'bus', 'train', 'motorcycle']
    for split, n in (('train', 7), ('val', 3)):
        for i in range(n):
            objects = []
            for _ in range(4):
                x, y = (int(v) for v in rng.integers(0, 40, size=2))
                objects.append(dict(label=str(rng.choice(labels)),
                                    polygon=[[x, y], [x + 10, y], [x + 12, y + 9], [x, y + 6]]))
            _city_image(root, split, ['aachen', 'bochum'][i % 2], i, objects)
    _city_image(root, 'train', 'aachen', 99, [
        dict(label='car', polygon=[[4, 2], [20, 2], [20, 10], [4, 10]]),
        dict(label='cargroup', polygon=[[30, 2], [40, 2], [40, 10]]),
        dict(label='person', polygon=[[50, 20], [70, 20], [70, 40]]),  # sticks out of the 64x32 image
        dict(label='rider', polygon=[[1, 1], [2, 2]]),  # not a polygon
        dict(label='bus', polygon=[[5, 5], [9, 5], [9, 9]], deleted=1)])
    _city_image(root, 'test', 'berlin', 0, [dict(label='ego vehicle', polygon=[[0, 20], [63, 20], [63, 31]])])
    return root


def test_cityscapes_polygons_to_coco(cityscapes, tmp_path):
    main_cityscapes([str(cityscapes), '-o', str(tmp_path)])
    assert sorted(p.name for p in tmp_path.iterdir()) == [f'instancesonly_filtered_gtFine_{s}.json'
                                                          for s in ('test', 'train', 'val')]
    train = json.loads((tmp_path / 'instancesonly_filtered_gtFine_train.json').read_text())
    assert {c['name']: c['id'] for c in train['categories']} == CITYSCAPES_CLASSES
    assert len(train['images']) == 8
    special = next(im for im in train['images'] if im['file_name'] == 'aachen/aachen_000000_000099_leftImg8bit.png')
    anns = [a for a in train['annotations'] if a['image_id'] == special['id']]
    assert [a['category_id'] for a in anns] == [CITYSCAPES_CLASSES['car'], CITYSCAPES_CLASSES['person']]
    car, person = anns
    assert car['bbox'] == [4.5, 2.5, 16, 8] and car['area'] == 128 and car['iscrowd'] == 0
    assert car['segmentation'] == [[4.5, 2.5, 20.5, 2.5, 20.5, 10.5, 4.5, 10.5]]
    assert person['bbox'] == [50.5, 20.5, 13.5, 11.5]  # clipped to the image
    test = json.loads((tmp_path / 'instancesonly_filtered_gtFine_test.json').read_text())
    assert len(test['images']) == 1 and test['annotations'] == []

    coco = _load_coco(tmp_path / 'instancesonly_filtered_gtFine_train.json')
    assert len(coco.getAnnIds()) == len(train['annotations']) > 8
    ds = CocoDataset(ann_file=str(tmp_path / 'instancesonly_filtered_gtFine_train.json'),
                     data_prefix=dict(img=str(cityscapes / 'leftImg8bit' / 'train')),
                     metainfo=dict(classes=tuple(CITYSCAPES_CLASSES)),
                     pipeline=[dict(type='LoadImageFromFile'), dict(type='LoadAnnotations', with_mask=True)])
    for i in range(len(ds)):
        out = ds[i]
        assert out['img'].shape == (32, 64, 3)
        boxes = out['gt_bboxes']
        assert ((boxes[:, :2] >= 0) & (boxes[:, 2:] <= [64, 32]) & (boxes[:, 2:] > boxes[:, :2])).all()
        assert len(out['gt_masks']) == len(boxes)


def test_cityscapes_nproc_does_not_change_the_output(cityscapes, tmp_path):
    one = convert_cityscapes(cityscapes, tmp_path / 'one', nproc=1)
    two = convert_cityscapes(cityscapes, tmp_path / 'two', nproc=2)
    assert [p.name for p in one] == [p.name for p in two]
    for a, b in zip(one, two):
        assert a.read_bytes() == b.read_bytes()


def test_cityscapes_default_out_dir_and_errors(cityscapes, tmp_path):
    written = convert_cityscapes(cityscapes, img_dir='leftImg8bit', gt_dir='gtFine')
    assert {p.parent for p in written} == {cityscapes / 'annotations'}
    with pytest.raises(FileNotFoundError, match='none of the train'):
        convert_cityscapes(tmp_path)
    _city_image(tmp_path, 'val', 'x', 0, [])
    (tmp_path / 'gtFine' / 'val' / 'x' / 'x_000000_000000_gtFine_polygons.json').unlink()
    with pytest.raises(FileNotFoundError, match='x_000000_000000_gtFine_polygons.json'):
        convert_cityscapes(tmp_path, tmp_path / 'out')
    with pytest.raises(SystemExit):
        main_cityscapes([str(cityscapes), '--nproc', '0'])


# -- images2coco ----------------------------------------------------------------------------------
def test_images2coco(tmp_path):
    img_dir = tmp_path / 'imgs'
    (img_dir / 'sub').mkdir(parents=True)
    cv2.imwrite(str(img_dir / 'b.jpg'), np.zeros((10, 20, 3), np.uint8))
    cv2.imwrite(str(img_dir / 'sub' / 'a.png'), np.zeros((7, 5, 3), np.uint8))
    cv2.imwrite(str(img_dir / 'c.PNG'), np.zeros((3, 4, 3), np.uint8))
    (img_dir / 'notes.txt').write_text('not an image')
    classes = tmp_path / 'classes.txt'
    classes.write_text('cat\n\ndog\n')
    out = tmp_path / 'ann' / 'images.json'
    main_images2coco([str(img_dir), str(classes), str(out)])
    coco = json.loads(out.read_text())
    assert [(im['id'], im['file_name'], im['width'], im['height']) for im in coco['images']] == [
        (1, 'b.jpg', 20, 10), (2, 'c.PNG', 4, 3), (3, 'sub/a.png', 5, 7)]
    assert coco['categories'] == [dict(id=1, name='cat', supercategory='none'),
                                  dict(id=2, name='dog', supercategory='none')]
    assert coco['annotations'] == []
    ds = CocoDataset(ann_file=str(out), data_prefix=dict(img=str(img_dir)), metainfo=dict(classes=('cat', 'dog')),
                     test_mode=True, pipeline=[dict(type='LoadImageFromFile')])
    assert len(ds) == 3 and ds[2]['img'].shape == (7, 5, 3) and ds.get_data_info(0)['instances'] == []
    assert [im['file_name'] for im in images_to_coco(img_dir, ['cat'], ['png'])['images']] == ['b.jpg']
    classes.write_text('cat\ncat\n')
    with pytest.raises(ValueError, match='twice'):
        main_images2coco([str(img_dir), str(classes), str(out)])


@pytest.mark.slow
def test_tool_script_runs(devkit, tmp_path):
    """The thin tools/ wrapper parses its arguments and calls the converter (one subprocess: importing
    visioncraft takes seconds)."""
    r = subprocess.run([sys.executable, str(REPO / 'tools' / 'dataset_converters' / 'pascal_voc.py'), str(devkit),
                        '-o', str(tmp_path)], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert (tmp_path / 'voc07_trainval.json').is_file() and 'voc07_test.json: 1 images' in r.stdout


def test_input_errors_are_one_line(tmp_path, capsys):
    from visioncraft.cli.main import run_cli
    with pytest.raises(SystemExit) as exc:
        run_cli(main_cityscapes, [str(tmp_path / 'nothing')])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith('error:') and 'none of the train' in err and 'Traceback' not in err
