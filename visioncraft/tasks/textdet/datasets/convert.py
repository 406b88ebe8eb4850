"""Text-detection annotation converters: ICDAR 2015 -> MMOCR JSON, MMOCR JSON <-> PaddleOCR label file.

The command lines (``tools/dataset_converters/textdet/``) are in :mod:`visioncraft.cli.converters`.
"""
from __future__ import annotations

import json
import os
import os.path as osp

from visioncraft.fileio.image import imread
from visioncraft.errors import AnnotationError, read_json

from .textdet_datasets import _IMG_EXTS, IGNORE_TEXT, make_instance, read_icdar2015_gt, read_paddle_label_file

__all__ = ['icdar2015_to_mmocr', 'mmocr_to_paddle', 'paddle_to_mmocr']

_METAINFO = dict(dataset_type='TextDetDataset', task_name='textdet', category=[dict(id=0, name='text')])


def _image_hw(path: str) -> tuple[int | None, int | None]:
    import cv2
    img = imread(path, cv2.IMREAD_UNCHANGED)
    return (None, None) if img is None else (int(img.shape[0]), int(img.shape[1]))


def _write_json(obj: dict, out_file: str) -> None:
    os.makedirs(osp.dirname(osp.abspath(out_file)), exist_ok=True)
    with open(out_file, 'w', encoding='utf-8') as f:
        json.dump(obj, f, ensure_ascii=False)


def icdar2015_to_mmocr(img_dir: str, ann_dir: str, out_file: str, img_prefix: str = '') -> dict:
    """Write the MMOCR 1.x textdet JSON of an ICDAR 2015 split (``img_N.jpg`` + ``ann_dir/gt_img_N.txt``).

    ``img_path`` entries are ``img_prefix + file name`` (relative to the dataset's ``data_prefix``); height and
    width are read from the images. Returns the written dict.
    """
    if not osp.isdir(img_dir):
        raise FileNotFoundError(f'icdar2015 converter: image folder {img_dir!r} does not exist')
    data_list = []
    for name in sorted(n for n in os.listdir(img_dir) if n.lower().endswith(_IMG_EXTS)):
        gt = osp.join(ann_dir, f'gt_{osp.splitext(name)[0]}.txt')
        if not osp.exists(gt):
            raise FileNotFoundError(f'icdar2015 converter: ground-truth file {gt} for image {name} does not exist')
        h, w = _image_hw(osp.join(img_dir, name))
        if h is None:
            raise OSError(f'icdar2015 converter: {osp.join(img_dir, name)} is not a readable image')
        data_list.append(dict(img_path=img_prefix + name, height=h, width=w, instances=read_icdar2015_gt(gt)))
    out = dict(metainfo=dict(_METAINFO), data_list=data_list)
    _write_json(out, out_file)
    return out


def mmocr_to_paddle(json_file: str, out_file: str) -> int:
    """Write a PaddleOCR detection label file from an MMOCR textdet JSON (``img_path`` kept as written;
    ignored instances get the transcription ``###``). Returns the number of lines written."""
    ann = read_json(json_file, 'MMOCR textdet JSON')
    if not isinstance(ann, dict) or not isinstance(ann.get('data_list'), list):
        raise AnnotationError(f'{json_file}: expected an MMOCR JSON with a "data_list" list')
    lines = []
    for i, entry in enumerate(ann['data_list']):
        if not isinstance(entry, dict) or not isinstance(entry.get('img_path'), str):
            raise AnnotationError(f'{json_file}: data_list entry {i} has no "img_path" string')
        instances = entry.get('instances') or []
        if not isinstance(instances, list):
            raise AnnotationError(f'{json_file}: data_list entry {i}: "instances" must be a list, got '
                                  f'{type(instances).__name__}')
        labels = []
        for k, inst in enumerate(instances):
            where = f'{json_file}, data_list entry {i}, instance {k}'
            if not isinstance(inst, dict):
                raise AnnotationError(f'{where}: expected an object with "polygon", got {inst!r:.80}')
            inst = make_instance(inst.get('polygon'), inst.get('text', ''), inst.get('ignore', False), where,
                                 numbers_only=True)
            p = inst['polygon']
            labels.append(dict(transcription=IGNORE_TEXT if inst['ignore'] else inst['text'],
                               points=[[p[j], p[j + 1]] for j in range(0, len(p), 2)]))
        lines.append(f'{entry["img_path"]}\t{json.dumps(labels, ensure_ascii=False)}\n')
    os.makedirs(osp.dirname(osp.abspath(out_file)), exist_ok=True)
    with open(out_file, 'w', encoding='utf-8') as f:
        f.writelines(lines)
    return len(ann['data_list'])


def paddle_to_mmocr(label_file: str, out_file: str, img_dir: str | None = None) -> dict:
    """Write an MMOCR textdet JSON from a PaddleOCR detection label file. With ``img_dir`` (PaddleOCR's
    ``data_dir``) the images' height and width are read; otherwise they are left None."""
    data_list = []
    for img, instances in read_paddle_label_file(label_file):
        h = w = None
        if img_dir is not None:
            h, w = _image_hw(osp.join(img_dir, img))
        data_list.append(dict(img_path=img, height=h, width=w, instances=instances))
    out = dict(metainfo=dict(_METAINFO), data_list=data_list)
    _write_json(out, out_file)
    return out
