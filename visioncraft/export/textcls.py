"""Text-direction classifier export (PP-OCR's ``cls``: :class:`TextDirectionClassifier`): the graph is backbone ->
head -> softmax (``model(x, mode='tensor')``); the crop resize, the normalisation and the label names go to
``inference.json``.

The graph's input is the preprocessed batch: float32 N x 3 x H x W (H the classifier's height, 48 for PP-OCR),
normalised, padded on the right; its output ``probs`` is float32 N x num_labels. Batch and width are dynamic.
:class:`TextClsPredictor` runs the directory; :func:`visioncraft.export.ppocr.load_exported_ppocr` uses it as the
PP-OCR system's direction classifier.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from ..registry import EXPORTERS
from .core import Exporter, data_preprocessor_settings
from .predictor import _Runtime, load_inference_settings

__all__ = ['TextClsExporter', 'TextClsPredictor']

#: PP-OCR's classifier input (PaddleOCR's ``cls_image_shape``) when the config's pipeline names none
DEFAULT_IMAGE_SHAPE = (3, 48, 192)


def _image_shape(cfg) -> list[int]:
    """``RecResizeImg.image_shape`` of the config's test pipeline, else :data:`DEFAULT_IMAGE_SHAPE`."""
    for key in ('test_dataloader', 'val_dataloader'):
        loader = cfg.get(key) if hasattr(cfg, 'get') else None
        pipeline = (((loader or {}).get('dataset') or {}).get('pipeline')) or []
        for step in pipeline:
            if str(step.get('type', '')).rsplit('.', 1)[-1] == 'RecResizeImg':
                return [int(v) for v in step['image_shape']]
    return list(DEFAULT_IMAGE_SHAPE)


@EXPORTERS.register_module()
class TextClsExporter(Exporter):
    """Text-direction classifiers: :class:`~visioncraft.tasks.textrecog.models.TextDirectionClassifier`."""

    task = 'textcls'
    input_names = ('input',)
    output_names = ('probs',)
    dynamic_axes = {'input': {0: 'batch', 3: 'width'}, 'probs': {0: 'batch'}}

    @classmethod
    def matches(cls, model: nn.Module) -> bool:
        return type(model).__name__ == 'TextDirectionClassifier'

    def example_input(self) -> torch.Tensor:
        c, h, w = _image_shape(self.cfg)
        return torch.from_numpy(np.random.default_rng(0).uniform(-1, 1, (2, c, h, w)).astype(np.float32))

    def inference_settings(self) -> dict[str, Any]:
        shape = _image_shape(self.cfg)
        pipeline = [dict(type='LoadImageFromNDArray'), dict(type='RecResizeImg', image_shape=shape, padding=True),
                    dict(type='PackInputs', meta_keys=('ori_shape', 'img_shape'))]
        return dict(preprocess=dict(pipeline=pipeline, image_shape=shape,
                                    data_preprocessor=data_preprocessor_settings(self.model)),
                    postprocess=dict(type='TextCls', labels=list(self.model.labels)))


class TextClsPredictor:
    """The direction classifier of an export directory: ``predictor(crops)`` -> ``[(label, score), ...]`` for BGR
    uint8 crops (each resized to the stored height keeping its aspect ratio, width up to the stored width, padded
    with zeros after normalising, as PaddleOCR's ``resize_norm_img``).

    Attributes used by :class:`~visioncraft.apis.PPOCRSystem` (through :func:`~visioncraft.export.ppocr.
    load_exported_ppocr`): ``labels``, ``image_shape``, ``mean`` / ``std`` (3 x 1 x 1), ``forward(batch)`` (the
    N x num_labels probabilities of a preprocessed batch).
    """

    def __init__(self, model_dir: str | os.PathLike, backend: str = 'onnxruntime', device: str = 'cpu', *,
                 num_threads: int | None = None) -> None:
        self.model_dir = Path(model_dir)
        self.info = load_inference_settings(self.model_dir)
        where = self.model_dir / 'inference.json'
        post, pre = self.info['postprocess'], self.info['preprocess']
        if self.info.get('task') != 'textcls' or post.get('type') != 'TextCls':
            raise ValueError(f'{where}: not a text-direction classifier export (task {self.info.get("task")!r})')
        self.labels = [str(v) for v in post['labels']]
        self.image_shape = tuple(int(v) for v in pre['image_shape'])
        dp = pre['data_preprocessor']
        if dp.get('bgr_to_rgb'):
            raise ValueError(f'{where}: the classifier swaps channels; PP-OCR crops are fed BGR as they are')
        self.mean = torch.tensor(dp['mean'] or [0.0] * 3, dtype=torch.float32).view(-1, 1, 1)
        self.std = torch.tensor(dp['std'] or [1.0] * 3, dtype=torch.float32).view(-1, 1, 1)
        self.device = torch.device(device)
        self.runtime = _Runtime(self.model_dir, self.info, backend, self.device, num_threads)

    def forward(self, batch: torch.Tensor) -> torch.Tensor:
        return self.runtime.run(batch)

    def __call__(self, crops: list[np.ndarray]) -> list[tuple[str, float]]:
        from ..apis.ppocr_system import _resize_norm
        _, h, w = self.image_shape
        if not crops:
            return []
        probs = self.forward(torch.stack([_resize_norm(c, h, w, w, self.mean, self.std) for c in crops]))
        return [(self.labels[int(p.argmax())], float(p.max())) for p in probs]
