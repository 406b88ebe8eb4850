"""Models by name for the APIs and commands: download, convert and resolve the entries of the model index
(:mod:`visioncraft.model_index`, the table; re-exported here).

* :func:`fetch_weights` downloads an entry's file once into ``<cache>/checkpoints/`` (resumable, checked against
  the published SHA-256: :func:`visioncraft.data.download.download_file`), converts it when the entry says so, and
  returns the checkpoint path. ``$VISIONCRAFT_WEIGHTS_BASE_URL`` (or ``base_url=``) fetches ``<base>/<file name>``
  from a mirror instead. Offline, the error names the file, its URL and the path to put it at.
* :func:`resolve_model` turns ``name-or-config`` + optional weights into ``(config, checkpoint)``.
"""
from __future__ import annotations

import logging
import os
from pathlib import Path

from visioncraft.errors import UserError
from visioncraft.fileio.package_data import find_package_file
from visioncraft.model_index import MODEL_INDEX, TASKS, ModelInfo, format_table, get_model, list_models

__all__ = ['ModelInfo', 'MODEL_INDEX', 'TASKS', 'WEIGHTS_BASE_URL_ENV', 'list_models', 'get_model',
           'weights_cache_dir', 'fetch_weights', 'resolve_model', 'format_table']

_logger = logging.getLogger(__name__)

WEIGHTS_BASE_URL_ENV = 'VISIONCRAFT_WEIGHTS_BASE_URL'


def weights_cache_dir() -> Path:
    """``<cache>/checkpoints``: ``$VISIONCRAFT_CACHE_DIR``, else ``$XDG_CACHE_HOME/visioncraft``, else
    ``~/.cache/visioncraft``."""
    if os.environ.get('VISIONCRAFT_CACHE_DIR'):
        root = Path(os.environ['VISIONCRAFT_CACHE_DIR']).expanduser()
    else:
        root = Path(os.environ.get('XDG_CACHE_HOME') or '~/.cache').expanduser() / 'visioncraft'
    return root / 'checkpoints'


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
    (:func:`fetch_weights`; with ``download=False`` the checkpoint stays None)."""
    key = os.fspath(model)
    if Path(key).is_file() or Path(key).is_dir():
        return key, None if weights is None else os.fspath(weights)
    info = get_model(key, task)
    config = str(find_package_file(info.config))
    if weights is not None:
        return config, os.fspath(weights)
    return config, str(fetch_weights(info)) if download and info.url else None
