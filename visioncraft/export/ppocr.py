"""The PP-OCR system (:class:`~visioncraft.apis.PPOCRSystem`: PaddleOCR's detection post-processing, reading
order, perspective crops, direction classification, width-sorted recognition batches) on exported directories:
``load_exported_ppocr(det_dir, rec_dir, cls_dir)``. Each directory is one ``visioncraft export`` output (a DBNet
detector, a CTC recogniser, a text-direction classifier); the graphs run on ONNX Runtime (or TorchScript) and every
other step is the eager system's own code, so an exported pipeline reads what the eager one reads.

    visioncraft export configs/ppocr/ppocrv4_mobile_det_deploy_icdar2015.py det.pth --work-dir inference/det
    visioncraft export configs/ppocr/ppocrv4_mobile_rec.py rec.pth --work-dir inference/rec
    visioncraft export configs/_base_/models/ppocr_mobile_v2.0_cls.py cls.pth --work-dir inference/cls

    from visioncraft.export.ppocr import load_exported_ppocr
    ocr = load_exported_ppocr('inference/det', 'inference/rec', 'inference/cls', num_threads=1)
    lines = ocr(img_bgr)
"""
from __future__ import annotations

import os
from types import SimpleNamespace

import torch

from .predictor import TextDetPredictor, TextRecogPredictor
from .textcls import TextClsPredictor

__all__ = ['load_exported_ppocr']


class _Exported:
    """What :class:`PPOCRSystem` asks of a model, over an exported predictor: ``data_preprocessor``,
    ``model(batch, mode='tensor')`` (the graph's output), ``to`` / ``eval`` (no-ops) and the model's codec or
    labels under the eager model's attribute names."""

    def __init__(self, predictor, data_preprocessor, **attrs) -> None:
        self.predictor, self.data_preprocessor = predictor, data_preprocessor
        self.__dict__.update(attrs)

    def __call__(self, batch: torch.Tensor, mode: str = 'tensor') -> torch.Tensor:
        if mode != 'tensor':
            raise ValueError(f"an exported model in PPOCRSystem runs mode='tensor' only, got {mode!r}")
        return self.predictor.forward(batch)

    def to(self, device) -> _Exported:
        return self

    def eval(self) -> _Exported:
        return self


def load_exported_ppocr(det_dir: str | os.PathLike, rec_dir: str | os.PathLike,
                        cls_dir: str | os.PathLike | None = None, *, backend: str = 'onnxruntime',
                        num_threads: int | None = None, **system_kwargs):
    """A :class:`~visioncraft.apis.PPOCRSystem` whose detector, recogniser and (with ``cls_dir``) direction
    classifier are the exported directories, run on ``backend`` with ``num_threads`` intra-op threads.
    ``system_kwargs`` go to :class:`PPOCRSystem` (``rec_batch_num``, ``drop_score``, ...); ``use_angle_cls``
    defaults to whether ``cls_dir`` is given. The recogniser's and classifier's exports must read the BGR crop as
    it is (no channel swap), as PaddleOCR's do."""
    from ..apis.ppocr_system import PPOCRSystem
    det = TextDetPredictor(det_dir, backend=backend, num_threads=num_threads)
    rec = TextRecogPredictor(rec_dir, backend=backend, num_threads=num_threads)
    models = dict(det=_Exported(det, det.data_preprocessor, det_head=SimpleNamespace(codec=det.codec)),
                  rec=_Exported(rec, rec.data_preprocessor, decoder=SimpleNamespace(codec=rec.codec)))
    if cls_dir is not None:
        cls = TextClsPredictor(cls_dir, backend=backend, num_threads=num_threads)
        pre = SimpleNamespace(mean=cls.mean, std=cls.std, swap_channels=False)
        models['cls'] = _Exported(cls, pre, labels=cls.labels)
        system_kwargs.setdefault('cls_image_shape', cls.image_shape)
    system_kwargs.setdefault('use_angle_cls', cls_dir is not None)
    return PPOCRSystem(**models, **system_kwargs)
