"""Checkpoint files: atomic writes, safe loads, URL caching and key reports.

* :func:`save_checkpoint` writes to a temporary file in the same directory, flushes and fsyncs it, then
  renames it over the target (``os.replace`` is atomic on POSIX), and fsyncs the directory. A process
  killed at any moment leaves either the old file or the new one, never a torn one. The file gets the
  mode the umask gives (``0666 & ~umask``), as ``open`` would; a killed write's temporary file
  (``.NAME.PID-XXXX.tmp``) is removed by :func:`remove_stale_temp_files`.
* ``last_checkpoint`` (:func:`write_last_checkpoint`, :func:`read_last_checkpoint`) names the latest
  checkpoint relative to the work dir, so a copied or moved work dir resumes from its own files.
* :func:`load_checkpoint_file` always uses ``torch.load(weights_only=True)``; ``http(s)://`` paths are
  downloaded once into ``$TORCH_HOME/hub/checkpoints`` (``torch.hub.get_dir()``), as torch.hub does.
* :func:`load_model_weights` loads a state dict into a model and reports missing, unexpected and
  shape-mismatched keys instead of failing on the first one.
"""
from __future__ import annotations

import errno
import io
import logging
import os
import re
import secrets
import urllib.parse
from collections import OrderedDict
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..errors import CheckpointError
from .paddle import is_paddle_file, is_paddle_state_dict, load_paddle_weights, paddle_to_torch_state_dict
from .upstream import convert_upstream_state_dict
from .upstream.mmocr import reorder_mmocr0x_ctc_classes

__all__ = ['save_checkpoint', 'atomic_write_bytes', 'atomic_write_text', 'load_checkpoint_file',
           'load_model_weights', 'extract_state_dict', 'find_latest_checkpoint', 'cached_download',
           'LoadReport', 'CheckpointMismatchError', 'CheckpointFitError', 'check_weights_fit', 'weights_fit_report',
           'fit_problem', 'partial_weights_allowed', 'PARTIAL_WEIGHTS_ENV', 'OPTIONAL_KEY_SUFFIXES',
           'MAX_MISSING_FRACTION', 'remove_stale_temp_files',
           'write_last_checkpoint', 'read_last_checkpoint', 'checkpoint_candidates', 'LAST_CHECKPOINT', 'LATEST_ALIAS',
           'resolve_checkpoint_alias', 'checkpoint_meta']

#: the work dir's pointer to its latest checkpoint
LAST_CHECKPOINT = 'last_checkpoint'
#: MMPose's / mmcv's name for a work dir's latest checkpoint, accepted as an alias of what last_checkpoint names
LATEST_ALIAS = 'latest.pth'
# .NAME.PID-RANDOM.tmp (ours) or .NAME.XXXXXXXX.tmp (mkstemp, written by versions before 0.2)
_TEMP_RE = re.compile(r'^\.(?P<name>.+)\.(?:(?P<pid>\d+)-[0-9a-f]+|[A-Za-z0-9_]{8})\.tmp$')

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
    while True:  # O_EXCL with mode 0666: the umask decides the final mode, as for any file the user writes
        tmp = path.parent / f'.{path.name}.{os.getpid()}-{secrets.token_hex(4)}.tmp'
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
            break
        except FileExistsError:
            continue
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


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale_temp_files(folder: str | os.PathLike) -> list[str]:
    """Remove the temporary files that killed checkpoint / pointer writes left in ``folder``.

    Only our own temporary names are touched (``.NAME.PID-XXXX.tmp``, and the older ``.NAME.XXXXXXXX.tmp``)
    where NAME is a ``.pth`` checkpoint or ``last_checkpoint``; a file whose PID is another process that is
    still alive (a write in progress) is kept. Returns the names removed.
    """
    folder = Path(folder)
    removed = []
    if not folder.is_dir():
        return removed
    me = os.getpid()
    for entry in os.scandir(folder):
        m = _TEMP_RE.match(entry.name)
        if not m or not entry.is_file(follow_symlinks=False):
            continue
        name = m.group('name')
        if not (name.endswith('.pth') or name == LAST_CHECKPOINT):
            continue
        pid = m.group('pid')
        if pid is not None and int(pid) != me and _pid_alive(int(pid)):
            continue
        try:
            os.unlink(entry.path)
            removed.append(entry.name)
        except FileNotFoundError:
            pass
    return removed


