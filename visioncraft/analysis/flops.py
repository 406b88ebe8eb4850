"""Model complexity: multiply-accumulates and parameters of a config's model (``tools/analysis_tools/get_flops.py``).

Counting is :class:`torch.utils.flop_counter.FlopCounterMode`'s: it counts the floating-point operations of
convolutions, matrix products (``mm``, ``addmm``, ``bmm``, linear layers) and attention, as 2 per
multiply-accumulate. MMDetection's ``get_flops.py`` prints multiply-accumulates under the name "Flops", so this
tool reports **MACs** (= FLOPs / 2) first and the FLOPs next to them. Element-wise work (activations,
normalisation, additions, pooling, resizing) and anything outside the model's ``forward(mode='tensor')`` (the
data preprocessor, box decoding and NMS) is not counted.

The model runs once on a random image of the given size (``H x W``, through the model's own data preprocessor,
so padding to a size divisor is included) with random weights: nothing is downloaded.
"""
from __future__ import annotations

import argparse
import copy
import sys
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from ..config import Config, ConfigError
from ..registry import MODELS, config_file_context, default_scope
from ..structures import DataSample
from .arguments import get_flops_parser

__all__ = ['count_macs', 'count_params', 'model_complexity', 'default_input_shape', 'load_config',
           'format_count', 'main', 'run', 'DETECTION_SHAPE']

#: MMDetection's default ``--shape`` (``H W``, as its get_flops.py reads them)
DETECTION_SHAPE = (1280, 800)


def count_params(model: nn.Module) -> int:
    """Number of parameters (trainable or not), each shared tensor once."""
    return sum(p.numel() for p in model.parameters())


def count_macs(model: nn.Module, *args: Any, **kwargs: Any) -> tuple[int, dict[str, int]]:
    """``(MACs, MACs per direct submodule)`` of ``model(*args, **kwargs)`` under ``torch.no_grad()``: the
    FLOPs that :class:`~torch.utils.flop_counter.FlopCounterMode` counts, halved. The per-submodule dict is keyed
    by the child's attribute name (``backbone``, ``neck``, ``bbox_head``...); children that do no counted work are
    left out."""
    counter = FlopCounterMode(display=False)
    with torch.no_grad(), counter:
        model(*args, **kwargs)
    root = type(model).__name__
    by_child = {}
    for name, ops in counter.get_flop_counts().items():
        parts = name.split('.')
        if len(parts) == 2 and parts[0] == root:
            flops = sum(int(v) for v in ops.values())
            if flops:
                by_child[parts[1]] = flops // 2
    return int(counter.get_total_flops()) // 2, by_child


def format_count(n: float, unit: str = '') -> str:
    """``n`` with a G / M / K prefix: ``format_count(2.5e9, 'MACs')`` is ``'2.5 GMACs'``."""
    for scale, prefix in ((1e12, 'T'), (1e9, 'G'), (1e6, 'M'), (1e3, 'K')):
        if abs(n) >= scale:
            return f'{n / scale:.4g} {prefix}{unit}'
    return f'{n:.4g} {unit}'.rstrip()


# -- the config -----------------------------------------------------------------------------------------------
def load_config(path: str | Path, options: dict | None = None) -> Config:
    """``path`` with ``options`` (``--cfg-options``) merged: a PaddleOCR-layout YAML is translated first (its
    options are its own keys, ``Global.epoch_num=3``), as ``visioncraft train`` reads it."""
    if not Path(path).is_file():
        raise FileNotFoundError(f'config file not found: {path}')
    return Config.fromfile(path, options or None)  # a PaddleOCR YAML: translated, options on its keys


def _plain(obj: Any) -> Any:
    return obj.to_dict() if hasattr(obj, 'to_dict') else obj


def _dataset_pipelines(dataset: Any) -> list[list]:
    """The pipelines of a dataset config, wrappers (ConcatDataset, RepeatDataset...) opened."""
    dataset = _plain(dataset)
    if not isinstance(dataset, dict):
        return []
    out = [dataset['pipeline']] if isinstance(dataset.get('pipeline'), (list, tuple)) else []
    inner = dataset.get('datasets') or []
    for d in ([dataset['dataset']] if isinstance(dataset.get('dataset'), dict) else []) + list(inner):
        out += _dataset_pipelines(d)
    return out


