"""Text-recognition export (CTC recognisers: CRNN, SVTR-style models with a ``CTCHead``): the graph is
backbone -> encoder -> head -> softmax (``model(x, mode='tensor')``); the test pipeline, the normalisation and the
codec (dictionary characters, special tokens, blank layout) go to ``inference.json`` and ``dictionary.txt``.

The graph's input is the preprocessed batch: float32 N x C x H x W (C = 1 for grey pipelines, 3 for colour;
H the height the pipeline resizes to), normalised, padded on the right to the widest crop of the batch. Its
output ``probs`` is float32 N x T x num_classes (T = frames, from W). Batch and width are dynamic.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from ..data.transforms import Compose
from ..fileio.checkpoint import atomic_write_text
from ..registry import EXPORTERS
from ..tasks.textrecog.codecs import CTCCodec
from .core import Exporter, data_preprocessor_settings, inference_pipeline, plain

__all__ = ['TextRecogExporter', 'DICT_FILE', 'DICTIONARY_KEYS', 'dictionary_settings']

#: the dictionary file written next to the model (one character per line, the Dictionary's own format)
DICT_FILE = 'dictionary.txt'
#: the Dictionary settings written to inference.json besides the characters
DICTIONARY_KEYS = ('with_start', 'with_end', 'same_start_end', 'with_padding', 'with_unknown', 'case')


def dictionary_settings(d) -> dict[str, Any]:
    """A :class:`Dictionary` as inference.json stores it: its characters in index order, its settings
    (:data:`DICTIONARY_KEYS`), the file name :data:`DICT_FILE` and the special tokens' strings."""
    dictionary = dict(type='Dictionary', dict_file=DICT_FILE, characters=list(d.chars),
                      **{k: plain(getattr(d, k)) for k in DICTIONARY_KEYS})
    tokens = d.dict  # the special tokens' strings, as this dictionary spells them
    if d.same_start_end:
        dictionary['start_end_token'] = tokens[d.start_end_idx]
    else:
        if d.start_idx is not None:
            dictionary['start_token'] = tokens[d.start_idx]
        if d.end_idx is not None:
            dictionary['end_token'] = tokens[d.end_idx]
    if d.padding_idx is not None:
        dictionary['padding_token'] = tokens[d.padding_idx]
    if d.unknown_idx is not None:
        dictionary['unknown_token'] = tokens[d.unknown_idx]
    return dictionary


@EXPORTERS.register_module()
class TextRecogExporter(Exporter):
    """CTC text recognisers: any model whose ``decoder`` has a :class:`CTCCodec` as ``codec``."""

    task = 'textrecog'
    input_names = ('input',)
    output_names = ('probs',)
    dynamic_axes = {'input': {0: 'batch', 3: 'width'}, 'probs': {0: 'batch', 1: 'frames'}}

    @classmethod
    def matches(cls, model: nn.Module) -> bool:
        return isinstance(getattr(getattr(model, 'decoder', None), 'codec', None), CTCCodec)

    def example_input(self) -> torch.Tensor:
        """A random 40 x 150 BGR picture through the stored pipeline and the data preprocessor: the real input
        layout (channels, height) of this model."""
        rng = np.random.default_rng(0)
        img = rng.integers(0, 256, size=(40, 150, 3), dtype=np.uint8)
        packed = Compose(inference_pipeline(self.cfg))(dict(img=img))
        with torch.no_grad():
            return self.model.data_preprocessor(dict(inputs=[packed['inputs']]))['inputs'].float()

    def inference_settings(self) -> dict[str, Any]:
        codec = self.model.decoder.codec
        pipeline = inference_pipeline(self.cfg)
        dictionary = dictionary_settings(codec.dictionary)
        return dict(
            preprocess=dict(pipeline=pipeline, data_preprocessor=data_preprocessor_settings(self.model)),
            postprocess=dict(type='CTCCodec', blank=codec.blank, beam_width=codec.beam_width,
                             prune_prob=codec.prune_prob, num_classes=codec.num_classes, blank_idx=codec.blank_idx,
                             dictionary=dictionary))

    def write_extra(self, out: Path) -> list[Path]:
        """``dictionary.txt``: the characters, one per line (what :class:`Dictionary` reads)."""
        chars = self.model.decoder.codec.dictionary.chars
        bad = [c for c in chars if c in '\r\n']
        if bad:
            raise ValueError(f'export: the dictionary holds line-break characters {bad!r}, which a dictionary file '
                             'cannot store')
        atomic_write_text(out / DICT_FILE, ''.join(c + '\n' for c in chars))
        return [out / DICT_FILE]
