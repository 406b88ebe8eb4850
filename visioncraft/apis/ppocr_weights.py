"""PP-OCR's official inference weights in VisionCraft models: the PP-OCRv4 mobile detector and recogniser and the
mobile v2.0 text-direction classifier, read from their ONNX exports.

The ONNX files ship in the ``rapidocr-onnxruntime`` 1.4.4 package (``pip install --no-deps
rapidocr-onnxruntime==1.4.4``; ``--no-deps`` because it asks for ``opencv-python``, which clashes with
``opencv-python-headless``); any other copy of the same files works too (``onnx_path=``). Their weights are graph
constants with the BatchNorms of the re-parameterisable PPLCNetV3 layers folded into the convolutions, so they load
into the deploy form of our models (``backbone.deploy=True``), layer by layer in the order the graph runs them
(:func:`visioncraft.models.onnx_weights.load_onnx_weights`, which checks every kind, shape and setting).
"""
from __future__ import annotations

import importlib.resources
import importlib.util
import os
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

import visioncraft.tasks.textdet  # noqa: F401  (registers DBNet, RSEFPN)
import visioncraft.tasks.textrecog  # noqa: F401  (registers the recogniser, EncoderWithSVTR, the classifier)
from visioncraft.config import Config
from visioncraft.fileio.checkpoint import save_checkpoint
from visioncraft.fileio.package_data import find_package_file
from visioncraft.models.onnx_weights import ImportReport, load_onnx_weights, onnx_metadata
from visioncraft.registry import MODELS

__all__ = ['PPOCR_MODELS', 'PPOCRModelSpec', 'build_ppocr_model', 'import_ppocr_weights', 'rapidocr_model_path']

_RAPIDOCR_HINT = ('pip install --no-deps rapidocr-onnxruntime==1.4.4 (it carries the official PP-OCR ONNX files; '
                  '--no-deps keeps its opencv-python requirement out of an environment with opencv-python-headless)')


@dataclass(frozen=True)
class PPOCRModelSpec:
    """One importable model: our ``config`` (repository-relative), the ONNX file name in rapidocr_onnxruntime's
    ``models/`` folder and the N x C x H x W ``example_shape`` the layer order is recorded on (small: one
    forward pass; any shape the network accepts gives the same order)."""

    config: str
    onnx_file: str
    example_shape: tuple[int, int, int, int]


PPOCR_MODELS: dict[str, PPOCRModelSpec] = {
    'ppocrv4_mobile_det': PPOCRModelSpec('configs/_base_/models/ppocrv4_mobile_det.py',
                                         'ch_PP-OCRv4_det_infer.onnx', (1, 3, 64, 64)),
    'ppocrv4_mobile_rec': PPOCRModelSpec('configs/_base_/models/ppocrv4_mobile_rec.py',
                                         'ch_PP-OCRv4_rec_infer.onnx', (1, 3, 48, 64)),
    'ppocr_mobile_v2.0_cls': PPOCRModelSpec('configs/_base_/models/ppocr_mobile_v2.0_cls.py',
                                            'ch_ppocr_mobile_v2.0_cls_infer.onnx', (1, 3, 48, 64)),
}


def _spec(name: str) -> PPOCRModelSpec:
    if name not in PPOCR_MODELS:
        raise KeyError(f'unknown PP-OCR model {name!r}; choose one of {sorted(PPOCR_MODELS)}')
    return PPOCR_MODELS[name]


def rapidocr_model_path(onnx_file: str) -> Path:
    """Path of ``onnx_file`` inside the installed ``rapidocr_onnxruntime`` package (FileNotFoundError saying how to
    install it when it is missing)."""
    if importlib.util.find_spec('rapidocr_onnxruntime') is None:
        raise FileNotFoundError(f'{onnx_file}: the rapidocr_onnxruntime package is not installed; {_RAPIDOCR_HINT}')
    path = Path(str(importlib.resources.files('rapidocr_onnxruntime') / 'models' / onnx_file))
    if not path.is_file():
        raise FileNotFoundError(f'{onnx_file} is not in {path.parent} (rapidocr_onnxruntime 1.4.4 has the PP-OCRv4 '
                                'det / rec and the mobile v2.0 cls files)')
    return path


def build_ppocr_model(name: str, *, deploy: bool = True) -> nn.Module:
    """Our model ``name`` (a key of :data:`PPOCR_MODELS`) from its config, random weights; ``deploy=True`` builds
    PPLCNetV3 backbones in the folded form the official weights have (no effect on the classifier)."""
    cfg = Config.fromfile(str(find_package_file(_spec(name).config)))
    model_cfg = cfg.model.to_dict() if hasattr(cfg.model, 'to_dict') else dict(cfg.model)
    if model_cfg['backbone'].get('type') == 'PPLCNetV3':
        model_cfg['backbone'] = dict(model_cfg['backbone'], deploy=deploy)
    return MODELS.build(model_cfg, key_path='model')


def _check_characters(model: nn.Module, onnx_path: Path) -> None:
    chars = onnx_metadata(onnx_path).get('character')
    if chars is None:
        return
    theirs = chars.split('\n')
    ours = list(model.decoder.codec.dictionary.chars)
    if ours[:len(theirs)] != theirs or ours[len(theirs):] != [' ']:
        diff = next((i for i, (a, b) in enumerate(zip(ours, theirs)) if a != b), min(len(ours), len(theirs)))
        raise ValueError(f'{onnx_path}: its character list ({len(theirs)} characters) is not the dictionary of the '
                         f'model ({len(ours)} with the space); first difference at index {diff}')


def import_ppocr_weights(name: str, onnx_path: str | os.PathLike | None = None,
                         out_file: str | os.PathLike | None = None) -> tuple[nn.Module, ImportReport]:
    """Build ``name`` in its deploy form and load the official weights from ``onnx_path`` (default: the file in
    the installed rapidocr_onnxruntime). Returns ``(model in eval mode, report)``; with ``out_file`` also saves a
    checkpoint (``state_dict`` + ``meta``) that a config with ``model.backbone.deploy=True`` loads.

    The recogniser's character list (the ONNX metadata's ``character``) must equal its dictionary
    (``ppocr_keys_v1`` + space). The detector's threshold branch is not in the inference graph; its parameters
    keep their initial values and are listed in ``report.not_in_graph`` (it only matters for training).
    """
    spec = _spec(name)
    path = Path(onnx_path) if onnx_path is not None else rapidocr_model_path(spec.onnx_file)
    model = build_ppocr_model(name, deploy=True)
    if name == 'ppocrv4_mobile_rec':
        _check_characters(model, path)
    example = torch.zeros(spec.example_shape)
    report = load_onnx_weights(model, path, (example,))
    model.eval()
    if out_file is not None:
        save_checkpoint(dict(state_dict=model.state_dict(),
                             meta=dict(source=str(path), model=name, config=spec.config, deploy=True,
                                       not_in_graph=report.not_in_graph)), out_file)
    return model, report
