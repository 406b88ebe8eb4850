"""``export_model``: a config + checkpoint -> a self-contained inference directory.

The directory holds ``model.pt`` (TorchScript), ``model.onnx`` (ONNX, dynamic batch / height / width) and
``inference.json`` (everything a predictor needs besides the graph: preprocessing, post-processing, versions).
Which exporter runs is chosen from the built model: each exporter registered in
:data:`visioncraft.registry.EXPORTERS` says whether it handles a model (``matches``; no two may match one model):
text detection (DBNet and any model whose head carries a ``DBCodec``, ``textdet.py``) and text recognition (any model
whose decoder carries a ``CTCCodec``, ``textrecog.py``).
Also attention recognisers (an ``AttentionCodec`` in an ``NRTRDecoder``, ``attention_recog.py``) and top-down pose
(``TopdownPoseEstimator`` with a heatmap or SimCC head, ``pose.py``).
"""
from __future__ import annotations

import copy
import importlib.metadata
import json
import logging
import os
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

import visioncraft
from visioncraft.apis.detection import init_detector
from visioncraft.apis.pose import init_model
from visioncraft.config import Config, ConfigError
from visioncraft.fileio.checkpoint import atomic_write_text
from visioncraft.models.data_preprocessor import ImgDataPreprocessor
from visioncraft.registry import EXPORTERS

from .artifacts import FORMAT_VERSION, FORMATS, INFERENCE_JSON, MODEL_FILES

__all__ = ['export_model', 'build_model_for_export', 'find_exporter', 'EXPORTERS', 'Exporter', 'FORMATS',
           'INFERENCE_JSON', 'MODEL_FILES', 'TensorModeGraph', 'data_preprocessor_settings', 'export_torchscript', 'export_onnx',
           'inference_pipeline', 'plain']

_logger = logging.getLogger('visioncraft')



class TensorModeGraph(nn.Module):
    """``model(x, mode='tensor')`` as a one-input module, the graph that TorchScript and ONNX record."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x, mode='tensor')


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


def data_preprocessor_settings(model: nn.Module) -> dict[str, Any]:
    """The model's ImgDataPreprocessor (or a subclass that keeps its forward, e.g. TextRecogDataPreprocessor) as
    a config dict: channel swap, mean / std, padding."""
    pre = model.data_preprocessor
    if not isinstance(pre, ImgDataPreprocessor) or type(pre).forward is not ImgDataPreprocessor.forward:
        raise ValueError(f'export: the model\'s data_preprocessor is a {type(pre).__name__}; only '
                         'ImgDataPreprocessor-style preprocessors (mean / std / channel swap / pad) can be exported')
    out = dict(type=type(pre).__name__, mean=None, std=None, bgr_to_rgb=bool(pre.swap_channels),
               pad_size_divisor=int(pre.pad_size_divisor), pad_value=float(pre.pad_value))
    if pre._normalize:
        out['mean'] = [float(v) for v in pre.mean.flatten()]
        out['std'] = [float(v) for v in pre.std.flatten()]
    return out


class Exporter:
    """One model family's export: the graph to trace and the settings its predictor needs.

    Subclasses implement :meth:`matches`, :meth:`graph` (an ``nn.Module`` mapping the preprocessed N x 3 x H x W
    float32 batch to the raw outputs), :meth:`example_input` and :meth:`inference_settings`.
    """

    task: str = ''
    #: the formats and ONNX opset of this export (set by :func:`export_model` before :meth:`write_extra`)
    formats: Sequence[str] = FORMATS
    opset: int | None = None
    input_names: Sequence[str] = ('input',)
    output_names: Sequence[str] = ('output',)
    dynamic_axes: dict[str, dict[int, str]] = {}

    @classmethod
    def matches(cls, model: nn.Module) -> bool:  # pragma: no cover - interface
        raise NotImplementedError

    def __init__(self, model: nn.Module, cfg) -> None:
        self.model, self.cfg = model, cfg

    def graph(self) -> nn.Module:
        """The traced module: preprocessed float32 batch -> the model's ``mode='tensor'`` output."""
        return TensorModeGraph(self.model)

    def example_input(self) -> torch.Tensor:  # pragma: no cover - interface
        raise NotImplementedError

    def inference_settings(self) -> dict[str, Any]:  # pragma: no cover - interface
        raise NotImplementedError

    def write_extra(self, out: Path) -> list[Path]:
        """Files besides the graphs and inference.json (e.g. a recogniser's dictionary); default none."""
        return []


def _config(cfg):
    if isinstance(cfg, (str, os.PathLike)):
        if not Path(cfg).is_file():
            raise FileNotFoundError(f'export_model: config file not found: {cfg}')
        return Config.fromfile(str(cfg))
    if isinstance(cfg, Config):
        return copy.deepcopy(cfg)
    if isinstance(cfg, dict):
        return Config(copy.deepcopy(cfg))
    raise TypeError(f'export_model: cfg must be a config file, a Config or a dict, got {type(cfg).__name__}')


