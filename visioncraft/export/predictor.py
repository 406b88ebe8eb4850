"""Run an exported text detector with no config and no model code: ``TextDetPredictor(model_dir)(img_bgr)``.

Everything comes from the export directory (see :func:`visioncraft.export.export_model`): the graph
(``model.onnx`` for onnxruntime, ``model.pt`` for TorchScript) and ``inference.json``. The preprocessing is
the config's test pipeline as stored there, built from the same transform registry (so the resize is the very
``Resize`` / ``DetResizeForTest`` code the checkpoint path runs), followed by the same ``ImgDataPreprocessor``
(channel swap, ``(x - mean) / std``, zero padding to ``pad_size_divisor``); the post-processing is a
``DBCodec`` built from the stored settings, whose ``decode`` is the one ``DBHead.predict`` calls.
"""
from __future__ import annotations

import copy
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .core import FORMAT_VERSION, INFERENCE_JSON, MODEL_FILES

__all__ = ['TextDetPredictor', 'BACKENDS', 'load_inference_settings']

BACKENDS = {'onnxruntime': 'onnx', 'torchscript': 'torchscript'}


def load_inference_settings(model_dir: str | os.PathLike) -> dict[str, Any]:
    """``inference.json`` of an export directory (FileNotFoundError / ValueError naming the path)."""
    d = Path(model_dir)
    if not d.is_dir():
        raise FileNotFoundError(f'model directory not found: {d}')
    path = d / INFERENCE_JSON
    if not path.is_file():
        raise FileNotFoundError(f'{path} not found: {d} is not an exported model directory '
                                f'(write one with `visioncraft export CONFIG CHECKPOINT --out-dir {d}`)')
    try:
        info = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise ValueError(f'{path}: not valid JSON ({exc})') from exc
    if int(info.get('format_version', 0)) > FORMAT_VERSION:
        raise ValueError(f'{path}: format_version {info.get("format_version")} is newer than this visioncraft '
                         f'reads ({FORMAT_VERSION})')
    for key in ('preprocess', 'postprocess'):
        if key not in info:
            raise ValueError(f'{path}: missing key {key!r}')
    return info


