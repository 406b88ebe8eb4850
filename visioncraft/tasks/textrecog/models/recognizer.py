"""Text recognisers: backbone -> encoder (optional) -> decoder head, with the head's codec and loss."""
from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from visioncraft.models.assembly import assemble
from visioncraft.models.base import BaseModel
from visioncraft.models.data_preprocessor import ImgDataPreprocessor
from visioncraft.registry import MODELS
from visioncraft.structures import DataSample

__all__ = ['CRNN', 'EncoderDecoderRecognizer', 'TextRecogDataPreprocessor']


@MODELS.register_module()
class TextRecogDataPreprocessor(ImgDataPreprocessor):
    """MMOCR's name for the recognisers' preprocessor: :class:`ImgDataPreprocessor` (normalise, optional BGR ->
    RGB, pad the batch to its widest image on the right). A sample's ``valid_ratio`` stays relative to its own
    ``img_shape``; the recogniser converts it to the padded batch width."""


@MODELS.register_module()
class EncoderDecoderRecognizer(BaseModel):
    """A text recogniser: ``backbone`` (image -> N x C x 1 x W feature map) -> ``encoder`` (optional, -> N x T x C
    frames) -> ``decoder`` (a head with ``loss`` / ``predict`` and a codec, e.g. :class:`CTCHead`).

    Args:
        backbone: config or module; its ``out_channels[-1]`` sizes the encoder (``in_channels``) when unset.
        encoder: config or module (e.g. :class:`BiLSTMEncoder`), or None; its ``out_channels`` sizes the decoder.
        decoder: head config or module (``in_channels`` filled in when unset).
        data_preprocessor: default :class:`TextRecogDataPreprocessor` with mean 127.5 and std 127.5 (any
            channel count).

    ``forward(inputs, data_samples, mode)``, ``inputs`` float N x C x H x W (H: what the backbone expects, 32 for
    MiniVGG; images narrower than W are padded on the right, their ``valid_ratio`` metainfo says how much of
    their own ``img_shape`` width is image):

    * ``'loss'``: the head's losses (CTC: ``dict(loss_ctc, num_unknown_chars)``); samples need ``gt_text``.
    * ``'predict'``: the samples with ``pred_text`` (str), ``pred_score`` (float, mean of the character scores,
      0 for an empty string) and ``pred_char_scores`` (list of float, one per decoded token).
    * ``'tensor'``: N x T x num_classes class probabilities (softmax of the head's logits).
    """

    def __init__(self, *, backbone: dict | nn.Module, decoder: dict | nn.Module,
                 encoder: dict | nn.Module | None = None,
                 data_preprocessor: dict | nn.Module | None = None, init_cfg: dict | None = None) -> None:
        super().__init__(data_preprocessor=data_preprocessor or dict(
            type='TextRecogDataPreprocessor', mean=[127.5], std=[127.5]), init_cfg=init_cfg)
        parts = assemble(type(self).__name__, backbone=backbone, neck=encoder, head=decoder, neck_key='encoder',
                         head_key='decoder', neck_takes='last', head_takes='last')
        self.backbone, self.encoder, self.decoder = parts.backbone, parts.neck, parts.head
        if hasattr(self.backbone, 'init_weights'):
            self.backbone.init_weights()

    def extract_feat(self, inputs: torch.Tensor) -> torch.Tensor:
        feat = self.backbone(inputs)
        if isinstance(feat, (list, tuple)):
            feat = feat[-1]
        return self.encoder(feat) if self.encoder is not None else feat

    @staticmethod
    def valid_fractions(inputs: torch.Tensor, data_samples: Sequence | None) -> list[float] | None:
        """Share of the batch width that is image, per sample: ``valid_ratio * img_shape[1] / W`` (capped at 1)."""
        if not data_samples:
            return None
        width = inputs.shape[-1]
        out = []
        for s in data_samples:
            meta = s.metainfo if hasattr(s, 'metainfo') else {}
            w = (meta.get('img_shape') or (None, width))[1]
            out.append(min(1.0, float(meta.get('valid_ratio', 1.0)) * float(w) / width))
        return out

    def forward(self, inputs: torch.Tensor, data_samples: list | None = None, mode: str = 'tensor'):
        name = type(self).__name__
        if mode not in ('loss', 'predict', 'tensor'):
            raise ValueError(f"{name}: mode must be 'loss', 'predict' or 'tensor', got {mode!r}")
        feat = self.extract_feat(inputs)
        if mode == 'tensor':
            return self.decoder(feat).float().softmax(-1)
        fracs = self.valid_fractions(inputs, data_samples)
        if mode == 'loss':
            if not data_samples:
                raise ValueError(f"{name} mode='loss' needs data_samples with gt_text")
            return self.decoder.loss(feat, data_samples, fracs)
        if data_samples is None:
            h, w = inputs.shape[-2:]
            data_samples = [DataSample(metainfo=dict(img_shape=(h, w), ori_shape=(h, w))) for _ in inputs]
        for sample, (text, score, chars) in zip(data_samples, self.decoder.predict(feat, data_samples, fracs)):
            sample.pred_text = text
            sample.pred_score = score
            sample.pred_char_scores = chars
        return data_samples


@MODELS.register_module()
class CRNN(EncoderDecoderRecognizer):
    """CRNN (Shi et al., 2015): MiniVGG -> BiLSTMs -> linear CTC classifier. The defaults are MMOCR's CRNN on grey
    32-pixel-high images with the 36-character lower-case dictionary::

        CRNN(backbone=dict(type='MiniVGG', leaky_relu=False, input_channels=1),
             encoder=dict(type='BiLSTMEncoder', hidden_channels=256, num_layers=2),
             decoder=dict(type='CTCHead', codec=dict(type='CTCCodec', dictionary=dict(
                 type='Dictionary', builtin='lower_english_digits', case='lower'))))
    """

    def __init__(self, *, backbone: dict | nn.Module | None = None, decoder: dict | nn.Module | None = None,
                 encoder: dict | nn.Module | None = None, data_preprocessor: dict | nn.Module | None = None,
                 init_cfg: dict | None = None) -> None:
        super().__init__(
            backbone=backbone if backbone is not None else dict(type='MiniVGG', leaky_relu=False, input_channels=1),
            encoder=encoder if encoder is not None else dict(type='BiLSTMEncoder', hidden_channels=256, num_layers=2),
            decoder=decoder if decoder is not None else dict(type='CTCHead', codec=dict(
                type='CTCCodec', dictionary=dict(type='Dictionary', builtin='lower_english_digits', case='lower'))),
            data_preprocessor=data_preprocessor, init_cfg=init_cfg)