def write_last_checkpoint(work_dir: str | os.PathLike, checkpoint: str | os.PathLike) -> None:
    """Point ``work_dir/last_checkpoint`` at ``checkpoint``: relative to the work dir when it lies inside it
    (a copied or moved work dir then resumes from its own files), absolute otherwise (``out_dir`` elsewhere)."""
    work_dir = Path(work_dir).absolute()
    checkpoint = Path(checkpoint).absolute()
    try:
        text = checkpoint.relative_to(work_dir).as_posix()
    except ValueError:
        text = str(checkpoint)
    atomic_write_text(work_dir / LAST_CHECKPOINT, text)


def read_last_checkpoint(work_dir: str | os.PathLike) -> tuple[Path | None, Path | None]:
    """``(named, found)`` for ``work_dir/last_checkpoint``: the path the pointer names (None without a
    pointer) and that file if it exists. A relative pointer is relative to the work dir. An absolute pointer
    (older versions, MMEngine) into another folder is not followed when this work dir holds a file of the
    same name: a copied work dir then resumes from its own copy, never from (and never touches) the original.
    """
    work_dir = Path(work_dir)
    pointer = work_dir / LAST_CHECKPOINT
    if not pointer.is_file():
        return None, None
    text = pointer.read_text(encoding='utf-8', errors='replace').strip()
    if not text:
        return None, None
    named = Path(text)
    if not named.is_absolute():
        named = work_dir / named
    else:
        own = work_dir / named.name
        if named.parent.resolve() != work_dir.resolve() and own.is_file():
            named = own
    return named, (named if named.is_file() else None)


_CKPT_NAME = re.compile(r'^(?:iter_)?(?:epoch|iter)_(\d+)\.pth$')


def checkpoint_candidates(work_dir: str | os.PathLike) -> list[Path]:
    """The periodic checkpoints of ``work_dir`` (``epoch_N.pth``, ``iter_N.pth``, PaddleOCR's
    ``iter_epoch_N.pth``), newest first: by modification time, then by N."""
    work_dir = Path(work_dir)
    if not work_dir.is_dir():
        return []
    found = []
    for p in work_dir.iterdir():
        m = _CKPT_NAME.match(p.name)
        if m and p.is_file():
            found.append((p.stat().st_mtime, int(m.group(1)), p))
    return [p for _, _, p in sorted(found, key=lambda t: (t[0], t[1]), reverse=True)]


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


def resolve_checkpoint_alias(filename: str) -> str:
    """The checkpoint a work dir's alias stands for: ``WORK_DIR/last_checkpoint`` (the pointer file) and
    ``WORK_DIR/latest.pth`` when no such file exists (the name MMPose's and mmcv's guides resume and test from)
    are the checkpoint ``last_checkpoint`` names; any other path is returned as it is."""
    base, folder = os.path.basename(filename), os.path.dirname(filename) or '.'
    if base == LAST_CHECKPOINT and os.path.isfile(filename):
        named, found = read_last_checkpoint(folder)
        if found is None:
            raise FileNotFoundError(f'{filename} names {named}, which does not exist' if named else
                                    f'{filename} is empty')
        return str(found)
    pointer = os.path.join(folder, LAST_CHECKPOINT)
    if base == LATEST_ALIAS and not os.path.exists(filename) and os.path.isfile(pointer):
        named, found = read_last_checkpoint(folder)
        if found is None:
            raise FileNotFoundError(f'{filename}: no such file, and {pointer} names '
                                    f'{named}, which does not exist')
        _logger.info(f'{filename} stands for the work dir\'s latest checkpoint, {found}')
        return str(found)
    return filename


