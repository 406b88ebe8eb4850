"""Top-down pose transforms: load an image, box -> centre/scale, flip, half-body crop, box jitter.

Keys (one person per sample; the leading 1 is the instance axis N):
``bbox`` np.float32 (N, 4) xyxy pixels, ``bbox_center`` / ``bbox_scale`` np.float32 (N, 2) (centre x, y and
box w, h in pixels), ``keypoints`` np.float32 (N, K, 2) pixels, ``keypoints_visible`` np.float32 (N, K).
Random draws use NumPy's global RNG, which the dataset seeds per sample.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from visioncraft.data.geometric import mirror_coords
from visioncraft.data.loading import LoadImageFromFile, choose_flip
from visioncraft.data.transforms import BaseTransform
from visioncraft.registry import TRANSFORMS

from ..codecs.flip import flip_keypoints_np

__all__ = ['LoadImage', 'GetBBoxCenterScale', 'PoseRandomFlip', 'RandomHalfBody', 'RandomBBoxTransform',
           'bbox_xyxy2cs', 'bbox_cs2xyxy']


def bbox_xyxy2cs(bbox: np.ndarray, padding: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """Boxes (N, 4) xyxy -> centres (N, 2) and scales (N, 2) = (w, h) * padding, float32."""
    bbox = np.asarray(bbox, dtype=np.float32).reshape(-1, 4)
    center = (bbox[:, :2] + bbox[:, 2:]) * 0.5
    scale = (bbox[:, 2:] - bbox[:, :2]) * padding
    return center.astype(np.float32), scale.astype(np.float32)


def bbox_cs2xyxy(center: np.ndarray, scale: np.ndarray, padding: float = 1.0) -> np.ndarray:
    """Centres (N, 2) and scales (N, 2) -> boxes (N, 4) xyxy of size ``scale / padding``, float32."""
    center = np.asarray(center, dtype=np.float32).reshape(-1, 2)
    wh = np.asarray(scale, dtype=np.float32).reshape(-1, 2) / padding
    return np.concatenate([center - 0.5 * wh, center + 0.5 * wh], axis=1).astype(np.float32)


@TRANSFORMS.register_module()
class LoadImage(LoadImageFromFile):
    """Read ``results['img_path']``, or take an image already in ``results['img']`` (an ndarray, e.g. a video
    frame given to the inferencer; ``img_path`` may then be absent or None).

    Sets ``img`` (HxWx3 uint8 BGR; float32 with ``to_float32``), ``img_shape`` and ``ori_shape`` (h, w).
    Arguments as :class:`visioncraft.data.LoadImageFromFile`.
    """

    def transform(self, results: dict) -> dict | None:
        img = results.get('img')
        if isinstance(img, np.ndarray):
            if self.to_float32:
                img = img.astype(np.float32)
            results['img'] = img
            results['img_shape'] = img.shape[:2]
            results['ori_shape'] = img.shape[:2]
            results.setdefault('img_path', None)
            return results
        if img is not None and results.get('img_path') is None and isinstance(img, str):
            results['img_path'] = img  # a path given in 'img'
        return super().transform(results)


@TRANSFORMS.register_module()
class GetBBoxCenterScale(BaseTransform):
    """``bbox`` (N, 4) xyxy -> ``bbox_center`` (N, 2) and ``bbox_scale`` (N, 2) = box (w, h) * ``padding``.

    When the sample already has ``bbox_center`` and ``bbox_scale`` (MPII), only the padding is applied to the
    scale, as MMPose does.
    """

    def __init__(self, padding: float = 1.25) -> None:
        self.padding = float(padding)

    def transform(self, results: dict) -> dict:
        if 'bbox_center' in results and 'bbox_scale' in results:
            results['bbox_scale'] = (np.asarray(results['bbox_scale'], dtype=np.float32) * self.padding)
            return results
        if 'bbox' not in results:
            raise KeyError(f'GetBBoxCenterScale: the sample has no bbox (keys: {sorted(results)})')
        results['bbox_center'], results['bbox_scale'] = bbox_xyxy2cs(results['bbox'], self.padding)
        return results


@TRANSFORMS.register_module(['PoseRandomFlip', 'mmpose.RandomFlip'])
class PoseRandomFlip(BaseTransform):
    """Flip the image, the box and the keypoints (left and right swapped by ``flip_indices``) at random.

    ``type='RandomFlip'`` names it in configs with ``default_scope = 'mmpose'``. Place it before
    :class:`TopdownAffine`. These keys are pixel indices (MMPose's layout: pixel column ``j``'s centre is
    ``x = j``), so the flip is ``x -> W - 1 - x`` (:func:`visioncraft.data.geometric.mirror_coords`); left
    and right keypoints swap on a mirror, not on the diagonal flip (``flip_swaps_sides``).

    Args:
        prob: flip probability; a list gives one probability per direction (sum <= 1).
        direction: ``'horizontal'``, ``'vertical'``, ``'diagonal'`` or a list of them; with one ``prob``
            and several directions, ``prob`` is shared equally between them.

    Reads ``img``, ``flip_indices`` (needed when keypoints are present), ``bbox``, ``bbox_center``,
    ``keypoints``, ``keypoints_visible``, ``img_mask`` (those present). Sets ``flip`` (bool) and
    ``flip_direction`` (str or None).
    """

    def __init__(self, prob: float | Sequence[float] = 0.5, direction: str | Sequence[str] = 'horizontal') -> None:
        dirs = [direction] if isinstance(direction, str) else list(direction)
        for d in dirs:
            if d not in ('horizontal', 'vertical', 'diagonal'):
                raise ValueError(f"RandomFlip (pose): direction must be 'horizontal', 'vertical' or 'diagonal', "
                                 f'got {d!r}')
        if isinstance(prob, (int, float)):
            probs = [float(prob) / len(dirs)] * len(dirs)
        else:
            probs = [float(p) for p in prob]
        if len(probs) != len(dirs) or min(probs) < 0 or sum(probs) > 1 + 1e-9:
            raise ValueError(f'RandomFlip (pose): prob {prob!r} does not fit direction {direction!r} '
                             '(one probability per direction, summing to at most 1)')
        self.prob = prob
        self.direction = direction
        self._dirs, self._probs = dirs, probs

    def transform(self, results: dict) -> dict:
        chosen = choose_flip(results, self._dirs, self._probs)
        if chosen is None:
            return results
        img = results['img']
        h, w = img.shape[:2]
        axis = {'horizontal': (1,), 'vertical': (0,), 'diagonal': (0, 1)}[chosen]
        results['img'] = np.ascontiguousarray(np.flip(img, axis=axis))
        if results.get('img_mask') is not None:
            results['img_mask'] = np.ascontiguousarray(np.flip(results['img_mask'], axis=axis))
        if results.get('bbox') is not None:
            box = np.asarray(results['bbox'], dtype=np.float32).copy()
            if chosen in ('horizontal', 'diagonal'):
                box[..., [0, 2]] = mirror_coords(box[..., [2, 0]], w, pixel_index=True)
            if chosen in ('vertical', 'diagonal'):
                box[..., [1, 3]] = mirror_coords(box[..., [3, 1]], h, pixel_index=True)
            results['bbox'] = box
        if results.get('bbox_center') is not None:
            c = np.asarray(results['bbox_center'], dtype=np.float32).copy()
            if chosen in ('horizontal', 'diagonal'):
                c[..., 0] = mirror_coords(c[..., 0], w, pixel_index=True)
            if chosen in ('vertical', 'diagonal'):
                c[..., 1] = mirror_coords(c[..., 1], h, pixel_index=True)
            results['bbox_center'] = c
        if results.get('keypoints') is not None:
            if results.get('flip_indices') is None:
                raise KeyError('RandomFlip (pose): the sample has keypoints but no flip_indices (the dataset '
                               'metainfo provides them)')
            results['keypoints'], vis = flip_keypoints_np(
                np.asarray(results['keypoints'], dtype=np.float32), results.get('keypoints_visible'), (w, h),
                results['flip_indices'], chosen)
            if vis is not None:
                results['keypoints_visible'] = vis
        return results


@TRANSFORMS.register_module()
class RandomHalfBody(BaseTransform):
    """With probability ``prob``, re-centre the box on the upper or the lower body (MMPose's half-body
    augmentation).

    A person qualifies with at least ``min_total_keypoints`` visible keypoints. The upper body is chosen
    with probability ``upper_prioritized_prob`` when both halves have enough visible keypoints
    (``min_upper_keypoints`` / ``min_lower_keypoints``), else the half that has. The new ``bbox_center`` is the
    mean of the chosen visible keypoints and ``bbox_scale`` their extent times ``padding`` (TopdownAffine
    then fixes the aspect ratio). Reads ``keypoints``, ``keypoints_visible``, ``upper_body_ids``,
    ``lower_body_ids``; changes ``bbox_center`` / ``bbox_scale``.
    """

    def __init__(self, min_total_keypoints: int = 9, min_upper_keypoints: int = 2, min_lower_keypoints: int = 3,
                 padding: float = 1.5, prob: float = 0.3, upper_prioritized_prob: float = 0.7) -> None:
        self.min_total_keypoints = min_total_keypoints
        self.min_upper_keypoints = min_upper_keypoints
        self.min_lower_keypoints = min_lower_keypoints
        self.padding = padding
        self.prob = prob
        self.upper_prioritized_prob = upper_prioritized_prob

    def _choose(self, visible: np.ndarray, upper: Sequence[int], lower: Sequence[int]) -> list[int] | None:
        if visible.sum() < self.min_total_keypoints or np.random.rand() > self.prob:
            return None
        up = [i for i in upper if visible[i] > 0]
        low = [i for i in lower if visible[i] > 0]
        prefer_upper = np.random.rand() < self.upper_prioritized_prob
        up_ok, low_ok = len(up) >= self.min_upper_keypoints, len(low) >= self.min_lower_keypoints
        if not up_ok and not low_ok:
            return None
        if not low_ok:
            return up
        if not up_ok:
            return low
        return up if prefer_upper else low

    def transform(self, results: dict) -> dict:
        vis = np.asarray(results['keypoints_visible'])
        if vis.ndim == 3:
            vis = vis[..., 0]
        centers = np.array(results['bbox_center'], dtype=np.float32, copy=True)
        scales = np.array(results['bbox_scale'], dtype=np.float32, copy=True)
        for i, visible in enumerate(vis):
            ids = self._choose(visible, results['upper_body_ids'], results['lower_body_ids'])
            if ids is None:
                continue
            pts = np.asarray(results['keypoints'][i], dtype=np.float32)[ids]
            centers[i] = pts.mean(axis=0)
            scales[i] = (pts.max(axis=0) - pts.min(axis=0)) * self.padding
        results['bbox_center'], results['bbox_scale'] = centers, scales
        return results


def _truncnorm(size: tuple[int, ...]) -> np.ndarray:
    """Standard normal samples truncated to [-1, 1] (rejection sampling on NumPy's global RNG)."""
    out = np.random.standard_normal(size)
    bad = np.abs(out) > 1
    while bad.any():
        out[bad] = np.random.standard_normal(int(bad.sum()))
        bad = np.abs(out) > 1
    return out.astype(np.float32)


@TRANSFORMS.register_module()
class RandomBBoxTransform(BaseTransform):
    """Jitter the box: shift, rescale and rotate it at random (MMPose's top-down augmentation).

    Each factor is a standard normal truncated to [-1, 1]: the centre moves by ``shift_factor * scale *
    t`` (with probability ``shift_prob``), the scale is multiplied by ``mid + half * t`` where
    ``scale_factor = (lo, hi)`` (with probability ``scale_prob``), and ``bbox_rotation`` np.float32 (N,)
    degrees = ``rotate_factor * t`` (with probability ``rotate_prob``, else 0).
    """

    def __init__(self, shift_factor: float = 0.16, shift_prob: float = 0.3,
                 scale_factor: tuple[float, float] = (0.5, 1.5), scale_prob: float = 1.0,
                 rotate_factor: float = 80.0, rotate_prob: float = 0.6) -> None:
        if len(scale_factor) != 2 or scale_factor[0] > scale_factor[1]:
            raise ValueError(f'RandomBBoxTransform: scale_factor must be (low, high), got {scale_factor!r}')
        self.shift_factor = shift_factor
        self.shift_prob = shift_prob
        self.scale_factor = tuple(scale_factor)
        self.scale_prob = scale_prob
        self.rotate_factor = rotate_factor
        self.rotate_prob = rotate_prob

    def transform(self, results: dict) -> dict:
        scale = np.asarray(results['bbox_scale'], dtype=np.float32)
        n = scale.shape[0]
        t = _truncnorm((n, 4))
        offset = t[:, :2] * self.shift_factor
        offset = np.where(np.random.rand(n, 1) < self.shift_prob, offset, 0.0)
        lo, hi = self.scale_factor
        factor = t[:, 2:3] * (hi - lo) * 0.5 + (hi + lo) * 0.5
        factor = np.where(np.random.rand(n, 1) < self.scale_prob, factor, 1.0)
        rotate = t[:, 3] * self.rotate_factor
        rotate = np.where(np.random.rand(n) < self.rotate_prob, rotate, 0.0)
        results['bbox_center'] = (np.asarray(results['bbox_center'], dtype=np.float32)
                                  + offset * scale).astype(np.float32)
        results['bbox_scale'] = (scale * factor).astype(np.float32)
        results['bbox_rotation'] = rotate.astype(np.float32)
        return results
