"""KeypointConverter: re-index keypoints from one dataset's layout to another's (e.g. AIC -> COCO)."""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from visioncraft.data.transforms import BaseTransform
from visioncraft.registry import TRANSFORMS

__all__ = ['KeypointConverter']


@TRANSFORMS.register_module()
class KeypointConverter(BaseTransform):
    """Map keypoints to a layout of ``num_keypoints`` keypoints.

    Args:
        num_keypoints: K of the target layout.
        mapping: ``[(src, dst), ...]``: target keypoint ``dst`` is source keypoint ``src``; or
            ``[((src1, src2), dst), ...]``: the midpoint of two source keypoints (visible only when both
            are). Target keypoints no pair names are zeros and invisible.

    Example (AI Challenger's 14 keypoints to COCO's 17, from MMPose's docs: the 12 limb joints map, COCO's
    face keypoints 0-4 stay invisible, AIC's head top and neck are dropped)::

        dict(type='KeypointConverter', num_keypoints=17,
             mapping=[(0, 6), (1, 8), (2, 10), (3, 5), (4, 7), (5, 9), (6, 12), (7, 14), (8, 16), (9, 11),
                      (10, 13), (11, 15)])

    :meth:`transform` (also what calling the converter does) converts, in a pipeline sample or any dict
    (a metric's ``gt_converter`` uses it on ground-truth dicts):

    * ``keypoints`` (N, K_src, D) (D = 2, or 3 with a score column) -> float32 (N, K, D);
    * ``transformed_keypoints`` likewise when present;
    * ``keypoints_visible`` (N, K_src) (or (N, K_src, 2), whose first channel is used; ones when absent) ->
      float32 (N, K), and adds ``keypoints_visible_weights`` float32 (N, K): 1 for target keypoints the
      mapping fills, 0 for the others (MMPose packs both as (N, K, 2); here they are two keys, so
      ``keypoints_visible`` keeps the (N, K) layout of the data contract);
    * ``keypoint_scores`` (N, K_src) when present (pairs: the lower score);
    * ``flip_indices`` when present, re-mapped so mirrored keypoints stay paired in the target layout
      (a target whose source's mirror is not mapped mirrors to itself). A pose CombinedDataset then
      replaces it with its own metainfo's.

    :meth:`convert` maps any per-keypoint array along an axis (``sigmas``, scores, ...).
    """

    def __init__(self, num_keypoints: int, mapping: Sequence[tuple]) -> None:
        self.num_keypoints = int(num_keypoints)
        self.mapping = [tuple(m) for m in mapping]
        src1, src2, dst = [], [], []
        for i, m in enumerate(self.mapping):
            if len(m) != 2:
                raise ValueError(f'KeypointConverter: mapping[{i}] = {m!r} must be (src, dst) or ((src1, src2), dst)')
            src, d = m
            if isinstance(src, (list, tuple)):
                if len(src) != 2:
                    raise ValueError(f'KeypointConverter: mapping[{i}] source {src!r} must be one index or a pair')
                a, b = int(src[0]), int(src[1])
            else:
                a = b = int(src)
            if min(a, b) < 0:
                raise ValueError(f'KeypointConverter: mapping[{i}] has a negative source index {src!r}')
            if not 0 <= int(d) < self.num_keypoints:
                raise ValueError(f'KeypointConverter: mapping[{i}] target {d} is outside 0..{self.num_keypoints - 1}')
            if int(d) in dst:
                raise ValueError(f'KeypointConverter: target keypoint {d} is mapped twice')
            src1.append(a)
            src2.append(b)
            dst.append(int(d))
        self.source_index = np.array(src1, dtype=np.int64)
        self.source_index2 = np.array(src2, dtype=np.int64)
        self.target_index = np.array(dst, dtype=np.int64)
        self.interpolation = bool(np.any(self.source_index != self.source_index2))

    def _check_source(self, num_src: int, key: str) -> None:
        if len(self.target_index) and max(self.source_index.max(), self.source_index2.max()) >= num_src:
            raise ValueError(f'KeypointConverter: the mapping reads source keypoint '
                             f'{int(max(self.source_index.max(), self.source_index2.max()))} but {key} has only '
                             f'{num_src} keypoints')

    def convert(self, values: np.ndarray, axis: int = 1, combine: str = 'mean', fill: float = 0.0) -> np.ndarray:
        """Map a per-keypoint array along ``axis`` to the target layout (float32).

        ``combine`` says how a pair of sources merges: ``'mean'`` (coordinates, sigmas), ``'min'`` (scores),
        ``'prod'`` (visibility flags). Unmapped targets get ``fill``.
        """
        arr = np.asarray(values, dtype=np.float32)
        axis = axis % arr.ndim
        self._check_source(arr.shape[axis], f'the array (shape {arr.shape}, axis {axis})')
        a = np.take(arr, self.source_index, axis=axis)
        b = np.take(arr, self.source_index2, axis=axis)
        merged = {'mean': lambda: 0.5 * (a + b), 'min': lambda: np.minimum(a, b), 'prod': lambda: a * b}
        if combine not in merged:
            raise ValueError(f"KeypointConverter.convert: combine must be 'mean', 'min' or 'prod', got {combine!r}")
        shape = list(arr.shape)
        shape[axis] = self.num_keypoints
        out = np.full(shape, fill, dtype=np.float32)
        index = [slice(None)] * arr.ndim
        index[axis] = self.target_index
        out[tuple(index)] = merged[combine]()
        return out

    def _convert_flip_indices(self, flip_indices: Sequence[int]) -> list[int]:
        flip = [int(i) for i in flip_indices]
        where = {(int(a), int(b)): int(d) for a, b, d in zip(self.source_index, self.source_index2, self.target_index)}
        out = list(range(self.num_keypoints))
        for a, b, d in zip(self.source_index, self.source_index2, self.target_index):
            fa, fb = flip[a], flip[b]
            out[d] = where.get((fa, fb), where.get((fb, fa), int(d)))
        return out

    def transform(self, results: dict) -> dict:
        if 'keypoints' not in results:
            raise KeyError(f'KeypointConverter: the sample has no keypoints (keys: {sorted(results)})')
        kpts = np.asarray(results['keypoints'])
        if kpts.ndim != 3:
            raise ValueError(f'KeypointConverter: keypoints must be (N, K, D), got shape {kpts.shape}')
        n, num_src = kpts.shape[:2]
        self._check_source(num_src, f'keypoints (shape {kpts.shape})')
        vis = results.get('keypoints_visible')
        vis = np.ones((n, num_src), np.float32) if vis is None else np.asarray(vis, dtype=np.float32)
        if vis.ndim == 3:
            vis = vis[..., 0]
        results['keypoints'] = self.convert(kpts, axis=1, combine='mean')
        if results.get('transformed_keypoints') is not None:
            results['transformed_keypoints'] = self.convert(results['transformed_keypoints'], axis=1)
        results['keypoints_visible'] = self.convert(vis, axis=1, combine='prod')
        weights = np.zeros((n, self.num_keypoints), np.float32)
        weights[:, self.target_index] = 1.0
        results['keypoints_visible_weights'] = weights
        if results.get('keypoint_scores') is not None:
            results['keypoint_scores'] = self.convert(results['keypoint_scores'], axis=1, combine='min')
        if results.get('flip_indices') is not None:
            results['flip_indices'] = self._convert_flip_indices(results['flip_indices'])
        return results

    def __repr__(self) -> str:
        return f'KeypointConverter(num_keypoints={self.num_keypoints}, mapping={self.mapping})'
