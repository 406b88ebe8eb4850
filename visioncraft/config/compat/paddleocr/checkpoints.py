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

__all__ = ['resolve_checkpoint', 'translate_weights']

_logger = logging.getLogger('visioncraft')


def resolve_checkpoint(value: str, key: str, label: str) -> str:
    """The checkpoint file ``Global.pretrained_model`` / ``Global.checkpoints`` names.

    As PaddleOCR, the path may omit the extension (``output/db/iter_epoch_3`` finds ``iter_epoch_3.pth``).
    PaddleOCR's ``latest`` finds the work dir's ``last_checkpoint`` pointer, ``best_accuracy`` the newest
    ``best_*.pth``. ``torchvision://`` and http(s) URLs are returned unchanged.
    """
    value = os.path.expanduser(str(value))
    if value.startswith(('torchvision://', 'http://', 'https://')):
        return value
    if value.endswith(('.pdparams', '.pdopt', '.states')):
        raise ConfigError(f'{label}: {key}={value!r} is a PaddlePaddle file; this library loads PyTorch '
                          f'checkpoints (.pth) saved by its own training')
    if os.path.isfile(value):
        return value
    if os.path.isfile(value + '.pth'):
        return value + '.pth'
    folder, base = os.path.split(value)
    if base == 'latest':
        found = read_last_checkpoint(folder or '.')[1]
        if found is not None:
            return str(found)
    if base == 'best_accuracy':
        best = sorted(glob.glob(os.path.join(folder or '.', 'best_*.pth')), key=os.path.getmtime)
        if best:
            return best[-1]
    raise ConfigError(f'{label}: {key}={value!r}: neither {value!r} nor {value + ".pth"!r} exists')


def translate_weights(doc: PaddleOCRDoc, model: dict) -> dict[str, Any]:
    """``load_from`` and ``resume`` of the internal config, and the resolved ``checkpoints`` / ``pretrained_model``
    paths (None when not set). ``checkpoints`` (resume) wins over ``pretrained_model`` (weights only); a
    ``checkpoints`` path that names nothing falls back to ``pretrained_model`` with a warning, as PaddleOCR's guide
    says (and is an error without one);
    ``torchvision://`` weights go to the ``backbone`` of ``model`` (its ``init_cfg``, set here)."""
    g = doc.section('Global')
    label = doc.label
    ckpt, pretrained = g.get('checkpoints'), g.get('pretrained_model')
    out: dict[str, Any] = dict(load_from=None, resume=False, checkpoints=None, pretrained_model=None)
    if ckpt:
        try:
            out['load_from'] = out['checkpoints'] = resolve_checkpoint(ckpt, 'Global.checkpoints', label)
            out['resume'] = True
        except ConfigError as exc:
            if not pretrained:
                raise
            # PaddleOCR's rule: a wrong Global.checkpoints path falls back to Global.pretrained_model
            _logger.warning(f'{exc}; loading Global.pretrained_model={pretrained!r} instead (weights only, '
                            'training starts at epoch 0), as PaddleOCR does')
            ckpt = None
    if not ckpt and pretrained:
        path = out['pretrained_model'] = resolve_checkpoint(pretrained, 'Global.pretrained_model', label)
        if path.startswith('torchvision://'):
            backbone = model.get('backbone')
            if not isinstance(backbone, dict):
                raise doc.error('Global.pretrained_model', 'torchvision:// weights go to the backbone, and this '
                                                           'model has no backbone config')
            backbone['init_cfg'] = dict(type='Pretrained', checkpoint=path)
        else:
            out['load_from'] = path
    return out
