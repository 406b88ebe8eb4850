"""The two halves of end-to-end OCR as runners :class:`~visioncraft.apis.OCRInferencer` (:mod:`.ocr_inferencer`)
chains: a text detector (``detector(img, timings) -> (polygons, scores)``) and a text recogniser
(``recognizer(crops) -> [(text, score), ...]``), each from a config file with its checkpoint (run through the
config's test pipeline, as :func:`~visioncraft.apis.inference_detector`; a PaddleOCR-layout YAML is translated and
its checkpoint defaults to ``Global.checkpoints``, else ``Global.pretrained_model``) or from a directory written by
``visioncraft export`` (run by :class:`~visioncraft.export.TextDetPredictor` /
:class:`~visioncraft.export.TextRecogPredictor`, no config needed); :func:`load_text_model` picks one.

This module is where the two tasks meet (``apis/`` may use both; a task package never imports another).
"""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import torch

from visioncraft.config import Config
from visioncraft.data.collate import pseudo_collate
from visioncraft.errors import check_device
from visioncraft.export.artifacts import INFERENCE_JSON
from visioncraft.export.predictor import BACKENDS, load_predictor

from .inference_pipeline import build_inference_pipeline
from .model_index import is_model_name, resolve_model
from .model_loading import build_model_with_weights

__all__ = ['load_text_model', 'OCR_STAGES', 'CONFIG_SUFFIXES']

#: the stages :attr:`OCRInferencer.timings` accumulates (seconds)
OCR_STAGES = ('det_pre', 'det_model', 'det_post', 'crop', 'rec')
CONFIG_SUFFIXES = ('.py', '.yaml', '.yml', '.json')


class _ConfigDetector:
    """A text detector from a config + checkpoint: the config's test pipeline, then the model in predict mode."""

    def __init__(self, model) -> None:
        self.model = model
        self.pipeline = build_inference_pipeline(model.cfg, True)

    def __call__(self, img: np.ndarray, timings: dict) -> tuple[list[np.ndarray], np.ndarray]:
        t0 = time.perf_counter()
        packed = self.pipeline(dict(img=img))
        if packed is None:
            raise RuntimeError('OCRInferencer: the detector\'s test pipeline dropped the image')
        data = self.model.data_preprocessor(pseudo_collate([packed]), False)
        t1 = time.perf_counter()
        with torch.no_grad():  # network and the head's decoding in one call: exactly inference_detector's result
            pred = self.model(data['inputs'], data['data_samples'], mode='predict')
        t2 = time.perf_counter()
        timings['det_pre'] += t1 - t0
        timings['det_model'] += t2 - t1  # includes the decoding (det_post) on this path
        inst = pred[0].pred_instances
        scores = inst.scores.detach().cpu().numpy() if isinstance(inst.scores, torch.Tensor) \
            else np.asarray(inst.scores)
        return [np.asarray(p, np.float32) for p in inst.polygons], np.asarray(scores, np.float32)


class _ExportedDetector:
    def __init__(self, predictor) -> None:
        self.predictor = predictor

    def __call__(self, img: np.ndarray, timings: dict) -> tuple[list[np.ndarray], np.ndarray]:
        t0 = time.perf_counter()
        batch, meta = self.predictor.preprocess(img)
        t1 = time.perf_counter()
        prob = self.predictor.forward(batch)[0]
        t2 = time.perf_counter()
        polys, scores = self.predictor.postprocess(prob, meta)
        t3 = time.perf_counter()
        timings['det_pre'] += t1 - t0
        timings['det_model'] += t2 - t1
        timings['det_post'] += t3 - t2
        return [np.asarray(p, np.float32) for p in polys], np.asarray(scores, np.float32)


class _ConfigRecognizer:
    """A recogniser from a config + checkpoint: the config's test pipeline per crop, ``model.test_step`` per
    batch (what :func:`inference_detector` does with the config's batch size)."""

    def __init__(self, model) -> None:
        self.model = model
        self.pipeline = build_inference_pipeline(model.cfg, True)

    @property
    def dictionary(self):
        return self.model.decoder.codec.dictionary

    def __call__(self, crops: list[np.ndarray]) -> list[tuple[str, float]]:
        packed = [self.pipeline(dict(img=c)) for c in crops]
        with torch.no_grad():
            out = self.model.test_step(pseudo_collate(packed))
        return [(str(s.pred_text), float(s.pred_score)) for s in out]


