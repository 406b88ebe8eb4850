"""Errors in what the user gave, and how every entry point reports them.

A mistake in the user's input (a path, the content of an image / annotation / checkpoint file, a config key or
value, a command-line flag, a device) is printed by every entry point (the ``visioncraft`` command,
``tools/*.py``, ``demo/*.py``, the dataset converters) as ONE line ``error: ...`` naming the file, key or value
and what is wrong, with exit status 2; ``VISIONCRAFT_DEBUG=1`` shows the traceback instead. Anything else (a bug)
keeps its traceback. :func:`run_entry_point` does the mapping; :func:`visioncraft.cli.main.run_cli` and
:func:`visioncraft.apis.demo_args.run_demo` call it.

What counts as the user's mistake:

* :class:`UserError` and its subclasses (:class:`AnnotationError` and its :class:`InvalidAnnotationError`,
  :class:`EmptyDatasetError`, :class:`ImageReadError`, :class:`DeviceError`, :class:`CheckpointError`),
  and the older error types that say the same (``ConfigError``, ``RegistryError``,
  ``VideoIOError``, ``visioncraft.fileio.CheckpointMismatchError`` (a CheckpointError), the Runner's ``ResumeError``);
* any ``OSError`` (a missing file, a folder where a file is expected, no permission, a full disk);
* an exception *marked* by :func:`mark_user_error`: the registry marks whatever a class raises while it is built
  from the config with the config key path (``model.backbone``), the datasets mark what their annotation
  reader raises with the annotation file;
* a plain ``SystemExit`` whose code is a message (``raise SystemExit('...')``).

``SystemExit`` subclasses (the engine's interrupted-run exits, 130 / 143) pass through untouched; a
``KeyboardInterrupt`` prints one line and exits with status 130.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import sys
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

__all__ = ['ArgumentParser', 'UserError', 'AnnotationError', 'InvalidAnnotationError', 'EmptyDatasetError',
           'decode_text', 'ImageReadError', 'DeviceError', 'CheckpointError', 'mark_user_error',
           'read_checkpoint', 'checked_state_dict', 'read_text_lines',
           'is_user_error', 'user_error_message', 'run_entry_point', 'read_json', 'check_device', 'EXIT_USER_ERROR',
           'EXIT_INTERRUPTED', 'DEBUG_ENV']

#: exit status of a user mistake (argparse's usage errors use the same)
EXIT_USER_ERROR = 2
#: exit status after Ctrl-C (128 + SIGINT)
EXIT_INTERRUPTED = 130
#: set to 1 to see the traceback of a user error
DEBUG_ENV = 'VISIONCRAFT_DEBUG'

_MARK = '__visioncraft_user_error__'  # attribute set on a marked exception: a tuple of context strings
_MAX_LEN = 2000  # a message longer than this is cut (a one-line error, not a dump)


class UserError(Exception):
    """A mistake in what the user gave; the message names the file, key or value and what is wrong."""

    def __str__(self) -> str:  # as KeyError would quote it: keep it plain
        return str(self.args[0]) if len(self.args) == 1 else super().__str__()


class AnnotationError(UserError, ValueError):
    """An annotation / label file that is not valid JSON / XML / text, or lacks a key, or has a wrong type."""


class InvalidAnnotationError(AnnotationError):
    """A record of an annotation file whose values are wrong: a non-finite or non-numeric number, a size <= 0, a
    polygon with fewer than 3 points, an id that does not exist or repeats, a keypoint visibility outside 0..2. The
    message is one line naming the dataset, the file, the record and the field (:mod:`visioncraft.data.validation`).
    """


class EmptyDatasetError(UserError, ValueError):
    """A dataset with no sample left (an empty annotation file, or a filter that removed every sample), named with
    its annotation file and the filter that emptied it."""


class ImageReadError(UserError, OSError):
    """An image file that cannot be decoded (empty, truncated, not an image, absurd size)."""


class DeviceError(UserError, RuntimeError):
    """A device string that names no device, or a device this machine does not have (CUDA on a CPU machine)."""


class CheckpointError(UserError, RuntimeError):
    """A checkpoint file that is not one (empty, corrupt, text, a pickle holding more than weights)."""


# -- marking ----------------------------------------------------------------------------------------------------
def mark_user_error(exc: BaseException, context: str | None = None) -> BaseException:
    """Mark ``exc`` as caused by the user's input, with ``context`` (the config key path, the file) to put in
    front of its message. The innermost context comes first; the same context is not added twice. Returns
    ``exc``, so ``raise mark_user_error(exc, 'model.backbone')`` re-raises it."""
    try:
        ctx = tuple(getattr(exc, _MARK, ()) or ())
        if context and context not in ctx:
            ctx = ctx + (str(context),)
        setattr(exc, _MARK, ctx)
    except (AttributeError, TypeError):  # an exception type without __dict__: leave it
        pass
    return exc


def _is_checkpoint_load_failure(exc: BaseException) -> bool:
    """``load_checkpoint_file``'s RuntimeError for a file ``torch.load`` cannot read (corrupt, not a checkpoint,
    or a pickle refused by ``weights_only``)."""
    return type(exc) is RuntimeError and str(exc).startswith(('could not load checkpoint ',
                                                              'could not download checkpoint '))


def is_user_error(exc: BaseException) -> bool:
    """Whether ``exc`` is a mistake in the user's input (see the module doc), to be printed as one line."""
    if isinstance(exc, SystemExit):
        return type(exc) is SystemExit and isinstance(exc.code, str)
    if not isinstance(exc, Exception):
        return False
    if getattr(exc, _MARK, None) is not None or isinstance(exc, (UserError, OSError)):
        return True  # ConfigError, RegistryError and VideoIOError are UserErrors too
    return _is_checkpoint_load_failure(exc)