def build_model_for_export(cfg, checkpoint: str | os.PathLike | None) -> nn.Module:
    """The model of ``cfg`` with the weights of ``checkpoint`` (None: random init, with a warning), in eval
    mode on the CPU, ``model.cfg`` set. Built exactly as :func:`visioncraft.apis.init_detector` builds it
    (no pretrained download)."""
    cfg = _config(cfg)
    if checkpoint is not None and not str(checkpoint).startswith(('http://', 'https://')) \
            and not Path(checkpoint).is_file():
        raise FileNotFoundError(f'export_model: checkpoint file not found: {checkpoint}')
    if cfg.get('default_scope') == 'mmpose':  # a pose config: built as init_model builds it (pose dataset_meta)
        return init_model(cfg, None if checkpoint is None else str(checkpoint), device='cpu')
    return init_detector(cfg, None if checkpoint is None else str(checkpoint), device='cpu')


def export_torchscript(graph: nn.Module, example: torch.Tensor, path: Path) -> None:
    """Trace ``graph`` on ``example`` and save it (``torch.jit.save``). Shapes stay symbolic (sizes are
    read from the input at run time), which the test checks on other image sizes."""
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter('ignore')  # TracerWarnings about shape reads and the torch.jit deprecation note
        traced = torch.jit.trace(graph, example, check_trace=False)
        traced = torch.jit.freeze(traced.eval())
        torch.jit.save(traced, str(path))


def outputs_match(got: np.ndarray, want: np.ndarray) -> bool:
    """Whether a backend's output equals PyTorch's to float32 rounding: same shape, and within rtol 1e-3 plus an
    atol of 1e-4 times the output's largest magnitude when that exceeds 1 (a convolution's rounding grows with the
    magnitudes it sums: a detector's FPN features reach ~100 and differ by ~4e-4 between two correct backends;
    probabilities keep atol 1e-4)."""
    if got.shape != want.shape:
        return False
    scale = max(1.0, float(np.abs(want).max(initial=0.0)))
    return bool(np.allclose(got, want, atol=1e-4 * scale, rtol=1e-3))


def export_onnx(graph: nn.Module, example: torch.Tensor, path: Path, *, input_names: Sequence[str],
                output_names: Sequence[str], dynamic_axes: dict, opset: int | None) -> dict[str, Any]:
    """Export ``graph`` to ONNX with the TorchScript-based exporter (``dynamo=False``): it keeps the traced
    batch / height / width symbolic through ``dynamic_axes`` and writes a single self-contained file. (torch
    2.14's default dynamo exporter also gives a correct graph for DBNet, given ``torch.export.Dim`` sizes that
    are multiples of 32, but took 9 s instead of 1 s for the quickstart model.) The model is checked with
    ``onnx.checker`` and its output on ``example`` compared with PyTorch's through onnxruntime. ``example`` may be
    a tuple of tensors for a graph of several inputs (``input_names`` in the same order).
    Returns ``dict(exporter=..., opset=...)``."""
    import onnx  # deferred: onnx and onnxruntime are optional (the export extra), needed only here
    opset = int(opset) if opset is not None else 17
    args = tuple(example) if isinstance(example, (tuple, list)) else (example,)
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter('ignore')
        torch.onnx.export(graph, args, str(path), input_names=list(input_names),
                          output_names=list(output_names), dynamic_axes=dynamic_axes, opset_version=opset,
                          do_constant_folding=True, dynamo=False)
    onnx.checker.check_model(onnx.load(str(path)), full_check=True)
    import onnxruntime as ort
    sess = ort.InferenceSession(str(path), providers=['CPUExecutionProvider'])
    outs = sess.run(None, {name: t.numpy() for name, t in zip(input_names, args)})
    with torch.no_grad():
        wants = graph(*args)
    wants = [wants] if isinstance(wants, torch.Tensor) else list(wants)  # a graph may return a tuple of tensors
    for name, got, want in zip(output_names, outs, (w.numpy() for w in wants)):
        if not outputs_match(got, want):
            diff = float(np.abs(got - want).max()) if got.shape == want.shape else 'shape'
            raise RuntimeError(f'export_onnx: onnxruntime output {name} differs from PyTorch on the example input '
                               f'(max abs diff {diff})')
    return dict(exporter='torch.onnx.export(dynamo=False)', opset=opset)


