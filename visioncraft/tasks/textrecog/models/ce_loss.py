"""CEModuleLoss: per-token cross entropy of an attention decoder's teacher-forced outputs (MMOCR's name)."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from visioncraft.registry import MODELS

__all__ = ['CEModuleLoss']

_REDUCTIONS = ('none', 'mean', 'sum')


@MODELS.register_module()
class CEModuleLoss(nn.Module):
    """Cross entropy between the decoder's per-step logits and the encoded label tokens.

    Args:
        ignore_first_char: compare output ``t`` with token ``t + 1`` (drop the first target token, the start
            token, and the last output): the usual setting for decoders fed ``[<BOS>, c1, ...]``.
        ignore_char: ``'padding'`` (default): the positions after each label's end token are left out (whatever
            token fills them: ``<PAD>`` or ``<EOS>``); ``'none'``: every position counts; an int: additionally
            leave out every target equal to that token index.
        flatten: with ``reduction='none'``, return the per-token losses as one flat vector (N * T') instead of
            N x T'. (MMOCR's flag; the mean and the sum do not depend on it.)
        reduction: ``'mean'`` (over the counted tokens), ``'sum'`` or ``'none'`` (0 at left-out positions).
        label_smoothing: as in ``F.cross_entropy``.
        loss_weight: multiplies the loss.

    Forward: ``logits`` float N x T x C, ``targets`` int64 N x T (the codec's padded tokens), ``lengths``
    int64 N (tokens before the padding, start and end included; None: no padding). Returns the loss.
    """

    def __init__(self, ignore_first_char: bool = False, ignore_char: str | int = 'padding', flatten: bool = False,
                 reduction: str = 'mean', label_smoothing: float = 0.0, loss_weight: float = 1.0) -> None:
        super().__init__()
        if reduction not in _REDUCTIONS:
            raise ValueError(f'CEModuleLoss: reduction must be one of {_REDUCTIONS}, got {reduction!r}')
        if not isinstance(ignore_char, int) and ignore_char not in ('padding', 'none'):
            raise ValueError(f"CEModuleLoss: ignore_char must be 'padding', 'none' or a token index, got "
                             f'{ignore_char!r}')
        self.ignore_first_char, self.ignore_char, self.flatten = bool(ignore_first_char), ignore_char, bool(flatten)
        self.reduction, self.label_smoothing, self.loss_weight = reduction, float(label_smoothing), float(loss_weight)

    def forward(self, logits: torch.Tensor, targets: torch.Tensor, lengths: torch.Tensor | None = None
                ) -> torch.Tensor:
        if logits.dim() != 3 or targets.shape != logits.shape[:2]:
            raise ValueError(f'CEModuleLoss: expected N x T x C logits and N x T targets, got '
                             f'{tuple(logits.shape)} and {tuple(targets.shape)}')
        n, t = targets.shape
        pos = torch.arange(t, device=targets.device).expand(n, t)
        keep = torch.ones_like(targets, dtype=torch.bool)
        if self.ignore_char == 'padding' and lengths is not None:
            keep = pos < lengths.to(targets.device)[:, None]
        elif isinstance(self.ignore_char, int):
            keep = targets != self.ignore_char
            if lengths is not None:
                keep &= pos < lengths.to(targets.device)[:, None]
        if self.ignore_first_char:
            logits, targets, keep = logits[:, :-1], targets[:, 1:], keep[:, 1:]
        per_token = F.cross_entropy(logits.float().transpose(1, 2), targets, reduction='none',
                                    label_smoothing=self.label_smoothing) * keep
        if self.reduction == 'mean':
            loss = per_token.sum() / keep.sum().clamp(min=1)
        elif self.reduction == 'sum':
            loss = per_token.sum()
        else:
            loss = per_token.reshape(-1) if self.flatten else per_token
        return loss * self.loss_weight
