"""Training-time keypoint accuracy (``acc_pose`` in the loss log), computed on the tensors' device.

MMPose logs ``acc_pose``: PCK at 0.05 between the arg-max locations of the predicted and target heatmaps,
normalised by the heatmap size. This is the same quantity, vectorised in torch (no numpy round trip, no loop).
"""
from __future__ import annotations

import torch

__all__ = ['heatmap_argmax', 'keypoint_pck_accuracy', 'heatmap_pck_accuracy']


def heatmap_argmax(heatmaps: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Integer (x, y) of each heatmap's maximum and the maximum value.

    Args:
        heatmaps: float (B, K, H, W).
    Returns:
        locations float (B, K, 2) in heatmap pixels (x, y), -1 where the maximum is <= 0 (an empty target);
        values float (B, K).
    """
    b, k, _, w = heatmaps.shape
    vals, idx = heatmaps.flatten(2).max(dim=2)
    locs = torch.stack([idx % w, torch.div(idx, w, rounding_mode='floor')], dim=-1).to(heatmaps.dtype)
    locs = torch.where((vals > 0)[..., None], locs, torch.full_like(locs, -1.0))
    return locs, vals


def keypoint_pck_accuracy(pred: torch.Tensor, gt: torch.Tensor, mask: torch.Tensor, thr: float,
                          norm_factor: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """PCK per keypoint and averaged.

    Args:
        pred, gt: float (N, K, 2) keypoint coordinates.
        mask: bool (N, K): which ground-truth keypoints count.
        thr: a keypoint is correct when its normalised distance is below ``thr``.
        norm_factor: float (N, 2), divides the coordinate differences (a row with a zero entry drops that
            instance).
    Returns:
        acc float (K,) (-1 for a keypoint with no valid instance), avg_acc float scalar (mean over keypoints
        with a valid instance; 0 when none), cnt int64 scalar (number of such keypoints).
    """
    mask = mask.bool() & (norm_factor > 0).all(dim=1, keepdim=True)
    norm = torch.where(norm_factor > 0, norm_factor, torch.full_like(norm_factor, 1e6)).to(pred.dtype)
    dist = ((pred - gt) / norm[:, None, :]).norm(dim=-1)                     # (N, K)
    valid = mask.sum(dim=0)                                                 # (K,)
    hits = ((dist < thr) & mask).sum(dim=0)
    has = valid > 0
    acc = torch.where(has, hits.to(pred.dtype) / valid.clamp(min=1).to(pred.dtype), torch.full_like(
        hits, -1, dtype=pred.dtype))
    cnt = has.sum()
    avg = torch.where(cnt > 0, (acc * has).sum() / cnt.clamp(min=1), torch.zeros((), dtype=pred.dtype,
                                                                               device=pred.device))
    return acc, avg, cnt


@torch.no_grad()
def heatmap_pck_accuracy(output: torch.Tensor, target: torch.Tensor, mask: torch.Tensor,
                         thr: float = 0.05) -> torch.Tensor:
    """``acc_pose``: PCK@``thr`` between the arg-max locations of ``output`` and ``target`` heatmaps.

    Args:
        output, target: float (B, K, H, W).
        mask: bool (B, K) (``keypoint_weights > 0``).
    Returns: float scalar tensor on the heatmaps' device.

    The distances are divided by ``(H, W)`` as MMPose's ``pose_pck_accuracy`` does: the x difference by the
    heatmap height and the y difference by its width (so the logged values match MMPose's).
    """
    b, _, h, w = output.shape
    pred, _ = heatmap_argmax(output.detach().float())
    gt, _ = heatmap_argmax(target.float())
    norm = torch.tensor([[h, w]], dtype=torch.float32, device=output.device).expand(b, 2)
    return keypoint_pck_accuracy(pred, gt, mask, thr, norm)[1]
