"""Checks of config values where they are used, with errors that name the config key path.

The builders (optimizer wrapper, parameter schedulers, loops, hooks, dataloaders) call these on the values they
receive, so a wrong value is caught where it means something, whether it came from a config file, an override
(``--cfg-options optim_wrapper.clip_grad.max_norm=-1``) or plain Python::

    max_norm = check_number(clip['max_norm'], key_path('clip_grad.max_norm', 'optim_wrapper'), low=0, strict=True)

A value of the wrong type or outside its range is a :class:`ConfigValueError` (a
:class:`~visioncraft.config.ConfigError`, so a :class:`~visioncraft.errors.UserError`: every entry point prints it
as one ``error: ...`` line with exit status 2) whose message is ``FILE: KEY.PATH must be WHAT, got VALUE``. The key
path is the one an override would use: the registry's key path of the object being built (``optim_wrapper``,
``train_cfg``, ``default_hooks.logger``, ``param_scheduler.1``) plus the argument (``clip_grad.max_norm``); the file
is the config file the Runner is building from (:func:`visioncraft.registry.config_file_context`).

The rules:

* integers (counts, epochs, intervals, steps): a Python or NumPy int, or a float with an integral value (``2.0``,
  ``1e4``) taken as that int; a non-integral float (``1.5``), a bool, a string (``'3'``, however it parses) or
  anything else is an error;
* numbers (learning rates, norms, factors): an int or a float, finite unless said otherwise, never a bool or a
  string: ``lr='0.01'`` (a quoted value) is an error naming the key, not converted. (YAML files are read with
  YAML 1.2 floats, so an unquoted ``lr: 1e-4`` is the float it looks like; see :mod:`visioncraft.config.config`.)

:func:`unknown_top_level_keys` finds top-level config keys that look like a misspelt known key
(``train_dataloder``), which the Runner would otherwise ignore without a word.
"""
from __future__ import annotations

import difflib
import math
import numbers
from collections.abc import Iterable, Mapping
from typing import Any

from .. import registry
from ..errors import mark_user_error
from .config import ConfigError

__all__ = ['ConfigValueError', 'key_path', 'config_value_error', 'config_key_error', 'check_int', 'check_number',
           'check_bool', 'check_int_list', 'check_mapping', 'RUNNER_KEYS', 'COMMON_VARIABLES', 'KNOWN_TOP_LEVEL_KEYS',
           'TYPO_CUTOFF', 'STRICT_CONFIG_KEY', 'unknown_top_level_keys', 'top_level_key_report']


class ConfigValueError(ConfigError, TypeError):
    """A config value of the wrong type or outside its range; the message names the config file and the key path.

    A :class:`~visioncraft.config.ConfigError` (a ``ValueError`` and a :class:`~visioncraft.errors.UserError`) and
    a ``TypeError``, so code that caught either from the builders before still catches it."""


# -- where a value comes from -----------------------------------------------------------------------------------
def _build_context() -> tuple[str | None, tuple[str, ...]]:
    """(config file, key path parts) of the registry build under way, if any."""
    return registry._config_file.get(), registry._key_path.get()


def key_path(name: str, default_prefix: str = '') -> str:
    """The full key path of the argument ``name`` (``'clip_grad.max_norm'``) of the object being built: the
    registry's key path of that object (``'optim_wrapper'``) in front, or ``default_prefix`` outside a build
    (an object made in Python)."""
    _, parts = _build_context()
    prefix = '.'.join(p for p in parts if p) or default_prefix
    return f'{prefix}.{name}' if prefix and name else prefix or name


def _show(value: Any) -> str:
    text = repr(value)
    text = text if len(text) <= 80 else text[:77] + '...'
    if isinstance(value, str):
        try:
            float(value)
            text += ' (a string: write the number without quotes)'
        except ValueError:
            pass
    elif isinstance(value, bool):
        text += ' (a bool)'
    return text


def config_value_error(key: str, what: str, value: Any = None, *, show_value: bool = True) -> ConfigValueError:
    """``ConfigValueError('FILE: KEY must be WHAT, got VALUE')`` (FILE: the config file being built from, when
    there is one), marked as the user's error so the registry passes it on as it is."""
    file, _ = _build_context()
    got = f', got {_show(value)}' if show_value else ''
    exc = ConfigValueError(f'{file + ": " if file else ""}{key} must be {what}{got}')
    mark_user_error(exc, key)  # the key is in the message: nothing is added in front, the registry adds nothing
    return exc