def _candidate_pipelines(cfg: Config) -> list[list]:
    """Test pipelines first, then validation, then training ones."""
    out = []
    for phase in ('test', 'val', 'train'):
        loader = _plain(cfg.get(f'{phase}_dataloader'))
        if isinstance(loader, dict):
            out += _dataset_pipelines(loader.get('dataset'))
        if isinstance(cfg.get(f'{phase}_pipeline'), (list, tuple)):
            out.append(_plain(cfg.get(f'{phase}_pipeline')))
    return out


def _pair(v: Any) -> tuple[int, int] | None:
    if isinstance(v, (list, tuple)) and len(v) == 2 and all(isinstance(x, (int, float)) for x in v):
        return int(v[0]), int(v[1])
    return None


def _is_detector(cfg: Config) -> bool:
    model_type = (_plain(cfg.get('model')) or {}).get('type')
    if not isinstance(model_type, str):
        return False
    with default_scope(cfg.get('default_scope')):
        try:
            cls = MODELS.get(model_type)
        except KeyError:
            return False
    return getattr(cls, '__module__', '').startswith('visioncraft.tasks.detection')


def default_input_shape(cfg: Config) -> tuple[tuple[int, int], str]:
    """``((H, W), where it comes from)``: MMDetection's 1280 x 800 for a detector; otherwise the first fixed size
    of the test (then validation, then training) pipeline: ``TopdownAffine.input_size`` (W, H), a ``Resize``
    ``scale`` (W, H), PaddleOCR's ``RecResizeImg.image_shape`` (C, H, W) or ``DetResizeForTest.limit_side_len``
    (a square), or ``RescaleToHeight.height`` with the width a training ``Resize`` of that height gives (else 4 x
    the height); else a generated dataset's ``size``. A :class:`~visioncraft.config.ConfigError` when the config
    has none (give ``--shape``)."""
    if _is_detector(cfg):
        return DETECTION_SHAPE, "MMDetection's default for detectors"
    height = None
    for pipeline in _candidate_pipelines(cfg):
        for t in pipeline:
            t = _plain(t)
            if not isinstance(t, dict):
                continue
            kind = str(t.get('type', ''))
            size = _pair(t.get('input_size')) or (_pair(t.get('scale')) if 'Resize' in kind else None)
            image_shape = t.get('image_shape')  # PaddleOCR's RecResizeImg: [C, H, W]
            if size is None and isinstance(image_shape, (list, tuple)) and len(image_shape) == 3:
                size = (int(image_shape[2]), int(image_shape[1]))
            if size is None and kind == 'DetResizeForTest' and isinstance(t.get('limit_side_len'), int):
                size = (t['limit_side_len'], t['limit_side_len'])  # PaddleOCR's: the longest side at most
            if size is not None and (height is None or size[1] == height):
                return (size[1], size[0]), f'{kind} in the config'
            if kind == 'RescaleToHeight' and height is None and isinstance(t.get('height'), int):
                height = t['height']
    if height is not None:
        return (height, 4 * height), 'RescaleToHeight in the config (width 4 x height)'
    for phase in ('test', 'val', 'train'):  # a generated dataset's picture size (the quickstarts')
        dataset = _plain((_plain(cfg.get(f'{phase}_dataloader')) or {}).get('dataset'))
        size = dataset.get('size', dataset.get('img_size')) if isinstance(dataset, dict) else None
        if isinstance(size, int) and not isinstance(size, bool):
            return (size, size), f'{phase}_dataloader.dataset.size'
        if _pair(size) is not None:
            return (_pair(size)[1], _pair(size)[0]), f'{phase}_dataloader.dataset.size'
    raise ConfigError(f'{cfg.filename or "the config"}: no input size found in its pipelines (TopdownAffine '
                     f'input_size, Resize scale); give one with --shape H W')


def _input_channels(cfg: Config) -> int:
    mean = ((_plain(cfg.get('model')) or {}).get('data_preprocessor') or {}).get('mean')
    if isinstance(mean, (list, tuple)) and len(mean) in (1, 3):
        return len(mean)
    for pipeline in _candidate_pipelines(cfg):
        for t in pipeline:
            t = _plain(t)
            if isinstance(t, dict) and str(t.get('type', '')).startswith('LoadImage'):
                return 1 if t.get('color_type') in ('grayscale', 'unchanged_grey') else 3
    return 3


