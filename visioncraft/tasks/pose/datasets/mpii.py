"""MPII Human Pose in MMPose's JSON layout (``mpii_train.json`` / ``mpii_val.json``).

The file is a list of person records ``{"image": "015601864.jpg", "center": [x, y], "scale": s,
"joints": [[x, y] * 16], "joints_vis": [0/1 * 16]}`` with MATLAB (1-based) pixel coordinates for ``center``
and a ``scale`` in units of 200 pixels (the box side is ``200 * s``). As MMPose does, the centre moves down by
``15 * s`` pixels (the annotated centre sits high on the body), then one pixel up-left to 0-based pixels;
the square box of side ``200 * s`` around it becomes ``bbox`` (xyxy), and ``bbox_center`` / ``bbox_scale``
are kept so that :class:`GetBBoxCenterScale` pads them (instead of recomputing them from the box).
"""
from __future__ import annotations

import os.path as osp
from collections.abc import Callable, Sequence
from itertools import chain

import numpy as np

from visioncraft.data.validation import VISIBILITY_FLAGS, number_problem, numbers_problem, short
from visioncraft.registry import DATASETS

from .coco_style import BaseCocoStyleDataset, _valid_instance, load_json

__all__ = ['MpiiDataset']

_PIXEL_STD = 200.0


@DATASETS.register_module(['MpiiDataset', 'mmpose.MpiiDataset'])
class MpiiDataset(BaseCocoStyleDataset):
    """MPII (16 keypoints), top-down.

    Args:
        ann_file: MMPose's MPII JSON (a list of person records, see the module docstring).
        headbox_file: optional ``.npy`` array (N, 2, 2) of head boxes ``[[x1, y1], [x2, y2]]``, one per record
            in file order (MMPose reads ``mpii_gt_val.mat``'s ``headboxes_src``; convert it once with
            ``np.save(path, scipy.io.loadmat(mat)['headboxes_src'].transpose(2, 0, 1))``); adds
            ``head_size`` (1, 1) = 0.6 x the head box diagonal, used by PCKh. Test mode only.
        skip_invalid: skip (and count, in one warning line) the records whose ``center`` / ``scale`` /
            ``joints`` / ``joints_vis`` are not finite numbers (``scale`` > 0, 16 joints of 2 numbers, flags 0..2)
            instead of raising an error naming the file, the record and the field.
        Other arguments as :class:`BaseCocoStyleDataset` (``bbox_file`` is not supported).

    Entries: ``id`` (record index), ``img_id`` (the image file's number, e.g. 15601864), ``img_path``,
    ``bbox_center`` / ``bbox_scale`` np.float32 (1, 2), ``bbox`` (1, 4) xyxy, ``bbox_score`` (1,),
    ``keypoints`` (1, 16, 2), ``keypoints_visible`` (1, 16), ``area`` (1,) (0.53 x box area),
    ``category_id`` 1, plus the metainfo keys.
    """

    METAINFO: dict = dict(from_file='configs/_base_/datasets/mpii.py')

    def __init__(self, ann_file: str = '', bbox_file: str | None = None, headbox_file: str | None = None,
                 data_mode: str = 'topdown', metainfo: dict | None = None, data_root: str = '',
                 data_prefix: dict | None = None, filter_cfg: dict | None = None,
                 indices: int | Sequence[int] | None = None, serialize_data: bool = True,
                 pipeline: Sequence[dict | Callable] = (), test_mode: bool = False, lazy_init: bool = False,
                 max_refetch: int = 1000, skip_invalid: bool = False) -> None:
        if bbox_file:
            raise ValueError('MpiiDataset: bbox_file is not supported (MPII is evaluated on its annotated boxes)')
        if headbox_file and (data_mode != 'topdown' or not test_mode):
            raise ValueError('MpiiDataset: headbox_file needs data_mode="topdown" and test_mode=True')
        if headbox_file and not headbox_file.endswith('.npy'):
            raise ValueError(f'MpiiDataset: headbox_file must be a .npy array (N, 2, 2), got {headbox_file!r}')
        self.headbox_file = headbox_file
        super().__init__(ann_file=ann_file, data_mode=data_mode, metainfo=metainfo, data_root=data_root,
                         data_prefix=data_prefix, filter_cfg=filter_cfg, indices=indices,
                         serialize_data=serialize_data, pipeline=pipeline, test_mode=test_mode,
                         lazy_init=lazy_init, max_refetch=max_refetch, skip_invalid=skip_invalid)

    def _load_annotations(self) -> tuple[list[dict], list[dict]]:
        anns = load_json(self.ann_file, 'MpiiDataset')
        if not isinstance(anns, list):
            raise ValueError(f'MpiiDataset: {self.ann_file} must hold a list of person records (image, center, '
                             f'scale, joints, joints_vis), got {type(anns).__name__}')
        headboxes = None
        if self.headbox_file:
            headboxes = np.load(self.headbox_file)
            if headboxes.ndim != 3 or headboxes.shape[1:] != (2, 2) or len(headboxes) != len(anns):
                raise ValueError(f'MpiiDataset: headbox_file {self.headbox_file} has shape {headboxes.shape}, '
                                 f'expected ({len(anns)}, 2, 2) (one head box per record of {self.ann_file})')
        num_kpts = int(self._metainfo['num_keypoints'])
        faults = self._faults()
        instances, images, seen, img_numbers = [], [], set(), {}
        for i, ann in enumerate(anns):
            where = f'MpiiDataset: {self.ann_file}: record {i}'
            if not isinstance(ann, dict):
                raise ValueError(f'{where} is not a dict')
            missing = [k for k in ('image', 'center', 'scale', 'joints', 'joints_vis') if k not in ann]
            if missing:
                raise ValueError(f'{where} ({ann.get("image")}) has no {missing}')
            problem = _record_problem(ann, num_kpts)
            if problem:
                faults.fault(f'record {i} ({ann["image"]!r})', problem, kind='record')
                continue
            center = np.array(ann['center'], dtype=np.float32).reshape(-1)
            scale = np.array([ann['scale'], ann['scale']], dtype=np.float32).reshape(2) * _PIXEL_STD
            if center[0] != -1:
                center[1] += 15.0 / _PIXEL_STD * scale[1]
            center = (center - 1).reshape(1, 2)
            scale = scale.reshape(1, 2)
            joints = np.array(ann['joints'], dtype=np.float32)
            vis = np.array(ann['joints_vis'], dtype=np.float32).reshape(-1)
            bbox = np.concatenate([center - 0.5 * scale, center + 0.5 * scale], axis=1).astype(np.float32)
            area = np.array([max(float(scale[0, 0] * scale[0, 1]) * 0.53, 1.0)], dtype=np.float32)
            stem = osp.splitext(osp.basename(ann['image']))[0]
            img_id = int(stem) if stem.isdigit() else img_numbers.setdefault(ann['image'], len(img_numbers))
            info = dict(id=i, img_id=img_id, img_path=osp.join(self.data_prefix.get('img', ''), ann['image']),
                        bbox_center=center, bbox_scale=scale, bbox=bbox, bbox_score=np.ones(1, dtype=np.float32),
                        keypoints=joints.reshape(1, num_kpts, 2), keypoints_visible=vis.reshape(1, num_kpts),
                        area=area, category_id=1, iscrowd=0)
            if headboxes is not None:
                head = headboxes[i].astype(np.float32)
                info['head_size'] = np.array([[np.linalg.norm(head[1] - head[0]) * 0.6]], dtype=np.float32)
            if img_id not in seen:
                seen.add(img_id)
                images.append(dict(img_id=img_id, img_path=info['img_path']))
            instances.append(info)
        self.num_invalid_skipped = faults.count
        faults.warn()
        return instances, images

    def load_data_list(self) -> list[dict]:
        self.num_invalid_skipped = self.num_dropped_instances = 0
        instances, images = self._load_annotations()
        if self.data_mode == 'topdown':
            kept = [info for info in instances if _valid_instance(info)]  # drops records without joints
            self.num_dropped_instances = len(instances) - len(kept)
            return kept
        return self._bottomup(instances, images)