def find_exporter(model: nn.Module) -> type[Exporter]:
    """The exporter class registered in :data:`~visioncraft.registry.EXPORTERS` whose ``matches(model)`` is true; a
    :class:`~visioncraft.config.ConfigError` when none is, a RuntimeError (a bug in the exporters) when several are."""
    found = [EXPORTERS.get(name) for name in EXPORTERS if EXPORTERS.get(name).matches(model)]
    if not found:
        raise ConfigError(f'export_model: no exporter for a {type(model).__name__} model (exporters: '
                          f'{", ".join(EXPORTERS)}); export supports text detection (DBNet), text-direction classification (PP-OCR cls), '
                          'CTC and attention text recognition (CRNN, SVTR, NRTR), detectors (RetinaNet, FCOS, '
                          'Faster / Mask R-CNN) and top-down pose (heatmap and SimCC heads)')
    if len(found) > 1:
        raise RuntimeError(f'export_model: the exporters {", ".join(e.__name__ for e in found)} all match a '
                           f'{type(model).__name__} model; an exporter\'s matches() must not overlap another\'s')
    return found[0]


def export_model(cfg, checkpoint: str | None, out_dir, *, formats: Sequence[str] = ('torchscript', 'onnx'),
                 opset: int | None = None) -> dict[str, Path]:
    """Write a self-contained inference directory for the model of ``cfg`` with the weights of ``checkpoint``.

    Args:
        cfg: a config file path, a :class:`~visioncraft.config.Config` or a dict (not modified).
        checkpoint: a checkpoint file (or http(s) URL); None exports the random initialisation (a warning).
        out_dir: the directory to write (created; existing files of the same names are replaced).
        formats: any of ``'torchscript'`` (``model.pt``) and ``'onnx'`` (``model.onnx``).
        opset: the ONNX opset (default 17).

    Returns:
        ``{'torchscript': Path, 'onnx': Path, 'inference.json': Path}`` for the files written (a recogniser
        adds ``'dictionary.txt'``).

    The graph's input is the *preprocessed* batch (float32 N x C x H x W, normalised, channel order as the
    model's data preprocessor makes it, H and W multiples of ``pad_size_divisor``); the normalisation is not
    in the graph, it is in ``inference.json`` and the predictor applies it (see docs/export.md). Text detectors
    output the N x H x W probability map, recognisers the N x T x num_classes class probabilities.
    """
    formats = tuple(formats)
    bad = [f for f in formats if f not in FORMATS]
    if bad or not formats:
        raise ValueError(f'export_model: formats must be a non-empty subset of {FORMATS}, got {formats}')
    model = build_model_for_export(cfg, checkpoint)
    exporter_cls = find_exporter(model)
    exporter = exporter_cls(model, model.cfg)
    exporter.formats, exporter.opset = formats, opset  # for exporters that write more graphs (write_extra)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    graph = exporter.graph().eval()
    example = exporter.example_input()
    written: dict[str, Path] = {}
    onnx_info: dict[str, Any] = {}
    if 'torchscript' in formats:
        export_torchscript(graph, example, out / MODEL_FILES['torchscript'])
        written['torchscript'] = out / MODEL_FILES['torchscript']
    if 'onnx' in formats:
        onnx_info = export_onnx(graph, example, out / MODEL_FILES['onnx'], input_names=exporter.input_names,
                                output_names=exporter.output_names, dynamic_axes=exporter.dynamic_axes,
                                opset=opset)
        written['onnx'] = out / MODEL_FILES['onnx']
    extra = exporter.write_extra(out)
    info = _settings_header(model.cfg, checkpoint, exporter, onnx_info)
    info['files'] = {k: v.name for k, v in written.items()}
    info.update(exporter.inference_settings())
    atomic_write_text(out / INFERENCE_JSON, json.dumps(info, indent=2) + '\n')
    written[INFERENCE_JSON] = out / INFERENCE_JSON
    written.update({p.name: p for p in extra})
    _logger.info(f'export_model: wrote {", ".join(str(p) for p in written.values())}')
    return written


def _settings_header(cfg, checkpoint, exporter: Exporter, onnx_info: dict) -> dict[str, Any]:
    def version(dist: str) -> str | None:
        try:
            return importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            return None

    return dict(
        format_version=FORMAT_VERSION, task=exporter.task, model_type=type(exporter.model).__name__,
        source_config=Path(cfg.filename).name if getattr(cfg, 'filename', None) else None,
        checkpoint=None if checkpoint is None else Path(str(checkpoint)).name,
        input=dict(name=exporter.input_names[0], layout='NCHW', dtype='float32',
                   dynamic_axes=exporter.dynamic_axes.get(exporter.input_names[0], {}),
                   normalized=True),
        outputs=list(exporter.output_names),
        onnx=onnx_info or None,
        versions=dict(visioncraft=visioncraft.__version__, torch=torch.__version__, onnx=version('onnx'),
                      onnxruntime=version('onnxruntime')))
