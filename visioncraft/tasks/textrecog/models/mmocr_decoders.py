"""MMOCR 1.x's CTC decoders, ``CRNNDecoder`` and ``SVTRDecoder``, with its ``module_loss`` / ``postprocessor`` /
``dictionary`` schema mapped onto :class:`CTCHead` (its codec decodes, its loss trains).

``CTCModuleLoss(letter_case, flatten, reduction, zero_infinity)`` -> :class:`CTCLoss` (``letter_case`` becomes the
dictionary's ``case``); ``CTCPostProcessor`` -> :class:`~visioncraft.tasks.textrecog.codecs.CTCCodec` with
``blank='padding'`` (MMOCR's layout: the dictionary's ``<PAD>`` token is the CTC blank).
"""
from __future__ import annotations

import torch
from torch import nn

from visioncraft.registry import MODELS

from .ctc_head import CTCHead

__all__ = ['CRNNDecoder', 'SVTRDecoder', 'mmocr_ctc_codec_and_loss']

_LETTER_CASES = {'unchanged': 'keep', 'lower': 'lower', 'upper': 'upper'}
_CTC_LOSS_DEFAULTS = dict(flatten=True, reduction='mean', zero_infinity=False, letter_case='unchanged')
_POST_ARGS = ('max_seq_len', 'ignore_chars', 'dictionary')
# special tokens the codec always leaves out of a decoded string (MMOCR's ignore_chars names them)
_ALWAYS_DROPPED = {'padding', 'start', 'end'}


def _type_name(cfg: dict, who: str, key: str, expected: str) -> dict:
    cfg = dict(cfg)
    kind = str(cfg.pop('type', expected)).split('.')[-1]
    if kind != expected:
        raise ValueError(f"{who}: {key}.type must be {expected!r} (MMOCR's), got {kind!r}")
    return cfg


def mmocr_ctc_codec_and_loss(who: str, dictionary: dict | None, module_loss: dict | None,
                             postprocessor: dict | None) -> tuple[dict, dict]:
    """``(codec, loss)`` configs (:class:`CTCCodec`, :class:`CTCLoss`) from MMOCR 1.x's ``dictionary``,
    ``CTCModuleLoss`` and ``CTCPostProcessor`` configs. An argument that cannot be honoured is a ValueError
    naming it."""
    if not isinstance(dictionary, dict):
        raise ValueError(f'{who}: dictionary must be a Dictionary config dict (MMOCR: dict(type="Dictionary", '
                         f'dict_file=..., with_padding=True)), got {dictionary!r:.80}')
    loss_args = {**_CTC_LOSS_DEFAULTS, **_type_name(module_loss or {}, who, 'module_loss', 'CTCModuleLoss')}
    unknown = sorted(set(loss_args) - set(_CTC_LOSS_DEFAULTS))
    if unknown:
        raise ValueError(f'{who}: module_loss (CTCModuleLoss) has no argument {unknown[0]!r}; it takes '
                         f'{sorted(_CTC_LOSS_DEFAULTS)}')
    case = loss_args['letter_case']
    if case not in _LETTER_CASES:
        raise ValueError(f'{who}: module_loss.letter_case must be one of {sorted(_LETTER_CASES)}, got {case!r}')
    if loss_args['reduction'] not in ('mean', 'sum'):
        raise ValueError(f"{who}: module_loss.reduction must be 'mean' or 'sum', got {loss_args['reduction']!r}")
    # flatten only changes how MMOCR hands the targets to nn.CTCLoss (one flat vector or padded rows): same loss
    dictionary = dict(dictionary)
    if dictionary.get('case', 'keep') not in ('keep', _LETTER_CASES[case]):
        raise ValueError(f"{who}: dictionary.case={dictionary['case']!r} contradicts module_loss.letter_case={case!r}")
    dictionary['case'] = _LETTER_CASES[case]
    if not dictionary.get('with_padding', False):
        raise ValueError(f'{who}: dictionary needs with_padding=True (MMOCR uses the padding token as the CTC blank)')
    post = _type_name(postprocessor or {}, who, 'postprocessor', 'CTCPostProcessor')
    for key, value in post.items():
        if key not in _POST_ARGS:
            raise ValueError(f'{who}: postprocessor (CTCPostProcessor) has no argument {key!r}; it takes '
                             f'{sorted(_POST_ARGS)}')
        if key == 'dictionary' and value is not None and value != dictionary:
            raise ValueError(f"{who}: postprocessor.dictionary differs from the decoder's dictionary; remove it (the "
                             'decoder gives its own)')
        if key == 'ignore_chars':
            extra = sorted(set(value) - _ALWAYS_DROPPED)
            if extra or 'padding' not in value:
                raise ValueError(f"{who}: postprocessor.ignore_chars={list(value)!r} is not supported: the decoded "
                                 "text always leaves out the padding / start / end tokens and keeps <UKN>; use "
                                 "['padding'] (MMOCR's default)")
        # max_seq_len: CTC decoding yields at most one character per frame; MMOCR's CTC post-processor does not
        # use it either
    codec = dict(type='CTCCodec', dictionary=dictionary, blank='padding')
    loss = dict(type='CTCLoss', reduction=loss_args['reduction'], zero_infinity=bool(loss_args['zero_infinity']))
    return codec, loss


