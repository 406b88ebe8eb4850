"""Registries: one per kind of buildable object, filled when ``visioncraft`` is imported.

A config names a class with ``dict(type='Name', **kwargs)``; :meth:`Registry.build` looks the name up
and calls the class with the remaining keys. ``type`` may also be a class or callable, or a dotted
import path (``'my_pkg.module.MyHead'``). Scope prefixes used by other toolboxes (``'mmdet.'``,
``'mmengine.'``, ...) are accepted so that configs written for them read unchanged.

Where two toolboxes used one name for different classes (MMDetection's and MMPose's ``CocoDataset``),
the second registers it under its scope, ``register_module(['CocoPoseDataset', 'mmpose.CocoDataset'])``:
``'mmpose.CocoDataset'`` names it anywhere, and a plain ``'CocoDataset'`` names it while the default scope
is ``'mmpose'`` (a config's ``default_scope = 'mmpose'``, set by the runner; see :func:`default_scope`).

Errors say where the bad value came from: the config file (if the runner set one with
:func:`config_file_context`), the key path (``model.backbone``) and the closest registered names.
"""
from __future__ import annotations

import contextlib
import contextvars
import difflib
import importlib
import inspect
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from .errors import UserError, mark_user_error

__all__ = [
    'Registry', 'RegistryError', 'config_file_context', 'build_from_cfg', 'import_builtin_modules', 'BUILTIN_MODULES',
    'MODELS', 'DATASETS', 'TRANSFORMS', 'METRICS', 'EVALUATORS', 'HOOKS', 'LOOPS', 'OPTIMIZERS',
    'OPTIM_WRAPPERS', 'OPTIM_WRAPPER_CONSTRUCTORS', 'PARAM_SCHEDULERS', 'DATA_SAMPLERS', 'FUNCTIONS',
    'VISBACKENDS', 'VISUALIZERS', 'TASK_UTILS', 'KEYPOINT_CODECS', 'MODEL_WRAPPERS', 'PADDLE_TRANSLATORS',
    'EXPORTERS', 'default_scope', 'set_default_scope', 'get_default_scope',
]

# Prefixes of other toolboxes' scoped names ('mmdet.RetinaNet'): accepted, stripped before look-up.
_FOREIGN_SCOPES = ('mmengine', 'mmcv', 'mmdet', 'mmocr', 'mmpose', 'mmpretrain', 'mmcls', 'visioncraft')

_config_file: contextvars.ContextVar[str | None] = contextvars.ContextVar('vc_config_file', default=None)
_key_path: contextvars.ContextVar[tuple[str, ...]] = contextvars.ContextVar('vc_key_path', default=())
# The scope a plain name is looked up in first (MMEngine's DefaultScope): set by the runner from a config's
# ``default_scope``; ``None`` (or a scope with no names of its own) means the global names only.
_default_scope: str | None = None


def set_default_scope(scope: str | None) -> str | None:
    """Make ``scope`` ('mmpose', ...) the default scope for plain names; returns the previous one."""
    global _default_scope
    if scope is not None and scope not in _FOREIGN_SCOPES:
        raise ValueError(f'default_scope={scope!r} is not a known scope; use one of {", ".join(_FOREIGN_SCOPES)}')
    previous, _default_scope = _default_scope, scope
    return previous


def get_default_scope() -> str | None:
    return _default_scope


@contextlib.contextmanager
def default_scope(scope: str | None) -> Iterator[None]:
    """Look plain names up in ``scope`` first inside this block."""
    previous = set_default_scope(scope)
    try:
        yield
    finally:
        set_default_scope(previous)


class RegistryError(UserError, KeyError):
    """A ``type`` that names nothing registered, or a duplicate registration."""

    def __str__(self) -> str:  # KeyError quotes its message; we want it plain.
        return str(self.args[0]) if self.args else ''


@contextlib.contextmanager
def config_file_context(filename: str | None) -> Iterator[None]:
    """Name the config file that build errors inside this block should mention."""
    token = _config_file.set(str(filename) if filename else None)
    try:
        yield
    finally:
        _config_file.reset(token)


def _where(key_path: str | None) -> str:
    parts = list(_key_path.get())
    if key_path:
        parts.append(key_path)
    path = '.'.join(parts) if parts else '<root>'
    cfg_file = _config_file.get()
    return f'{cfg_file}: {path}' if cfg_file else path


#: the modules whose import registers VisionCraft's built-in classes. The first look-up in any registry imports
#: them (once), so ``import visioncraft`` and ``visioncraft --help`` stay light (no torch) while a built-in ``type``
#: is still never "not in the registry". Names, not imports: this is where the registry finds its plug-ins, as
#: MMEngine's registries find theirs from ``locations``.
BUILTIN_MODULES = (
    'visioncraft.structures', 'visioncraft.data', 'visioncraft.data.loading', 'visioncraft.data.synthetic.shapes',
    'visioncraft.evaluation', 'visioncraft.evaluation.metrics', 'visioncraft.visualization', 'visioncraft.models',
    'visioncraft.engine', 'visioncraft.tasks.detection', 'visioncraft.tasks.textdet', 'visioncraft.tasks.textrecog',
    'visioncraft.tasks.pose', 'visioncraft.apis', 'visioncraft.export',
)
_builtins = 'pending'  # -> 'loading' -> 'done'


