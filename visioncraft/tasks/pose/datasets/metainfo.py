"""Pose dataset metainfo: read MMPose's ``dataset_info = dict(...)`` layout into the arrays the pipeline uses.

A dataset-info file (``configs/_base_/datasets/coco.py``) holds::

    dataset_info = dict(
        dataset_name='coco', paper_info=dict(...),
        keypoint_info={0: dict(name='nose', id=0, color=[51, 153, 255], type='upper', swap=''), ...},
        skeleton_info={0: dict(link=('left_ankle', 'left_knee'), id=0, color=[0, 255, 0]), ...},
        joint_weights=[1., ...],   # K loss weights
        sigmas=[0.026, ...])       # K OKS sigmas

:func:`parse_pose_metainfo` turns it into ``dataset.metainfo`` (see its docstring for the keys).
"""
from __future__ import annotations

import copy
import os
import os.path as osp
from collections.abc import Mapping
from typing import Any

import numpy as np

from visioncraft.config import Config
from visioncraft.fileio.package_data import find_package_file

__all__ = ['parse_pose_metainfo', 'resolve_metainfo_file', 'METAINFO_KEYS_IN_DATA_INFO']

#: metainfo entries a pose dataset copies into every data info (the pipeline and the model read them there)
METAINFO_KEYS_IN_DATA_INFO = ('dataset_name', 'upper_body_ids', 'lower_body_ids', 'flip_pairs',
                              'dataset_keypoint_weights', 'flip_indices', 'skeleton_links')

_REQUIRED = ('dataset_name', 'keypoint_info', 'skeleton_info', 'joint_weights', 'sigmas')
_DEFAULT_KPT_COLOR = (255, 128, 0)
_DEFAULT_LINK_COLOR = (96, 96, 255)
_cache: dict[tuple[str, float], dict] = {}


def resolve_metainfo_file(path: str) -> str:
    """The dataset-info file ``path`` names: as given (relative to the working directory), else the file of
    that path, or of that name under ``configs/_base_/datasets/``, among the files shipped with VisionCraft
    (:func:`visioncraft.fileio.package_data.find_package_file`: the installed package's data, then the source
    checkout). FileNotFoundError names every place looked at."""
    path = os.fspath(path)
    if osp.isfile(path):
        return osp.abspath(path)
    try:
        return str(find_package_file(path, osp.join('configs', '_base_', 'datasets', osp.basename(path))))
    except FileNotFoundError as exc:
        raise FileNotFoundError(f'metainfo from_file={path!r}: no such file ({exc})') from None


def _load_from_file(path: str) -> dict:
    real = resolve_metainfo_file(path)
    key = (real, osp.getmtime(real))
    if key not in _cache:
        cfg = Config.fromfile(real, import_custom_modules=False)
        if 'dataset_info' not in cfg:
            raise KeyError(f'metainfo file {real} has no dataset_info = dict(...) (keys: {sorted(cfg.keys())})')
        _cache[key] = cfg.to_dict()['dataset_info']
    return copy.deepcopy(_cache[key])


def _rgb(value: Any, where: str) -> list[int]:
    arr = np.asarray(value)
    if arr.shape != (3,) or not np.all((arr >= 0) & (arr <= 255)):
        raise ValueError(f'{where}: color must be [r, g, b] with values in 0..255, got {value!r}')
    return [int(v) for v in arr]


