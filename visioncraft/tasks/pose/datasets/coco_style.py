"""COCO-keypoint-style pose datasets: COCO person keypoints, AI Challenger (MMPose's COCO-format JSON).

One **top-down** entry per person instance (``data_mode='topdown'``, the default)::

    dict(img_id: int, img_path: str, id: int (annotation id), category_id: int,
         bbox: np.float32 (1, 4) xyxy pixels (the JSON's xywh, clipped to [0, w-1] x [0, h-1]),
         bbox_score: np.float32 (1,) (1.0 for ground truth), keypoints: np.float32 (1, K, 2) pixels,
         keypoints_visible: np.float32 (1, K) (1 where the COCO flag v > 0, else 0),
         num_keypoints: int, area: np.float32 (1,), iscrowd: int, segmentation (as in the file, or None),
         raw_ann_info: dict (the COCO annotation),
         + from the metainfo: dataset_name, upper_body_ids, lower_body_ids, flip_pairs, flip_indices,
           dataset_keypoint_weights, skeleton_links)

Like MMPose, top-down mode drops crowd annotations, annotations with ``num_keypoints == 0`` or no keypoint
above 0, and empty boxes (train and test alike: they cannot be evaluated with OKS either); annotations
without ``bbox`` or ``keypoints`` are skipped.

``data_mode='bottomup'`` gives one entry per image holding every parsed instance of it (valid or not):
arrays are concatenated along the instance axis (``bbox`` (N, 4), ``keypoints`` (N, K, 2), ...), per-instance
scalars become lists (``id``, ``category_id``, ``iscrowd``, ``num_keypoints``, ``raw_ann_info``, ...), and
``invalid_segs`` lists the segmentations of the invalid ones (crowd / no keypoints) for masking. Images
without annotations are kept in test mode only.

``bbox_file`` (test mode, top-down only): the person boxes of a COCO detection-results JSON
(``[{image_id, category_id, bbox: [x, y, w, h], score}, ...]``, category 1 only) replace the ground truth:
``keypoints`` zeros, ``keypoints_visible`` ones, ``bbox_score`` the detection score, ``id`` a running index,
``category_id`` 1. ``filter_cfg=dict(bbox_score_thr=0.0)`` keeps boxes scoring at least the threshold.
"""
from __future__ import annotations

import copy
import json
import os.path as osp
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from visioncraft.data import BaseDataset
from visioncraft.data.validation import RecordFaults, check_coco, number_problem, numbers_problem
from visioncraft.errors import AnnotationError, decode_text
from visioncraft.registry import DATASETS, default_scope, get_default_scope

from .metainfo import METAINFO_KEYS_IN_DATA_INFO, parse_pose_metainfo

__all__ = ['BaseCocoStyleDataset', 'CocoPoseDataset', 'AicDataset', 'load_json']


def load_json(path: str, what: str) -> Any:
    """``json.load`` with errors that name the file: the line and column of a syntax error, the line of a byte that
    is not UTF-8 (a BOM is accepted), an empty file, a missing one."""
    try:
        with open(path, 'rb') as f:
            data = f.read()
    except FileNotFoundError:
        raise FileNotFoundError(f'{what}: {path} does not exist') from None
    text = decode_text(data, f'{what}: {path}')
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise AnnotationError(f'{what}: {path} is not valid JSON: {exc.msg} at line {exc.lineno}, column '
                              f'{exc.colno}') from None
    except RecursionError:
        raise AnnotationError(f'{what}: {path} is not valid JSON: nested too deeply') from None


def _member_of(key: Any, table: dict) -> Any:
    try:
        return table.get(key)
    except TypeError:  # an unhashable id (a list) is no key
        return None


def _valid_instance(info: dict) -> bool:
    """MMPose's rule for a trainable / evaluable top-down instance."""
    if info.get('iscrowd', 0):
        return False
    if info.get('num_keypoints', 1) == 0:
        return False
    bbox = info['bbox'][0]
    if bbox[2] - bbox[0] <= 0 or bbox[3] - bbox[1] <= 0:
        return False
    return bool(np.max(info['keypoints']) > 0)


