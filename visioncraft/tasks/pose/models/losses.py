"""Losses of the top-down pose heads (MMPose's names and arguments).

The heatmap losses take ``output`` and ``target`` heatmaps float ``(B, K, H, W)`` (``(B, K*3, H, W)`` for
:class:`CombinedTargetMSELoss`) and per-keypoint ``target_weights`` float ``(B, K)`` (the
codec's ``keypoint_weights``: 0 for a keypoint that is not labelled or falls outside the input, optionally multiplied
by the dataset's keypoint weights) and return a scalar tensor. :class:`BCELoss` is the keypoint-visibility loss.
"""
from __future__ import annotations

import torch
from torch import nn

from visioncraft.registry import MODELS

__all__ = ['KeypointMSELoss', 'KeypointOHKMMSELoss', 'CombinedTargetMSELoss', 'BCELoss']


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


@MODELS.register_module()
class CombinedTargetMSELoss(nn.Module):
    """MSE for UDP's combined targets (``UDPHeatmap(heatmap_type='combined')``): per keypoint a disk map and the
    x / y offset maps from each pixel to the keypoint (Huang et al., CVPR 2020).

    Channels are ``(B, K*3, H, W)``, keypoint ``k`` at ``3k`` (disk), ``3k+1`` (x offset), ``3k+2`` (y offset).
    With ``g = target_disk * w`` and ``w = target_weights[b, k]`` (1 without ``use_target_weight``)::

        loss_k = 0.5 * mean((w * pred_disk - g) ** 2)
               + 0.5 * mean((g * (pred_ox - target_ox)) ** 2) + 0.5 * mean((g * (pred_oy - target_oy)) ** 2)
        loss   = loss_weight * mean_k(loss_k)

    each ``mean`` over the batch and the H*W pixels. The offsets count only inside the (weighted) target disk,
    so they are learnt where the decoder reads them. (MMPose's formula, written out.)

    Args:
        use_target_weight: weight each keypoint by its ``target_weights`` entry (squared in the disk term, as
            both maps are multiplied by it; the offset terms see it through ``g``).
        loss_weight: factor applied to the result.
    """

    def __init__(self, use_target_weight: bool = False, loss_weight: float = 1.0) -> None:
        super().__init__()
        self.use_target_weight = use_target_weight
        self.loss_weight = loss_weight

    def forward(self, output: torch.Tensor, target: torch.Tensor,
                target_weights: torch.Tensor | None = None) -> torch.Tensor:
        """``output``, ``target`` float (B, K*3, H, W); ``target_weights`` float (B, K). Returns a scalar."""
        if output.shape != target.shape:
            raise ValueError(f'CombinedTargetMSELoss: output {tuple(output.shape)} and target '
                             f'{tuple(target.shape)} differ in shape')
        if output.dim() != 4 or output.shape[1] % 3:
            raise ValueError('CombinedTargetMSELoss: output must be (B, K*3, H, W) (disk, x offset, y offset per '
                             f'keypoint: the UDPHeatmap combined codec), got {tuple(output.shape)}')
        B, C, H, W = output.shape
        K = C // 3
        pred = output.reshape(B, K, 3, H * W)
        gt = target.reshape(B, K, 3, H * W).to(pred.dtype)
        pred_disk, gt_disk = pred[:, :, 0], gt[:, :, 0]                  # (B, K, HW)
        if self.use_target_weight:
            if target_weights is None or tuple(target_weights.shape) != (B, K):
                raise ValueError(f'CombinedTargetMSELoss(use_target_weight=True) needs target_weights (B, K) = '
                                 f'{(B, K)}, got {None if target_weights is None else tuple(target_weights.shape)}')
            w = target_weights.to(pred.dtype)[:, :, None]
            pred_disk, gt_disk = pred_disk * w, gt_disk * w
        per_kpt = 0.5 * ((pred_disk - gt_disk) ** 2).mean(dim=(0, 2))   # (K,)
        for c in (1, 2):
            per_kpt = per_kpt + 0.5 * ((gt_disk * (pred[:, :, c] - gt[:, :, c])) ** 2).mean(dim=(0, 2))
        return per_kpt.mean() * self.loss_weight


@MODELS.register_module()
class BCELoss(nn.Module):
    """Binary cross-entropy, per element, optionally weighted (MMPose's ``BCELoss``; the visibility loss of
    :class:`VisPredictHead`).

    Args:
        use_target_weight: multiply each element's loss by ``target_weight`` ((N, K), or (N,) for a per-row weight).
        loss_weight: factor applied to the result.
        reduction: ``'mean'``, ``'sum'`` or ``'none'``.
        use_sigmoid: True when ``output`` is already a probability in [0, 1] (a sigmoid ran before); False when it
            is a logit (the sigmoid runs inside, numerically stable).
    """

    def __init__(self, use_target_weight: bool = False, loss_weight: float = 1.0, reduction: str = 'mean',
                 use_sigmoid: bool = False) -> None:
        super().__init__()
        if reduction not in ('mean', 'sum', 'none'):
            raise ValueError(f"BCELoss: reduction must be 'mean', 'sum' or 'none', got {reduction!r}")
        self.use_target_weight = use_target_weight
        self.loss_weight = loss_weight
        self.reduction = reduction
        self.use_sigmoid = use_sigmoid

    def forward(self, output: torch.Tensor, target: torch.Tensor,
                target_weight: torch.Tensor | None = None) -> torch.Tensor:
        """``output`` and ``target`` float (N, K) (target in [0, 1]); ``target_weight`` (N, K) or (N,)."""
        if output.shape != target.shape:
            raise ValueError(f'BCELoss: output {tuple(output.shape)} and target {tuple(target.shape)} differ')
        target = target.to(output.dtype)
        if self.use_sigmoid:
            loss = nn.functional.binary_cross_entropy(output, target, reduction='none')
        else:
            loss = nn.functional.binary_cross_entropy_with_logits(output, target, reduction='none')
        if self.use_target_weight:
            if target_weight is None:
                raise ValueError('BCELoss(use_target_weight=True) needs target_weight')
            w = target_weight.to(output.dtype)
            loss = loss * (w[:, None] if w.dim() == 1 and loss.dim() == 2 else w)
        if self.reduction == 'sum':
            loss = loss.sum()
        elif self.reduction == 'mean':
            loss = loss.mean()
        return loss * self.loss_weight
