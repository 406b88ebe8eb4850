"""Heatmap losses of the top-down pose heads (MMPose's names and arguments).

Both take ``output`` and ``target`` heatmaps float ``(B, K, H, W)`` and per-keypoint ``target_weights`` float
``(B, K)`` (the codec's ``keypoint_weights``: 0 for a keypoint that is not labelled or falls outside the input,
optionally multiplied by the dataset's keypoint weights) and return a scalar tensor.
"""
from __future__ import annotations

import torch
from torch import nn

from visioncraft.registry import MODELS

__all__ = ['KeypointMSELoss', 'KeypointOHKMMSELoss']


def _check_shapes(name: str, output: torch.Tensor, target: torch.Tensor,
                  target_weights: torch.Tensor | None) -> None:
    if output.shape != target.shape:
        raise ValueError(f'{name}: output {tuple(output.shape)} and target {tuple(target.shape)} differ in shape')
    if target_weights is not None and (target_weights.dim() != 2 or target_weights.shape != target.shape[:2]):
        raise ValueError(f'{name}: target_weights must be (B, K) = {tuple(target.shape[:2])}, '
                         f'got {tuple(target_weights.shape)}')


@MODELS.register_module()
class KeypointMSELoss(nn.Module):
    """Mean squared error between predicted and target heatmaps, masked per keypoint.

    ``loss = loss_weight * mean_{b,k,y,x}(mask * (output - target) ** 2)`` where ``mask`` is the product of
    ``target_weights[b, k]`` (with ``use_target_weight``), the optional pixel ``mask`` and, with
    ``skip_empty_channel``, ``[target[b, k] has a non-zero pixel]``. The mean runs over all B*K*H*W elements
    (masked ones count as zeros), as MMPose 1.x computes it (no 0.5 factor, weights not squared).

    Args:
        use_target_weight: multiply each keypoint's squared errors by its ``target_weights`` entry.
        skip_empty_channel: ignore (weight 0) heatmap channels whose target is all zeros.
        loss_weight: factor applied to the result.
    """

    def __init__(self, use_target_weight: bool = False, skip_empty_channel: bool = False,
                 loss_weight: float = 1.0) -> None:
        super().__init__()
        self.use_target_weight = use_target_weight
        self.skip_empty_channel = skip_empty_channel
        self.loss_weight = loss_weight

    def forward(self, output: torch.Tensor, target: torch.Tensor, target_weights: torch.Tensor | None = None,
                mask: torch.Tensor | None = None) -> torch.Tensor:
        """Args:
            output, target: float (B, K, H, W).
            target_weights: float (B, K) or None (used with ``use_target_weight``).
            mask: float/bool (B, K, H, W), (B, 1, H, W) or any shape broadcastable to the target with the same
                number of dimensions; 0 marks pixels to ignore.
        Returns: scalar tensor.
        """
        _check_shapes('KeypointMSELoss', output, target, target_weights if self.use_target_weight else None)
        weight = None
        if mask is not None:
            if mask.dim() != target.dim() or any(m not in (1, t) for m, t in zip(mask.shape, target.shape)):
                raise ValueError(f'KeypointMSELoss: mask {tuple(mask.shape)} does not broadcast to the target '
                                 f'{tuple(target.shape)}')
            weight = mask.to(output.dtype)
        if self.use_target_weight and target_weights is not None:
            w = target_weights.to(output.dtype).reshape(*target_weights.shape, *([1] * (target.dim() - 2)))
            weight = w if weight is None else weight * w
        if self.skip_empty_channel:
            nonempty = (target != 0).flatten(2).any(dim=2).to(output.dtype)
            nonempty = nonempty.reshape(*nonempty.shape, *([1] * (target.dim() - 2)))
            weight = nonempty if weight is None else weight * nonempty
        sq = (output - target) ** 2
        if weight is not None:
            sq = sq * weight
        return sq.mean() * self.loss_weight


@MODELS.register_module()
class KeypointOHKMMSELoss(nn.Module):
    """MSE with online hard keypoint mining (Chen et al., CPN 2018): per sample, the mean of the ``topk``
    largest per-keypoint losses, averaged over the batch.

    Per-keypoint loss: ``mean_{y,x}((w * output - w * target) ** 2)`` with ``w = target_weights[b, k]`` when
    ``use_target_weight`` (so the weight enters squared, as in MMPose).

    Args:
        use_target_weight: weight the heatmaps by ``target_weights``.
        topk: number of hardest keypoints kept per sample (>= 1, at most K).
        loss_weight: factor applied to the result.
    """

    def __init__(self, use_target_weight: bool = False, topk: int = 8, loss_weight: float = 1.0) -> None:
        super().__init__()
        if int(topk) < 1:
            raise ValueError(f'KeypointOHKMMSELoss: topk must be >= 1, got {topk}')
        self.use_target_weight = use_target_weight
        self.topk = int(topk)
        self.loss_weight = loss_weight

    def forward(self, output: torch.Tensor, target: torch.Tensor,
                target_weights: torch.Tensor | None = None) -> torch.Tensor:
        """``output``, ``target`` float (B, K, H, W); ``target_weights`` float (B, K). Returns a scalar."""
        _check_shapes('KeypointOHKMMSELoss', output, target, target_weights if self.use_target_weight else None)
        if output.shape[1] < self.topk:
            raise ValueError(f'KeypointOHKMMSELoss: topk ({self.topk}) is larger than the number of keypoints '
                             f'({output.shape[1]})')
        if self.use_target_weight:
            if target_weights is None:
                raise ValueError('KeypointOHKMMSELoss(use_target_weight=True) needs target_weights (B, K)')
            w = target_weights.to(output.dtype)[:, :, None, None]
            output, target = output * w, target * w
        per_kpt = ((output - target) ** 2).flatten(2).mean(dim=2)          # (B, K)
        hardest = per_kpt.topk(self.topk, dim=1, sorted=False).values     # (B, topk)
        return hardest.mean() * self.loss_weight
