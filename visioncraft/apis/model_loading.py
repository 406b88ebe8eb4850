"""Build a model for inference: ``cfg.model`` without its backbone's pretrained download, with a checkpoint's
weights. Shared by :func:`~visioncraft.apis.init_detector` and :func:`~visioncraft.apis.init_model`."""
from __future__ import annotations

import logging
import os

from torch import nn

from visioncraft.config import Config
from visioncraft.errors import mark_user_error, read_checkpoint
from visioncraft.fileio.checkpoint import load_model_weights
from visioncraft.registry import MODELS

__all__ = ['build_model_with_weights']

_logger = logging.getLogger('visioncraft')


def build_model_with_weights(cfg: Config, checkpoint: str | os.PathLike | None,
                             who: str) -> tuple[nn.Module, dict | None]:
    """``(model, checkpoint meta or None)``: ``cfg.model`` built without its backbone's pretrained ``init_cfg`` (the
    checkpoint holds the trained weights; nothing is downloaded), with ``checkpoint``'s weights loaded (a warning
    when they do not fully match; another when there is no checkpoint). ``who`` names the caller in messages."""
    if 'model' not in cfg:
        hint = (' (a PaddleOCR-layout YAML? translate it first: visioncraft config FILE.yml > FILE.py)'
                if str(cfg.filename or '').endswith(('.yml', '.yaml')) else '')
        raise mark_user_error(KeyError(f'{who}: the config {cfg.filename or ""} has no "model" section{hint}'))
    if isinstance(cfg.model.get('backbone'), dict):
        cfg.model.backbone.init_cfg = None
    model = MODELS.build(cfg.model, key_path='model')
    if checkpoint is None:
        _logger.warning(f'{who}: no checkpoint given; the model keeps its random initialisation')
        return model, None
    ckpt, state_dict = read_checkpoint(checkpoint, map_location='cpu')
    report = load_model_weights(model, state_dict, logger=_logger, source=checkpoint)
    if not report.clean:
        _logger.warning(f'{who}: checkpoint {checkpoint} does not fully match the model')
    meta = ckpt.get('meta') if isinstance(ckpt, dict) else None
    return model, meta if isinstance(meta, dict) else None
