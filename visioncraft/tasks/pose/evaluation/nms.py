"""Object keypoint similarity (OKS) and OKS-based non-maximum suppression of pose instances, in numpy.

OKS of two poses ``g`` and ``d`` (K keypoints, areas ``a_g``, ``a_d``) as COCO defines it::

    e_k = ((x_g - x_d)^2 + (y_g - y_d)^2) / (2 sigma_k)^2 / ((a_g + a_d) / 2 + eps) / 2
    OKS = mean_k exp(-e_k)        (over the keypoints whose scores are both > vis_thr, when vis_thr is given)
"""
from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ['oks_matrix', 'oks_iou', 'oks_nms', 'soft_oks_nms']

_EPS = np.spacing(1)


def oks_matrix(keypoints: np.ndarray, areas: np.ndarray, sigmas: Any,
               vis_thr: float | None = None) -> np.ndarray:
    """Pairwise OKS of N poses.

    Args:
        keypoints: (N, K, 2) pixel coordinates, or (N, K, 3) with a per-keypoint score in the last column
            (used by ``vis_thr``).
        areas: (N,) instance areas in square pixels.
        sigmas: (K,) per-keypoint OKS sigmas.
        vis_thr: when given, only keypoints whose scores are > ``vis_thr`` in both poses count; a pair with
            none has OKS 0.

    Returns:
        float64 (N, N), symmetric.
    """
    kpts = np.asarray(keypoints, dtype=np.float64)
    sigmas = np.asarray(sigmas, dtype=np.float64).reshape(-1)
    if kpts.ndim != 3 or kpts.shape[-1] not in (2, 3) or kpts.shape[1] != len(sigmas):
        raise ValueError(f'oks_matrix: keypoints must be (N, K, 2|3) with K = len(sigmas) = {len(sigmas)}, got '
                         f'{kpts.shape}')
    areas = np.asarray(areas, dtype=np.float64).reshape(-1)
    var = (2 * sigmas) ** 2
    d2 = ((kpts[:, None, :, :2] - kpts[None, :, :, :2]) ** 2).sum(-1)  # (N, N, K)
    scale = (areas[:, None] + areas[None, :]) / 2 + _EPS
    e = d2 / var / scale[..., None] / 2
    sim = np.exp(-e)
    if vis_thr is None:
        return sim.mean(-1)
    if kpts.shape[-1] != 3:
        raise ValueError('oks_matrix: vis_thr needs keypoints (N, K, 3) with scores in the last column')
    vis = kpts[..., 2] > vis_thr
    both = vis[:, None, :] & vis[None, :, :]
    count = both.sum(-1)
    return np.where(count > 0, (sim * both).sum(-1) / np.maximum(count, 1), 0.0)


def oks_iou(g: np.ndarray, d: np.ndarray, a_g: float, a_d: np.ndarray, sigmas: Any,
            vis_thr: float | None = None) -> np.ndarray:
    """OKS between one pose ``g`` (K, 2|3) of area ``a_g`` and poses ``d`` (M, K, 2|3) of areas ``a_d`` (M,)."""
    kpts = np.concatenate([np.asarray(g, dtype=np.float64)[None], np.asarray(d, dtype=np.float64)], axis=0)
    areas = np.concatenate([[float(a_g)], np.asarray(a_d, dtype=np.float64).reshape(-1)])
    return oks_matrix(kpts, areas, sigmas, vis_thr)[0, 1:]


def _unpack(instances: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(keypoints (N, K, 2|3), scores (N,), areas (N,)) from a list of dicts with ``keypoints``, ``score``,
    ``area``."""
    if not len(instances):
        return np.zeros((0, 0, 2)), np.zeros(0), np.zeros(0)
    kpts = np.stack([np.asarray(p['keypoints'], dtype=np.float64) for p in instances])
    scores = np.asarray([float(p['score']) for p in instances])
    areas = np.asarray([float(p['area']) for p in instances])
    return kpts, scores, areas


def oks_nms(instances: list[dict], thr: float, sigmas: Any, vis_thr: float | None = None) -> np.ndarray:
    """Greedy OKS NMS: keep the best-scoring pose, drop every other pose with OKS > ``thr`` to it, repeat.

    Args:
        instances: dicts with ``keypoints`` (K, 2|3), ``score`` (float) and ``area`` (float, px^2).
        thr: OKS above which a lower-scoring pose is suppressed.
        sigmas, vis_thr: see :func:`oks_matrix`.

    Returns:
        int64 indices into ``instances`` of the kept poses, best score first.
    """
    kpts, scores, areas = _unpack(instances)
    if len(scores) == 0:
        return np.zeros(0, dtype=np.int64)
    oks = oks_matrix(kpts, areas, sigmas, vis_thr)
    order = scores.argsort()[::-1]
    suppressed = np.zeros(len(scores), dtype=bool)
    keep = []
    for i in order:
        if suppressed[i]:
            continue
        keep.append(i)
        suppressed |= oks[i] > thr
    return np.asarray(keep, dtype=np.int64)


def soft_oks_nms(instances: list[dict], thr: float, sigmas: Any, vis_thr: float | None = None,
                 max_dets: int = 20) -> np.ndarray:
    """Soft OKS NMS (Gaussian rescoring): take the best pose, multiply the others' scores by
    ``exp(-OKS^2 / thr)``, re-rank, repeat until ``max_dets`` poses are taken.

    No pose is dropped for a low score; the rescored values only decide the order and which ``max_dets``
    survive (the instances keep their own scores, as in MMPose).

    Returns:
        int64 indices into ``instances`` of the kept poses, in the order they were taken.
    """
    kpts, scores, areas = _unpack(instances)
    if len(scores) == 0:
        return np.zeros(0, dtype=np.int64)
    oks = oks_matrix(kpts, areas, sigmas, vis_thr)
    order = scores.argsort()[::-1]
    current = scores[order]
    keep = []
    while len(order) and len(keep) < max_dets:
        i = order[0]
        keep.append(i)
        order = order[1:]
        current = current[1:] * np.exp(-oks[i, order] ** 2 / thr)
        rank = current.argsort()[::-1]
        order, current = order[rank], current[rank]
    return np.asarray(keep, dtype=np.int64)