def import_builtin_modules() -> None:
    """Import :data:`BUILTIN_MODULES` (the first call does; later calls, and calls made while they load, return
    at once)."""
    global _builtins
    if _builtins != 'pending':
        return
    _builtins = 'loading'
    try:
        for name in BUILTIN_MODULES:
            importlib.import_module(name)
    except BaseException:
        _builtins = 'pending'
        raise
    _builtins = 'done'


class Registry:
    """A name -> class (or function) table for one kind of object.

    Args:
        name: what the registry holds, used in messages ('model', 'hook', ...).
    """

    def __init__(self, name: str) -> None:
        self.name = name
        self._modules: dict[str, Callable[..., Any]] = {}
        # (scope, name) -> class, for names another toolbox's scope gives a different class ('mmpose.CocoDataset')
        self._scoped: dict[tuple[str, str], Callable[..., Any]] = {}

    # -- registration -------------------------------------------------------------------------
    def register_module(self, name: str | list[str] | None = None, *, force: bool = False,
                        module: Callable[..., Any] | None = None):
        """Register a class or function, as a decorator or directly (``module=``).

        A second registration under the same name is an error unless ``force=True``. A name with a scope
        prefix (``'mmpose.CocoDataset'``) is registered in that scope only (see the module docstring).
        """
        if name is not None and not isinstance(name, (str, list, tuple)):
            raise TypeError(f'{self.name} registry: name must be a str or list of str, got {name!r}')

        def _register(obj: Callable[..., Any]) -> Callable[..., Any]:
            names = [obj.__name__] if name is None else ([name] if isinstance(name, str) else list(name))
            for n in names:
                head, dot, tail = n.partition('.')
                if dot and head in _FOREIGN_SCOPES and '.' not in tail:
                    other = self._scoped.get((head, tail))
                    if not force and other is not None and other is not obj:
                        raise RegistryError(
                            f"{self.name} registry: the name '{n}' is already taken by "
                            f'{other.__module__}.{other.__qualname__}')
                    self._scoped[(head, tail)] = obj
                    continue
                if not force and n in self._modules and self._modules[n] is not obj:
                    other = self._modules[n]
                    raise RegistryError(
                        f"{self.name} registry: the name '{n}' is already taken by "
                        f'{other.__module__}.{other.__qualname__}; pass force=True to replace it '
                        f'or register {obj.__module__}.{obj.__qualname__} under another name')
                self._modules[n] = obj
            return obj

        if module is not None:
            return _register(module)
        return _register

    # -- look-up ------------------------------------------------------------------------------
    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self._lookup(name) is not None

    def _lookup(self, name: str) -> Callable[..., Any] | None:
        """The class for a plain or scoped name, or None: the scope's own name first, then the global one."""
        import_builtin_modules()
        head, dot, tail = name.partition('.')
        if dot and head in _FOREIGN_SCOPES and '.' not in tail:
            scope, key = head, tail
        else:
            scope, key = _default_scope, name
        if scope is not None and (scope, key) in self._scoped:
            return self._scoped[(scope, key)]
        return self._modules.get(key)

    def __len__(self) -> int:
        import_builtin_modules()
        return len(self._modules)

    def __iter__(self) -> Iterator[str]:
        import_builtin_modules()
        return iter(sorted(self._modules))

    def __repr__(self) -> str:
        return f'Registry(name={self.name!r}, items={len(self._modules)})'

    def names(self) -> list[str]:
        import_builtin_modules()
        return sorted(self._modules)

    @staticmethod
    def _strip_scope(name: str) -> str:
        head, dot, tail = name.partition('.')
        if dot and head in _FOREIGN_SCOPES and '.' not in tail:
            return tail
        return name

    def closest(self, name: str, n: int = 3) -> list[str]:
        import_builtin_modules()
        names = list(self._modules)
        lower = {k.lower(): k for k in names}
        out = [lower[name.lower()]] if name.lower() in lower else []
        for cand in difflib.get_close_matches(name, names, n=n, cutoff=0.5):
            if cand not in out:
                out.append(cand)
        if len(out) < n:  # substring matches catch 'Resnet' -> 'ResNet50Backbone'
            out += [k for k in names if name.lower() in k.lower() and k not in out][: n - len(out)]
        return out[:n]

    def get(self, name: str, *, key_path: str | None = None) -> Callable[..., Any]:
        """Return the class registered under ``name`` (or importable at dotted path ``name``)."""
        found = self._lookup(name)
        if found is not None:
            return found
        key = self._strip_scope(name)
        if '.' in key:  # a dotted import path: 'package.module.Class'
            mod_name, _, attr = key.rpartition('.')
            try:
                return getattr(importlib.import_module(mod_name), attr)
            except (ImportError, AttributeError):
                pass
        close = self.closest(key)
        hint = f"; closest registered names: {', '.join(repr(c) for c in close)}" if close else ''
        raise RegistryError(f"{_where(key_path)}: type={name!r} is not a registered {self.name}{hint}. "
                            f'If it is your own class, list its module in custom_imports=dict(imports=[...]).')

    # -- building -----------------------------------------------------------------------------
    def build(self, cfg: Any, *, default_args: Mapping[str, Any] | None = None,
              key_path: str | None = None) -> Any:
        """Build ``cfg['type'](**rest, **default_args)``; an already-built object is returned as is."""
        return build_from_cfg(cfg, self, default_args=default_args, key_path=key_path)


