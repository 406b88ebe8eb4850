"""Distance-based 2D keypoint metrics: PCKAccuracy, AUC, EPE, NME (MMPose's names and keys).

Each reads, per data sample, ``pred_instances.keypoints`` (N, K, 2) image pixels and ``gt_instances`` with
``keypoints`` (N, K, 2) image pixels, ``keypoints_visible`` (N, K) (a (N, K, 2) array's first channel is
used) and, where the normaliser needs it, ``bboxes`` (N, 4) xyxy pixels or ``head_size`` (N,). Only labelled
ground-truth keypoints (``keypoints_visible > 0``) count. Tensors or numpy arrays are accepted.
"""
from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np

from visioncraft.evaluation.metric import BaseMetric
from visioncraft.registry import METRICS
from visioncraft.structures import DataSample, InstanceData, to_numpy

from ._utils import require
from .keypoint_eval import keypoint_auc, keypoint_epe, keypoint_nme, keypoint_pck_accuracy

__all__ = ['PCKAccuracy', 'AUC', 'EPE', 'NME']


def _pred_gt(sample: DataSample, metric: str, k: int) -> tuple[InstanceData, np.ndarray, np.ndarray, np.ndarray]:
    """``(gt instances, pred (N,K,2), gt (N,K,2), mask (N,K) bool)`` of one data sample."""
    pred_inst = require(sample, 'pred_instances', metric, k, "the model must predict in mode='predict'")
    gt_inst = require(sample, 'gt_instances', metric, k, 'the test pipeline must pack the ground truth')
    pred = to_numpy(require(pred_inst, 'keypoints', metric, k), np.float64)
    gt = to_numpy(require(gt_inst, 'keypoints', metric, k), np.float64)
    vis = to_numpy(require(gt_inst, 'keypoints_visible', metric, k), np.float64)
    if vis.ndim == 3:
        vis = vis[..., 0]
    pred = pred.reshape(-1, *pred.shape[-2:])
    gt = gt.reshape(-1, *gt.shape[-2:])
    vis = vis.reshape(gt.shape[:2])
    if pred.shape != gt.shape:
        raise ValueError(f'{metric}: data sample {k}: pred_instances.keypoints {pred.shape} and '
                         f'gt_instances.keypoints {gt.shape} differ in shape (a pred/gt keypoint layout mismatch '
                         'needs a KeypointConverter in the pipeline)')
    return gt_inst, pred, gt, vis > 0


def _bbox_size(gt_inst: InstanceData, metric: str, k: int, n: int) -> np.ndarray:
    """max(w, h) of each ground-truth box, (N,)."""
    boxes = to_numpy(require(gt_inst, 'bboxes', metric, k, "norm_item 'bbox' needs gt_instances.bboxes"),
                     np.float64).reshape(-1, 4)
    size = (boxes[:, 2:] - boxes[:, :2]).max(axis=1)
    return np.broadcast_to(size, (n,)) if len(size) == 1 else size


def _concat(results: list[dict], key: str) -> np.ndarray:
    return np.concatenate([r[key] for r in results], axis=0)


_PCK_KEYS = {'bbox': 'PCK', 'head': 'PCKh', 'torso': 'tPCK'}