def load_checkpoint_file(filename: str | os.PathLike, map_location: str | torch.device = 'cpu') -> dict:
    """Load a checkpoint from a path or an http(s) URL with ``torch.load(weights_only=True)``."""
    filename = str(filename)
    if filename.startswith(('http://', 'https://')):
        filename = str(cached_download(filename))
    filename = resolve_checkpoint_alias(filename)
    if os.path.isdir(filename):
        raise IsADirectoryError(errno.EISDIR, f'checkpoint {filename} is a folder, not a file')
    if not os.path.isfile(filename) and os.path.isfile(filename + '.pdparams'):
        filename += '.pdparams'  # PaddleOCR names checkpoints without the suffix
    if not os.path.isfile(filename):
        raise FileNotFoundError(f'checkpoint file not found: {filename}')
    if is_paddle_file(filename):  # Paddle names, as numpy: load_model_weights renames them for the model
        weights = load_paddle_weights(filename)
        return dict(state_dict=OrderedDict((k, torch.from_numpy(v.copy())) for k, v in weights.items()),
                    meta=dict(source=filename, source_format='paddle'))
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


class CheckpointMismatchError(CheckpointError, ValueError):
    """Not one weight of a checkpoint fits the model (another model's checkpoint, or a wrong prefix)."""


class LoadReport:
    """What happened when a state dict was loaded into a model."""

    def __init__(self, missing: list[str], unexpected: list[str], mismatched: list[tuple[str, tuple, tuple]]):
        self.missing = missing
        self.unexpected = unexpected
        self.mismatched = mismatched
        #: how many tensors the model's state dict holds (set by :func:`weights_fit_report`)
        self.num_model_tensors: int | None = None

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


class CheckpointFitError(CheckpointMismatchError):
    """A checkpoint fits the model badly (a shape mismatch, or more than a few missing weights): at inference and
    test time an error, since the model would run with part of its weights random (:func:`fit_problem`)."""


#: the environment variable that lets inference and test load a checkpoint that fits badly (a warning instead of
#: :class:`CheckpointFitError`): ``VISIONCRAFT_ALLOW_PARTIAL_WEIGHTS=1``
PARTIAL_WEIGHTS_ENV = 'VISIONCRAFT_ALLOW_PARTIAL_WEIGHTS'
#: model keys a checkpoint may lack without harm (BatchNorm's step counter, which inference never reads)
OPTIONAL_KEY_SUFFIXES: tuple[str, ...] = ('num_batches_tracked',)
#: the share of the model's tensors that may be missing from a checkpoint before the fit is bad (rounded down:
#: a model of fewer than 100 tensors may miss none)
MAX_MISSING_FRACTION = 0.01


def partial_weights_allowed(allow_partial: bool | None = None) -> bool:
    """``allow_partial`` when given, else whether ``$VISIONCRAFT_ALLOW_PARTIAL_WEIGHTS`` is set to a true value
    (``1``, ``true``, ``yes``, ``on``)."""
    if allow_partial is not None:
        return bool(allow_partial)
    return os.environ.get(PARTIAL_WEIGHTS_ENV, '').strip().lower() in ('1', 'true', 'yes', 'on')


