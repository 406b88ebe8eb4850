"""COCO-format detection / instance segmentation dataset."""
from __future__ import annotations

import os.path as osp

from visioncraft.engine.logging import get_logger
from visioncraft.data.coco_json import load_coco
from visioncraft.data.validation import RecordFaults, short
from visioncraft.registry import DATASETS

from .base_det import BaseDetDataset, make_palette

__all__ = ['CocoDataset', 'COCO_CLASSES']

COCO_CLASSES = (
    'person', 'bicycle', 'car', 'motorcycle', 'airplane', 'bus', 'train', 'truck', 'boat', 'traffic light',
    'fire hydrant', 'stop sign', 'parking meter', 'bench', 'bird', 'cat', 'dog', 'horse', 'sheep', 'cow',
    'elephant', 'bear', 'zebra', 'giraffe', 'backpack', 'umbrella', 'handbag', 'tie', 'suitcase', 'frisbee',
    'skis', 'snowboard', 'sports ball', 'kite', 'baseball bat', 'baseball glove', 'skateboard', 'surfboard',
    'tennis racket', 'bottle', 'wine glass', 'cup', 'fork', 'knife', 'spoon', 'bowl', 'banana', 'apple',
    'sandwich', 'orange', 'broccoli', 'carrot', 'hot dog', 'pizza', 'donut', 'cake', 'chair', 'couch',
    'potted plant', 'bed', 'dining table', 'toilet', 'tv', 'laptop', 'mouse', 'remote', 'keyboard',
    'cell phone', 'microwave', 'oven', 'toaster', 'sink', 'refrigerator', 'book', 'clock', 'vase', 'scissors',
    'teddy bear', 'hair drier', 'toothbrush')

#: how far (pixels) a box may stick out of its image before it counts as invalid
BOX_TOLERANCE = 1.0


