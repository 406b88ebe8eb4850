"""The weights a PaddleOCR config names: ``Global.checkpoints`` (resume) and ``Global.pretrained_model`` (weights
only), found as PaddleOCR finds them (:func:`resolve_checkpoint`) and turned into ``load_from`` / ``resume`` or the
backbone's ``init_cfg`` (:func:`translate_weights`)."""
from __future__ import annotations

import glob
import logging
import os
from typing import Any

from visioncraft.config.config import ConfigError
from visioncraft.fileio.checkpoint import read_last_checkpoint

from .doc import PaddleOCRDoc

__all__ = ['find_checkpoint', 'resolve_checkpoint', 'translate_weights']

_logger = logging.getLogger('visioncraft')
_PADDLE_STATES = ('.pdopt', '.states')
_PADDLE_STATE_FILE = ('a PaddlePaddle optimizer / training-state file, not weights: name the checkpoint without the '
                      'suffix (PaddleOCR\'s form), or its .pdparams / .pth file')


def find_checkpoint(value: str) -> tuple[str | None, str]:
    """``(file, why)``: the checkpoint file ``Global.pretrained_model`` / ``Global.checkpoints`` names, found as
    PaddleOCR finds it, or ``(None, why not)``.

    As PaddleOCR, the path may omit the extension (``output/db/iter_epoch_3`` finds ``iter_epoch_3.pth``, else
    PaddleOCR's ``iter_epoch_3.pdparams``, which the checkpoint loader reads too).
    PaddleOCR's ``latest`` finds the work dir's ``last_checkpoint`` pointer, ``best_accuracy`` the newest
    ``best_*.pth``. ``torchvision://`` and http(s) URLs are returned unchanged.
    """
    value = os.path.expanduser(str(value))
    if value.startswith(('torchvision://', 'http://', 'https://')):
        return value, ''
    if value.endswith(_PADDLE_STATES):
        return None, _PADDLE_STATE_FILE
    for candidate in (value, value + '.pth', value + '.pdparams'):  # .pdparams: PaddleOCR's own weights
        if os.path.isfile(candidate):
            return candidate, ''
    folder, base = os.path.split(value)
    if base == 'latest':
        found = read_last_checkpoint(folder or '.')[1]
        if found is not None:
            return str(found), ''
    if base == 'best_accuracy':
        best = sorted(glob.glob(os.path.join(folder or '.', 'best_*.pth')), key=os.path.getmtime)
        if best:
            return best[-1], ''
    return None, f'none of {value!r}, {value + ".pth"!r}, {value + ".pdparams"!r} exists'


def resolve_checkpoint(value: str, key: str, label: str) -> str:
    """The checkpoint file ``Global.pretrained_model`` / ``Global.checkpoints`` names (:func:`find_checkpoint`);
    a :class:`ConfigError` naming ``label`` and ``key`` when there is none."""
    found, why = find_checkpoint(value)
    if found is None:
        raise ConfigError(f'{label}: {key}={os.path.expanduser(str(value))!r}: {why}')
    return found


def translate_weights(doc: PaddleOCRDoc, model: dict) -> dict[str, Any]:
    """``load_from`` and ``resume`` of the internal config, and the ``checkpoints`` / ``pretrained_model`` paths
    (None when not set). ``checkpoints`` (resume) wins over ``pretrained_model`` (weights only); a
    ``checkpoints`` path that names nothing falls back to ``pretrained_model`` with a warning, as PaddleOCR's guide
    says. A path that names no file is not an error here (``visioncraft config`` prints the file; the weights may be
    written later): it stays as written, with a warning, and loading it is the error (naming the path);
    ``torchvision://`` weights go to the ``backbone`` of ``model`` (its ``init_cfg``, set here)."""
    g = doc.section('Global')
    label = doc.label
    ckpt, pretrained = g.get('checkpoints'), g.get('pretrained_model')
    out: dict[str, Any] = dict(load_from=None, resume=False, checkpoints=None, pretrained_model=None)
    if ckpt:
        found, why = find_checkpoint(ckpt)
        if found is not None or not pretrained:
            if found is None:
                _logger.warning(f'{label}: Global.checkpoints={ckpt!r}: {why}; resuming from it will fail')
            out['load_from'] = out['checkpoints'] = found or str(ckpt)
            out['resume'] = True
            return out
        # PaddleOCR's rule: a wrong Global.checkpoints path falls back to Global.pretrained_model
        _logger.warning(f'{label}: Global.checkpoints={ckpt!r}: {why}; loading Global.pretrained_model='
                        f'{pretrained!r} instead (weights only, training starts at epoch 0), as PaddleOCR does')
    if pretrained:
        found, why = find_checkpoint(pretrained)
        if found is None:
            _logger.warning(f'{label}: Global.pretrained_model={pretrained!r}: {why}; loading it will fail')
        path = out['pretrained_model'] = found or str(pretrained)
        if path.startswith('torchvision://'):
            backbone = model.get('backbone')
            if not isinstance(backbone, dict):
                raise doc.error('Global.pretrained_model', 'torchvision:// weights go to the backbone, and this '
                                                           'model has no backbone config')
            backbone['init_cfg'] = dict(type='Pretrained', checkpoint=path)
        else:
            out['load_from'] = path
    return out
