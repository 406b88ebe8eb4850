"""The pose CombinedDataset: MMPose's ``CombinedDataset(metainfo=dict(from_file=...), datasets=[...],
pipeline=[...], sample_ratio_factor=[...])``."""
from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from typing import Any

from visioncraft.data import CombinedDataset
from visioncraft.registry import DATASETS, default_scope, get_default_scope

from .metainfo import parse_pose_metainfo

__all__ = ['PoseCombinedDataset']

#: metainfo entries of the combined layout that replace the child's after the child's pipeline
_COMBINED_KEYS = ('upper_body_ids', 'lower_body_ids', 'flip_pairs', 'dataset_keypoint_weights', 'flip_indices')


@DATASETS.register_module(['PoseCombinedDataset', 'mmpose.CombinedDataset'])
class PoseCombinedDataset(CombinedDataset):
    """Pose datasets with their own pipelines (typically a :class:`KeypointConverter` to a common keypoint
    layout), concatenated, then the shared ``pipeline``.

    ``type='CombinedDataset'`` names this class in configs with ``default_scope = 'mmpose'``. Child dataset
    and pipeline configs are built in the ``mmpose`` scope when no default scope is set, so
    ``type='CocoDataset'`` / ``'RandomFlip'`` inside mean the pose ones.

    Args:
        metainfo: the combined layout's pose metainfo (a ``dataset_info`` dict or
            ``dict(from_file='configs/_base_/datasets/coco.py')``), parsed by :func:`parse_pose_metainfo`.
        datasets: pose datasets or their configs.
        pipeline: the shared transforms.
        sample_ratio_factor: per-dataset sampling factors (see :class:`visioncraft.data.CombinedDataset`).
        test_mode, max_refetch, lazy_init: as :class:`visioncraft.data.CombinedDataset`.

    After a child's pipeline, ``upper_body_ids``, ``lower_body_ids``, ``flip_pairs``, ``flip_indices`` and
    ``dataset_keypoint_weights`` of the combined layout replace the child's (as MMPose does); ``dataset_name``
    stays the child's, so a :class:`MultiDatasetEvaluator` can tell the samples apart.
    """

    def __init__(self, metainfo: dict, datasets: Sequence[Any], pipeline: Sequence[dict | Callable] = (),
                 sample_ratio_factor: Sequence[float] | None = None, test_mode: bool = False,
                 max_refetch: int = 1000, lazy_init: bool = False) -> None:
        if not metainfo:
            raise ValueError('CombinedDataset (pose): metainfo is required, e.g. '
                             "dict(from_file='configs/_base_/datasets/coco.py'): it defines the common keypoints")
        # children and pipelines named with MMPose's plain names ('CocoDataset', 'RandomFlip') are the pose ones
        with default_scope(get_default_scope() or 'mmpose'):
            super().__init__(metainfo=parse_pose_metainfo(metainfo), datasets=datasets, pipeline=pipeline,
                             test_mode=test_mode, max_refetch=max_refetch, lazy_init=lazy_init,
                             sample_ratio_factor=sample_ratio_factor)

    def _merge_child_result(self, data: Any) -> Any:
        if isinstance(data, dict):
            for key in _COMBINED_KEYS:
                if key in self._metainfo:
                    data[key] = copy.deepcopy(self._metainfo[key])
        return data