def _one_line(text: str) -> str:
    """``text`` on one line: a traceback quoted inside it (a DataLoader worker's error) is reduced to its last
    line, torch's long advice on a refused pickle to its reason, other lines are joined with ' | '."""
    lines = [ln.strip() for ln in text.strip().splitlines() if ln.strip()]
    tb = next((i for i, ln in enumerate(lines) if 'Traceback (most recent call last)' in ln), None)
    if tb is not None:  # 'Caught OSError in DataLoader worker process 0. Original Traceback ... OSError: msg'
        where = next((ln[len('Caught '):].split(' in ', 1)[1].rstrip('.') for ln in lines[:tb]
                      if ln.startswith('Caught ') and ' in ' in ln), None)
        last = re.sub(r'^[\w.]*(Error|Exception|Interrupt): ', '', lines[-1])  # the exception's type and ': '
        lines = [last + (f' (in {where})' if where else '')]
    if lines and lines[0].startswith('could not load checkpoint '):
        lines = [_checkpoint_failure(text)]
    out = ' | '.join(lines)
    return out if len(out) <= _MAX_LEN else out[:_MAX_LEN - 5] + ' ...'


def _checkpoint_failure(text: str) -> str:
    """``load_checkpoint_file``'s 'could not load checkpoint PATH: <torch's error>' on one line, torch's advice
    (re-run with weights_only=False, file an issue...) left out."""
    head, _, rest = text.strip().partition('\n')
    prefix, sep, first = head.partition(': ')
    if not sep or first.startswith(('not a readable PyTorch checkpoint', 'not a PyTorch checkpoint',
                                    'it holds Python objects')):  # said already
        return head
    if 'Weights only load failed' not in first:
        reason = first.split('. This is an internal')[0].strip() or 'the file is empty or cut short'
        return f'{prefix}: not a readable PyTorch checkpoint ({reason}); is the file complete and a checkpoint?'
    boiler = ('Weights only load failed', 'Check the documentation of torch.load', 'Please file an issue', '(1)',
              '(2)', 'In PyTorch 2.6', 'Re-running `torch.load`', 'WeightsUnpickler error:')
    reasons = [ln.strip() for ln in (first + '\n' + rest).splitlines()
               if ln.strip() and not ln.strip().startswith(boiler)]
    if not reasons:
        tail = (first + '\n' + rest).split('WeightsUnpickler error:', 1)
        reasons = [tail[1].strip().splitlines()[0]] if len(tail) > 1 and tail[1].strip() else []
    reason = (reasons[0] if reasons else '').split('. Please use')[0].rstrip('.')
    if 'GLOBAL' in reason or 'global' in reason:
        return (f'{prefix}: it holds Python objects besides tensors, and checkpoints are loaded with '
                f'weights_only=True, which refuses them ({reason})')
    return f'{prefix}: not a PyTorch checkpoint (unpickling failed{": " + reason if reason else ""})'