def _record_problem(ann: dict, num_kpts: int) -> str | None:
    """What is wrong with the numbers of one MPII record (``center`` [x, y], ``scale`` > 0, ``joints`` K x [x, y],
    ``joints_vis`` K flags 0..2), or None."""
    if not isinstance(ann['image'], str) or not ann['image']:
        return f'image {ann["image"]!r} is not a non-empty string (the image file name)'
    joints = ann['joints']
    flat = list(chain.from_iterable(joints)) if isinstance(joints, list) and all(
        isinstance(j, (list, tuple)) for j in joints) else joints
    problem = numbers_problem('center', ann['center'], length=2, expected='2 ([x, y])') \
        or number_problem('scale', ann['scale'], positive=True) \
        or numbers_problem('joints', flat, length=2 * num_kpts, expected=f'{num_kpts} points [x, y]') \
        or numbers_problem('joints_vis', ann['joints_vis'], length=num_kpts, expected=f'{num_kpts} flags')
    if problem:
        return problem
    if isinstance(joints, list) and any(len(j) != 2 for j in joints):
        return f'joints {short(joints)} is not a list of [x, y] points'
    bad = next((v for v in ann['joints_vis'] if v not in VISIBILITY_FLAGS), None)
    if bad is not None:
        return f'joints_vis flag {bad!r} of joint {list(ann["joints_vis"]).index(bad)} is not 0, 1 or 2'
    return None