def build_from_cfg(cfg: Any, registry: Registry, *, default_args: Mapping[str, Any] | None = None,
                   key_path: str | None = None) -> Any:
    if not isinstance(cfg, Mapping):
        if cfg is None:
            raise TypeError(f'{_where(key_path)}: expected a dict with a "type" key for a {registry.name}, got None')
        return cfg  # already built
    args = dict(cfg)
    if default_args:
        for k, v in default_args.items():
            args.setdefault(k, v)
    if 'type' not in args:
        raise KeyError(f'{_where(key_path)}: a {registry.name} config needs a "type" key; got keys {sorted(args)}')
    obj_type = args.pop('type')
    # MMEngine's ``_scope_='mmdet'`` (RTMPose's CSPNeXt backbone): a scope hint for this entry and everything it
    # builds, never an argument of the class
    scope = args.pop('_scope_', None)
    if scope is not None and scope not in _FOREIGN_SCOPES:
        raise ValueError(f'{_where(key_path)}: _scope_={scope!r} is not a known scope; use one of '
                         f'{", ".join(_FOREIGN_SCOPES)} or remove the key')
    with default_scope(scope) if scope is not None else contextlib.nullcontext():
        return _build_type(obj_type, args, registry, key_path)


def _build_type(obj_type: Any, args: dict[str, Any], registry: Registry, key_path: str | None) -> Any:
    if isinstance(obj_type, str):
        obj_cls = registry.get(obj_type, key_path=key_path)
    elif callable(obj_type):
        obj_cls = obj_type
    else:
        raise TypeError(f'{_where(key_path)}: type must be a str, class or function, got {obj_type!r}')
    where = _where(key_path)
    token = _key_path.set(_key_path.get() + ((key_path,) if key_path else ()))
    try:
        return obj_cls(**args)
    except Exception as exc:
        if getattr(exc, '__visioncraft_user_error__', None):  # an inner build's error: it names its own key
            raise
        # Unexpected keyword arguments are the usual config typo: say which keys are accepted.
        if isinstance(exc, TypeError) and ('unexpected keyword' in str(exc) or 'required positional' in str(exc)
                                           or 'missing' in str(exc) and 'argument' in str(exc)):
            try:
                params = [p for p in inspect.signature(obj_cls).parameters if p not in ('self', 'args', 'kwargs')]
            except (TypeError, ValueError):
                params = []
            name = getattr(obj_cls, '__name__', repr(obj_cls))
            raise _mark_build_error(TypeError(f'{where}: cannot build {name}: {exc}. '
                                              f'Accepted arguments: {", ".join(params)}'), where) from exc
        # whatever else a class raises on the values the config gave it is, as far as the user can tell, the
        # config's mistake: the entry points print it as one line naming the key path and the class
        name = getattr(obj_cls, '__name__', None)
        raise _mark_build_error(exc, f'{where} ({name})' if name and name not in str(exc) else where)
    finally:
        _key_path.reset(token)


def _mark_build_error(exc: BaseException, where: str) -> BaseException:
    """Mark ``exc``, raised while building the config entry ``where`` (config file: key path), as a user error
    that names it (see :func:`visioncraft.errors.mark_user_error`)."""
    return mark_user_error(exc, where)


MODELS = Registry('model')
MODEL_WRAPPERS = Registry('model wrapper')
DATASETS = Registry('dataset')
TRANSFORMS = Registry('transform')
METRICS = Registry('metric')
EVALUATORS = Registry('evaluator')
HOOKS = Registry('hook')
LOOPS = Registry('loop')
OPTIMIZERS = Registry('optimizer')
OPTIM_WRAPPERS = Registry('optimizer wrapper')
OPTIM_WRAPPER_CONSTRUCTORS = Registry('optimizer wrapper constructor')
PARAM_SCHEDULERS = Registry('parameter scheduler')
DATA_SAMPLERS = Registry('data sampler')
FUNCTIONS = Registry('function')
VISBACKENDS = Registry('visualization backend')
VISUALIZERS = Registry('visualizer')
TASK_UTILS = Registry('task utility')
KEYPOINT_CODECS = Registry('keypoint codec')  # MMPose's name for the pose codecs' registry
# PaddleOCR-layout YAML: Architecture.model_type ('det', 'rec') -> its PaddleOCRTaskTranslator subclass
# (visioncraft.config.compat.paddleocr.translator; the task packages register theirs)
PADDLE_TRANSLATORS = Registry('paddleocr translator')
# visioncraft.export's exporters, one per model family (TextDetExporter, ...): export_model uses the one whose
# matches(model) is true
EXPORTERS = Registry('exporter')