def _raised_at(exc: BaseException) -> str:
    """``file:line`` of the innermost frame of ``exc``, relative to the working dir when under it."""
    tb = traceback.extract_tb(exc.__traceback__)
    if not tb:
        return ''
    frame = tb[-1]
    try:
        name = os.path.relpath(frame.filename)
        if name.startswith('..'):
            name = frame.filename
    except ValueError:
        name = frame.filename
    return f'{name}:{frame.lineno}'


def user_error_message(exc: BaseException) -> str:
    """The one line ``error: ...`` printed for ``exc``."""
    if isinstance(exc, SystemExit):
        msg = str(exc.code)
    elif isinstance(exc, OSError) and not isinstance(exc, UserError) and exc.strerror \
            and str(exc).startswith('['):  # [Errno 2] No such file or directory: 'x' -> x: No such file ...
        msg = f'{exc.filename}: {exc.strerror}' if exc.filename else exc.strerror
        if exc.filename2:
            msg += f' ({exc.filename2})'
    elif isinstance(exc, KeyError) and not isinstance(exc, UserError) and type(exc).__str__ is KeyError.__str__:
        msg = str(exc.args[0]) if len(exc.args) == 1 and isinstance(exc.args[0], str) and ' ' in exc.args[0] \
            else f'missing key {exc}'
    else:
        msg = str(exc) or type(exc).__name__
    msg = _one_line(msg)
    if msg.startswith('error: '):
        msg = msg[len('error: '):]
    ctx = [c for c in getattr(exc, _MARK, ()) or () if c and c not in msg]
    plain = (UserError, OSError, ValueError, KeyError, SystemExit)  # their message says it all
    known = plain + (TypeError, IndexError, AssertionError)  # a type name helps; where it came from does not
    if not isinstance(exc, known) or isinstance(exc, (json.JSONDecodeError, UnicodeDecodeError)) \
            or not str(exc if not isinstance(exc, SystemExit) else exc.code):
        # say what kind of error and where it came from: a bug in a class would still be visible
        where = _raised_at(exc)
        msg = f'{type(exc).__name__}: {msg}' + (f' (raised at {where}; {DEBUG_ENV}=1 shows the traceback)'
                                                 if where else '')
    elif not isinstance(exc, plain) and not msg.startswith(type(exc).__name__):
        msg = f'{type(exc).__name__}: {msg}'
    for c in ctx:  # innermost first, so the outermost ends up in front
        msg = f'{c}: {msg}'
    return 'error: ' + msg


