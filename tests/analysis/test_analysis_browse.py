"""browse_dataset: one picture per sample, of the size the pipeline gives, with the ground truth drawn where the
annotations (moved by the transforms) say, for detection, text detection, text recognition and pose."""
from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from visioncraft.analysis.browse import main, packed_image
from visioncraft.errors import UserError

BG = 40  # the grey of every test image


def _image(path: Path, h: int, w: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), np.full((h, w, 3), BG, np.uint8))


def _config(tmp_path: Path, dataset: dict, name: str = 'cfg.py', phase: str = 'train') -> str:
    path = tmp_path / name
    path.write_text(f'{phase}_dataloader = dict(batch_size=1, num_workers=0, dataset={dataset!r})\n')
    return str(path)


def _rgb(path: Path) -> np.ndarray:
    img = cv2.imread(str(path))
    assert img is not None, path
    return img[..., ::-1].astype(int)


def _is_green(px) -> bool:  # (0, 255, 0) after JPEG
    r, g, b = px
    return g > 150 and r < 110 and b < 110


def _coco(tmp_path: Path) -> dict:
    """a.png 64 x 48 (w x h) with a cat [8, 8, 20, 16] (xywh, with a polygon mask); b.png with a dog."""
    root = tmp_path / 'det'
    _image(root / 'imgs' / 'a.png', 48, 64)
    _image(root / 'imgs' / 'b.png', 48, 64)
    poly = [8, 8, 28, 8, 28, 24, 8, 24]
    anns = [dict(id=1, image_id=1, category_id=1, bbox=[8, 8, 20, 16], area=320, iscrowd=0, segmentation=[poly]),
            dict(id=2, image_id=2, category_id=2, bbox=[30, 10, 20, 20], area=400, iscrowd=0,
                 segmentation=[[30, 10, 50, 10, 50, 30, 30, 30]])]
    data = dict(images=[dict(id=1, file_name='a.png', width=64, height=48),
                        dict(id=2, file_name='b.png', width=64, height=48)],
                annotations=anns, categories=[dict(id=1, name='cat'), dict(id=2, name='dog')])
    (root / 'ann.json').write_text(json.dumps(data))
    return dict(type='CocoDataset', data_root=str(root), ann_file='ann.json', data_prefix=dict(img='imgs/'),
                metainfo=dict(classes=('cat', 'dog')))


DET_PIPELINE = [dict(type='LoadImageFromFile'), dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
                dict(type='Resize', scale=(128, 96), keep_ratio=True),
                dict(type='RandomFlip', prob=1.0, direction='horizontal'), dict(type='PackDetInputs')]


def test_detection_transformed_draws_the_moved_boxes(tmp_path):
    cfg = _config(tmp_path, dict(_coco(tmp_path), pipeline=DET_PIPELINE))
    out = tmp_path / 'out'
    written = main([cfg, '--output-dir', str(out), '--not-show'])
    assert sorted(p.name for p in written) == ['a.jpg', 'b.jpg'] and all(p.is_file() for p in written)
    img = _rgb(out / 'a.jpg')
    assert img.shape == (96, 128, 3)  # resized x2 (the pipeline's size), not the file's 48 x 64
    # cat [8, 8, 28, 24] xyxy -> x2 -> [16, 16, 56, 48] -> flipped in a 128-wide image -> [72, 16, 112, 48]
    assert _is_green(img[32, 72]) and _is_green(img[32, 111])
    assert abs(img[32, 16] - BG).max() < 12  # nothing where the box was before the flip
    inside = img[40, 92]  # the mask: a translucent green fill inside the moved box
    assert inside[1] > inside[0] + 40 and inside[1] > inside[2] + 40


def test_detection_original_mode_is_the_file_with_its_annotations(tmp_path):
    cfg = _config(tmp_path, dict(_coco(tmp_path), pipeline=DET_PIPELINE))
    out = tmp_path / 'orig'
    main([cfg, '--output-dir', str(out), '--not-show', '--mode', 'original', '--max-samples', '1'])
    assert [p.name for p in out.iterdir()] == ['a.jpg']
    img = _rgb(out / 'a.jpg')
    assert img.shape == (48, 64, 3)
    assert _is_green(img[16, 8]) and _is_green(img[16, 27])
    assert not _is_green(img[16, 50])


def test_text_detection_polygons_and_do_not_care(tmp_path):
    root = tmp_path / 'textdet'
    _image(root / 'imgs' / 'img_1.jpg', 40, 100)
    (root / 'annotations').mkdir()
    (root / 'annotations' / 'gt_img_1.txt').write_text('10,10,50,10,50,30,10,30,hello\n60,5,90,5,90,25,60,25,###\n')
    pipeline = [dict(type='LoadImageFromFile'),
                dict(type='LoadOCRAnnotations', with_polygon=True, with_bbox=True, with_label=True, with_text=True),
                dict(type='PackTextDetInputs')]
    cfg = _config(tmp_path, dict(type='ICDAR2015Dataset', data_root=str(root), pipeline=pipeline,
                                 data_prefix=dict(img_path='imgs/', ann_path='annotations/')), phase='val')
    out = tmp_path / 'out'
    main([cfg, '--output-dir', str(out), '--not-show', '--phase', 'val'])
    img = _rgb(out / 'img_1.jpg')
    assert img.shape == (40, 100, 3)
    assert _is_green(img[20, 10])  # the word's left edge
    r, g, b = img[15, 90]  # the do-not-care polygon's right edge: grey (128, 128, 128)
    assert max(abs(r - 128), abs(g - 128), abs(b - 128)) < 40