class _ExportedRecognizer:
    def __init__(self, predictor) -> None:
        self.predictor = predictor

    @property
    def dictionary(self):
        return self.predictor.codec.dictionary

    def __call__(self, crops: list[np.ndarray]) -> list[tuple[str, float]]:
        return [(t, float(s)) for t, s, _ in self.predictor.predict(crops)]


def load_text_model(spec, weights, role: str, device: str, backend: str, num_threads: int | None = None):
    """A detector (``role='det'``) or recogniser (``'rec'``) runner from a config + weights or an export dir:
    ``detector(img, timings) -> (polygons, scores)``, ``recognizer(crops) -> [(text, score), ...]`` (with its
    ``dictionary``). ``role`` also names the command-line flags in messages (``--det``, ``--det-weights``)."""
    flag = f'--{role}'
    want_task = 'textdet' if role == 'det' else 'textrecog'
    if is_model_name(spec, want_task):  # a model name of the index: its config, its weights downloaded
        spec, weights = resolve_model(spec, weights, task=want_task)
    path = Path(spec)
    if path.is_dir():
        if weights is not None:
            raise ValueError(f'{flag}-weights {weights} given with the exported model directory {path}: an export '
                             'holds its own weights (give a config file with weights, or the directory alone)')
        if not (path / INFERENCE_JSON).is_file():
            raise FileNotFoundError(f'{flag} {path}: not an exported model directory (no {INFERENCE_JSON}; write '
                                    f'one with `visioncraft export CONFIG CHECKPOINT --out-dir {path}`) and not a '
                                    'config file')
        if backend not in BACKENDS:
            raise ValueError(f'unknown backend {backend!r}; choose one of {", ".join(BACKENDS)}')
        predictor = load_predictor(path, backend=backend, device=device, num_threads=num_threads)
        task = predictor.info.get('task', 'textdet')
        if task != want_task:
            raise ValueError(f'{flag} {path}: the export is a {task} model, {flag} needs a {want_task} one')
        return (_ExportedDetector if role == 'det' else _ExportedRecognizer)(predictor)
    if not path.is_file():
        raise FileNotFoundError(f'{flag} {path}: no such config file or exported model directory')
    if path.suffix.lower() not in CONFIG_SUFFIXES:
        raise ValueError(f'{flag} {path}: expected a config file ({", ".join(CONFIG_SUFFIXES)}) or an exported '
                         'model directory')
    cfg = Config.fromfile(path)  # a PaddleOCR-layout YAML is translated
    pd = cfg.get('paddleocr')
    source = f'{flag}-weights'
    if weights is None and pd:  # as PaddleOCR's tools: Global.checkpoints, else Global.pretrained_model
        weights = pd.get('checkpoints') or pd.get('pretrained_model')
        source = f'{path}: Global.checkpoints / Global.pretrained_model'
    if weights is None:
        extra = ', or Global.pretrained_model in the YAML,' if pd else ''
        raise ValueError(f'{flag} {path} is a config file: give its checkpoint with {flag}-weights CKPT{extra} (or '
                         'pass an exported model directory instead)')
    if not str(weights).startswith(('http://', 'https://')) and not Path(weights).is_file():
        raise FileNotFoundError(f'{source}: checkpoint file not found: {weights}')
    model, _ = build_model_with_weights(cfg, str(weights), flag)
    model.cfg = cfg
    model.to(check_device(device)).eval()
    if role == 'det' and not hasattr(model, 'det_head'):
        raise ValueError(f'{flag} {path}: its model ({type(model).__name__}) is not a text detector (no det_head)')
    if role == 'rec' and not hasattr(getattr(model, 'decoder', None), 'codec'):
        raise ValueError(f'{flag} {path}: its model ({type(model).__name__}) is not a text recogniser '
                         '(no decoder with a codec)')
    return (_ConfigDetector if role == 'det' else _ConfigRecognizer)(model)