@METRICS.register_module()
class PCKAccuracy(BaseMetric):
    """Percentage of correct keypoints: distance / normaliser < ``thr``, averaged over keypoints.

    Args:
        thr: threshold on the normalised distance.
        norm_item: ``'bbox'`` (normaliser: the ground-truth box's longer side -> key ``PCK``), ``'head'``
            (``gt_instances.head_size``, MPII's PCKh -> ``PCKh``), ``'torso'`` (the ground-truth distance
            between the two ``torso_indices`` keypoints -> ``tPCK``), or a list of them.
        torso_indices: the keypoint pair whose distance is the torso size. Default: ``left_shoulder`` and
            ``right_hip`` looked up in ``dataset_meta['keypoint_name2id']``, else MMPose's (4, 5) (JHMDB's
            left shoulder and right hip). When the ground-truth torso is shorter than 1 px the predicted one
            is used (with a warning), as in MMPose.
        collect_device, prefix: see :class:`~visioncraft.evaluation.BaseMetric` (no default prefix).

    PCK averages per-keypoint accuracies (keypoints never labelled are skipped), a float in [0, 1].
    """

    def __init__(self, thr: float = 0.05, norm_item: str | Sequence[str] = 'bbox',
                 torso_indices: Sequence[int] | None = None, collect_device: str = 'cpu',
                 prefix: str | None = None) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix)
        self.thr = float(thr)
        items = [norm_item] if isinstance(norm_item, str) else list(norm_item)
        bad = [i for i in items if i not in _PCK_KEYS]
        if bad or not items:
            raise ValueError(f"PCKAccuracy: norm_item must be 'bbox', 'head', 'torso' or a list of them, got "
                             f'{norm_item!r}')
        self.norm_item = list(dict.fromkeys(items))
        self.torso_indices = None if torso_indices is None else tuple(int(i) for i in torso_indices)
        if self.torso_indices is not None and len(self.torso_indices) != 2:
            raise ValueError(f'PCKAccuracy: torso_indices must be two keypoint indices, got {torso_indices!r}')

    def _torso_pair(self) -> tuple[int, int]:
        if self.torso_indices is not None:
            return self.torso_indices
        name2id = (self.dataset_meta or {}).get('keypoint_name2id') or {}
        if 'left_shoulder' in name2id and 'right_hip' in name2id:
            return int(name2id['left_shoulder']), int(name2id['right_hip'])
        return 4, 5

    def process(self, data_batch: Any, data_samples: Sequence[DataSample]) -> None:
        """Append, per sample, ``pred``/``gt`` (N, K, 2), ``mask`` (N, K) and one (N, 2) normaliser per
        norm_item."""
        name = type(self).__name__
        for k, sample in enumerate(data_samples):
            gt_inst, pred, gt, mask = _pred_gt(sample, name, k)
            n = len(gt)
            result = dict(pred=pred, gt=gt, mask=mask)
            if 'bbox' in self.norm_item:
                result['bbox'] = np.repeat(_bbox_size(gt_inst, name, k, n)[:, None], 2, axis=1)
            if 'head' in self.norm_item:
                head = to_numpy(require(gt_inst, 'head_size', name, k, "norm_item 'head' needs "
                                        'gt_instances.head_size (MPII)'), np.float64).reshape(-1)
                result['head'] = np.repeat(np.broadcast_to(head, (n,))[:, None], 2, axis=1)
            if 'torso' in self.norm_item:
                a, b = self._torso_pair()
                if max(a, b) >= gt.shape[1]:
                    raise ValueError(f'PCKAccuracy: torso keypoints ({a}, {b}) are outside the {gt.shape[1]} '
                                     'keypoints; set torso_indices')
                torso = np.linalg.norm(gt[:, a] - gt[:, b], axis=-1)
                small = torso < 1
                if small.any():
                    warnings.warn(f'PCKAccuracy: ground-truth torso size < 1 px in data sample {k}; using the '
                                  'predicted torso size instead', stacklevel=2)
                    torso = np.where(small, np.linalg.norm(pred[:, a] - pred[:, b], axis=-1), torso)
                result['torso'] = np.repeat(torso[:, None], 2, axis=1)
            self.results.append(result)

    def compute_metrics(self, results: list[Any]) -> dict[str, float]:
        pred, gt, mask = _concat(results, 'pred'), _concat(results, 'gt'), _concat(results, 'mask')
        out = {}
        for item in self.norm_item:
            _, pck, _ = keypoint_pck_accuracy(pred, gt, mask, self.thr, _concat(results, item))
            out[_PCK_KEYS[item]] = pck
        return out


@METRICS.register_module()
class AUC(BaseMetric):
    """Area under the PCK curve, thresholds ``i / num_thrs`` (i = 0..num_thrs-1) of a fixed ``norm_factor``
    pixels (key ``AUC``, in [0, 1]).

    Args:
        norm_factor: the pixel normaliser (MMPose's default 30, for hand datasets).
        num_thrs: number of thresholds.
    """

    def __init__(self, norm_factor: float = 30, num_thrs: int = 20, collect_device: str = 'cpu',
                 prefix: str | None = None) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix)
        if float(norm_factor) <= 0 or int(num_thrs) < 1:
            raise ValueError(f'AUC: norm_factor must be > 0 and num_thrs >= 1, got {norm_factor!r}, {num_thrs!r}')
        self.norm_factor = float(norm_factor)
        self.num_thrs = int(num_thrs)

    def process(self, data_batch: Any, data_samples: Sequence[DataSample]) -> None:
        for k, sample in enumerate(data_samples):
            _, pred, gt, mask = _pred_gt(sample, type(self).__name__, k)
            self.results.append(dict(pred=pred, gt=gt, mask=mask))

    def compute_metrics(self, results: list[Any]) -> dict[str, float]:
        return dict(AUC=keypoint_auc(_concat(results, 'pred'), _concat(results, 'gt'), _concat(results, 'mask'),
                                     self.norm_factor, self.num_thrs))