class _BiLSTM(nn.Module):
    """MMOCR's ``BidirectionalLSTM``: a bidirectional LSTM over a T x N x C sequence, then a linear layer
    (``embedding``) from ``2 * hidden`` to ``out`` channels."""

    def __init__(self, cin: int, hidden: int, cout: int) -> None:
        super().__init__()
        self.rnn = nn.LSTM(cin, hidden, bidirectional=True)
        self.embedding = nn.Linear(hidden * 2, cout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y, _ = self.rnn(x)
        return self.embedding(y)


def _check_map(feat: torch.Tensor, who: str) -> torch.Tensor:
    if feat.dim() != 4 or feat.shape[2] != 1:
        raise ValueError(f'{who}: expected an N x C x 1 x W feature map, got shape {tuple(feat.shape)} (the '
                         'backbone reduces the height to 1 only for the input height it was built for)')
    return feat


class _MMOCRCTCDecoder(CTCHead):
    """:class:`CTCHead` built from MMOCR's ``dictionary`` / ``module_loss`` / ``postprocessor`` arguments; the
    subclass replaces the classifier with MMOCR's layers (``self.decoder``)."""

    def __init__(self, *, in_channels: int, dictionary: dict | None, module_loss: dict | None,
                 postprocessor: dict | None, max_seq_len: int | None, init_cfg: dict | None) -> None:
        who = type(self).__name__
        codec, loss = mmocr_ctc_codec_and_loss(who, dictionary, module_loss, postprocessor)
        if max_seq_len is not None and int(max_seq_len) < 1:
            raise ValueError(f'{who}: max_seq_len must be >= 1, got {max_seq_len}')
        super().__init__(in_channels=in_channels, codec=codec, loss=loss, init_cfg=init_cfg)
        del self.classifier  # MMOCR's layers (self.decoder) stand in for it
        self.max_seq_len = max_seq_len


@MODELS.register_module()
class CRNNDecoder(_MMOCRCTCDecoder):
    """MMOCR's CRNN decoder: with ``rnn_flag`` two bidirectional LSTMs (hidden 256; the first's linear layer maps
    to 256, the second's to the classes), else a 1x1 conv to the classes.

    Args (MMOCR's): in_channels (512 after MiniVGG), rnn_flag, dictionary (a Dictionary config with
    ``with_padding=True``), module_loss (``CTCModuleLoss``), postprocessor (``CTCPostProcessor``), init_cfg.

    Input N x in_channels x 1 x W (a map one row high); logits N x W x num_classes. State-dict keys are MMOCR's
    (``decoder.0.rnn.weight_ih_l0``, ``decoder.0.embedding.weight``, ... or ``decoder.weight``).
    """

    def __init__(self, *, in_channels: int, dictionary: dict | None = None, rnn_flag: bool = False,
                 module_loss: dict | None = None, postprocessor: dict | None = None, max_seq_len: int | None = None,
                 init_cfg: dict | None = None) -> None:
        super().__init__(in_channels=in_channels, dictionary=dictionary, module_loss=module_loss,
                         postprocessor=postprocessor, max_seq_len=max_seq_len, init_cfg=init_cfg)
        self.rnn_flag = bool(rnn_flag)
        n = self.codec.num_classes
        if self.rnn_flag:
            self.decoder = nn.Sequential(_BiLSTM(in_channels, 256, 256), _BiLSTM(256, 256, n))
        else:
            self.decoder = nn.Conv2d(in_channels, n, kernel_size=1)

    def forward(self, feat: torch.Tensor) -> torch.Tensor:
        """N x C x 1 x W -> N x W x num_classes logits."""
        feat = _check_map(feat, 'CRNNDecoder')
        if self.rnn_flag:
            return self.decoder(feat.squeeze(2).permute(2, 0, 1)).transpose(0, 1)
        return self.decoder(feat).squeeze(2).transpose(1, 2)


@MODELS.register_module()
class SVTRDecoder(_MMOCRCTCDecoder):
    """MMOCR's SVTR decoder: one linear layer (``decoder``) from ``in_channels`` to the classes, read with CTC.

    Args (MMOCR's): in_channels, dictionary (with ``with_padding=True``), module_loss (``CTCModuleLoss``),
    postprocessor (``CTCPostProcessor``), max_seq_len (accepted; the sequence length is the encoder's), init_cfg.

    Input N x C x 1 x T (or N x T x C); logits N x T x num_classes.
    """

    def __init__(self, *, in_channels: int, dictionary: dict | None = None, module_loss: dict | None = None,
                 postprocessor: dict | None = None, max_seq_len: int | None = 25, init_cfg: dict | None = None
                 ) -> None:
        super().__init__(in_channels=in_channels, dictionary=dictionary, module_loss=module_loss,
                         postprocessor=postprocessor, max_seq_len=max_seq_len, init_cfg=init_cfg)
        self.decoder = nn.Linear(in_channels, self.codec.num_classes)

    def forward(self, feat: torch.Tensor) -> torch.Tensor:
        if feat.dim() == 4:
            feat = _check_map(feat, 'SVTRDecoder').squeeze(2).transpose(1, 2)
        return self.decoder(feat)