def test_text_recognition_writes_the_word_under_the_image(tmp_path):
    root = tmp_path / 'rec'
    _image(root / 'imgs' / 'w1.png', 16, 40)
    data_list = [dict(img_path='imgs/w1.png', instances=[dict(text='hello')])]
    (root / 'ann.json').write_text(json.dumps(dict(metainfo=dict(task_name='textrecog'), data_list=data_list)))
    pipeline = [dict(type='LoadImageFromFile'), dict(type='LoadOCRAnnotations', with_text=True),
                dict(type='RescaleToHeight', height=32, max_width=100, width_divisor=4),
                dict(type='PadToWidth', width=100), dict(type='PackTextRecogInputs')]
    cfg = _config(tmp_path, dict(type='TextRecogDataset', data_root=str(root), ann_file='ann.json',
                                 pipeline=pipeline))
    out = tmp_path / 'out'
    main([cfg, '--output-dir', str(out), '--not-show'])
    img = _rgb(out / 'w1.jpg')
    # the 32 x 100 input, enlarged to 64 high by the visualizer, and one 24-pixel caption strip under it
    assert img.shape[0] == 64 + 24 and img.shape[1] >= 200
    strip = img[64:]
    ink = (strip[..., 1] > strip[..., 0] + 60) & (strip[..., 1] > strip[..., 2] + 60)  # gt text: (0, 160, 0)
    assert ink.sum() > 20
    assert abs(img[32, 40] - BG).max() < 12  # the word image itself is in the top part


def _pose(tmp_path: Path) -> dict:
    """One person in a 80 x 60 (w x h) image: box [28, 14, 24, 32] (xywh, the input's 3:4 shape), only the nose
    annotated, at the box centre (40, 30)."""
    root = tmp_path / 'pose'
    _image(root / 'imgs' / 'p.png', 60, 80)
    kpts = [40, 30, 2] + [0, 0, 0] * 16
    data = dict(images=[dict(id=1, file_name='p.png', width=80, height=60)],
                annotations=[dict(id=1, image_id=1, category_id=1, bbox=[28, 14, 24, 32], area=768.0, iscrowd=0,
                                  num_keypoints=1, keypoints=kpts)],
                categories=[dict(id=1, name='person')])
    (root / 'kpts.json').write_text(json.dumps(data))
    return dict(type='CocoPoseDataset', data_root=str(root), ann_file='kpts.json', data_prefix=dict(img='imgs/'),
                pipeline=[dict(type='LoadImage'), dict(type='GetBBoxCenterScale', padding=1.25),
                          dict(type='TopdownAffine', input_size=(48, 64)), dict(type='PackPoseInputs')])


NOSE = (51, 153, 255)  # configs/_base_/datasets/coco.py, RGB


def _near(px, color, tol=45) -> bool:
    return max(abs(int(a) - b) for a, b in zip(px, color)) < tol


def test_pose_keypoints_in_the_input_crop_and_in_the_image(tmp_path):
    cfg = _config(tmp_path, _pose(tmp_path))
    out = tmp_path / 'crop'
    main([cfg, '--output-dir', str(out), '--not-show'])
    img = _rgb(out / 'p.jpg')
    assert img.shape == (64, 48, 3)  # TopdownAffine's input size (w 48, h 64)
    assert _near(img[32, 24], NOSE)  # the box centre lands on the crop's centre
    out = tmp_path / 'orig'
    main([cfg, '--output-dir', str(out), '--not-show', '--mode', 'original'])
    img = _rgb(out / 'p.jpg')
    assert img.shape == (60, 80, 3)
    assert _near(img[30, 40], NOSE) and not _near(img[10, 10], NOSE)


def test_packed_image_is_rgb_and_unnormalised():
    bgr = np.zeros((3, 2, 2), np.uint8)
    bgr[0] = 200  # blue channel first
    assert tuple(packed_image(bgr)[0, 0]) == (0, 0, 200)
    norm = (np.full((3, 2, 2), 0.0) - 100.0) / 50.0  # every channel -2 after (x - 100) / 50
    pre = dict(mean=[100.0, 100.0, 100.0], std=[50.0, 50.0, 50.0])
    assert packed_image(norm.astype(np.float32), pre).max() == 0
    grey = np.full((1, 2, 3), 77, np.uint8)
    assert packed_image(grey).shape == (2, 3, 3) and packed_image(grey).min() == 77


def test_bad_input_is_one_clear_error(tmp_path):
    cfg = _config(tmp_path, dict(_coco(tmp_path), pipeline=DET_PIPELINE))
    with pytest.raises(UserError, match=r'cfg\.py: val_dataloader: missing'):
        main([cfg, '--output-dir', str(tmp_path / 'o'), '--not-show', '--phase', 'val'])
    with pytest.raises(UserError, match='give --output-dir'):
        main([cfg, '--not-show'])
    with pytest.raises(UserError, match='--max-samples must be a positive number, got 0'):
        main([cfg, '--output-dir', str(tmp_path / 'o'), '--max-samples', '0'])
    with pytest.raises(FileNotFoundError, match='nope.py'):
        main([str(tmp_path / 'nope.py'), '--output-dir', str(tmp_path / 'o')])
