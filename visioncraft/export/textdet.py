"""Text-detection export (DBNet): the graph is backbone -> neck -> head's probability map (``mode='tensor'``); pre- and
post-processing settings go to ``inference.json``."""
from __future__ import annotations

import inspect
from typing import Any

import torch
from torch import nn

from ..registry import EXPORTERS
from ..tasks.textdet.codecs import DBCodec
from .core import Exporter, data_preprocessor_settings, inference_pipeline, plain

__all__ = ['TextDetExporter', 'codec_settings']


def codec_settings(codec) -> dict[str, Any]:
    """``dict(type=..., <every constructor argument>=<the codec's attribute of that name>)``: the config that
    rebuilds ``codec``, read from its constructor's signature so a new setting cannot be left out."""
    names = [p.name for p in inspect.signature(type(codec).__init__).parameters.values()
             if p.name != 'self' and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
    missing = [n for n in names if not hasattr(codec, n)]
    if missing:
        raise TypeError(f'export: {type(codec).__name__} does not keep its settings {missing} as attributes')
    return dict(type=type(codec).__name__, **{n: plain(getattr(codec, n)) for n in names})


@EXPORTERS.register_module()
class TextDetExporter(Exporter):
    """DBNet-family text detectors: any model whose ``det_head`` has a ``DBCodec`` as ``codec``."""

    task = 'textdet'
    input_names = ('input',)
    output_names = ('prob_map',)
    dynamic_axes = {'input': {0: 'batch', 2: 'height', 3: 'width'},
                    'prob_map': {0: 'batch', 1: 'height', 2: 'width'}}

    @classmethod
    def matches(cls, model: nn.Module) -> bool:
        return isinstance(getattr(getattr(model, 'det_head', None), 'codec', None), DBCodec)

    def example_input(self) -> torch.Tensor:
        d = self._preprocessor()['pad_size_divisor']
        gen = torch.Generator().manual_seed(0)
        return torch.randn(1, 3, max(2, -(-64 // d)) * d, max(3, -(-96 // d)) * d, generator=gen)

    def _preprocessor(self) -> dict[str, Any]:
        return data_preprocessor_settings(self.model)

    def inference_settings(self) -> dict[str, Any]:
        codec = self.model.det_head.codec
        pipeline = inference_pipeline(self.cfg)
        resize = [s for s in pipeline if str(s['type']).rsplit('.', 1)[-1] in ('Resize', 'DetResizeForTest')]
        return dict(
            preprocess=dict(pipeline=pipeline, resize=resize[0] if resize else None,
                            data_preprocessor=self._preprocessor()),
            postprocess=codec_settings(codec))
