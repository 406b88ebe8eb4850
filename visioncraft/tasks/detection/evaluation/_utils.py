"""Reading predictions and ground truth out of data samples as numpy.

A sample is a :class:`~visioncraft.structures.DataSample` (the evaluator converts dict samples); its instance
containers are :class:`~visioncraft.structures.InstanceData`.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import torch

from visioncraft.structures import DataSample, InstanceData, to_numpy

__all__ = ['instances_of', 'masks_to_numpy', 'boxes_of', 'labels_of']


def instances_of(sample: DataSample, key: str) -> InstanceData | None:
    """The instance container ``key`` (``pred_instances``, ``gt_instances``, ...) or None when absent."""
    return sample.get(key)


def boxes_of(instances: InstanceData | None) -> np.ndarray:
    """``bboxes`` as float64 Nx4 (xyxy); an empty 0x4 array when the container or the field is missing."""
    boxes = None if instances is None else instances.get('bboxes')
    if boxes is None:
        return np.zeros((0, 4), dtype=np.float64)
    return to_numpy(boxes, np.float64).reshape(-1, 4)


def labels_of(instances: InstanceData | None, n: int) -> np.ndarray:
    """``labels`` as int64 N; zeros when the field is missing (class-agnostic proposals)."""
    labels = None if instances is None else instances.get('labels')
    if labels is None:
        return np.zeros(n, dtype=np.int64)
    return to_numpy(labels, np.int64).reshape(-1)


def masks_to_numpy(masks: Any) -> np.ndarray:
    """Bool NxHxW from a tensor / array (float masks are cut at 0.5) or a mask container with
    ``to_ndarray()`` (``BitmapMasks`` / ``PolygonMasks``)."""
    to_ndarray = getattr(masks, 'to_ndarray', None)
    if callable(to_ndarray) and not isinstance(masks, (np.ndarray, torch.Tensor)):
        masks = to_ndarray()
    arr = to_numpy(masks)
    if arr.dtype != np.bool_:
        arr = arr > 0.5 if np.issubdtype(arr.dtype, np.floating) else arr != 0
    return arr
