"""Text recognisers: backbone -> encoder (optional) -> decoder head, with the head's codec and loss."""
from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from visioncraft.models.assembly import assemble
from visioncraft.models.base import BaseModel, build_submodule
from visioncraft.models.data_preprocessor import ImgDataPreprocessor
from visioncraft.registry import MODELS
from visioncraft.structures import DataSample

__all__ = ['CRNN', 'EncoderDecoderRecognizer', 'SVTR', 'TextRecogDataPreprocessor']


@MODELS.register_module()
class TextRecogDataPreprocessor(ImgDataPreprocessor):
    """MMOCR's name for the recognisers' preprocessor: :class:`ImgDataPreprocessor` (normalise, optional BGR ->
    RGB, pad the batch to its widest image on the right). A sample's ``valid_ratio`` stays relative to its own
    ``img_shape``; the recogniser converts it to the padded batch width. MMOCR's ``batch_augments`` is accepted
    only as None (no batch augmentation is implemented)."""

    def __init__(self, mean=None, std=None, pad_size_divisor: int = 1, pad_value: float = 0.0,
                 bgr_to_rgb: bool = False, rgb_to_bgr: bool = False, batch_augments: list | None = None,
                 non_blocking: bool = False) -> None:
        if batch_augments:
            raise ValueError(f'TextRecogDataPreprocessor: batch_augments={batch_augments!r} is not supported (no '
                             'batch augmentation is implemented); remove the key or set it to None')
        super().__init__(mean=mean, std=std, bgr_to_rgb=bgr_to_rgb, rgb_to_bgr=rgb_to_bgr,
                         pad_size_divisor=pad_size_divisor, pad_value=pad_value, non_blocking=non_blocking)


@MODELS.register_module()
class EncoderDecoderRecognizer(BaseModel):
    """A text recogniser: ``backbone`` (image -> N x C x 1 x W feature map) -> ``encoder`` (optional, -> N x T x C
    frames) -> ``decoder`` (a head with ``loss`` / ``predict`` and a codec, e.g. :class:`CTCHead`).

    Args:
        preprocessor: MMOCR's image rectifier run before the backbone (e.g. ``dict(type='STN', ...)``), or None.
        backbone: config or module; its ``out_channels[-1]`` sizes the encoder (``in_channels``) when unset. None
            (MMOCR's SVTR): the encoder reads the image.
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

    def __init__(self, *, backbone: dict | nn.Module | None, decoder: dict | nn.Module,
                 encoder: dict | nn.Module | None = None, preprocessor: dict | nn.Module | None = None,
                 data_preprocessor: dict | nn.Module | None = None, init_cfg: dict | None = None) -> None:
        super().__init__(data_preprocessor=data_preprocessor or dict(
            type='TextRecogDataPreprocessor', mean=[127.5], std=[127.5]), init_cfg=init_cfg)
        self.preprocessor = build_submodule(preprocessor, 'preprocessor') if preprocessor is not None else None
        if backbone is None:
            if encoder is None:
                raise ValueError(f'{type(self).__name__}: give a backbone, an encoder or both (got neither)')
            backbone = nn.Identity()
        parts = assemble(type(self).__name__, backbone=backbone, neck=encoder, head=decoder, neck_key='encoder',
                         head_key='decoder', neck_takes='last', head_takes='last')
        self.backbone, self.encoder, self.decoder = parts.backbone, parts.neck, parts.head
        if hasattr(self.backbone, 'init_weights'):
            self.backbone.init_weights()

    def extract_feat(self, inputs: torch.Tensor, valid_fracs: Sequence[float] | None = None) -> torch.Tensor:
        """Preprocessor -> backbone -> encoder. ``valid_fracs`` (:meth:`valid_fractions`) reaches an encoder that
        masks the right padding (one with ``takes_valid_fracs``, e.g. :class:`NRTREncoder`)."""
        if self.preprocessor is not None:
            inputs = self.preprocessor(inputs)
        feat = self.backbone(inputs)
        if isinstance(feat, (list, tuple)):
            feat = feat[-1]
        if self.encoder is None:
            return feat
        if getattr(self.encoder, 'takes_valid_fracs', False):
            return self.encoder(feat, valid_fracs)
        return self.encoder(feat)

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
        fracs = self.valid_fractions(inputs, data_samples)
        feat = self.extract_feat(inputs, fracs)
        if mode == 'tensor':
            return self.decoder(feat).float().softmax(-1)
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

    MMOCR 1.x's schema, ``CRNN(preprocessor=None, backbone=MiniVGG, encoder=None, decoder=CRNNDecoder(...))``,
    builds as written: with a :class:`CRNNDecoder` (which holds the LSTMs itself) ``encoder=None`` means no encoder.
    """

    def __init__(self, *, backbone: dict | nn.Module | None = None, decoder: dict | nn.Module | None = None,
                 encoder: dict | nn.Module | None = None, preprocessor: dict | nn.Module | None = None,
                 data_preprocessor: dict | nn.Module | None = None, init_cfg: dict | None = None) -> None:
        if encoder is None and not _is_crnn_decoder(decoder):
            encoder = dict(type='BiLSTMEncoder', hidden_channels=256, num_layers=2)
        super().__init__(
            backbone=backbone if backbone is not None else dict(type='MiniVGG', leaky_relu=False, input_channels=1),
            encoder=encoder, preprocessor=preprocessor,
            decoder=decoder if decoder is not None else dict(type='CTCHead', codec=dict(
                type='CTCCodec', dictionary=dict(type='Dictionary', builtin='lower_english_digits', case='lower'))),
            data_preprocessor=data_preprocessor, init_cfg=init_cfg)


def _is_crnn_decoder(decoder) -> bool:
    if isinstance(decoder, dict):
        return str(decoder.get('type', '')).split('.')[-1] == 'CRNNDecoder'
    return type(decoder).__name__ == 'CRNNDecoder'


@MODELS.register_module()
class SVTR(EncoderDecoderRecognizer):
    """MMOCR 1.x's SVTR recogniser: ``preprocessor`` (optional rectifier, e.g. :class:`STN`) -> ``encoder``
    (:class:`SVTREncoder`, which reads the image: ``backbone`` is None) -> ``decoder`` (:class:`SVTRDecoder`, CTC).
    The parts keep MMOCR's attribute names (``preprocessor``, ``encoder``, ``decoder``)."""

    def __init__(self, *, encoder: dict | nn.Module, decoder: dict | nn.Module,
                 backbone: dict | nn.Module | None = None, preprocessor: dict | nn.Module | None = None,
                 data_preprocessor: dict | nn.Module | None = None, init_cfg: dict | None = None) -> None:
        super().__init__(backbone=backbone, encoder=encoder, decoder=decoder, preprocessor=preprocessor,
                         data_preprocessor=data_preprocessor, init_cfg=init_cfg)