class TextDetPredictor:
    """Text detection with an exported model.

    Args:
        model_dir: a directory written by :func:`visioncraft.export.export_model`.
        backend: ``'onnxruntime'`` (``model.onnx``) or ``'torchscript'`` (``model.pt``).
        device: ``'cpu'`` or ``'cuda[:N]'`` (onnxruntime uses its CUDA provider when it has one).
        postprocess: overrides of the stored DBCodec settings (``thresh``, ``box_thresh``, ``unclip_ratio``...).
        resize: replaces the stored resize step with this transform config (e.g.
            ``dict(type='DetResizeForTest', limit_side_len=960, limit_type='max')``); None keeps the export's.
        num_threads: onnxruntime's intra-op threads (default: onnxruntime's choice, one per core).

    ``predictor(img)``: ``img`` is an H x W x 3 uint8 BGR array (OpenCV order; H x W grayscale is made
    3-channel). Returns ``(polygons, scores)``: K flat float32 arrays ``[x0, y0, x1, y1, ...]`` in ORIGINAL
    image pixels (4 points each for ``text_repr_type='quad'``) and a float32 K array of mean probabilities.
    """

    def __init__(self, model_dir: str | os.PathLike, backend: str = 'onnxruntime', device: str = 'cpu', *,
                 postprocess: Mapping[str, Any] | None = None, resize: Mapping[str, Any] | None = None,
                 num_threads: int | None = None) -> None:
        import visioncraft  # noqa: F401  (fills the registries: transforms, DBCodec, ImgDataPreprocessor)
        from visioncraft.data.transforms import Compose
        from visioncraft.registry import MODELS, TASK_UTILS
        if backend not in BACKENDS:
            raise ValueError(f'unknown backend {backend!r}; choose one of {", ".join(BACKENDS)}')
        self.model_dir = Path(model_dir)
        self.info = load_inference_settings(self.model_dir)
        if self.info.get('task', 'textdet') != 'textdet':
            raise ValueError(f'{self.model_dir / INFERENCE_JSON}: task is {self.info.get("task")!r}, '
                             'TextDetPredictor needs a text-detection export')
        self.backend, self.device = backend, torch.device(device)
        files = self.info.get('files') or MODEL_FILES
        name = files.get(BACKENDS[backend])
        path = self.model_dir / (name or MODEL_FILES[BACKENDS[backend]])
        if name is None or not path.is_file():
            raise FileNotFoundError(f'{path} not found: the export in {self.model_dir} has no '
                                    f'{BACKENDS[backend]} model (export it with --format {BACKENDS[backend]})')
        pre = self.info['preprocess']
        self.pipeline_cfg = copy.deepcopy(pre['pipeline'])
        if resize is not None:
            self.pipeline_cfg = _replace_resize(self.pipeline_cfg, dict(resize))
        self.pipeline = Compose(self.pipeline_cfg)
        self.data_preprocessor = MODELS.build(dict(pre['data_preprocessor']),
                                              key_path='inference.json preprocess.data_preprocessor')
        self.data_preprocessor.to(self.device)
        codec_cfg = dict(self.info['postprocess'])
        for k, v in (postprocess or {}).items():
            if k not in codec_cfg:
                raise KeyError(f'unknown post-processing setting {k!r} (known: {", ".join(sorted(codec_cfg))})')
            codec_cfg[k] = v
        self.codec_cfg = codec_cfg
        self.codec = TASK_UTILS.build(dict(codec_cfg), key_path='inference.json postprocess')
        if backend == 'onnxruntime':
            import onnxruntime as ort
            providers = ['CPUExecutionProvider']
            if self.device.type == 'cuda' and 'CUDAExecutionProvider' in ort.get_available_providers():
                providers.insert(0, 'CUDAExecutionProvider')
            options = ort.SessionOptions()
            if num_threads:
                options.intra_op_num_threads = int(num_threads)
            self.session = ort.InferenceSession(str(path), options, providers=providers)
            self.input_name = self.session.get_inputs()[0].name
        else:
            import warnings
            with warnings.catch_warnings():  # torch 2.14 marks torch.jit as deprecated; the format still loads
                warnings.simplefilter('ignore', FutureWarning)
                self.module = torch.jit.load(str(path), map_location=self.device).eval()

    # ------------------------------------------------------------------ steps
    def preprocess(self, img: np.ndarray) -> tuple[torch.Tensor, dict[str, Any]]:
        """The 1 x 3 x H' x W' float32 batch of ``img`` and its metainfo (``img_shape``, ``ori_shape``,
        ``scale_factor`` (w, h))."""
        if not isinstance(img, np.ndarray) or img.ndim not in (2, 3):
            raise TypeError(f'TextDetPredictor: the image must be an H x W x 3 BGR numpy array, got '
                            f'{type(img).__name__} {getattr(img, "shape", "")}')
        packed = self.pipeline(dict(img=img))
        if packed is None:
            raise RuntimeError('TextDetPredictor: the preprocessing pipeline dropped the image')
        data = self.data_preprocessor(dict(inputs=[packed['inputs']], data_samples=[packed['data_samples']]))
        meta = packed['data_samples'].metainfo
        return data['inputs'], dict(meta)

    def forward(self, batch: torch.Tensor) -> torch.Tensor:
        """N x H' x W' probability maps of the preprocessed batch (float32, on the CPU)."""
        if self.backend == 'onnxruntime':
            out = self.session.run(None, {self.input_name: batch.detach().cpu().numpy()})[0]
            return torch.from_numpy(out)
        with torch.no_grad():
            return self.module(batch.to(self.device)).float().cpu()

    def postprocess(self, prob: torch.Tensor, meta: Mapping[str, Any]) -> tuple[list[np.ndarray], np.ndarray]:
        """Decode one H' x W' map exactly as ``DBHead.predict`` does: crop to ``img_shape``, then
        ``DBCodec.decode`` with the sample's ``scale_factor`` and ``ori_shape``."""
        h, w = meta.get('img_shape', prob.shape[-2:])[:2]
        return self.codec.decode(prob[:int(h), :int(w)], scale_factor=meta.get('scale_factor', (1.0, 1.0)),
                                 ori_shape=meta.get('ori_shape'))

    def __call__(self, img_bgr: np.ndarray) -> tuple[list[np.ndarray], np.ndarray]:
        batch, meta = self.preprocess(img_bgr)
        prob = self.forward(batch)[0]
        return self.postprocess(prob, meta)


def _replace_resize(pipeline: list[dict], resize: dict) -> list[dict]:
    """``pipeline`` with its first Resize / DetResizeForTest step replaced by ``resize`` (inserted after the
    image loading when there is none)."""
    out = [dict(s) for s in pipeline]
    for i, s in enumerate(out):
        if str(s.get('type', '')).rsplit('.', 1)[-1] in ('Resize', 'DetResizeForTest'):
            out[i] = resize
            return out
    at = next((i + 1 for i, s in enumerate(out) if str(s.get('type', '')).startswith('LoadImage')), 0)
    return out[:at] + [resize] + out[at:]
