"""Builders of tiny COCO / VOC datasets on disk for the detection data tests (no downloads)."""
from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np

from visioncraft.tasks.detection.datasets.coco import COCO_CLASSES

# COCO category ids in the file are 10, 20, ..., 800 (non-contiguous, like the real file's).
CAT_ID = {name: 10 * (i + 1) for i, name in enumerate(COCO_CLASSES)}


def rect_poly(x, y, w, h):
    return [float(x), float(y), float(x + w), float(y), float(x + w), float(y + h), float(x), float(y + h)]


def _write_img(path: Path, h: int, w: int, boxes=()) -> None:
    img = np.full((h, w, 3), 40, dtype=np.uint8)
    for x, y, bw, bh in boxes:
        cv2.rectangle(img, (int(x), int(y)), (int(x + bw) - 1, int(y + bh) - 1), (30, 200, 90), -1)
    cv2.imwrite(str(path), img)


def make_coco(root: Path, extra_anns: list[dict] | None = None, name: str = 'instances.json') -> Path:
    """Four images under root/images:

    * 1 ``a.jpg`` 64 x 48 (w x h): person [8, 8, 20, 16] (polygon), car [30, 20, 24, 20] (polygon),
      a crowd person given as uncompressed RLE, and a degenerate (w = 0) car that is skipped;
    * 2 ``b.jpg`` 40 x 40: no annotation;
    * 3 ``c.jpg`` 20 x 24: car [2, 2, 10, 10] with a compressed-RLE mask (the small image);
    * 4 ``d.jpg`` 64 x 64: bicycle [10, 10, 30, 30] (polygon) and a dog [40, 40, 8, 8] (polygon).
    """
    from pycocotools import mask as mask_utils
    img_dir = root / 'images'
    img_dir.mkdir(parents=True, exist_ok=True)
    images = [dict(id=1, file_name='a.jpg', width=64, height=48), dict(id=2, file_name='b.jpg', width=40, height=40),
              dict(id=3, file_name='c.jpg', width=20, height=24), dict(id=4, file_name='d.jpg', width=64, height=64)]
    crowd = np.zeros((48, 64), dtype=np.uint8)
    crowd[30:40, 2:12] = 1
    crowd_rle = mask_utils.encode(np.asfortranarray(crowd))  # compressed; make an uncompressed one by hand
    flat = crowd.flatten(order='F')
    counts, cur, run = [], 0, 0
    for v in flat:
        if v != cur:
            counts.append(run)
            cur, run = v, 0
        run += 1
    counts.append(run)
    small = np.zeros((24, 20), dtype=np.uint8)
    small[2:12, 2:12] = 1
    small_rle = mask_utils.encode(np.asfortranarray(small))
    small_rle['counts'] = small_rle['counts'].decode('ascii')
    assert mask_utils.area(crowd_rle) == 100
    anns = [
        dict(id=101, image_id=1, category_id=CAT_ID['person'], bbox=[8, 8, 20, 16], area=320, iscrowd=0,
             segmentation=[rect_poly(8, 8, 20, 16)]),
        dict(id=102, image_id=1, category_id=CAT_ID['car'], bbox=[30, 20, 24, 20], area=480, iscrowd=0,
             segmentation=[rect_poly(30, 20, 24, 20)]),
        dict(id=103, image_id=1, category_id=CAT_ID['person'], bbox=[2, 30, 10, 10], area=100, iscrowd=1,
             segmentation=dict(size=[48, 64], counts=counts)),
        dict(id=104, image_id=1, category_id=CAT_ID['car'], bbox=[5, 5, 0, 10], area=0, iscrowd=0,
             segmentation=[rect_poly(5, 5, 0, 10)]),
        dict(id=301, image_id=3, category_id=CAT_ID['car'], bbox=[2, 2, 10, 10], area=100, iscrowd=0,
             segmentation=small_rle),
        dict(id=401, image_id=4, category_id=CAT_ID['bicycle'], bbox=[10, 10, 30, 30], area=900, iscrowd=0,
             segmentation=[rect_poly(10, 10, 30, 30)]),
        dict(id=402, image_id=4, category_id=CAT_ID['dog'], bbox=[40, 40, 8, 8], area=64, iscrowd=0,
             segmentation=[rect_poly(40, 40, 8, 8)]),
    ] + list(extra_anns or [])
    # Categories listed in a shuffled order: labels must follow metainfo classes, not the file order.
    cats = [dict(id=CAT_ID[n], name=n, supercategory='x') for n in COCO_CLASSES]
    cats = cats[40:] + cats[:40]
    ann_file = root / name
    ann_file.write_text(json.dumps(dict(images=images, annotations=anns, categories=cats)))
    _write_img(img_dir / 'a.jpg', 48, 64, [(8, 8, 20, 16), (30, 20, 24, 20)])
    _write_img(img_dir / 'b.jpg', 40, 40)
    _write_img(img_dir / 'c.jpg', 24, 20, [(2, 2, 10, 10)])
    _write_img(img_dir / 'd.jpg', 64, 64, [(10, 10, 30, 30), (40, 40, 8, 8)])
    return ann_file


def _voc_xml(img_id: str, size: tuple[int, int] | None, objects: list[tuple]) -> str:
    parts = [f'<annotation><folder>VOC</folder><filename>{img_id}.jpg</filename>']
    if size is not None:
        parts.append(f'<size><width>{size[0]}</width><height>{size[1]}</height><depth>3</depth></size>')
    for name, difficult, (x1, y1, x2, y2) in objects:
        parts.append(f'<object><name>{name}</name><pose>Unspecified</pose><truncated>0</truncated>'
                     f'<difficult>{difficult}</difficult><bndbox><xmin>{x1}</xmin><ymin>{y1}</ymin>'
                     f'<xmax>{x2}</xmax><ymax>{y2}</ymax></bndbox></object>')
    parts.append('</annotation>')
    return ''.join(parts)


def make_voc(devkit: Path, year: str, items: dict[str, tuple], split: str = 'trainval') -> str:
    """Write ``devkit/VOC<year>`` with ``items``: id -> ((w, h) or None to omit <size>, image (w, h),
    [(name, difficult, (xmin, ymin, xmax, ymax)), ...]). Returns the ann_file relative to ``devkit``."""
    sub = devkit / f'VOC{year}'
    for d in ('Annotations', 'JPEGImages', 'ImageSets/Main'):
        (sub / d).mkdir(parents=True, exist_ok=True)
    for img_id, (xml_size, (w, h), objects) in items.items():
        (sub / 'Annotations' / f'{img_id}.xml').write_text(_voc_xml(img_id, xml_size, objects))
        _write_img(sub / 'JPEGImages' / f'{img_id}.jpg', h, w)
    (sub / 'ImageSets' / 'Main' / f'{split}.txt').write_text(''.join(f'{i}\n' for i in items))
    return f'VOC{year}/ImageSets/Main/{split}.txt'
