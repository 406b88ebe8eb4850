"""CTCHead: per-frame class scores, trained with CTC through the codec's targets and decoded by the codec."""
from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from visioncraft.registry import MODELS, TASK_UTILS

from .encoders import feature_map_to_sequence

__all__ = ['CTCHead', 'CTCLoss', 'encode_gt_texts']


def encode_gt_texts(codec, data_samples: list, who: str) -> tuple[torch.Tensor, torch.Tensor, int]:
    """``codec.encode`` of the samples' ``gt_text`` labels: ``(targets, lengths, unknown)``, where ``unknown``
    counts the label characters of this batch the codec's dictionary does not hold (logged as
    ``num_unknown_chars``). A sample without ``gt_text`` is an error naming ``who``, the sample and the pipeline
    that makes it."""
    texts = []
    for i, s in enumerate(data_samples):
        if 'gt_text' not in s:
            raise KeyError(f'{who}: data sample {i} ({s.metainfo.get("img_path", "?")}) has no gt_text '
                           '(pipeline: LoadOCRAnnotations(with_text=True) + PackTextRecogInputs)')
        texts.append(s.gt_text)
    before = codec.dictionary.num_unknown
    targets, lengths = codec.encode(texts)
    return targets, lengths, codec.dictionary.num_unknown - before


_REDUCTIONS = ('mean', 'sum', 'batch_mean')


@MODELS.register_module()
class CTCLoss(nn.Module):
    """Connectionist temporal classification loss (``nn.CTCLoss``), computed in float32.

    Args:
        blank: class index of the blank; :class:`CTCHead` fills it from its codec (leave it None).
        reduction: ``'mean'`` (``nn.CTCLoss``'s: each sample's loss divided by its target length, then averaged
            over the batch; MMOCR), ``'batch_mean'`` (each sample's loss averaged over the batch, not divided by
            the length; PaddleOCR) or ``'sum'``.
        zero_infinity: an impossible alignment (a label longer than the frames allow) gives 0 loss and no
            gradient instead of inf.
        loss_weight: multiplies the loss.

    Forward: ``log_probs`` float N x T x C (log-softmax), ``targets`` int64 (sum of lengths), ``input_lengths`` /
    ``target_lengths`` int64 N. Returns a scalar.
    """

    def __init__(self, blank: int | None = None, reduction: str = 'mean', zero_infinity: bool = True,
                 loss_weight: float = 1.0) -> None:
        super().__init__()
        if reduction not in _REDUCTIONS:
            raise ValueError(f'CTCLoss: reduction must be one of {_REDUCTIONS}, got {reduction!r}')
        self.blank, self.reduction = blank, reduction
        self.zero_infinity, self.loss_weight = zero_infinity, float(loss_weight)

    def forward(self, log_probs: torch.Tensor, targets: torch.Tensor, input_lengths: torch.Tensor,
                target_lengths: torch.Tensor) -> torch.Tensor:
        if self.blank is None:
            raise ValueError('CTCLoss: blank is not set (CTCHead sets it from its codec)')
        loss = F.ctc_loss(log_probs.float().transpose(0, 1), targets, input_lengths, target_lengths,
                          blank=self.blank, reduction='none' if self.reduction == 'batch_mean' else self.reduction,
                          zero_infinity=self.zero_infinity)
        if self.reduction == 'batch_mean':
            loss = loss.mean()
        return loss * self.loss_weight


@MODELS.register_module()
class CTCHead(nn.Module):
    """A linear classifier over the frames of a sequence, with a swappable loss and the codec that both encodes
    the targets and decodes the predictions.

    Args:
        in_channels: channels of each frame (the encoder's ``out_channels``, or the backbone's without encoder).
        codec: :class:`~visioncraft.tasks.textrecog.codecs.CTCCodec` config or object; sets the number of
            classes and the blank.
        loss: loss config (default :class:`CTCLoss`); its ``blank`` is set from the codec.
        dropout: dropout before the classifier (0: none).

    Shapes: input N x T x C (or N x C x 1 x T), logits N x T x ``codec.num_classes``.
    """

    def __init__(self, *, in_channels: int, codec: dict, loss: dict | None = None, dropout: float = 0.0,
                 init_cfg: dict | None = None) -> None:
        super().__init__()
        self.codec = codec if not isinstance(codec, dict) else TASK_UTILS.build(codec, key_path='codec')
        loss = dict(loss or dict(type='CTCLoss'))
        if loss.get('blank') is not None and int(loss['blank']) != self.codec.blank_idx:
            raise ValueError(f"CTCHead: loss.blank={loss['blank']} but the codec's blank is class "
                             f"{self.codec.blank_idx} (blank={self.codec.blank!r}); leave loss.blank unset")
        loss['blank'] = self.codec.blank_idx
        self.loss_module = MODELS.build(loss, key_path='loss')
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.classifier = nn.Linear(in_channels, self.codec.num_classes)
        self.in_channels = in_channels

    def forward(self, feat: torch.Tensor) -> torch.Tensor:
        """N x T x num_classes logits."""
        return self.classifier(self.dropout(feature_map_to_sequence(feat, 'CTCHead')))

    @staticmethod
    def frame_lengths(num_frames: int, valid_fracs: Sequence[float] | None, n: int) -> list[int]:
        """Frames holding the image (not padding) per sample: ``ceil(frac * T)``, at least 1."""
        if valid_fracs is None:
            return [num_frames] * n
        return [max(1, min(num_frames, math.ceil(float(f) * num_frames - 1e-6))) for f in valid_fracs]

    def loss(self, feat: torch.Tensor, data_samples: list, valid_fracs: Sequence[float] | None = None
             ) -> dict[str, torch.Tensor]:
        """``dict(loss_ctc, num_unknown_chars)``; samples need ``gt_text`` (str). ``num_unknown_chars`` (logged,
        not a loss) counts the label characters of this batch that the dictionary does not hold."""
        logits = self(feat)
        n, t = logits.shape[:2]
        targets, target_lengths, unknown = encode_gt_texts(self.codec, data_samples, 'CTCHead.loss')
        input_lengths = torch.tensor(self.frame_lengths(t, valid_fracs, n), dtype=torch.int64)
        loss = self.loss_module(logits.log_softmax(-1), targets.to(logits.device), input_lengths.to(logits.device),
                                target_lengths.to(logits.device))
        return dict(loss_ctc=loss, num_unknown_chars=torch.tensor(float(unknown), device=logits.device))

    def predict(self, feat: torch.Tensor, data_samples: list, valid_fracs: Sequence[float] | None = None,
                beam_width: int | None = None) -> list[tuple[str, float, list[float]]]:
        """``(text, score, char_scores)`` per sample; score is the mean of the char scores (0 for '')."""
        probs = self(feat).float().softmax(-1)
        lengths = self.frame_lengths(probs.shape[1], valid_fracs, probs.shape[0])
        out = []
        for text, scores in self.codec.decode(probs, lengths, beam_width=beam_width):
            out.append((text, float(sum(scores) / len(scores)) if scores else 0.0, scores))
        return out
