"""TinyClassifier: a small CNN image classifier, the engine's demo model."""
from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ..registry import MODELS
from ..structures import DataSample
from .base import BaseModel

__all__ = ['TinyClassifier']


@MODELS.register_module()
class TinyClassifier(BaseModel):
    """Stages of ``depth`` conv-norm-ReLU blocks (the last one of each stage has stride 2) -> global
    pool (average or max) -> dropout -> linear.

    Args:
        num_classes: number of classes.
        in_channels: input channels.
        widths: output channels of each stage.
        depth: 3x3 convolutions per stage.
        pool: ``'avg'`` or ``'max'`` global pooling (max keeps small local evidence, e.g. a corner).
        norm: ``'bn'`` (BatchNorm), ``'gn'`` (GroupNorm, 8 groups) or ``'none'``.
        dropout: dropout before the classifier.
    Forward: ``inputs`` NxCxHxW float; ``'loss'`` -> ``dict(loss_cls, acc)``; ``'predict'`` -> the data
    samples with ``pred_label`` (1 long) and ``pred_score`` (num_classes probabilities); ``'tensor'`` -> logits.
    """

    def __init__(self, *, num_classes: int, in_channels: int = 3, widths: Sequence[int] = (16, 32, 64),
                 depth: int = 2, pool: str = 'avg', norm: str = 'bn', dropout: float = 0.0, data_preprocessor: dict | None = None,
                 init_cfg: dict | None = None) -> None:
        super().__init__(data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        if norm not in ('bn', 'gn', 'none'):
            raise ValueError(f"TinyClassifier norm must be 'bn', 'gn' or 'none', got {norm!r}")
        layers: list[nn.Module] = []
        c = in_channels
        if pool not in ('avg', 'max'):
            raise ValueError(f"TinyClassifier pool must be 'avg' or 'max', got {pool!r}")
        self.pool = pool
        if depth < 1:
            raise ValueError(f'TinyClassifier depth must be >= 1, got {depth}')
        for w in widths:
            for d in range(depth):
                layers.append(nn.Conv2d(c, w, 3, stride=2 if d == depth - 1 else 1, padding=1,
                                        bias=norm == 'none'))
                if norm == 'bn':
                    layers.append(nn.BatchNorm2d(w))
                elif norm == 'gn':
                    layers.append(nn.GroupNorm(min(8, w), w))
                layers.append(nn.ReLU(inplace=True))
                c = w
        self.backbone = nn.Sequential(*layers)
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(c, num_classes)

    def forward(self, inputs: torch.Tensor, data_samples: list | None = None, mode: str = 'tensor'):
        fmap = self.backbone(inputs)
        feats = fmap.amax(dim=(2, 3)) if self.pool == 'max' else fmap.mean(dim=(2, 3))
        logits = self.head(self.dropout(feats))
        if mode == 'tensor':
            return logits
        if mode == 'loss':
            if not data_samples:
                raise ValueError("TinyClassifier mode='loss' needs data_samples with gt_label")
            target = torch.cat([s.gt_label for s in data_samples]).to(logits.device)
            loss = F.cross_entropy(logits.float(), target)
            acc = (logits.argmax(1) == target).float().mean()
            return dict(loss_cls=loss, acc=acc)
        if mode == 'predict':
            scores = logits.float().softmax(1)
            out = []
            for i, s in enumerate(data_samples or [None] * len(logits)):
                if s is None:
                    s = DataSample()
                s.pred_score = scores[i].detach()
                s.pred_label = scores[i].argmax().reshape(1)
                out.append(s)
            return out
        raise ValueError(f"mode must be 'loss', 'predict' or 'tensor', got {mode!r}")
