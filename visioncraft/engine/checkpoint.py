"""Checkpoint files: atomic writes, safe loads, URL caching and key reports.

* :func:`save_checkpoint` writes to a temporary file in the same directory, flushes and fsyncs it, then
  renames it over the target (``os.replace`` is atomic on POSIX), and fsyncs the directory. A process
  killed at any moment leaves either the old file or the new one, never a torn one.
* :func:`load_checkpoint_file` always uses ``torch.load(weights_only=True)``; ``http(s)://`` paths are
  downloaded once into ``$TORCH_HOME/hub/checkpoints`` (``torch.hub.get_dir()``), as torch.hub does.
* :func:`load_model_weights` loads a state dict into a model and reports missing, unexpected and
  shape-mismatched keys instead of failing on the first one.
"""
from __future__ import annotations

import io
import logging
import os
import tempfile
import urllib.parse
from collections import OrderedDict
from pathlib import Path
from typing import Any

import torch
from torch import nn

__all__ = ['save_checkpoint', 'atomic_write_bytes', 'atomic_write_text', 'load_checkpoint_file',
           'load_model_weights', 'extract_state_dict', 'find_latest_checkpoint', 'cached_download',
           'LoadReport']

_logger = logging.getLogger('visioncraft')


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` so that readers see the old or the new content, never a mix."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f'.{path.name}.', suffix='.tmp', dir=path.parent)
    try:
        with os.fdopen(fd, 'wb') as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    _fsync_dir(path.parent)


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    atomic_write_bytes(path, text.encode('utf-8'))


def save_checkpoint(checkpoint: dict[str, Any], path: str | os.PathLike) -> None:
    """Serialise ``checkpoint`` with ``torch.save`` and write it atomically to ``path``."""
    buf = io.BytesIO()
    torch.save(checkpoint, buf)
    atomic_write_bytes(path, buf.getvalue())


def cached_download(url: str, cache_dir: str | os.PathLike | None = None, progress: bool = False) -> Path:
    """Download ``url`` once into ``cache_dir`` (default ``torch.hub.get_dir()/checkpoints``)."""
    if cache_dir is None:
        cache_dir = Path(torch.hub.get_dir()) / 'checkpoints'
    cache_dir = Path(cache_dir)
    cache_dir.mkdir(parents=True, exist_ok=True)
    name = os.path.basename(urllib.parse.urlparse(url).path) or 'checkpoint.pth'
    dst = cache_dir / name
    if not dst.exists():
        _logger.info(f'Downloading {url} to {dst}')
        try:
            torch.hub.download_url_to_file(url, str(dst), progress=progress)
        except Exception as exc:
            raise RuntimeError(f'could not download checkpoint {url}: {exc}. Download it by hand and put it at '
                               f'{dst} (or pass the local path instead of the URL)') from exc
    return dst


def load_checkpoint_file(filename: str | os.PathLike, map_location: str | torch.device = 'cpu') -> dict:
    """Load a checkpoint from a path or an http(s) URL with ``torch.load(weights_only=True)``."""
    filename = str(filename)
    if filename.startswith(('http://', 'https://')):
        filename = str(cached_download(filename))
    if not os.path.isfile(filename):
        raise FileNotFoundError(f'checkpoint file not found: {filename}')
    try:
        return torch.load(filename, map_location=map_location, weights_only=True)
    except Exception as exc:
        raise RuntimeError(f'could not load checkpoint {filename}: {exc}') from exc


def extract_state_dict(checkpoint: dict) -> 'OrderedDict[str, torch.Tensor]':
    """The model weights inside a checkpoint: ours ('state_dict'), common others ('model'), or a bare one."""
    for key in ('state_dict', 'model', 'model_state_dict'):
        if key in checkpoint and isinstance(checkpoint[key], dict):
            sd = checkpoint[key]
            break
    else:
        sd = checkpoint
    out: OrderedDict[str, torch.Tensor] = OrderedDict()
    for k, v in sd.items():
        if k.startswith('module.'):  # saved from a DDP-wrapped model
            k = k[len('module.'):]
        out[k] = v
    return out


class LoadReport:
    """What happened when a state dict was loaded into a model."""

    def __init__(self, missing: list[str], unexpected: list[str], mismatched: list[tuple[str, tuple, tuple]]):
        self.missing = missing
        self.unexpected = unexpected
        self.mismatched = mismatched

    @property
    def clean(self) -> bool:
        return not (self.missing or self.unexpected or self.mismatched)

    def __str__(self) -> str:
        if self.clean:
            return 'all keys matched'
        lines = []
        if self.mismatched:
            lines.append('shape-mismatched keys (not loaded): ' + ', '.join(
                f'{k} (checkpoint {tuple(a)} vs model {tuple(b)})' for k, a, b in self.mismatched))
        if self.missing:
            lines.append(f'missing keys in checkpoint ({len(self.missing)}): ' + ', '.join(self.missing))
        if self.unexpected:
            lines.append(f'unexpected keys in checkpoint ({len(self.unexpected)}): ' + ', '.join(self.unexpected))
        return '\n'.join(lines)


def load_model_weights(model: nn.Module, state_dict: dict[str, torch.Tensor], *, strict: bool = False,
                       logger: logging.Logger | None = None) -> LoadReport:
    """Copy the weights that fit into ``model``; report the rest (an error when ``strict``)."""
    model = getattr(model, 'module', model)
    own = model.state_dict()
    to_load, mismatched = {}, []
    for k, v in state_dict.items():
        if k in own and own[k].shape != v.shape:
            mismatched.append((k, tuple(v.shape), tuple(own[k].shape)))
        else:
            to_load[k] = v
    result = model.load_state_dict(to_load, strict=False)
    report = LoadReport(list(result.missing_keys), list(result.unexpected_keys), mismatched)
    if strict and not report.clean:
        raise RuntimeError(f'strict weight loading failed:\n{report}')
    if logger is not None:
        if report.clean:
            logger.info('Loaded weights: all keys matched')
        else:
            logger.warning(f'Loaded weights with differences:\n{report}')
    return report


def find_latest_checkpoint(work_dir: str | os.PathLike) -> Path | None:
    """The checkpoint named by ``work_dir/last_checkpoint``, or None when there is none (or it is gone)."""
    pointer = Path(work_dir) / 'last_checkpoint'
    if not pointer.is_file():
        return None
    target = Path(pointer.read_text().strip())
    if not target.is_absolute():
        target = Path(work_dir) / target
    return target if target.is_file() else None