@DATASETS.register_module()
class CocoDataset(BaseDetDataset):
    """A COCO instances JSON (``images``, ``annotations``, ``categories``) read with pycocotools.

    Args:
        ann_file: the instances JSON (joined to ``data_root`` when relative).
        data_prefix: ``dict(img='train2017/')``: the image folder (joined to ``data_root``), prefixed to each
            image's ``file_name``. ``img_path`` is accepted as a synonym of ``img``; a ``seg`` folder adds
            ``seg_map_path`` (the file name with a ``.png`` suffix).
        metainfo: ``dict(classes=(...))`` trains on those categories only, matched by name and labelled
            0..C-1 in the order given; annotations of other categories are dropped. Every listed name must
            be a category of the file. Default: the 80 COCO classes.
        filter_cfg: ``dict(filter_empty_gt=True, min_size=32)``: see :class:`BaseDetDataset`.
        skip_invalid: what to do with an invalid record (see :mod:`visioncraft.data.validation`): a number that
            is not finite (NaN / Infinity) or not a number in ``bbox`` / ``area`` / ``segmentation`` /
            ``keypoints``, a polygon with fewer than 3 points or an odd length, an ``image_id`` / ``category_id``
            the file does not define, a repeated image or annotation id, an image size <= 0, a box with a negative
            size or outside its image by more than one pixel: raise an ``InvalidAnnotationError`` (a ValueError)
            naming the file, the record and the field (False, the default), or skip the record (True; one
            warning line gives the count and the first reasons; the count is kept in ``num_invalid_skipped``).
            A skipped image takes its annotations with it.
        **kwargs: the rest of :class:`~visioncraft.data.BaseDataset`'s arguments (pipeline, test_mode, ...).

    Each entry is ``dict(img_path, img_id, height, width, instances=[...])`` where an instance holds ``bbox``
    (xyxy, pixels; the JSON's xywh converted and clipped to the image), ``bbox_label``, ``ignore_flag``
    (1 for ``iscrowd``), ``mask`` (the ``segmentation``: polygons or RLE) and ``ann_id``. Boxes smaller than
    one pixel (or with ``area <= 0``) are skipped silently, as are annotations of unselected categories.

    Attributes: ``cat_ids`` (file category id of each label), ``cat2label`` (category id -> label),
    ``img_ids`` (image ids in file order, before filtering).
    """

    METAINFO = dict(classes=COCO_CLASSES, palette=make_palette(len(COCO_CLASSES)))

    def __init__(self, *args, data_prefix: dict | None = None, skip_invalid: bool = False, **kwargs) -> None:
        self.skip_invalid = skip_invalid
        self.num_invalid_skipped = 0
        self.cat_ids: list[int] = []
        self.cat2label: dict[int, int] = {}
        self.img_ids: list[int] = []
        prefix = dict(img='') if data_prefix is None else dict(data_prefix)
        if 'img_path' in prefix:
            if 'img' in prefix and prefix['img'] != prefix['img_path']:
                raise ValueError("CocoDataset: data_prefix has both 'img' and 'img_path'; give one")
            prefix['img'] = prefix.pop('img_path')
        super().__init__(*args, data_prefix=prefix, **kwargs)

    def load_data_list(self) -> list[dict]:
        try:
            import pycocotools.coco  # noqa: F401  (load_coco uses it)
        except ImportError as exc:  # pragma: no cover - depends on the environment
            raise ImportError('CocoDataset needs pycocotools: pip install pycocotools') from exc
        if not self.ann_file:
            raise ValueError('CocoDataset: no ann_file given')
        name = type(self).__name__
        faults = RecordFaults(name, self.ann_file, skip_invalid=self.skip_invalid)
        coco = load_coco(self.ann_file, name, faults=faults)
        classes = self._metainfo['classes']
        by_name: dict[str, int] = {}
        for cat in coco.loadCats(coco.getCatIds()):
            by_name.setdefault(cat['name'], cat['id'])
        missing = [c for c in classes if c not in by_name]
        if missing:
            raise ValueError(f'{name}: class(es) {missing} of metainfo classes are not categories of '
                             f'{self.ann_file} (it has {sorted(by_name)}); set metainfo=dict(classes=(...)) to '
                             'the names in the file')
        self.cat_ids = [by_name[c] for c in classes]
        self.cat2label = {cat_id: i for i, cat_id in enumerate(self.cat_ids)}
        self.img_ids = list(coco.getImgIds())
        data_list = []
        for img_id in self.img_ids:
            img_info = coco.loadImgs([img_id])[0]
            anns = coco.loadAnns(coco.getAnnIds(imgIds=[img_id], iscrowd=None))
            info = self._parse(img_info, anns, faults)
            if info is not None:
                data_list.append(info)
        self.num_invalid_skipped = faults.count
        faults.warn(get_logger())
        return data_list

    def _parse(self, img_info: dict, anns: list[dict], faults: RecordFaults) -> dict | None:
        """The entry of one image (None when it is skipped as invalid). The file's values were checked by
        :func:`~visioncraft.data.validation.check_coco`; this adds what needs the image: an image without
        ``file_name`` / ``width`` / ``height``, a box with a negative size or outside its image by more than
        ``BOX_TOLERANCE`` pixels is a fault (raised, or skipped with ``skip_invalid``)."""
        file_name = img_info.get('file_name')
        lacking = [k for k in ('file_name', 'height', 'width') if k not in img_info]
        if lacking:
            faults.fault(f'image id {img_info.get("id")!r}', f'needs a "file_name" string and integer "height" '
                         f'and "width"; it has no {", ".join(map(repr, lacking))} ({short(img_info, 120)})',
                         kind='image')
            return None
        height, width = int(img_info['height']), int(img_info['width'])
        info = dict(img_path=osp.join(self.data_prefix.get('img', ''), file_name), img_id=img_info['id'],
                    height=height, width=width)
        if self.data_prefix.get('seg'):
            info['seg_map_path'] = osp.join(self.data_prefix['seg'], osp.splitext(file_name)[0] + '.png')
        w_img, h_img = info['width'], info['height']
        instances = []
        for ann in anns:
            if ann.get('category_id') not in self.cat2label:
                continue
            bbox = ann.get('bbox')
            problem = None
            if bbox is None:
                problem = 'has no bbox [x, y, w, h]'
            else:  # four finite numbers (check_coco)
                x, y, w, h = (float(v) for v in bbox)
                if w < 0 or h < 0:
                    problem = f'bbox [x, y, w, h] = {bbox} has a negative size'
                elif x < -BOX_TOLERANCE or y < -BOX_TOLERANCE or x + w > w_img + BOX_TOLERANCE \
                        or y + h > h_img + BOX_TOLERANCE:
                    problem = (f'bbox [x, y, w, h] = {bbox} lies outside the {w_img}x{h_img} (w x h) image by '
                               f'more than {BOX_TOLERANCE:g} pixel')
            if problem is not None:
                faults.fault(f'annotation id {ann.get("id")!r} (image id {img_info["id"]!r}, {file_name})', problem)
                continue
            if w < 1 or h < 1 or ann.get('area', 1) <= 0:
                continue
            x1, y1 = max(x, 0.0), max(y, 0.0)
            x2, y2 = min(x + w, float(w_img)), min(y + h, float(h_img))
            if x2 <= x1 or y2 <= y1:
                continue
            inst = dict(bbox=[x1, y1, x2, y2], bbox_label=self.cat2label[ann['category_id']],
                        ignore_flag=1 if ann.get('iscrowd', 0) else 0, ann_id=ann.get('id'))
            if ann.get('segmentation') is not None:
                inst['mask'] = ann['segmentation']
            instances.append(inst)
        info['instances'] = instances
        return info