def parse_pose_metainfo(metainfo: Mapping) -> dict:
    """Parse MMPose-style dataset info (or ``dict(from_file='configs/_base_/datasets/coco.py')``).

    Args:
        metainfo: a ``dataset_info`` dict, or ``dict(from_file=path)`` naming a Python file that defines
            ``dataset_info``. A relative path that does not exist from the working directory is looked up
            under this repository's ``configs/_base_/datasets/`` (by file name), as MMPose does with its
            installed configs.

    Returns:
        ``dict(dataset_name: str, num_keypoints: int K, keypoint_id2name: {int: str},
        keypoint_name2id: {str: int}, upper_body_ids: list[int], lower_body_ids: list[int],
        flip_indices: list[int] (len K, the id of each keypoint's mirror, itself when it has none),
        flip_pairs: list[(i, j)] (each left/right pair once), keypoint_colors: np.uint8 (K, 3) as given
        (RGB), num_skeleton_links: int L, skeleton_links: list[(i, j)], skeleton_link_colors: np.uint8 (L, 3),
        dataset_keypoint_weights: np.float32 (K,), sigmas: np.float32 (K,))`` plus ``stats_info`` (arrays)
        when the input has it.

    Errors (KeyError / ValueError) name the entry at fault: a missing key, a ``swap`` or ``link`` naming no
    keypoint, keypoint ids that are not 0..K-1, ``joint_weights`` / ``sigmas`` of the wrong length.
    """
    if not isinstance(metainfo, Mapping):
        raise TypeError(f'pose metainfo must be a dict, got {type(metainfo).__name__}')
    source = 'pose metainfo'
    if 'from_file' in metainfo:
        source = f'pose metainfo file {metainfo["from_file"]!r}'
        metainfo = _load_from_file(metainfo['from_file'])
    missing = [k for k in _REQUIRED if k not in metainfo]
    if missing:
        raise KeyError(f'{source}: missing {missing}; a pose dataset_info needs {list(_REQUIRED)}')

    kpt_info = dict(metainfo['keypoint_info'])
    num_kpts = len(kpt_info)
    if num_kpts == 0:
        raise ValueError(f'{source}: keypoint_info is empty')
    ids = sorted(int(k) for k in kpt_info)
    if ids != list(range(num_kpts)):
        raise ValueError(f'{source}: keypoint_info keys must be 0..{num_kpts - 1}, got {ids}')
    id2name: dict[int, str] = {}
    name2id: dict[str, int] = {}
    colors, upper, lower = [], [], []
    by_id = {int(k): v for k, v in kpt_info.items()}
    for kid in range(num_kpts):
        kpt = by_id[kid]
        if 'name' not in kpt:
            raise KeyError(f'{source}: keypoint_info[{kid}] has no name')
        name = kpt['name']
        if name in name2id:
            raise ValueError(f'{source}: keypoint name {name!r} is used by keypoints {name2id[name]} and {kid}')
        if 'id' in kpt and int(kpt['id']) != kid:
            raise ValueError(f'{source}: keypoint_info[{kid}] has id={kpt["id"]}')
        id2name[kid] = name
        name2id[name] = kid
        colors.append(_rgb(kpt.get('color', _DEFAULT_KPT_COLOR), f'{source}: keypoint_info[{kid}]'))
        kind = kpt.get('type', '')
        if kind == 'upper':
            upper.append(kid)
        elif kind == 'lower':
            lower.append(kid)
        elif kind not in ('', None):
            raise ValueError(f"{source}: keypoint_info[{kid}] type must be 'upper', 'lower' or '', got {kind!r}")

    flip_indices, flip_pairs = [], []
    for kid in range(num_kpts):
        swap = by_id[kid].get('swap', '') or ''
        if swap in ('', id2name[kid]):
            flip_indices.append(kid)
            continue
        if swap not in name2id:
            raise ValueError(f'{source}: keypoint_info[{kid}] ({id2name[kid]!r}) swaps with {swap!r}, which is '
                             f'not a keypoint name')
        other = name2id[swap]
        flip_indices.append(other)
        if (other, kid) not in flip_pairs and (kid, other) not in flip_pairs:
            flip_pairs.append((other, kid) if other < kid else (kid, other))
    for kid, other in enumerate(flip_indices):
        if flip_indices[other] != kid:
            raise ValueError(f'{source}: swap is not symmetric: {id2name[kid]!r} swaps with {id2name[other]!r} '
                             f'but {id2name[other]!r} swaps with {id2name[flip_indices[other]]!r}')

    links, link_colors = [], []
    sk_info = {int(k): v for k, v in dict(metainfo['skeleton_info']).items()}
    for lid in sorted(sk_info):
        sk = sk_info[lid]
        link = sk.get('link')
        if link is None or len(link) != 2:
            raise ValueError(f'{source}: skeleton_info[{lid}] link must be a pair of keypoint names, got {link!r}')
        for name in link:
            if name not in name2id:
                raise ValueError(f'{source}: skeleton_info[{lid}] link {tuple(link)} names {name!r}, which is not '
                                 'a keypoint name')
        links.append((name2id[link[0]], name2id[link[1]]))
        link_colors.append(_rgb(sk.get('color', _DEFAULT_LINK_COLOR), f'{source}: skeleton_info[{lid}]'))

    parsed = dict(
        dataset_name=metainfo['dataset_name'],
        num_keypoints=num_kpts,
        keypoint_id2name=id2name,
        keypoint_name2id=name2id,
        upper_body_ids=upper,
        lower_body_ids=lower,
        flip_indices=flip_indices,
        flip_pairs=flip_pairs,
        keypoint_colors=np.array(colors, dtype=np.uint8).reshape(num_kpts, 3),
        num_skeleton_links=len(links),
        skeleton_links=links,
        skeleton_link_colors=np.array(link_colors, dtype=np.uint8).reshape(len(links), 3),
    )
    for key, out in (('joint_weights', 'dataset_keypoint_weights'), ('sigmas', 'sigmas')):
        arr = np.asarray(metainfo[key], dtype=np.float32).reshape(-1)
        if arr.shape != (num_kpts,):
            raise ValueError(f'{source}: {key} has {arr.size} values but there are {num_kpts} keypoints')
        parsed[out] = arr
    if 'stats_info' in metainfo:
        parsed['stats_info'] = {k: np.asarray(v, dtype=np.float32) for k, v in metainfo['stats_info'].items()}
    return parsed