def config_key_error(key: str, text: str) -> ConfigValueError:
    """``ConfigValueError('FILE: KEY: TEXT')`` for what :func:`config_value_error` does not fit (an unknown or
    missing argument), marked likewise."""
    file, _ = _build_context()
    exc = ConfigValueError(f'{file + ": " if file else ""}{key}: {text}')
    mark_user_error(exc, key)
    return exc


# -- the checks ---------------------------------------------------------------------------------------------------
def _as_int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, numbers.Integral):
        return int(value)
    if isinstance(value, numbers.Real) and math.isfinite(float(value)) and float(value).is_integer():
        return int(value)
    return None


def _bounds(low: float | None, high: float | None, strict: bool = False) -> str:
    if low is not None and high is not None:
        return f' in [{low}, {high}]' if not strict else f' in ({low}, {high})'
    if low is not None:
        return f' {">" if strict else ">="} {low}'
    if high is not None:
        return f' {"<" if strict else "<="} {high}'
    return ''


def check_int(value: Any, key: str, *, low: int | None = None, high: int | None = None, also: Iterable[int] = (),
              none: bool = False, what: str | None = None) -> int | None:
    """``value`` as an int: an int, or a float with an integral value; ``low <= value <= high`` unless it is one of
    ``also`` (``also=(-1,)`` for a "disabled" sentinel); ``None`` passes when ``none``. Otherwise a
    :class:`ConfigValueError` naming ``key``; ``what`` replaces the description of what is expected."""
    if value is None and none:
        return None
    also = tuple(also)
    n = _as_int(value)
    if n is not None and (n in also or ((low is None or n >= low) and (high is None or n <= high))):
        return n
    if what is None:
        what = 'an integer' + _bounds(low, high)
        if also:
            what += ', or ' + ' or '.join(str(a) for a in also)
        if none:
            what += ', or None'
    raise config_value_error(key, what, value)


def check_number(value: Any, key: str, *, low: float | None = None, high: float | None = None, strict: bool = False,
                 finite: bool = True, none: bool = False, what: str | None = None) -> Any:
    """``value`` unchanged when it is a number (an int or a float, not a bool) within the bounds (``strict``:
    ``low < value``, else ``low <= value``; likewise ``high``) and finite unless ``finite=False``; ``None`` passes
    when ``none``. Otherwise a :class:`ConfigValueError` naming ``key``."""
    if value is None and none:
        return None
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool)
    if ok:
        v = float(value)
        ok = not math.isnan(v) and (not finite or math.isfinite(v))
        if ok and low is not None:
            ok = v > low if strict else v >= low
        if ok and high is not None:
            ok = v < high if strict else v <= high
    if ok:
        return value
    if what is None:
        what = ('a finite number' if finite else 'a number') + _bounds(low, high, strict)
        if none:
            what += ', or None'
    raise config_value_error(key, what, value)


def check_bool(value: Any, key: str, *, none: bool = False) -> bool | None:
    """``value`` when it is True or False (``None`` too when ``none``); a string such as ``'False'`` (which
    ``bool()`` would take as True) or a number is a :class:`ConfigValueError` naming ``key``."""
    if value is None and none:
        return None
    if isinstance(value, bool):
        return value
    try:
        import numpy as np
        if isinstance(value, np.bool_):
            return bool(value)
    except ImportError:  # pragma: no cover
        pass
    raise config_value_error(key, 'True or False' + (' or None' if none else ''), value)


def check_int_list(value: Any, key: str, *, low: int | None = None, what: str | None = None) -> list[int]:
    """``value`` as a list of ints (a list or tuple; each item as :func:`check_int`, named ``key.i``)."""
    if isinstance(value, (str, bytes)) or not isinstance(value, Iterable) or isinstance(value, Mapping):
        raise config_value_error(key, what or f'a list of integers{_bounds(low, None)}', value)
    return [check_int(v, f'{key}.{i}', low=low) for i, v in enumerate(value)]


