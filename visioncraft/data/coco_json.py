"""Reading a COCO annotation file (instances or person keypoints) with errors that name the file and the entry."""
from __future__ import annotations

import contextlib
import io

from visioncraft.errors import AnnotationError, read_json

from .validation import RecordFaults, check_coco

__all__ = ['load_coco', 'read_coco_dict']


def read_coco_dict(ann_file: str, who: str, faults: RecordFaults | None = None, *,
                   image_keys: tuple[str, ...] = ('id',), require_categories: bool = True,
                   num_keypoints: int | None = None, keypoints_note: str = '') -> dict:
    """The COCO dict of ``ann_file``, checked: invalid JSON or a byte that is not UTF-8 (named with the line and
    column), a top level that is not an object, no ``images`` list, an ``annotations`` / ``categories`` entry that
    is not a list of objects, a category without ``id`` / ``name`` is an
    :class:`~visioncraft.errors.AnnotationError` naming the file (``who`` in front). Then every record goes through
    :func:`visioncraft.data.validation.check_coco` (finite numbers, sizes > 0, polygons, ids that exist and are
    unique, keypoints and their visibility): a faulty record raises an
    :class:`~visioncraft.errors.InvalidAnnotationError`, or is left out when ``faults.skip_invalid``."""
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
    for k, item in enumerate(data.get('categories', [])):
        lacking = [n for n in ('id', 'name') if n not in item]
        if lacking:
            raise AnnotationError(f'{where}: categories[{k}] has no {", ".join(repr(n) for n in lacking)} '
                                  f'(it has {sorted(item)[:10]})')
    if faults is None:
        faults = RecordFaults(who, ann_file, hint=None)
    return check_coco(data, faults, image_keys=image_keys, require_categories=require_categories,
                      num_keypoints=num_keypoints, keypoints_note=keypoints_note)


def load_coco(ann_file: str, who: str, coco_cls=None, *, faults: RecordFaults | None = None):
    """A ``pycocotools`` COCO object of the instances file ``ann_file``, checked first by :func:`read_coco_dict`:
    an image without an ``id``, an annotation without ``id`` / ``image_id`` / ``category_id``, with an image or a
    category the file does not define, a repeated id, a ``bbox`` / ``area`` / ``segmentation`` / ``keypoints``
    that is not finite numbers is an error naming the file and the record (``who`` in front); with
    ``faults.skip_invalid`` such records are left out and counted in ``faults`` instead."""
    if coco_cls is None:
        from pycocotools.coco import COCO as coco_cls
    data = read_coco_dict(ann_file, who, faults)
    coco = coco_cls()
    coco.dataset = data
    with contextlib.redirect_stdout(io.StringIO()):
        coco.createIndex()
    return coco