def _dummy_batch(shape: tuple[int, int], channels: int) -> dict:
    """One random uint8 image (C x H x W, as the pipeline packs it) and a data sample with the meta the data
    preprocessors and heads read."""
    h, w = shape
    g = torch.Generator().manual_seed(0)
    img = torch.randint(0, 256, (channels, h, w), dtype=torch.uint8, generator=g)
    meta = dict(img_shape=(h, w), ori_shape=(h, w), pad_shape=(h, w), scale_factor=(1.0, 1.0), valid_ratio=1.0,
                input_size=(w, h), input_center=np.array([w / 2, h / 2], np.float32),
                input_scale=np.array([w, h], np.float32), img_id=0, id=0)
    return dict(inputs=[img], data_samples=[DataSample(metainfo=meta)])


def build_model(cfg: Config) -> nn.Module:
    """``cfg.model`` in eval mode with random weights; a backbone's pretrained ``init_cfg`` is dropped (nothing
    is downloaded)."""
    model_cfg = copy.deepcopy(cfg.get('model'))
    if model_cfg is None:
        raise KeyError(f'{cfg.filename or "the config"}: has no "model" section')
    if isinstance(model_cfg.get('backbone'), dict) and model_cfg['backbone'].get('init_cfg') is not None:
        model_cfg['backbone']['init_cfg'] = None
    with config_file_context(cfg.filename), default_scope(cfg.get('default_scope')):
        model = MODELS.build(model_cfg, key_path='model')
    return model.eval()


def model_complexity(cfg: Config, shape: tuple[int, int] | None = None) -> dict[str, Any]:
    """Build ``cfg.model`` and count it on one ``shape`` (H, W) image (default :func:`default_input_shape`).

    Returns ``dict(macs, flops, params, by_module={child: MACs}, input_shape=(1, C, H, W) after the data
    preprocessor, shape=(H, W), shape_source, model=type name)``."""
    source = 'given with --shape'
    if shape is None:
        shape, source = default_input_shape(cfg)
    model = build_model(cfg)
    batch = _dummy_batch(tuple(shape), _input_channels(cfg))
    with torch.no_grad():
        data = model.data_preprocessor(batch, training=False)
    inputs = data['inputs']
    macs, by_module = count_macs(model, inputs, data.get('data_samples'), mode='tensor')
    return dict(macs=macs, flops=2 * macs, params=count_params(model), by_module=by_module,
                input_shape=tuple(inputs.shape), shape=tuple(shape), shape_source=source, model=type(model).__name__)


def format_report(config: str, r: dict[str, Any]) -> str:
    line = '=' * 60
    rows = [line, f'Config: {config}', f'Model: {r["model"]}',
            f'Input shape: {r["shape"][0]} x {r["shape"][1]} (H x W; {r["shape_source"]}), '
            f'model input {tuple(r["input_shape"])} after the data preprocessor',
            f'MACs: {format_count(r["macs"], "MACs")}  (multiply-accumulates; what MMDetection prints as "Flops")',
            f'FLOPs: {format_count(r["flops"], "FLOPs")}  (= 2 x MACs)',
            f'Params: {format_count(r["params"])} ({r["params"]:,})']
    if r['by_module']:
        rows.append('MACs by part: ' + ', '.join(f'{k} {format_count(v)}' for k, v in r['by_module'].items()))
    rows += [line,
             'Counted: convolutions, matrix products and attention (torch.utils.flop_counter) in the model\'s '
             "forward(mode='tensor');",
             'not counted: element-wise operations (activations, norms, additions, pooling) and post-processing '
             '(box decoding, NMS).',
             'Check that every operation of your model is covered before you quote these numbers.']
    return '\n'.join(rows)


def run(args: argparse.Namespace) -> dict[str, Any]:
    """``get_flops.py`` with the parsed ``args`` (:func:`~visioncraft.analysis.arguments.get_flops_parser`):
    prints the report and returns :func:`model_complexity`'s dict."""
    shape = None
    if args.shape:
        if len(args.shape) > 2 or any(s < 1 for s in args.shape):
            raise SystemExit(f'--shape takes H [W], positive integers; got {" ".join(map(str, args.shape))}')
        shape = (args.shape[0], args.shape[-1])
    cfg = load_config(args.config, args.cfg_options)
    result = model_complexity(cfg, shape)
    print(format_report(args.config, result))
    return result


def main(argv: list[str] | None = None, prog: str = 'tools/analysis_tools/get_flops.py') -> dict[str, Any]:
    return run(get_flops_parser(prog).parse_args(sys.argv[1:] if argv is None else argv))