def check_mapping(value: Any, key: str, example: str = '', *, none: bool = False) -> Any:
    """``value`` when it is a dict (``None`` too when ``none``); else a :class:`ConfigValueError` naming ``key``."""
    if (value is None and none) or isinstance(value, Mapping):
        return value
    raise config_value_error(key, 'a dict' + (f' such as {example}' if example else ''), value)


# -- top-level keys ---------------------------------------------------------------------------------------------
#: the top-level config keys the Runner and the command line read
RUNNER_KEYS = frozenset({
    'model', 'work_dir', 'train_dataloader', 'val_dataloader', 'test_dataloader', 'train_cfg', 'val_cfg', 'test_cfg',
    'optim_wrapper', 'param_scheduler', 'val_evaluator', 'test_evaluator', 'default_hooks', 'custom_hooks',
    'visualizer', 'load_from', 'resume', 'launcher', 'env_cfg', 'randomness', 'auto_scale_lr', 'log_level',
    'find_unused_parameters', 'sync_bn', 'experiment_name', 'requeue', 'default_scope', 'model_wrapper_cfg',
    'custom_imports', 'strict_config', 'paddleocr', 'mmdet2', 'log_processor', 'show_dir_in_cwd',
})

#: names MMDetection / MMOCR / MMPose / MMEngine config files commonly use as variables (or that their older
#: versions read), known so that a misspelling of one of them is caught too
COMMON_VARIABLES = frozenset({
    'data_root', 'dataset_type', 'data_mode', 'backend_args', 'file_client_args', 'metainfo', 'classes',
    'num_classes', 'dataset_info', 'codec', 'dictionary', 'train_pipeline', 'val_pipeline', 'test_pipeline',
    'tta_pipeline', 'tta_model', 'train_pipeline_stage2', 'img_scale', 'img_scales', 'image_size', 'input_size',
    'img_norm_cfg', 'norm_cfg', 'max_epochs', 'max_iters', 'stage2_num_epochs', 'base_lr', 'interval',
    'val_interval', 'batch_size', 'num_workers', 'train_batch_size_per_gpu', 'train_num_workers',
    'val_batch_size_per_gpu', 'val_num_workers', 'vis_backends', 'log_processor', 'pretrained', 'checkpoint',
    'albu_train_transforms', 'batch_augments', 'persistent_workers', 'num_stages', 'num_proposals',
    # MMEngine's Runner keys this Runner does not read, and MMCV-era (MMDetection 2.x) config keys
    'compile', 'data_preprocessor', 'val_begin', 'optimizer', 'optimizer_config', 'lr_config',
    'momentum_config', 'checkpoint_config', 'log_config', 'evaluation', 'runner', 'workflow', 'total_epochs',
    'dist_params', 'gpu_ids', 'opencv_num_threads', 'mp_start_method', 'cudnn_benchmark', 'data', 'fp16',
    'auto_resume',
})

#: every known top-level key
KNOWN_TOP_LEVEL_KEYS = RUNNER_KEYS | COMMON_VARIABLES

#: how close (``difflib`` ratio) an unknown key must be to a known one to count as a misspelling of it; anything
#: further away is taken for a variable of the config (``img_scale = (640, 640)``) and left alone
TYPO_CUTOFF = 0.85

#: the top-level config key that makes a misspelt top-level key an error instead of a warning
STRICT_CONFIG_KEY = 'strict_config'


def unknown_top_level_keys(cfg: Mapping[Any, Any], known: Iterable[str] = KNOWN_TOP_LEVEL_KEYS,
                           cutoff: float = TYPO_CUTOFF) -> list[tuple[str, str]]:
    """``[(key, closest known key), ...]`` for each top-level key of ``cfg`` that is not known but close to a
    known one (``difflib`` ratio >= ``cutoff``): ``('train_dataloder', 'train_dataloader')``. Keys far from every
    known key are variables of the config and are not listed."""
    known = sorted(set(known))
    known_set = set(known)
    out = []
    for key in cfg:
        if not isinstance(key, str) or key in known_set or key.startswith('_'):
            continue
        close = difflib.get_close_matches(key, known, n=1, cutoff=cutoff)
        if close:
            out.append((key, close[0]))
    return out


