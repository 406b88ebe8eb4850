"""MultiHeadRecognizer: PP-OCRv3 / v4's recogniser with a guided training branch (PaddleOCR's ``MultiHead`` +
``MultiLoss``, "GTC"): a CTC branch that reads the text, and an attention (NRTR) branch that exists only to train
the backbone better.

The CTC branch is the plain recogniser (``backbone -> encoder -> decoder``, the same modules and state-dict names
as :class:`EncoderDecoderRecognizer`, so the imported official weights and every exporter fit it as they are).
The attention branch reads the backbone's feature map: ``before_gtc`` (a linear layer without bias, backbone
channels -> ``gtc_dim``) then ``gtc_head`` (an :class:`NRTRDecoder`, teacher-forced). It runs only in
``mode='loss'``; prediction, ``mode='tensor'`` and the exports use the CTC branch alone, as PaddleOCR's inference
model does.
"""
from __future__ import annotations

import torch
from torch import nn

from visioncraft.models.assembly import feature_shape
from visioncraft.registry import MODELS

from .recognizer import EncoderDecoderRecognizer

__all__ = ['MultiHeadRecognizer']


@MODELS.register_module()
class MultiHeadRecognizer(EncoderDecoderRecognizer):
    """CTC recogniser + an auxiliary attention head trained next to it (PaddleOCR ``MultiHead`` with ``CTCHead`` and
    ``NRTRHead``; ``MultiLoss`` with ``CTCLoss`` and ``NRTRLoss``).

    Args:
        backbone, encoder, decoder, data_preprocessor: as :class:`EncoderDecoderRecognizer` (the CTC branch;
            ``decoder`` a :class:`CTCHead`). With an attention branch the encoder should stop the gradient at the
            backbone (``EncoderWithSVTR(use_guide=True)``, PaddleOCR's setting): then the attention loss alone trains
            the backbone and the CTC loss the neck and classifier.
        gtc_head: the attention head config or module (an :class:`NRTRDecoder` whose ``in_channels`` is
            ``gtc_dim``), or None for no attention branch (CTC alone).
        gtc_dim: width of the attention branch (PaddleOCR's ``nrtr_dim``): ``before_gtc`` maps the backbone's
            channels to it.
        ctc_weight / gtc_weight: the losses' weights (``MultiLoss`` ``weight_1`` / ``weight_2``).

    ``mode='loss'``: ``dict(loss_ctc, loss_gtc, num_unknown_chars)`` (the weighted losses; the engine sums the
    ``loss*`` entries). ``'predict'`` / ``'tensor'``: as :class:`EncoderDecoderRecognizer`, CTC branch only.
    """

    def __init__(self, *, backbone: dict | nn.Module, decoder: dict | nn.Module,
                 encoder: dict | nn.Module | None = None, gtc_head: dict | nn.Module | None = None,
                 gtc_dim: int = 384, ctc_weight: float = 1.0, gtc_weight: float = 1.0,
                 data_preprocessor: dict | nn.Module | None = None, init_cfg: dict | None = None) -> None:
        super().__init__(backbone=backbone, decoder=decoder, encoder=encoder, data_preprocessor=data_preprocessor,
                         init_cfg=init_cfg)
        self.ctc_weight, self.gtc_weight = float(ctc_weight), float(gtc_weight)
        if gtc_head is None:
            self.before_gtc, self.gtc_head = None, None
            return
        channels = feature_shape(self.backbone).pick('last')
        if channels is None:
            raise ValueError('MultiHeadRecognizer: the backbone does not declare its output channels '
                             '(out_channels), which size before_gtc')
        self.before_gtc = nn.Linear(int(channels), int(gtc_dim), bias=False)
        if isinstance(gtc_head, dict):
            gtc_head = dict(gtc_head)
            given = gtc_head.setdefault('in_channels', int(gtc_dim))
            if given != int(gtc_dim):
                raise ValueError(f'MultiHeadRecognizer: gtc_head.in_channels={given} but gtc_dim={gtc_dim} '
                                 '(before_gtc outputs gtc_dim channels); leave gtc_head.in_channels unset')
            gtc_head = MODELS.build(gtc_head, key_path='gtc_head')
        self.gtc_head = gtc_head

    def forward(self, inputs: torch.Tensor, data_samples: list | None = None, mode: str = 'tensor'):
        if mode != 'loss' or self.gtc_head is None:
            out = super().forward(inputs, data_samples, mode)
            if mode == 'loss' and self.ctc_weight != 1.0:
                out['loss_ctc'] = out['loss_ctc'] * self.ctc_weight
            return out
        if not data_samples:
            raise ValueError("MultiHeadRecognizer mode='loss' needs data_samples with gt_text")
        feat = self.backbone(inputs)
        if isinstance(feat, (list, tuple)):
            feat = feat[-1]
        fracs = self.valid_fractions(inputs, data_samples)
        ctc = self.decoder.loss(self.encoder(feat) if self.encoder is not None else feat, data_samples, fracs)
        # N x C x H x W -> N x (H*W) x C, then the projection (PaddleOCR: Flatten(2) + FCTranspose)
        gtc = self.gtc_head.loss(self.before_gtc(feat.flatten(2).transpose(1, 2)), data_samples, fracs)
        return dict(loss_ctc=ctc['loss_ctc'] * self.ctc_weight, loss_gtc=gtc['loss_ce'] * self.gtc_weight,
                    num_unknown_chars=ctc['num_unknown_chars'])
