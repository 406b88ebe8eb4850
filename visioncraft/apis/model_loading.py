"""Build a model for inference: ``cfg.model`` without its backbone's pretrained download, with a checkpoint's
weights (:func:`build_model_with_weights`, shared by :func:`~visioncraft.apis.init_detector` and
:func:`~visioncraft.apis.init_model`), or the predictor of an exported model directory (:func:`load_exported`, for
the inferencers)."""
from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from torch import nn

from visioncraft.config import Config
from visioncraft.errors import AnnotationError, CheckpointError, mark_user_error, read_checkpoint
from visioncraft.fileio.checkpoint import (check_weights_fit, checkpoint_meta, load_model_weights,
                                          partial_weights_allowed)
from visioncraft.registry import MODELS, config_file_context

__all__ = ['build_model_with_weights', 'is_exported_dir', 'load_exported']

_logger = logging.getLogger('visioncraft')


def build_model_with_weights(cfg: Config, checkpoint: str | os.PathLike | None, who: str, *,
                             allow_partial: bool | None = None) -> tuple[nn.Module, dict | None]:
    """``(model, checkpoint meta or None)``: ``cfg.model`` built without its backbone's pretrained ``init_cfg`` (the
    checkpoint holds the trained weights; nothing is downloaded), with ``checkpoint``'s weights loaded; a warning
    when there is no checkpoint. ``who`` names the caller in messages.

    A checkpoint that fits the model badly (a shape mismatch, or more missing weights than
    :data:`~visioncraft.fileio.checkpoint.MAX_MISSING_FRACTION` of the model's) is a
    :class:`~visioncraft.fileio.checkpoint.CheckpointFitError` naming it, unless ``allow_partial`` (None:
    ``$VISIONCRAFT_ALLOW_PARTIAL_WEIGHTS``), which loads what fits with a warning listing the rest."""
    if 'model' not in cfg:
        hint = (' (a PaddleOCR-layout YAML? translate it first: visioncraft config FILE.yml > FILE.py)'
                if str(cfg.filename or '').endswith(('.yml', '.yaml')) else '')
        raise mark_user_error(KeyError(f'{who}: the config {cfg.filename or ""} has no "model" section{hint}'))
    if isinstance(cfg.model.get('backbone'), dict):
        cfg.model.backbone.init_cfg = None
    with config_file_context(cfg.filename):  # a build error names the config file and the key path
        model = MODELS.build(cfg.model, key_path='model')
    if checkpoint is None:
        _logger.warning(f'{who}: no checkpoint given; the model keeps its random initialisation')
        return model, None
    ckpt, state_dict = read_checkpoint(checkpoint, map_location='cpu')
    partial = partial_weights_allowed(allow_partial)
    try:  # before loading: a bad fit is an error naming the file, the counts and the first keys
        check_weights_fit(model, state_dict, checkpoint, partial=partial)
    except CheckpointError as exc:
        raise mark_user_error(exc, who) from None
    report = load_model_weights(model, state_dict, logger=_logger, source=checkpoint, meta=checkpoint_meta(ckpt))
    if not report.clean:
        _logger.warning(f'{who}: checkpoint {checkpoint} does not fully match the model')
    meta = ckpt.get('meta') if isinstance(ckpt, dict) else None
    return model, meta if isinstance(meta, dict) else None


def is_exported_dir(model: Any) -> bool:
    """Whether ``model`` names a folder, which the inferencers take for a directory written by ``visioncraft export``
    (its ``inference.json`` is checked when it is loaded: :func:`load_exported`)."""
    return isinstance(model, (str, os.PathLike)) and Path(model).is_dir()


def load_exported(model_dir: str | os.PathLike, tasks: Sequence[str], what: str, who: str, device: str,
                  backend: str = 'onnxruntime'):
    """The predictor (:func:`visioncraft.export.predictor.load_predictor`) of the export directory ``model_dir``,
    whose ``task`` must be one of ``tasks`` (``what``: ``'detector'``, ``'pose model'``, in messages). A clear error
    naming the directory when it is no export, an export of another task, or one this visioncraft has no predictor
    for yet."""
    # export.core imports apis: a module-level import of visioncraft.export would be a cycle
    from visioncraft.export.predictor import exported_task, load_predictor
    task = exported_task(model_dir)  # FileNotFoundError naming the directory when it holds no inference.json
    if task not in tasks:
        raise mark_user_error(ValueError(f'{who}: {model_dir} is an exported {task} model, not a {what} (an export '
                                         f'whose task is {" or ".join(tasks)})'))
    try:
        return load_predictor(model_dir, backend=backend, device=device)
    except AnnotationError as exc:  # load_predictor knows no predictor for this task (or inference.json is broken)
        raise mark_user_error(NotImplementedError(
            f'{who}: {model_dir} is an exported {task} model, but this visioncraft cannot run it: {exc}')) from None