def weights_fit_report(model: nn.Module, state_dict: dict) -> 'LoadReport':
    """What :func:`load_model_weights` would report for ``state_dict`` into ``model``, without loading anything
    (a PaddleOCR state dict is renamed first, as the loader does). ``report.num_model_tensors`` is set."""
    model = getattr(model, 'module', model)
    if is_paddle_state_dict(state_dict):
        state_dict = paddle_to_torch_state_dict(state_dict, model).state_dict
    own = model.state_dict()
    state_dict = convert_upstream_state_dict(state_dict, own).state_dict  # MMDetection / MMOCR / MMPose names
    mismatched, unexpected, given = [], [], set()
    for k, v in state_dict.items():
        if k not in own:
            unexpected.append(k)
        elif torch.is_tensor(v) and tuple(own[k].shape) != tuple(v.shape):
            mismatched.append((k, tuple(v.shape), tuple(own[k].shape)))
        else:
            given.add(k)
    missing = [k for k in own if k not in given and k not in {m[0] for m in mismatched}]
    report = LoadReport(missing, unexpected, mismatched)
    report.num_model_tensors = len(own)
    return report


def fit_problem(report: 'LoadReport', num_model_tensors: int | None = None) -> str | None:
    """Why ``report`` is a bad fit, or None when it is good enough for inference: any shape mismatch is bad, and
    so are more missing keys (those ending in :data:`OPTIONAL_KEY_SUFFIXES` not counted) than
    :data:`MAX_MISSING_FRACTION` of the model's tensors. Unexpected keys (extra weights the model does not use,
    such as an EMA copy) are not a bad fit."""
    n = num_model_tensors if num_model_tensors is not None else getattr(report, 'num_model_tensors', None)
    missing = [k for k in report.missing if not k.endswith(OPTIONAL_KEY_SUFFIXES)]
    allowed = int(MAX_MISSING_FRACTION * n) if n else 0
    parts = []
    if report.mismatched:
        parts.append(f'{len(report.mismatched)} weight(s) of another shape (' + ', '.join(
            f'{k}: checkpoint {tuple(a)} vs model {tuple(b)}' for k, a, b in report.mismatched[:3])
            + (', ...' if len(report.mismatched) > 3 else '') + ')')
    if len(missing) > allowed:
        of = f' of the model\'s {n}' if n else ''
        parts.append(f'{len(missing)}{of} weights missing (' + ', '.join(missing[:5])
                     + (', ...' if len(missing) > 5 else '') + ')')
    if not parts:
        return None
    if report.unexpected:
        parts.append(f'{len(report.unexpected)} checkpoint weight(s) the model has no place for ('
                     + ', '.join(report.unexpected[:3]) + (', ...' if len(report.unexpected) > 3 else '') + ')')
    return '; '.join(parts)


def check_weights_fit(model: nn.Module, state_dict: dict, source: str | os.PathLike | None = None, *,
                      partial: bool = True) -> None:
    """:class:`CheckpointMismatchError` naming ``source`` when not one weight of ``state_dict`` fits ``model`` by
    name and shape (another model's checkpoint, a wrong prefix): loading it would leave the model with its random
    initial weights. With ``partial`` (fine-tuning: ``load_from``) a checkpoint that fits in part passes (the
    loader reports the rest); without it (inference, test) a bad fit (:func:`fit_problem`) is a
    :class:`CheckpointFitError` naming ``source``, the counts and the first keys."""
    model = getattr(model, 'module', model)
    own = model.state_dict()
    if not own or not state_dict:
        return
    what = f'checkpoint {source}' if source is not None else 'the checkpoint'
    if is_paddle_state_dict(state_dict):  # a PaddleOCR .pdparams: judged under our names, as the loader loads it
        state_dict = paddle_to_torch_state_dict(state_dict, model).state_dict
    state_dict = convert_upstream_state_dict(state_dict, own).state_dict  # MMDetection / MMOCR / MMPose names
    if not any(k in own and torch.is_tensor(v) and tuple(own[k].shape) == tuple(v.shape)
               for k, v in state_dict.items()):
        same_names = [k for k in state_dict if k in own]
        theirs = ', '.join(map(str, list(state_dict)[:3])) + (', ...' if len(state_dict) > 3 else '')
        why = (f'its {len(same_names)} weight(s) named as in the model all have other shapes' if same_names else
               f'none of its {len(state_dict)} weight names ({theirs}) is one of the model\'s '
               f'({", ".join(list(own)[:3])}, ...)')
        raise CheckpointMismatchError(f'{what} does not fit the model {type(model).__name__}: {why}; is it the '
                                      'checkpoint of another model?')
    if partial:
        return
    problem = fit_problem(weights_fit_report(model, state_dict))
    if problem:
        raise CheckpointFitError(
            f'{what} fits the model {type(model).__name__} badly: {problem}. The model would run with those '
            f'weights random. Is it the checkpoint of this config? To load it anyway (fine-tuning, a deliberate '
            f'partial load) set {PARTIAL_WEIGHTS_ENV}=1 (or pass allow_partial=True to init_detector / init_model)')


