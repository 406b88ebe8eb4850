"""Reading a COCO annotation file (instances or person keypoints) with errors that name the file and the entry."""
from __future__ import annotations

import contextlib
import io

from visioncraft.errors import AnnotationError, read_json

__all__ = ['load_coco']


def load_coco(ann_file: str, who: str, coco_cls=None):
    """A ``pycocotools`` COCO object of the instances file ``ann_file``, checked first: invalid JSON, a top level
    that is not an object, no ``images`` list, a ``categories`` or ``annotations`` entry that is not a list of
    objects, an image without an ``id``, an annotation without ``image_id`` / ``category_id``, with a category the
    file does not define, or with a ``bbox`` / ``area`` that is not numbers is an :class:`~visioncraft.errors.AnnotationError` naming the file (``who`` in front)."""
    if coco_cls is None:
        from pycocotools.coco import COCO as coco_cls
    data = read_json(ann_file, f'{who}: COCO annotation file')
    where = f'{who}: COCO annotation file {ann_file}'
    if not isinstance(data, dict):
        raise AnnotationError(f'{where}: expected a JSON object with "images", "annotations" and "categories", got '
                              f'a {type(data).__name__}')
    if not isinstance(data.get('images'), list):
        raise AnnotationError(f'{where}: no "images" list (keys: {sorted(data)[:10]})')
    for key in ('images', 'annotations', 'categories'):
        items = data.get(key, [])
        if not isinstance(items, list) or not all(isinstance(x, dict) for x in items):
            raise AnnotationError(f'{where}: "{key}" must be a list of objects, got {items!r:.80}')
    for key, need in (('images', ('id',)), ('categories', ('id', 'name')), ('annotations', ('image_id', 'category_id'))):
        for k, item in enumerate(data.get(key, [])):
            lacking = [n for n in need if n not in item]
            if lacking:
                raise AnnotationError(f'{where}: {key}[{k}] has no {", ".join(repr(n) for n in lacking)} '
                                      f'(it has {sorted(item)[:10]})')
    cat_ids = {c['id'] for c in data.get('categories', [])}

    def number(v) -> bool:
        return isinstance(v, (int, float)) and not isinstance(v, bool)

    for k, ann in enumerate(data.get('annotations', [])):
        bbox = ann.get('bbox')
        if bbox is not None and not (isinstance(bbox, list) and len(bbox) == 4 and all(map(number, bbox))):
            raise AnnotationError(f'{where}: annotations[{k}] (id {ann.get("id")!r}): "bbox" must be [x, y, w, h] '
                                  f'(four numbers), got {bbox!r:.80}')
        if 'area' in ann and not number(ann['area']):
            raise AnnotationError(f'{where}: annotations[{k}] (id {ann.get("id")!r}): "area" must be a number, got '
                                  f'{ann["area"]!r:.80}')
        if ann['category_id'] not in cat_ids:
            raise AnnotationError(f'{where}: annotations[{k}] (id {ann.get("id")!r}) has category_id '
                                  f'{ann["category_id"]!r}, which is not in "categories" ({sorted(cat_ids)[:20]})')
    coco = coco_cls()
    coco.dataset = data
    with contextlib.redirect_stdout(io.StringIO()):
        coco.createIndex()
    return coco
