"""Text-line direction classifier (PP-OCR's ``cls`` model): is a cropped text line upright (0) or upside down
(180)?"""
from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from visioncraft.models.assembly import assemble
from visioncraft.models.base import BaseModel
from visioncraft.registry import MODELS
from visioncraft.structures import DataSample

__all__ = ['TextClsHead', 'TextDirectionClassifier']


@MODELS.register_module()
class TextClsHead(nn.Module):
    """Global average pool -> linear to ``num_classes`` logits (PaddleOCR's ``ClsHead``).

    Input N x ``in_channels`` x H x W (or a tuple, last element used); output N x ``num_classes`` logits.
    """

    def __init__(self, *, in_channels: int, num_classes: int = 2, init_cfg: dict | None = None) -> None:
        super().__init__()
        self.fc = nn.Linear(in_channels, num_classes)
        self.in_channels, self.num_classes = in_channels, num_classes

    def forward(self, x) -> torch.Tensor:
        if isinstance(x, (list, tuple)):
            x = x[-1]
        return self.fc(F.adaptive_avg_pool2d(x, 1).flatten(1))


@MODELS.register_module()
class TextDirectionClassifier(BaseModel):
    """Backbone -> :class:`TextClsHead`: the angle class of a text-line crop.

    Args:
        backbone: config or module (PP-OCR mobile v2.0: ``PPMobileNetV3(model_name='small', scale=0.35)``).
        head: :class:`TextClsHead` config; ``in_channels`` filled from the backbone.
        labels: the class names, index order (PaddleOCR's ``label_list``: ``('0', '180')``).
        data_preprocessor: default: ``(x - 127.5) / 127.5`` per channel, channels as given (PaddleOCR feeds
            the BGR crop as is), the batch padded to its widest crop.

    ``forward(inputs, data_samples, mode)``, ``inputs`` float N x 3 x 48 x 192 (PaddleOCR resizes a crop to height
    48 keeping its aspect ratio up to width 192 and pads the rest with zeros):

    * ``'loss'``: ``dict(loss_cls, acc)`` (cross entropy); samples need ``gt_label`` (int64 tensor of 1 index).
    * ``'predict'``: samples with ``pred_label`` (int64 tensor of 1), ``pred_score`` (float32 ``num_classes``
      probabilities) and ``pred_label_name`` (``labels[pred_label]``).
    * ``'tensor'``: N x ``num_classes`` softmax probabilities (what PaddleOCR's inference graph outputs).
    """

    def __init__(self, *, backbone: dict | nn.Module, head: dict | nn.Module | None = None,
                 labels: Sequence[str] = ('0', '180'), data_preprocessor: dict | nn.Module | None = None,
                 init_cfg: dict | None = None) -> None:
        super().__init__(data_preprocessor=data_preprocessor or dict(
            type='ImgDataPreprocessor', mean=[127.5] * 3, std=[127.5] * 3, bgr_to_rgb=False), init_cfg=init_cfg)
        self.labels = [str(lb) for lb in labels]
        head = head if head is not None else dict(type='TextClsHead')
        if isinstance(head, dict):
            head = dict(head)
            head.setdefault('num_classes', len(self.labels))
            if head['num_classes'] != len(self.labels):
                raise ValueError(f'TextDirectionClassifier: head.num_classes={head["num_classes"]} but labels has '
                                 f'{len(self.labels)} names ({self.labels})')
        parts = assemble('TextDirectionClassifier', backbone=backbone, head=head, head_takes='last')
        self.backbone, self.head = parts.backbone, parts.head

    def forward(self, inputs: torch.Tensor, data_samples: list | None = None, mode: str = 'tensor'):
        if mode not in ('loss', 'predict', 'tensor'):
            raise ValueError(f"TextDirectionClassifier: mode must be 'loss', 'predict' or 'tensor', got {mode!r}")
        logits = self.head(self.backbone(inputs))
        if mode == 'tensor':
            return logits.float().softmax(-1)
        if mode == 'loss':
            if not data_samples or any('gt_label' not in s for s in data_samples):
                raise ValueError("TextDirectionClassifier mode='loss' needs data_samples with gt_label")
            target = torch.cat([torch.as_tensor(s.gt_label).reshape(1) for s in data_samples]).long()
            target = target.to(logits.device)
            return dict(loss_cls=F.cross_entropy(logits.float(), target),
                        acc=(logits.argmax(1) == target).float().mean())
        scores = logits.float().softmax(-1).detach()
        if data_samples is None:
            data_samples = [DataSample() for _ in range(len(inputs))]
        for s, p in zip(data_samples, scores):
            label = int(p.argmax())
            s.pred_score = p
            s.pred_label = torch.tensor([label])
            s.pred_label_name = self.labels[label]
        return data_samples
