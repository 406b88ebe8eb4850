"""Models by name for the APIs and commands: download, convert and resolve the entries of the model index
(:mod:`visioncraft.model_index`, the table; re-exported here).

* :func:`fetch_weights` downloads an entry's file once into ``<cache>/checkpoints/`` (resumable, checked against
  the published SHA-256: :func:`visioncraft.data.download.download_file`), converts it when the entry says so, and
  returns the checkpoint path. ``$VISIONCRAFT_WEIGHTS_BASE_URL`` (or ``base_url=``) fetches ``<base>/<file name>``
  from a mirror instead. Offline, the error names the file, its URL and the path to put it at.
* :func:`resolve_model` turns ``name-or-config`` + optional weights into ``(config, checkpoint)``;
  :func:`resolve_config_arg` does it for the APIs that also take a :class:`~visioncraft.config.Config`
  (``init_detector('faster-rcnn_r50_fpn_1x_coco')``, ``init_model``, the inferencers).
"""
from __future__ import annotations

import logging
import os
from pathlib import Path

from visioncraft.errors import UserError
from visioncraft.fileio.package_data import find_package_file
from visioncraft.model_index import (MODEL_INDEX, TASKS, ModelInfo, default_cache_dir, format_table, get_model,
                                    list_models)

__all__ = ['ModelInfo', 'MODEL_INDEX', 'TASKS', 'WEIGHTS_BASE_URL_ENV', 'list_models', 'get_model',
           'weights_cache_dir', 'fetch_weights', 'resolve_model', 'resolve_config_arg', 'is_model_name',
           'looks_like_model_name', 'format_table']

_logger = logging.getLogger(__name__)

WEIGHTS_BASE_URL_ENV = 'VISIONCRAFT_WEIGHTS_BASE_URL'


def weights_cache_dir() -> Path:
    """``<cache>/checkpoints`` (:func:`visioncraft.model_index.default_cache_dir`)."""
    return default_cache_dir() / 'checkpoints'


def fetch_weights(model: str | ModelInfo, *, cache_dir: str | os.PathLike | None = None,
                  base_url: str | None = None, retries: int = 3, timeout: float = 60.0) -> Path:
    """The checkpoint of a named model: downloaded once (resumable, checked against the published SHA-256),
    converted once when the entry says so, then read from the cache.

    Raises:
        UserError: the model has no download (the PP-OCR models come from the rapidocr package), or the file could
            not be fetched: the message names the URL and the path to put the file at by hand.
    """
    from visioncraft.data.download import DownloadError, RemoteFile, download_file
    info = model if isinstance(model, ModelInfo) else get_model(model)
    if info.url is None:
        raise UserError(f'{info.name}: its weights come from {info.source}, not a download; '
                        '`visioncraft ocr` and `visioncraft import-weights` load them')
    folder = Path(cache_dir) if cache_dir is not None else weights_cache_dir()
    base_url = base_url or os.environ.get(WEIGHTS_BASE_URL_ENV) or None
    dest = folder / info.file_name
    try:
        path = download_file(RemoteFile(info.url, sha256=info.sha256), folder, base_url=base_url,
                             retries=retries, timeout=timeout)
    except DownloadError as exc:
        where = f'{base_url.rstrip("/")}/{info.file_name}' if base_url else info.url
        raise UserError(f'{info.name}: could not download its weights {where} ({exc}). Without a network, fetch '
                        f'that file elsewhere and put it at {dest} (or pass the file as the weights)') from None
    if info.convert and info.convert.startswith('torchvision:'):
        return _converted_torchvision(path, info.convert.split(':', 1)[1])
    return path


def _converted_torchvision(src: Path, arch: str) -> Path:
    """``src`` (torchvision's checkpoint) converted to ours with the 80 COCO classes, once:
    ``<src stem>.coco80.pth`` next to it (written atomically)."""
    dst = src.with_name(f'{src.stem}.coco80.pth')
    if dst.is_file() and dst.stat().st_mtime >= src.stat().st_mtime:
        return dst
    from visioncraft.errors import read_checkpoint
    from visioncraft.fileio.checkpoint import save_checkpoint
    from visioncraft.tasks.detection.models import convert_torchvision as ctv
    converters = dict(retinanet=ctv.retinanet_from_torchvision, fasterrcnn=ctv.fasterrcnn_from_torchvision,
                      maskrcnn=ctv.maskrcnn_from_torchvision, fcos=ctv.fcos_from_torchvision)
    _, weights = read_checkpoint(src)
    state = converters[arch](weights, coco80=True)
    save_checkpoint(dict(state_dict=state, meta=ctv.converted_meta(arch, True, str(src))), dst)
    _logger.info(f'converted {src} to {dst}')
    return dst


def resolve_model(model: str | os.PathLike, weights: str | os.PathLike | None = None, *,
                  task: str | None = None, download: bool = True) -> tuple[str, str | None]:
    """``(config file, checkpoint)`` for ``model``: a config file is returned as it is with ``weights``; a name of
    the index gives its shipped config and, when ``weights`` is None, its downloaded checkpoint
    (:func:`fetch_weights`; a PP-OCR model's is converted from the installed rapidocr package's ONNX file and cached
    by :func:`~visioncraft.apis.ppocr_models.ppocr_checkpoint`; with ``download=False`` the checkpoint stays
    None)."""
    key = os.fspath(model)
    if Path(key).is_file() or Path(key).is_dir():
        return key, None if weights is None else os.fspath(weights)
    info = get_model(key, task)
    config = str(find_package_file(info.config))
    if weights is not None:
        return config, os.fspath(weights)
    if not download:
        return config, None
    if info.url is None and info.convert == 'ppocr':
        from .ppocr_models import ppocr_checkpoint
        return config, str(ppocr_checkpoint(info.name))
    return config, str(fetch_weights(info))


#: the file suffixes of configs: a string ending in one is a config path, never a model name
_CONFIG_SUFFIXES = ('.py', '.yml', '.yaml', '.json')


def looks_like_model_name(spec: object) -> bool:
    """Whether ``spec`` is meant as a model name rather than a file: a string that names no existing file or
    folder, has no path separator and does not end in a config suffix (``.py``, ``.yml``...)."""
    if not isinstance(spec, str) or os.path.exists(spec):
        return False
    return '/' not in spec and os.sep not in spec and not spec.lower().endswith(_CONFIG_SUFFIXES)


def is_model_name(spec: object, task: str | None = None) -> bool:
    """Whether ``spec`` is a name or alias of the index (of ``task`` when given) and no existing path."""
    if not looks_like_model_name(spec):
        return False
    try:
        get_model(spec, task)
    except UserError:
        return False
    return True


def resolve_config_arg(config, checkpoint, *, task: str):
    """For the APIs that take a config: ``(config, checkpoint)`` with a model name of the index (``task``'s)
    replaced by its shipped config and, when ``checkpoint`` is None, its downloaded weights. A :class:`Config`, an
    existing path, or a string that looks like a path is returned as it is; a string that looks like a name but is
    none of the index is a :class:`UserError` listing the closest names."""
    if not looks_like_model_name(config if not isinstance(config, os.PathLike) else os.fspath(config)):
        return config, checkpoint
    return resolve_model(str(config), checkpoint, task=task)