def run_entry_point(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Call ``fn(*args, **kwargs)``; a user error is printed as one ``error: ...`` line to stderr and the
    process exits with status 2, Ctrl-C with one line and status 130 (``VISIONCRAFT_DEBUG=1``: the traceback).
    ``SystemExit`` subclasses and other exceptions (bugs) pass through unchanged."""
    try:
        return fn(*args, **kwargs)
    except SystemExit as exc:
        if not is_user_error(exc) or os.environ.get(DEBUG_ENV):
            raise
        line, status = user_error_message(exc), EXIT_USER_ERROR
    except KeyboardInterrupt:
        if os.environ.get(DEBUG_ENV):
            raise
        line, status = 'interrupted (Ctrl-C)', EXIT_INTERRUPTED
    except Exception as exc:
        if not is_user_error(exc) or os.environ.get(DEBUG_ENV):
            raise
        line, status = user_error_message(exc), EXIT_USER_ERROR
    # out of the except block: the error, its traceback and what its frames held (open files, a DataLoader
    # iterator) are released before the exit, not kept alive into interpreter shutdown
    _print(line)
    raise SystemExit(status)


def _print(line: str) -> None:
    try:
        sys.stdout.flush()
    except (OSError, ValueError):
        pass
    print(line, file=sys.stderr, flush=True)


# -- checked readers -------------------------------------------------------------------------------------------
def decode_text(data: bytes, where: str) -> str:
    """``data`` as UTF-8 text (a BOM is accepted); undecodable bytes are an :class:`AnnotationError` naming
    ``where`` (the reader and the file) and the line of the first bad byte, an empty or blank file one saying so."""
    try:
        text = data.decode('utf-8-sig')
    except UnicodeDecodeError as exc:
        line = data[:exc.start].count(b'\n') + 1
        raise AnnotationError(f'{where}, line {line}: not UTF-8 text (byte {exc.start}: {exc.reason})') from None
    if not text.strip():
        raise AnnotationError(f'{where} is empty')
    return text


def read_json(path: str | os.PathLike, what: str = 'JSON file') -> Any:
    """The content of the JSON file ``path``; a missing file, a folder, undecodable bytes or invalid JSON is an
    error naming ``what`` and the file (with the line and column of a syntax error, the line of a byte that is not
    UTF-8)."""
    path = Path(path)
    if path.is_dir():
        raise IsADirectoryError(f'{what} {path} is a folder, not a file')
    if not path.exists():
        raise FileNotFoundError(f'{what} {path} not found')
    text = decode_text(path.read_bytes(), f'{what} {path}')
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise AnnotationError(f'{what} {path}, line {exc.lineno} column {exc.colno}: invalid JSON: {exc.msg}') \
            from None
    except RecursionError:
        raise AnnotationError(f'{what} {path}: invalid JSON: nested too deeply') from None


def check_device(device: Any, flag: str = 'device') -> Any:
    """``torch.device(device)``, checked: an unknown device string, CUDA on a machine without CUDA, a GPU index
    past the last GPU, or MPS where there is none is a :class:`DeviceError` naming ``flag`` and the value."""
    import torch
    if isinstance(device, torch.device):
        dev = device
    else:
        if not isinstance(device, (str, int)) or isinstance(device, bool):
            raise DeviceError(f"{flag}={device!r}: expected a device string such as 'cpu', 'cuda' or 'cuda:0'")
        try:
            dev = torch.device(device)
        except (RuntimeError, ValueError, TypeError):
            raise DeviceError(f"{flag}={device!r} is not a device; use 'cpu', 'cuda' or 'cuda:N'") from None
    if dev.type == 'cuda':
        if not torch.cuda.is_available():
            raise DeviceError(f"{flag}={str(device)!r} was asked for but CUDA is not available on this machine "
                              "(no GPU, or a CPU-only PyTorch build); pass device='cpu' instead")
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise DeviceError(f'{flag}={str(device)!r}: this machine has {torch.cuda.device_count()} GPU(s) '
                              f'(cuda:0 to cuda:{torch.cuda.device_count() - 1})')
    elif dev.type == 'mps':
        if not (getattr(torch.backends, 'mps', None) and torch.backends.mps.is_available()):
            raise DeviceError(f"{flag}={str(device)!r}: MPS is not available on this machine; use 'cpu'")
    elif dev.type not in ('cpu',):
        raise DeviceError(f"{flag}={str(device)!r}: unsupported device type {dev.type!r}; use 'cpu' or 'cuda[:N]'")
    return dev


def read_checkpoint(path: str | os.PathLike, map_location: Any = 'cpu') -> tuple[dict, dict]:
    """``(checkpoint, state_dict)`` of the checkpoint file ``path`` (``torch.load(weights_only=True)``), checked: a
    file that is not a checkpoint (empty, corrupt, text, a pickle holding more than tensors), one that is not a dict,
    or one without a single weight is a :class:`CheckpointError` naming it."""
    import warnings

    from .fileio.checkpoint import load_checkpoint_file  # fileio imports this module (UserError)
    if os.path.isfile(path) and os.path.getsize(path) == 0:
        raise CheckpointError(f'checkpoint {path} is empty (0 bytes)')
    try:
        with warnings.catch_warnings():  # torch's notes on the pickle protocol: our error says what failed
            warnings.simplefilter('ignore', UserWarning)
            ckpt = load_checkpoint_file(path, map_location=map_location)
    except RuntimeError as exc:
        if _is_checkpoint_load_failure(exc):
            raise CheckpointError(_one_line(str(exc))) from None
        raise
    return ckpt, checked_state_dict(ckpt, path)


def checked_state_dict(ckpt: Any, path: str | os.PathLike) -> dict:
    """The state dict inside the loaded checkpoint ``ckpt`` (``state_dict``, ``model``, ``model_state_dict`` or the
    dict itself, ``module.`` prefixes dropped); a checkpoint that is no dict or holds no tensor is a
    :class:`CheckpointError` naming ``path``."""
    import torch

    from .fileio.checkpoint import extract_state_dict  # fileio imports this module (UserError)
    if not isinstance(ckpt, dict):
        raise CheckpointError(f'checkpoint {path} holds a {type(ckpt).__name__}, not a dict of weights '
                              '({"state_dict": {name: tensor}} or {name: tensor})')
    inner = next((ckpt[k] for k in ('state_dict', 'model', 'model_state_dict') if k in ckpt), None)
    if inner is not None and not isinstance(inner, dict):
        key = next(k for k in ('state_dict', 'model', 'model_state_dict') if k in ckpt)
        raise CheckpointError(f'checkpoint {path}: its "{key}" is a {type(inner).__name__}, not a dict of weights')
    sd = extract_state_dict(ckpt)
    if not any(isinstance(k, str) and torch.is_tensor(v) for k, v in sd.items()):
        keys = ', '.join(map(str, list(sd)[:5]))
        raise CheckpointError(f'checkpoint {path} holds no weights (no tensor in it{": keys " + keys if keys else ""})')
    return sd


def read_text_lines(path: str | os.PathLike, what: str = 'file') -> list[str]:
    """The lines of the UTF-8 text file ``path`` (a BOM is dropped; newlines as ``open()`` in text mode gives them,
    each line with its ``\\n``); bytes that are not UTF-8 are an :class:`AnnotationError` naming ``what``, the file
    and the line."""
    import io
    data = Path(path).read_bytes()
    try:
        text = data.decode('utf-8-sig')
    except UnicodeDecodeError as exc:
        line = data[:exc.start].count(b'\n') + 1
        raise AnnotationError(f'{what} {path}, line {line}: not UTF-8 text (byte {exc.start}: {exc.reason})') \
            from None
    return list(io.StringIO(text, newline=None))


class ArgumentParser(argparse.ArgumentParser):
    """``argparse.ArgumentParser`` whose usage errors (an unknown flag, a missing or bad value) are ONE line
    ``error: PROG: MESSAGE (PROG -h lists the options)`` on stderr with exit status 2, as every other input
    mistake of the entry points (see :mod:`visioncraft.errors`)."""

    def error(self, message: str):
        message = ' '.join(str(message).split())
        print(f'error: {self.prog}: {message} ({self.prog} -h lists the options)', file=sys.stderr, flush=True)
        raise SystemExit(2)
