"""Distance-based keypoint accuracy functions (PCK, AUC, EPE, NME), numpy, N instances of K keypoints.

Shared arguments: ``pred`` and ``gt`` float (N, K, 2) pixel coordinates; ``mask`` bool (N, K), True where the
ground-truth keypoint is labelled (only those count); ``norm_factor`` float (N, 2), the per-instance x / y
normaliser (an instance whose normaliser has a zero is left out).
"""
from __future__ import annotations

import numpy as np

__all__ = ['keypoint_distances', 'keypoint_pck_accuracy', 'keypoint_auc', 'keypoint_epe', 'keypoint_nme']


def keypoint_distances(pred: np.ndarray, gt: np.ndarray, mask: np.ndarray, norm_factor: np.ndarray) -> np.ndarray:
    """Normalised distances ``|| (pred - gt) / norm_factor ||``, (K, N) float64, -1 where not counted."""
    pred = np.asarray(pred, dtype=np.float64)
    gt = np.asarray(gt, dtype=np.float64)
    mask = np.asarray(mask, dtype=bool).copy()
    norm = np.asarray(norm_factor, dtype=np.float64).reshape(-1, 2)
    if pred.shape != gt.shape or pred.ndim != 3 or pred.shape[-1] != 2 or mask.shape != pred.shape[:2] \
            or len(norm) != len(pred):
        raise ValueError(f'keypoint_distances: pred {pred.shape} and gt {gt.shape} must be (N, K, 2), mask '
                         f'{mask.shape} (N, K) and norm_factor {norm.shape} (N, 2)')
    mask[(norm <= 0).any(axis=1)] = False
    safe = np.where(norm > 0, norm, 1.0)
    dist = np.linalg.norm((pred - gt) / safe[:, None, :], axis=-1)
    return np.where(mask, dist, -1.0).T


def _accuracy_per_keypoint(distances: np.ndarray, thr: float) -> np.ndarray:
    """Share of counted instances within ``thr``, per keypoint (K,); -1 for a keypoint never counted."""
    valid = distances != -1
    n = valid.sum(axis=1)
    hits = ((distances < thr) & valid).sum(axis=1)
    return np.where(n > 0, hits / np.maximum(n, 1), -1.0)


def keypoint_pck_accuracy(pred: np.ndarray, gt: np.ndarray, mask: np.ndarray, thr: float,
                          norm_factor: np.ndarray) -> tuple[np.ndarray, float, int]:
    """PCK: a keypoint is correct when its normalised distance is < ``thr``.

    Returns:
        ``(acc (K,) per keypoint, -1 for keypoints never counted; average over the counted keypoints (0.0
        when none); number of counted keypoints)``. The average is over keypoints, not over all points.
    """
    acc = _accuracy_per_keypoint(keypoint_distances(pred, gt, mask, norm_factor), thr)
    counted = acc[acc >= 0]
    return acc, float(counted.mean()) if len(counted) else 0.0, int(len(counted))


def keypoint_auc(pred: np.ndarray, gt: np.ndarray, mask: np.ndarray, norm_factor: float,
                 num_thrs: int = 20) -> float:
    """Area under the PCK curve for thresholds ``0, 1/num_thrs, ..., (num_thrs-1)/num_thrs`` of a fixed
    pixel normaliser ``norm_factor``: ``mean_t PCK(t)``."""
    norm = np.full((len(pred), 2), float(norm_factor))
    distances = keypoint_distances(pred, gt, mask, norm)
    total = 0.0
    for i in range(num_thrs):
        acc = _accuracy_per_keypoint(distances, i / num_thrs)
        counted = acc[acc >= 0]
        total += float(counted.mean()) if len(counted) else 0.0
    return total / num_thrs


def keypoint_epe(pred: np.ndarray, gt: np.ndarray, mask: np.ndarray) -> float:
    """End-point error: the mean pixel distance over all counted keypoints (0.0 when none)."""
    d = keypoint_distances(pred, gt, mask, np.ones((len(pred), 2)))
    d = d[d != -1]
    return float(d.sum() / max(1, len(d)))


def keypoint_nme(pred: np.ndarray, gt: np.ndarray, mask: np.ndarray, norm_factor: np.ndarray) -> float:
    """Normalised mean error: the mean normalised distance over all counted keypoints (0.0 when none)."""
    d = keypoint_distances(pred, gt, mask, norm_factor)
    d = d[d != -1]
    return float(d.sum() / max(1, len(d)))