@DATASETS.register_module()
class BaseCocoStyleDataset(BaseDataset):
    """A pose dataset read from a COCO keypoints JSON (``images``, ``annotations`` with ``keypoints``).

    Args:
        ann_file: the keypoints JSON (joined to ``data_root`` when relative).
        bbox_file: a COCO detection-results JSON of person boxes used instead of the ground-truth boxes
            (only with ``test_mode=True`` and ``data_mode='topdown'``).
        data_mode: ``'topdown'`` (one sample per person) or ``'bottomup'`` (one sample per image).
        metainfo: a pose ``dataset_info`` dict or ``dict(from_file='configs/_base_/datasets/xxx.py')``;
            replaces the class's ``METAINFO`` (see :func:`parse_pose_metainfo`).
        data_prefix: ``dict(img='train2017/')`` (``img_path`` accepted as a synonym), joined to ``data_root``.
        filter_cfg: ``dict(bbox_score_thr=...)`` (top-down only) drops boxes scoring below it.
        skip_invalid: what to do with an invalid record (see :mod:`visioncraft.data.validation`): keypoints that
            are not 3 * K finite numbers or have a visibility flag outside 0..2, a ``bbox`` / ``area`` that is not
            finite numbers, a polygon with fewer than 3 points, an ``image_id`` (or a ``category_id``, when the file
            lists categories) that does not exist, a repeated id, an image size <= 0: raise an error naming the
            file, the record and the field (False, the default), or skip the record (True; one warning line gives
            the count and the first reasons, ``num_invalid_skipped`` keeps the count).
        **kwargs: the rest of :class:`~visioncraft.data.BaseDataset`'s arguments (pipeline, test_mode,
            indices, serialize_data, lazy_init, max_refetch). Pipeline configs are built in the ``mmpose`` scope
            when no default scope is set (``type='RandomFlip'`` is the pose flip).

    ``metainfo`` is the parsed pose metainfo (``num_keypoints``, ``flip_indices``, ``sigmas``, ...).
    Errors name the file and the record: invalid JSON (line and column) or a byte that is not UTF-8, a missing
    ``images`` / ``annotations`` list, and every fault of :func:`visioncraft.data.validation.check_coco` (an
    annotation of an unknown image, a ``keypoints`` list whose length is not 3 * K, a NaN, a string where a number
    belongs, a visibility flag outside 0..2, ...).
    """

    METAINFO: dict = dict()

    def __init__(self, ann_file: str = '', bbox_file: str | None = None, data_mode: str = 'topdown',
                 metainfo: dict | None = None, data_root: str = '', data_prefix: dict | None = None,
                 filter_cfg: dict | None = None, indices: int | Sequence[int] | None = None,
                 serialize_data: bool = True, pipeline: Sequence[dict | Callable] = (), test_mode: bool = False,
                 lazy_init: bool = False, max_refetch: int = 1000, skip_invalid: bool = False,
                 backend_args: dict | None = None) -> None:
        name = type(self).__name__
        self.skip_invalid = bool(skip_invalid)
        self.num_invalid_skipped = 0
        self.num_dropped_instances = 0
        if data_mode not in ('topdown', 'bottomup'):
            raise ValueError(f"{name}: data_mode must be 'topdown' or 'bottomup', got {data_mode!r}")
        if bbox_file and data_mode != 'topdown':
            raise ValueError(f'{name}: bbox_file is only supported with data_mode="topdown" (got {data_mode!r})')
        if bbox_file and not test_mode:
            raise ValueError(f'{name}: bbox_file (detected boxes) is only supported with test_mode=True')
        if filter_cfg and 'bbox_score_thr' in filter_cfg and data_mode != 'topdown':
            raise ValueError(f'{name}: filter_cfg bbox_score_thr is only supported with data_mode="topdown"')
        self.data_mode = data_mode
        raw_meta = metainfo if metainfo else type(self).METAINFO
        if metainfo is not None and not isinstance(metainfo, dict):
            raise TypeError(f'{name}: metainfo must be a dict, got {type(metainfo).__name__}')
        parsed = parse_pose_metainfo(raw_meta) if raw_meta else {}
        prefix = dict(img='') if data_prefix is None else dict(data_prefix)
        if 'img_path' in prefix:
            if 'img' in prefix and prefix['img'] != prefix['img_path']:
                raise ValueError(f"{name}: data_prefix has both 'img' and 'img_path'; give one")
            prefix['img'] = prefix.pop('img_path')
        # pipeline configs with MMPose's plain names ('RandomFlip') mean the pose transforms
        with default_scope(get_default_scope() or 'mmpose'):
            super().__init__(ann_file=ann_file, metainfo=None, data_root=data_root, data_prefix=prefix,
                             filter_cfg=filter_cfg, indices=indices, serialize_data=serialize_data,
                             pipeline=pipeline, test_mode=test_mode, lazy_init=True, max_refetch=max_refetch,
                             backend_args=backend_args)
        self.bbox_file = osp.join(self.data_root, bbox_file) if bbox_file and self.data_root and \
            not osp.isabs(bbox_file) and not osp.exists(bbox_file) else bbox_file
        self._metainfo = parsed
        if not lazy_init:
            self.full_init()

    # -- data info --------------------------------------------------------------------------------
    def get_data_info(self, idx: int) -> dict:
        """Entry ``idx`` plus the metainfo keys the pipeline and the model read (``flip_indices``, ...)."""
        info = super().get_data_info(idx)
        for key in METAINFO_KEYS_IN_DATA_INFO:
            if key in self._metainfo:
                info[key] = copy.deepcopy(self._metainfo[key])
        return info

    # -- loading ----------------------------------------------------------------------------------
    @property
    def sample_name(self) -> str:
        return 'person instance' if self.data_mode == 'topdown' and not self.bbox_file else \
            'detected box' if self.bbox_file else 'image'

    def load_note(self) -> str:
        notes = [super().load_note()]
        if self.num_dropped_instances:
            notes.append(f'all {self.num_dropped_instances} annotations with keypoints were left out as MMPose does: '
                         'crowd, num_keypoints 0, no keypoint labelled, or an empty box')
        return '; '.join(n for n in notes if n)

    def _faults(self, source: str | None = None) -> RecordFaults:
        return RecordFaults(type(self).__name__, source or self.ann_file, skip_invalid=self.skip_invalid)

    def load_data_list(self) -> list[dict]:
        self.num_invalid_skipped = self.num_dropped_instances = 0
        if self.bbox_file:
            return self._load_detection_results()
        instances, images = self._load_annotations()
        if self.data_mode == 'topdown':
            kept = [info for info in instances if _valid_instance(info)]
            self.num_dropped_instances = len(instances) - len(kept)
            return kept
        return self._bottomup(instances, images)

    def _read_coco(self) -> tuple[list[dict], dict[Any, list[dict]]]:
        name = type(self).__name__
        coco = load_json(self.ann_file, name)
        if not isinstance(coco, dict) or not isinstance(coco.get('images'), list) \
                or not isinstance(coco.get('annotations', []), list):
            keys = sorted(coco) if isinstance(coco, dict) else type(coco).__name__
            raise ValueError(f'{name}: {self.ann_file} is not a COCO keypoints JSON: it needs an "images" list '
                             f'and an "annotations" list (got {keys})')
        for key in ('images', 'annotations', 'categories'):
            items = coco.get(key) or []
            if not isinstance(items, list) or not all(isinstance(x, dict) for x in items):
                raise ValueError(f'{name}: {self.ann_file}: "{key}" must be a list of objects, got {items!r:.80}')
        faults = self._faults()
        num_kpts = self._metainfo.get('num_keypoints')
        coco = check_coco(coco, faults, image_keys=('id', 'file_name', 'width', 'height'), require_categories=False,
                          num_keypoints=num_kpts,
                          keypoints_note=f' of {self._metainfo.get("dataset_name")!r}; check the metainfo')
        self.num_invalid_skipped += faults.count
        faults.warn()
        images = coco['images']
        by_img: dict[Any, list[dict]] = {img['id']: [] for img in images}
        anns = coco.get('annotations') or []
        for ann in anns:  # every image_id is an image of the file (check_coco)
            by_img[ann['image_id']].append(ann)
        if anns and not any('keypoints' in a for a in anns):
            raise ValueError(f'{name}: {self.ann_file} has no annotation with "keypoints": is it an instances '
                             '(detection) JSON instead of a person_keypoints one?')
        return images, by_img

    def _load_annotations(self) -> tuple[list[dict], list[dict]]:
        images, by_img = self._read_coco()
        instances, image_list = [], []
        for img in images:
            img = dict(img, img_id=img['id'],
                       img_path=osp.join(self.data_prefix.get('img', ''), img['file_name']))
            image_list.append(img)
            for ann in by_img[img['id']]:
                info = self.parse_data_info(dict(raw_ann_info=ann, raw_img_info=img))
                if info:
                    instances.append(info)
        return instances, image_list

    def parse_data_info(self, raw_data_info: dict) -> dict | None:
        """One COCO annotation (``raw_ann_info``) of image ``raw_img_info`` as a top-down data info, or None
        when it has no ``bbox`` or no ``keypoints``."""
        ann, img = raw_data_info['raw_ann_info'], raw_data_info['raw_img_info']
        if 'bbox' not in ann or 'keypoints' not in ann:
            return None
        name = type(self).__name__
        where = f'{name}: {self.ann_file}: annotation id {ann.get("id")} (image id {img["id"]})'
        try:
            return self._parse_annotation(ann, img, where)
        except (TypeError, ValueError) as exc:  # a value of the wrong type: name the annotation
            if isinstance(exc, AnnotationError):
                raise
            raise AnnotationError(f'{where}: {exc}') from None

    def _parse_annotation(self, ann: dict, img: dict, where: str) -> dict:
        if not isinstance(ann['bbox'], (list, tuple)) or len(ann['bbox']) != 4:
            raise AnnotationError(f'{where}: bbox {ann["bbox"]!r} is not [x, y, w, h]')
        x, y, w, h = (float(v) for v in ann['bbox'])
        img_w, img_h = float(img['width']), float(img['height'])
        x1, y1 = np.clip(x, 0, img_w - 1), np.clip(y, 0, img_h - 1)
        x2, y2 = np.clip(x + w, 0, img_w - 1), np.clip(y + h, 0, img_h - 1)
        bbox = np.array([[x1, y1, x2, y2]], dtype=np.float32)
        num_kpts = self._metainfo.get('num_keypoints')
        raw = np.asarray(ann['keypoints'], dtype=np.float32)
        if raw.ndim != 1 or raw.size % 3 or (num_kpts is not None and raw.size != 3 * num_kpts):
            expect = f'3 * {num_kpts} = {3 * num_kpts}' if num_kpts is not None else 'a multiple of 3'
            raise AnnotationError(f'{where}: keypoints has {raw.size} values, expected {expect} '
                                  f'(x, y, v per keypoint of {self._metainfo.get("dataset_name")!r}); check the '
                                  'metainfo')
        raw = raw.reshape(1, -1, 3)
        keypoints = raw[..., :2].copy()
        visible = np.minimum(1, raw[..., 2]).astype(np.float32)
        num_keypoints = int(ann['num_keypoints']) if 'num_keypoints' in ann else \
            int(np.count_nonzero(keypoints.max(axis=2)))
        if 'area' in ann:
            area = np.array([ann['area']], dtype=np.float32)
        else:
            area = np.array([max((x2 - x1) * (y2 - y1) * 0.53, 1.0)], dtype=np.float32)
        info = dict(img_id=ann['image_id'], img_path=img['img_path'], bbox=bbox,
                    bbox_score=np.ones(1, dtype=np.float32), num_keypoints=num_keypoints, keypoints=keypoints,
                    keypoints_visible=visible, area=area, iscrowd=int(ann.get('iscrowd', 0)),
                    segmentation=ann.get('segmentation'), id=ann.get('id'),
                    category_id=int(ann.get('category_id', 1)), raw_ann_info=copy.deepcopy(ann))
        if 'crowdIndex' in img:
            info['crowd_index'] = img['crowdIndex']
        return info

    def _bottomup(self, instances: list[dict], images: list[dict]) -> list[dict]:
        grouped: dict[Any, list[dict]] = {}
        for info in instances:
            grouped.setdefault(info['img_id'], []).append(info)
        data_list = []
        for img in images:
            infos = grouped.get(img['img_id'])
            if not infos:
                if self.test_mode:
                    data_list.append(dict(img_id=img['img_id'], img_path=img['img_path'], id=[],
                                          raw_ann_info=None))
                continue
            entry: dict[str, Any] = dict(img_id=img['img_id'], img_path=img['img_path'])
            for key in infos[0]:
                if key in entry:
                    continue
                values = [d[key] for d in infos]
                if isinstance(values[0], np.ndarray):
                    entry[key] = np.concatenate(values, axis=0) if values[0].ndim else np.stack(values)
                else:
                    entry[key] = values
            entry['invalid_segs'] = [d['segmentation'] for d in infos
                                     if not _valid_instance(d) and d.get('segmentation') is not None]
            data_list.append(entry)
        return data_list

    def _load_detection_results(self) -> list[dict]:
        name = type(self).__name__
        dets = load_json(self.bbox_file, f'{name} bbox_file')
        if not isinstance(dets, list) or not all(isinstance(d, dict) for d in dets):
            raise ValueError(f'{name}: bbox_file {self.bbox_file} must hold a list of detection dicts '
                             '(image_id, category_id, bbox [x, y, w, h], score)')
        images, _ = self._read_coco()
        by_id = {img['id']: img for img in images}
        num_kpts = int(self._metainfo['num_keypoints'])
        faults = RecordFaults(name, f'bbox_file {self.bbox_file}', skip_invalid=self.skip_invalid)
        data_list = []
        for i, det in enumerate(dets):
            missing = [k for k in ('image_id', 'bbox', 'score') if k not in det]
            if missing:
                raise ValueError(f'{name}: bbox_file {self.bbox_file}: detection {i} has no {missing}')
            if det.get('category_id', 1) != 1:
                continue
            img = _member_of(det['image_id'], by_id)
            if img is None:
                raise ValueError(f'{name}: bbox_file {self.bbox_file}: detection {i} has image_id '
                                 f'{det["image_id"]!r}, which is not an image of {self.ann_file}')
            problem = numbers_problem('bbox', det['bbox'], min_len=4, expected='at least 4 ([x, y, w, h])') or \
                number_problem('score', det['score'])
            if problem:
                faults.fault(f'detection {i} (image id {det["image_id"]!r})', problem, kind='detection')
                continue
            x, y, w, h = (float(v) for v in det['bbox'][:4])
            data_list.append(dict(
                img_id=det['image_id'], img_path=osp.join(self.data_prefix.get('img', ''), img['file_name']),
                bbox=np.array([[x, y, x + w, y + h]], dtype=np.float32),
                bbox_score=np.array([det['score']], dtype=np.float32),
                keypoints=np.zeros((1, num_kpts, 2), dtype=np.float32),
                keypoints_visible=np.ones((1, num_kpts), dtype=np.float32),
                id=len(data_list), category_id=1))
        self.num_invalid_skipped += faults.count
        faults.warn()
        return data_list

    def filter_data(self, data_list: list[dict]) -> list[dict]:
        """``filter_cfg=dict(bbox_score_thr=t)`` keeps top-down entries with ``bbox_score >= t``."""
        if not self.filter_cfg or 'bbox_score_thr' not in self.filter_cfg:
            return data_list
        thr = float(self.filter_cfg['bbox_score_thr'])
        return [d for d in data_list if float(d['bbox_score'][0]) >= thr]


@DATASETS.register_module(['CocoPoseDataset', 'mmpose.CocoDataset'])
class CocoPoseDataset(BaseCocoStyleDataset):
    """COCO person keypoints (17 keypoints; ``person_keypoints_*.json``). ``type='CocoDataset'`` names it
    in configs with ``default_scope = 'mmpose'`` (``mmpose.CocoDataset`` anywhere). See
    :class:`BaseCocoStyleDataset` for the arguments and the entries."""

    METAINFO: dict = dict(from_file='configs/_base_/datasets/coco.py')


@DATASETS.register_module(['AicDataset', 'mmpose.AicDataset'])
class AicDataset(BaseCocoStyleDataset):
    """AI Challenger human keypoints (14 keypoints) in MMPose's COCO-format JSON (``aic_train.json``,
    ``aic_val.json``). See :class:`BaseCocoStyleDataset`."""

    METAINFO: dict = dict(from_file='configs/_base_/datasets/aic.py')