@METRICS.register_module()
class EPE(BaseMetric):
    """End-point error: the mean pixel distance between predicted and labelled keypoints (key ``EPE``)."""

    def process(self, data_batch: Any, data_samples: Sequence[DataSample]) -> None:
        for k, sample in enumerate(data_samples):
            _, pred, gt, mask = _pred_gt(sample, type(self).__name__, k)
            self.results.append(dict(pred=pred, gt=gt, mask=mask))

    def compute_metrics(self, results: list[Any]) -> dict[str, float]:
        return dict(EPE=keypoint_epe(_concat(results, 'pred'), _concat(results, 'gt'), _concat(results, 'mask')))


#: MMPose's default normalising keypoint pairs (inter-ocular distance for faces) by dataset_name
DEFAULT_KEYPOINT_INDICES = {
    'horse10': (0, 1),
    '300w': (36, 45),
    'coco_wholebody_face': (36, 45),
    'cofw': (8, 9),
    'wflw': (60, 72),
    'lapa': (66, 79),
}


@METRICS.register_module()
class NME(BaseMetric):
    """Normalised mean error: mean over labelled keypoints of distance / normaliser (key ``NME``).

    Args:
        norm_mode: ``'use_norm_item'`` (the normaliser is ``norm_item`` of each sample's ground truth:
            ``'bbox_size'`` is the box's longer side, computed from ``gt_instances.bboxes``; any other name is
            read from ``gt_instances`` (or the sample), one value per instance) or ``'keypoint_distance'`` (the
            ground-truth distance between ``keypoint_indices``, by default looked up by
            ``dataset_meta['dataset_name']`` in :data:`DEFAULT_KEYPOINT_INDICES`).
        norm_item: see ``norm_mode``.
        keypoint_indices: two keypoint indices for ``'keypoint_distance'``.
    """

    def __init__(self, norm_mode: str, norm_item: str | None = None,
                 keypoint_indices: Sequence[int] | None = None, collect_device: str = 'cpu',
                 prefix: str | None = None) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix)
        if norm_mode not in ('use_norm_item', 'keypoint_distance'):
            raise ValueError(f"NME: norm_mode must be 'use_norm_item' or 'keypoint_distance', got {norm_mode!r}")
        if norm_mode == 'use_norm_item' and not norm_item:
            raise ValueError("NME: norm_mode='use_norm_item' needs norm_item (e.g. 'bbox_size')")
        if keypoint_indices is not None and len(keypoint_indices) != 2:
            raise ValueError(f'NME: keypoint_indices must be two keypoint indices, got {keypoint_indices!r}')
        self.norm_mode = norm_mode
        self.norm_item = norm_item
        self.keypoint_indices = None if keypoint_indices is None else tuple(int(i) for i in keypoint_indices)

    def _pair(self) -> tuple[int, int]:
        if self.keypoint_indices is not None:
            return self.keypoint_indices
        name = (self.dataset_meta or {}).get('dataset_name')
        if name not in DEFAULT_KEYPOINT_INDICES:
            raise ValueError(f"NME: norm_mode='keypoint_distance' needs keypoint_indices; dataset_name {name!r} "
                             f'has no default (known: {sorted(DEFAULT_KEYPOINT_INDICES)})')
        return DEFAULT_KEYPOINT_INDICES[name]

    def process(self, data_batch: Any, data_samples: Sequence[DataSample]) -> None:
        name = type(self).__name__
        for k, sample in enumerate(data_samples):
            gt_inst, pred, gt, mask = _pred_gt(sample, name, k)
            result = dict(pred=pred, gt=gt, mask=mask)
            if self.norm_mode == 'use_norm_item':
                if self.norm_item == 'bbox_size':
                    norm = _bbox_size(gt_inst, name, k, len(gt))
                else:
                    value = gt_inst.get(self.norm_item)
                    value = sample.get(self.norm_item) if value is None else value
                    if value is None:
                        raise KeyError(f'NME: data sample {k} has no {self.norm_item!r} in gt_instances (norm_item)')
                    norm = np.broadcast_to(to_numpy(value, np.float64).reshape(-1), (len(gt),))
                result['norm'] = np.repeat(np.asarray(norm)[:, None], 2, axis=1)
            self.results.append(result)

    def compute_metrics(self, results: list[Any]) -> dict[str, float]:
        pred, gt, mask = _concat(results, 'pred'), _concat(results, 'gt'), _concat(results, 'mask')
        if self.norm_mode == 'use_norm_item':
            norm = _concat(results, 'norm')
        else:
            a, b = self._pair()
            if max(a, b) >= gt.shape[1]:
                raise ValueError(f'NME: keypoint_indices ({a}, {b}) are outside the {gt.shape[1]} keypoints')
            norm = np.repeat(np.linalg.norm(gt[:, a] - gt[:, b], axis=-1)[:, None], 2, axis=1)
        return dict(NME=keypoint_nme(pred, gt, mask, norm))