def checkpoint_meta(checkpoint: Any) -> dict:
    """The ``meta`` dict of a loaded checkpoint file (``{}`` when it has none, or is a bare state dict): what
    :func:`load_model_weights` takes as ``meta``."""
    meta = checkpoint.get('meta') if isinstance(checkpoint, dict) else None
    return meta if isinstance(meta, dict) else {}


def load_model_weights(model: nn.Module, state_dict: dict[str, torch.Tensor], *, strict: bool = False,
                       logger: logging.Logger | None = None, source: str | os.PathLike | None = None,
                       meta: dict | None = None) -> LoadReport:
    """Copy the weights that fit into ``model``; report the rest (an error when ``strict``).

    A checkpoint of which not one weight fits (no key in common with the model, or every common key of
    another shape) raises :class:`CheckpointMismatchError` naming ``source``: running on with the random
    initial weights would look like a working model that predicts nothing.

    ``meta``: the checkpoint file's ``meta`` (:func:`checkpoint_meta`; ``{}`` for a file without one). It is the
    only thing that tells an MMOCR 0.x CRNN file from a 1.x one (same names and shapes, but 0.x puts the CTC
    blank first): an MMOCR 0.x file's classifier rows are put into our order
    (:func:`~visioncraft.fileio.upstream.mmocr.reorder_mmocr0x_ctc_classes`), an undecidable one is loaded as it
    is with a warning. None (default: a state dict with no file behind it) leaves the class order alone.
    """
    model = getattr(model, 'module', model)
    if is_paddle_state_dict(state_dict):  # a PaddleOCR .pdparams: its names become ours
        conversion = paddle_to_torch_state_dict(state_dict, model)
        if conversion.unused and logger is not None:
            logger.warning(f'{source or "the checkpoint"}: {len(conversion.unused)} Paddle weights fit nothing in '
                           f'the model and are skipped: {", ".join(conversion.unused[:8])}'
                           + (' ...' if len(conversion.unused) > 8 else ''))
        state_dict = conversion.state_dict
    own = model.state_dict()
    upstream = convert_upstream_state_dict(state_dict, own)  # MMDetection / MMOCR / MMPose names -> ours
    if upstream.renamed and logger is not None:
        logger.info(f'{source or "the checkpoint"}: {len(upstream.renamed)} weights renamed from '
                    f'{" / ".join(sorted(upstream.toolboxes))} names')
    state_dict = upstream.state_dict
    # MMOCR 0.x CTC recognisers: blank-first classes -> ours (needs the file's meta; names and shapes agree)
    state_dict, _ = reorder_mmocr0x_ctc_classes(state_dict, model, meta, source=source, logger=logger)
    to_load, mismatched = {}, []
    for k, v in state_dict.items():
        if k in own and own[k].shape != v.shape:
            mismatched.append((k, tuple(v.shape), tuple(own[k].shape)))
        else:
            to_load[k] = v
    check_weights_fit(model, state_dict, source)
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
    """The checkpoint named by ``work_dir/last_checkpoint`` (see :func:`read_last_checkpoint`), or None when
    there is none (or it is gone)."""
    return read_last_checkpoint(work_dir)[1]
