"""Text-detection export (DBNet): the graph is backbone -> neck -> head's probability map; pre- and
post-processing settings go to ``inference.json``."""
from __future__ import annotations

from typing import Any

import torch
from torch import nn

from .core import EXPORTERS, Exporter

__all__ = ['TextDetExporter', 'DBCODEC_KEYS', 'inference_pipeline', 'plain']

#: the DBCodec settings written to inference.json (every constructor argument)
DBCODEC_KEYS = ('shrink_ratio', 'thr_min', 'thr_max', 'min_text_size', 'thresh', 'box_thresh', 'unclip_ratio',
                'max_candidates', 'text_repr_type', 'score_mode', 'use_dilation')


def plain(value):
    """ConfigDicts / tuples -> JSON-ready dicts / lists."""
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, (bool, int, float, str)) or value is None:
        return value
    if hasattr(value, 'item'):  # numpy / torch scalars
        return value.item()
    raise TypeError(f'cannot store {type(value).__name__} {value!r} in inference.json')


def inference_pipeline(cfg) -> list[dict]:
    """The config's test pipeline for in-memory images: annotation loading dropped, ``LoadImageFromFile``
    replaced by ``LoadImageFromNDArray`` (what :func:`visioncraft.apis.inference_detector` runs on arrays)."""
    try:
        pipeline = cfg.test_dataloader.dataset.pipeline
    except (AttributeError, KeyError) as exc:
        raise KeyError(f'export: the config {getattr(cfg, "filename", "") or ""} has no '
                       'test_dataloader.dataset.pipeline (needed for the preprocessing)') from exc
    steps = []
    for step in pipeline:
        step = plain(step)
        name = str(step.get('type', '')).rsplit('.', 1)[-1]
        if name.startswith('Load') and name.endswith('Annotations'):
            continue
        if name == 'LoadImageFromFile':
            step['type'] = 'LoadImageFromNDArray'
        steps.append(step)
    return steps


class _ProbMap(nn.Module):
    """N x 3 x H x W preprocessed float32 -> N x H x W probability map (``DBNet.forward(mode='tensor')``)."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x, mode='tensor')


class TextDetExporter(Exporter):
    """DBNet-family text detectors: any model whose ``det_head`` has a ``DBCodec`` as ``codec``."""

    task = 'textdet'
    input_names = ('input',)
    output_names = ('prob_map',)
    dynamic_axes = {'input': {0: 'batch', 2: 'height', 3: 'width'},
                    'prob_map': {0: 'batch', 1: 'height', 2: 'width'}}

    @classmethod
    def matches(cls, model: nn.Module) -> bool:
        from visioncraft.tasks.textdet.codecs import DBCodec
        return isinstance(getattr(getattr(model, 'det_head', None), 'codec', None), DBCodec)

    def graph(self) -> nn.Module:
        return _ProbMap(self.model)

    def example_input(self) -> torch.Tensor:
        d = self._preprocessor()['pad_size_divisor']
        gen = torch.Generator().manual_seed(0)
        return torch.randn(1, 3, max(2, -(-64 // d)) * d, max(3, -(-96 // d)) * d, generator=gen)

    def _preprocessor(self) -> dict[str, Any]:
        from visioncraft.models.data_preprocessor import ImgDataPreprocessor
        pre = self.model.data_preprocessor
        if type(pre) is not ImgDataPreprocessor:
            raise ValueError(f'export: the model\'s data_preprocessor is a {type(pre).__name__}; only '
                             'ImgDataPreprocessor (mean / std / channel swap / pad) can be exported')
        out = dict(type='ImgDataPreprocessor', mean=None, std=None, bgr_to_rgb=bool(pre.swap_channels),
                   pad_size_divisor=int(pre.pad_size_divisor), pad_value=float(pre.pad_value))
        if pre._normalize:
            out['mean'] = [float(v) for v in pre.mean.flatten()]
            out['std'] = [float(v) for v in pre.std.flatten()]
        return out

    def inference_settings(self) -> dict[str, Any]:
        codec = self.model.det_head.codec
        pipeline = inference_pipeline(self.cfg)
        resize = [s for s in pipeline if str(s['type']).rsplit('.', 1)[-1] in ('Resize', 'DetResizeForTest')]
        return dict(
            preprocess=dict(pipeline=pipeline, resize=resize[0] if resize else None,
                            data_preprocessor=self._preprocessor()),
            postprocess=dict(type='DBCodec', **{k: plain(getattr(codec, k)) for k in DBCODEC_KEYS}))


EXPORTERS.append(TextDetExporter)