#: MMDetection 2.x (MMCV 1.x runner) config keys -> (what this library reads instead, the keys whose presence
#: means the config already says it the new way)
MMCV_ERA_KEYS = {
    'data': ('train_dataloader / val_dataloader / test_dataloader (batch_size, num_workers, dataset=...)',
             ('train_dataloader', 'val_dataloader', 'test_dataloader')),
    'evaluation': ('val_evaluator = dict(type=..., metric=...) and train_cfg.val_interval', ('val_evaluator',)),
    'lr_config': ('param_scheduler = [...]', ('param_scheduler',)),
    'momentum_config': ('param_scheduler = [...]', ('param_scheduler',)),
    'optimizer': ('optim_wrapper = dict(optimizer=dict(...))', ('optim_wrapper',)),
    'optimizer_config': ('optim_wrapper = dict(clip_grad=dict(max_norm=...))', ('optim_wrapper',)),
    'runner': ('train_cfg = dict(by_epoch=True, max_epochs=N) or dict(by_epoch=False, max_iters=N)', ('train_cfg',)),
    'total_epochs': ('train_cfg = dict(max_epochs=N)', ('train_cfg',)),
    'checkpoint_config': ('default_hooks = dict(checkpoint=dict(type="CheckpointHook", ...))', ('default_hooks',)),
    'log_config': ('default_hooks = dict(logger=dict(type="LoggerHook", ...))', ('default_hooks',)),
    'fp16': ("optim_wrapper = dict(type='AmpOptimWrapper', ...) or --amp", ('optim_wrapper',)),
}


def mmcv_era_key_report(cfg: Mapping[Any, Any], filename: str | None = None) -> list[str]:
    """MMDetection 2.x keys in a config would be ignored without a word (this library reads MMEngine-layout
    configs). One that has no MMEngine-layout counterpart in the config is a :class:`ConfigError` naming each such
    key and what to write instead; one whose counterpart is there (the 2.x key left over) gives a warning line."""
    where = f'{filename}: ' if filename else ''
    unread, leftover = [], []
    for key, (instead, newer) in MMCV_ERA_KEYS.items():
        if cfg.get(key) is None:
            continue
        (leftover if any(cfg.get(k) is not None for k in newer) else unread).append((key, instead))
    if unread:
        listed = '; '.join(f'{k} -> {instead}' for k, instead in unread)
        raise ConfigError(f'{where}MMDetection 2.x (MMCV 1.x) config key{"s" if len(unread) > 1 else ""} '
                          f'{", ".join(k for k, _ in unread)}: this library reads the MMDetection 3.x / MMEngine '
                          f'layout and would ignore {"them" if len(unread) > 1 else "it"}; write {listed} (a config '
                          'file wholly in the 2.x layout, with no MMEngine-layout key, is translated as it loads)')
    return [f'{where}{k} is an MMDetection 2.x key, ignored: the config also has {instead.split(" ")[0]}, which is '
            'what is used' for k, instead in leftover]


def top_level_key_report(cfg: Mapping[Any, Any], filename: str | None = None, *,
                         strict: bool | None = None) -> list[str]:
    """Messages, one per misspelt-looking top-level key of ``cfg`` (:func:`unknown_top_level_keys`), to be logged
    as warnings; with ``strict`` (default: the config's ``strict_config``) a :class:`ConfigError` naming them all
    instead. ``filename`` is named in the messages."""
    where = f'{filename}: ' if filename else ''
    if strict is None:
        strict = check_bool(cfg.get(STRICT_CONFIG_KEY, False), STRICT_CONFIG_KEY)
    found = unknown_top_level_keys(cfg)
    if not found:
        return []
    if strict:
        listed = '; '.join(f'{k!r} (did you mean {c!r}?)' for k, c in found)
        raise ConfigError(f'{where}unknown top-level key{"s" if len(found) > 1 else ""} {listed}; nothing reads '
                          f'{"them" if len(found) > 1 else "it"} (strict_config=True makes this an error; rename '
                          f'the key, or give a variable a name further from the known keys)')
    return [f'{where}unknown top-level key {k!r}: did you mean {c!r}? Nothing reads {k!r}, so it has no effect '
            f'(set strict_config=True to make this an error)' for k, c in found]
