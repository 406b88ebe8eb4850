"""Reading pose predictions / ground truth out of data samples, and keypoint-layout conversion.

A sample is a :class:`~visioncraft.structures.DataSample` (the evaluator converts dict samples); its instance
containers are :class:`~visioncraft.structures.InstanceData`.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from visioncraft.structures import BaseDataElement

__all__ = ['require', 'KeypointMapping']


def require(sample: BaseDataElement, key: str, metric: str, k: int, hint: str = '') -> Any:
    """``sample.get(key)`` (a DataSample's or an InstanceData's); a missing value raises a KeyError naming the
    metric, sample and key."""
    value = sample.get(key)
    if value is None:
        raise KeyError(f'{metric}: data sample {k} has no {key!r}{"; " + hint if hint else ""}')
    return value


class KeypointMapping:
    """A ``KeypointConverter``'s layout change, applied to arrays, COCO annotations and OKS sigmas.

    Args:
        num_keypoints: keypoints of the target layout.
        mapping: ``[(source, target), ...]``; a source may be a pair ``(a, b)`` (the midpoint of keypoints
            ``a`` and ``b``, visible only when both are).

    Target keypoints no source maps to are zeros, invisible (v=0), with OKS sigma 1.0 (they never count).
    """

    def __init__(self, num_keypoints: int, mapping: Sequence[Sequence[Any]]) -> None:
        self.num_keypoints = int(num_keypoints)
        src_a, src_b, tgt = [], [], []
        for i, pair in enumerate(mapping):
            try:
                source, target = pair
            except (TypeError, ValueError):
                raise ValueError(f'KeypointConverter mapping[{i}] must be (source, target), got {pair!r}') from None
            a, b = (source, source) if np.isscalar(source) else tuple(source)
            if not 0 <= int(target) < self.num_keypoints:
                raise ValueError(f'KeypointConverter mapping[{i}]: target {target} is outside '
                                 f'0..{self.num_keypoints - 1} (num_keypoints={self.num_keypoints})')
            src_a.append(int(a))
            src_b.append(int(b))
            tgt.append(int(target))
        self.src_a = np.asarray(src_a, dtype=np.int64)
        self.src_b = np.asarray(src_b, dtype=np.int64)
        self.tgt = np.asarray(tgt, dtype=np.int64)

    @classmethod
    def from_converter(cls, converter: Any, cfg: Any = None) -> KeypointMapping:
        """From a built converter (``num_keypoints`` and ``mapping``, or MMPose-style ``source_index`` /
        ``target_index``) or its config dict."""
        for src in (cfg, converter):
            if src is None:
                continue
            if isinstance(src, Mapping):  # the config dict
                num, mapping = src.get('num_keypoints'), src.get('mapping')
            else:
                num, mapping = getattr(src, 'num_keypoints', None), getattr(src, 'mapping', None)
            if num is not None and mapping is not None:
                return cls(num, mapping)
        num = getattr(converter, 'num_keypoints', None)
        source, target = getattr(converter, 'source_index', None), getattr(converter, 'target_index', None)
        if num is not None and source is not None and target is not None:
            return cls(num, list(zip(source, target)))
        raise ValueError(f'gt_converter {cfg if cfg is not None else converter!r} gives no num_keypoints and '
                         'mapping=[(source, target), ...]')

    def check_source(self, num_source: int, what: str) -> None:
        top = int(max(self.src_a.max(initial=-1), self.src_b.max(initial=-1)))
        if top >= num_source:
            raise ValueError(f'gt_converter maps source keypoint {top} but {what} has only {num_source} keypoints')

    def points(self, keypoints: np.ndarray, visible: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``keypoints`` (N, K_src, 2) and ``visible`` (N, K_src) in the target layout (N, K, 2) / (N, K)."""
        keypoints = np.asarray(keypoints, dtype=np.float64)
        visible = np.asarray(visible, dtype=np.float64)
        self.check_source(keypoints.shape[1], 'the ground truth')
        n = keypoints.shape[0]
        out = np.zeros((n, self.num_keypoints, 2))
        vis = np.zeros((n, self.num_keypoints))
        out[:, self.tgt] = 0.5 * (keypoints[:, self.src_a] + keypoints[:, self.src_b])
        vis[:, self.tgt] = np.minimum(visible[:, self.src_a], visible[:, self.src_b])
        return out, vis

    def coco_ann(self, ann: dict) -> dict:
        """A copy of a COCO annotation with ``keypoints`` (flat x, y, v) and ``num_keypoints`` converted."""
        ann = dict(ann)
        if 'keypoints' in ann:
            kpts = np.asarray(ann['keypoints'], dtype=np.float64).reshape(-1, 3)
            xy, v = self.points(kpts[None, :, :2], kpts[None, :, 2])
            new = np.concatenate([xy[0], v[0][:, None]], axis=1)
            new[new[:, 2] <= 0] = 0
            ann['keypoints'] = new.reshape(-1).tolist()
            ann['num_keypoints'] = int(np.count_nonzero(new[:, 2] > 0))
        return ann

    def sigmas(self, sigmas: Any) -> np.ndarray:
        """OKS sigmas of the target layout (1.0 where nothing maps; the mean of a pair's two sigmas)."""
        sigmas = np.asarray(sigmas, dtype=np.float64).reshape(-1)
        self.check_source(len(sigmas), 'dataset_meta["sigmas"]')
        out = np.ones(self.num_keypoints)
        out[self.tgt] = 0.5 * (sigmas[self.src_a] + sigmas[self.src_b])
        return out
