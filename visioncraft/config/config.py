"""``Config``: load a config file (``.py``, ``.yaml``/``.yml``, ``.json``), inherit, override, dump.

A config reads like a recipe: inherit a base, change a few fields::

    # configs/detection/retinanet_r101.py
    _base_ = ['./retinanet_r50.py']                      # paths are relative to this file
    model = dict(backbone=dict(depth=101))               # merged into the base's model
    optim_wrapper = dict(optimizer=dict(_delete_=True, type='AdamW', lr=1e-4))  # replaces it
    train_pipeline = {{_base_.train_pipeline}}           # a value of the merged bases

Loading rules
-------------
- **Python files** run as Python in a fresh namespace. Every module-level name that does not start
  with ``_`` and is not a module or function becomes a key. Classes are allowed as values
  (``type=torch.nn.Conv2d``); so are functions inside dicts.
- **YAML / JSON files** hold one mapping. They name bases with ``_base_`` or ``_BASE_`` (PaddleOCR
  style); a string value that is exactly ``'{{_base_.key}}'`` becomes that value of the bases, and
  a placeholder inside a longer string is replaced by the value's ``str()``. A key set twice in one
  mapping is an error naming the key path and both lines (YAML and JSON would keep the second value
  silently). YAML is read with YAML 1.2 floats: ``lr: 1e-4`` is a float, not the string ``'1e-4'``.
- ``_base_`` is a path or a list of paths, relative to the file that names it. Bases may have bases
  (a cycle is an error). Bases are merged in the order listed, each on top of the ones before it,
  so when two bases set the same key **the later base wins**; then the file itself is merged on top.
- **Merging** is recursive for dicts; anything else (lists, tuples, scalars) is replaced. A dict
  with ``_delete_=True`` replaces the dict below it instead of merging; the ``_delete_`` key never
  reaches the loaded config.
- ``{{_base_.a.b}}`` placeholders (list indices allowed: ``{{_base_.train_pipeline.1}}``) take a
  deep copy of the value from the merged bases; in a Python file the copy can then be edited in place
  (``train_pipeline[1]['scale'] = (640, 640)``).
- In a Python file, plain ``_base_.a.b`` (``_base_.model``, ``_base_['train_pipeline'][1]``) is, as in
  mmengine, the merged bases themselves, not a copy: ``_base_.model.backbone = dict(...)`` or
  ``_base_.train_cfg.update(max_epochs=20)`` changes what the file inherits, and after
  ``ds = _base_.ic15_train; ds.pipeline = p`` both ``ds`` and ``ic15_train`` have ``pipeline=p``.
  Then the file's own keys are merged on top as usual. A missing key is an error naming the line.
- ``{{fileDirname}}``, ``{{fileBasename}}``, ``{{fileBasenameNoExtension}}`` and ``{{fileExtname}}``
  are replaced by the parts of the file's own path before it is parsed.
- ``custom_imports = dict(imports=['pkg.mod'], allow_failed_imports=False)`` imports those modules
  after loading, so their ``register_module`` decorators run.

Every error while loading is a :class:`ConfigError` that names the file (and the line, for Python).
"""
from __future__ import annotations

import ast
import copy
import difflib
import importlib
import json
import os
import re
import sys
import traceback
import types
import warnings
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import yaml

from ..errors import UserError
from .config_dict import ConfigDict, to_config_value
from .pretty import to_python_source, to_serializable

__all__ = ['Config', 'ConfigError', 'OverrideAssigner', 'import_custom_modules', 'merge_dicts', 'load_yaml',
           'ConfigYamlLoader']

BASE_KEYS = ('_base_', '_BASE_')
DELETE_KEY = '_delete_'
_FORMATS = {'.py': 'py', '.yaml': 'yaml', '.yml': 'yaml', '.json': 'json'}
# {{_base_.a.b.0}}, optionally inside quotes (a quoted placeholder in Python stands for the value, not a string).
_PY_BASE_REF = re.compile(r'''(?P<q>['"]?)\{\{\s*_base_\.(?P<key>[\w.]+?)\s*\}\}(?P=q)''')
_DATA_BASE_REF = re.compile(r'\{\{\s*_base_\.(?P<key>[\w.]+?)\s*\}\}')
_FILE_VAR = re.compile(r'\{\{\s*(fileDirname|fileBasename|fileBasenameNoExtension|fileExtname)\s*\}\}')
_BASE_REF_FUNC = '__vc_base_value__'
_MISSING = object()


class ConfigError(UserError, ValueError):
    """A config file that cannot be loaded, or an override / value that does not fit the config."""


# -- merging ----------------------------------------------------------------------------------------
def strip_delete(value: Any) -> Any:
    """Return ``value`` with every ``_delete_`` key removed (through dicts, lists and tuples)."""
    if isinstance(value, Mapping):
        return ConfigDict({k: strip_delete(v) for k, v in value.items() if k != DELETE_KEY})
    if type(value) in (list, tuple):
        return type(value)(strip_delete(v) for v in value)
    return value


def merge_dicts(base: Mapping[Any, Any], override: Mapping[Any, Any]) -> ConfigDict:
    """Merge ``override`` on top of ``base`` into a new ``ConfigDict`` (neither input is changed).

    Dicts merge recursively; other values replace. A dict in ``override`` with a true ``_delete_``
    replaces the dict in ``base`` instead of merging into it. A dict whose keys are all ints, over a list
    or tuple, changes list items by index (``pipeline={1: dict(scale=(1333, 800))}`` merges into item 1,
    keeping its ``type``); an index past the end is a :class:`ConfigError`.
    """
    out = ConfigDict()
    dict.update(out, base)
    for key, value in override.items():
        if key == DELETE_KEY:
            continue
        old = out.get(key, _MISSING)
        if isinstance(value, Mapping) and isinstance(old, Mapping) and not value.get(DELETE_KEY, False):
            out[key] = merge_dicts(old, value)
        elif isinstance(value, Mapping) and isinstance(old, (list, tuple)) and value \
                and all(isinstance(k, int) and not isinstance(k, bool) for k in value):
            out[key] = _merge_by_index(key, old, value)
        else:
            out[key] = strip_delete(value)
    return out


def _merge_by_index(key: Any, items: list | tuple, override: Mapping[int, Any]) -> list | tuple:
    merged = list(items)
    for index, value in override.items():
        if not -len(merged) <= index < len(merged):
            raise ConfigError(f'{key}: index {index} is out of range for a list of {len(merged)} items '
                              f'(a dict with int keys changes list items by index)')
        old = merged[index]
        if isinstance(value, Mapping) and isinstance(old, Mapping) and not value.get(DELETE_KEY, False):
            merged[index] = merge_dicts(old, value)
        else:
            merged[index] = strip_delete(value)
    return type(items)(merged) if isinstance(items, tuple) else merged


# -- dotted key paths ---------------------------------------------------------------------------------
def _dotted_keys(value: Any, prefix: str = '') -> Iterator[str]:
    """Every dotted key path in ``value``: dict keys and list indices, intermediate paths included."""
    if isinstance(value, Mapping):
        children: Any = value.items()
    elif isinstance(value, (list, tuple)):
        children = enumerate(value)
    else:
        return
    for key, child in children:
        path = f'{prefix}.{key}' if prefix else str(key)
        yield path
        yield from _dotted_keys(child, path)


def _closest_keys(key: str, root: Any, n: int = 3) -> list[str]:
    return difflib.get_close_matches(key, list(_dotted_keys(root)), n=n, cutoff=0.6)


def _find_key(node: Mapping[Any, Any], part: str) -> Any:
    """The key of ``node`` that path part ``part`` names ('3' also finds an int key 3), or ``_MISSING``."""
    if part in node:
        return part
    if re.fullmatch(r'-?\d+', part) and int(part) in node:
        return int(part)
    return _MISSING


def _list_index(node: list[Any] | tuple[Any, ...], part: str) -> int | None:
    if re.fullmatch(r'-?\d+', part) and -len(node) <= int(part) < len(node):
        return int(part)
    return None


def _lookup(root: Any, dotted: str) -> Any:
    """The value at ``dotted`` in ``root``; raises ``KeyError`` naming the first part that is missing."""
    node = root
    for depth, part in enumerate(dotted.split('.')):
        if isinstance(node, Mapping) and (key := _find_key(node, part)) is not _MISSING:
            node = node[key]
        elif isinstance(node, (list, tuple)) and (idx := _list_index(node, part)) is not None:
            node = node[idx]
        else:
            raise KeyError('.'.join(dotted.split('.')[:depth + 1]))
    return node


# -- loading --------------------------------------------------------------------------------------------
def _format_of(path: str, label: str | None = None) -> str:
    ext = os.path.splitext(path)[1].lower()
    if ext not in _FORMATS:
        raise ConfigError(f'{label or path}: unsupported config file type {ext or "(no extension)"!r}; '
                          f'use .py, .yaml, .yml or .json')
    return _FORMATS[ext]


def _normalize_format(file_format: str) -> str:
    fmt = file_format.lower().lstrip('.')
    fmt = {'yml': 'yaml'}.get(fmt, fmt)
    if fmt not in ('py', 'yaml', 'json'):
        raise ConfigError(f'unsupported config format {file_format!r}; use py, yaml or json')
    return fmt


def _substitute_file_vars(text: str, filename: str | None) -> str:
    if filename is None:
        return text
    stem, ext = os.path.splitext(os.path.basename(filename))
    values = {'fileDirname': os.path.dirname(filename).replace('\\', '/'),
              'fileBasename': os.path.basename(filename),
              'fileBasenameNoExtension': stem, 'fileExtname': ext}
    return _FILE_VAR.sub(lambda m: values[m.group(1)], text)


def _base_value(bases: ConfigDict | None, key: str, label: str) -> Any:
    """Deep copy of ``{{_base_.key}}``; ``ConfigError`` (without the file name) when it is missing."""
    if bases is None:
        raise ConfigError(f'{{{{_base_.{key}}}}} is used but the file has no _base_')
    try:
        return copy.deepcopy(_lookup(bases, key))
    except KeyError as exc:
        close = _closest_keys(key, bases)
        hint = f"; closest keys in the bases: {', '.join(close)}" if close else ''
        raise ConfigError(f'{{{{_base_.{key}}}}}: the bases have no key {exc.args[0]!r}{hint}') from None


def _exception_line(exc: BaseException, label: str) -> str:
    lines = [f.lineno for f in traceback.extract_tb(exc.__traceback__) if f.filename == label]
    return f', line {lines[-1]}' if lines else ''


def _python_base_spec(tree: ast.Module, label: str) -> Any:
    """The literal value of a top-level ``_base_ = ...`` assignment, or ``None``."""
    spec = None
    for node in tree.body:
        targets = node.targets if isinstance(node, ast.Assign) else \
            [node.target] if isinstance(node, ast.AnnAssign) and node.value is not None else []
        if any(isinstance(t, ast.Name) and t.id == '_base_' for t in targets):
            try:
                spec = ast.literal_eval(node.value)  # type: ignore[union-attr]
            except ValueError:
                raise ConfigError(f'{label}, line {node.lineno}: _base_ must be a path string or a list of '
                                  f'path strings written out literally') from None
    return spec


def _assigns_base(node: ast.stmt) -> bool:
    """Whether a top-level statement is the ``_base_ = [...]`` list of base files."""
    targets = node.targets if isinstance(node, ast.Assign) else \
        [node.target] if isinstance(node, ast.AnnAssign) and node.value is not None else []
    return any(isinstance(t, ast.Name) and t.id == '_base_' for t in targets)


class _NoBases:
    """What ``_base_`` reads as in a Python config that names no bases: every use is an error."""

    def __getattr__(self, name: str) -> Any:
        if name.startswith('__'):
            raise AttributeError(name)
        raise ConfigError(f'_base_.{name} is used but the file has no _base_')

    def __getitem__(self, key: Any) -> Any:
        raise ConfigError(f'_base_[{key!r}] is used but the file has no _base_')


def _load_bases(spec: Any, label: str, base_dir: str, chain: tuple[str, ...]) -> ConfigDict | None:
    if spec is None:
        return None
    paths = [spec] if isinstance(spec, str) else spec
    if not isinstance(paths, (list, tuple)) or not all(isinstance(p, str) for p in paths):
        raise ConfigError(f'{label}: _base_ must be a path string or a list of path strings, got {spec!r}')
    merged = ConfigDict()
    for rel in paths:
        full = os.path.normpath(os.path.join(base_dir, os.path.expanduser(rel)))
        if not os.path.isfile(full):
            raise ConfigError(f'{label}: base config {rel!r} not found (looked for {full})')
        try:
            base, _ = _load_file(full, chain)
        except ConfigError as exc:
            if exc.args and '(a _base_ of ' in str(exc.args[0]):
                raise
            raise ConfigError(f'{exc} (a _base_ of {label})') from exc
        merged = merge_dicts(merged, base)
    return merged


def _substitute_data_refs(value: Any, bases: ConfigDict | None, label: str) -> Any:
    """Replace ``'{{_base_.key}}'`` strings in YAML/JSON data with values of the bases."""
    if isinstance(value, dict):
        return {k: _substitute_data_refs(v, bases, label) for k, v in value.items()}
    if isinstance(value, list):
        return [_substitute_data_refs(v, bases, label) for v in value]
    if isinstance(value, str) and '{{' in value:
        try:
            whole = _DATA_BASE_REF.fullmatch(value.strip())
            if whole:
                return _base_value(bases, whole.group('key'), label)
            return _DATA_BASE_REF.sub(lambda m: str(_base_value(bases, m.group('key'), label)), value)
        except ConfigError as exc:
            raise ConfigError(f'{label}: {exc}') from None
    return value


def _parse_python(text: str, label: str, base_dir: str, chain: tuple[str, ...]) -> ConfigDict:
    source = _PY_BASE_REF.sub(lambda m: f'{_BASE_REF_FUNC}({m.group("key")!r})', text)
    try:
        tree = ast.parse(source, filename=label)
    except SyntaxError as exc:
        line = text.splitlines()[exc.lineno - 1] if exc.lineno and exc.lineno <= len(text.splitlines()) else ''
        hint = (' ({{_base_.key}} must stand alone as a value, not inside a longer string)'
                if '{{' in line and '_base_.' in line else '')
        raise ConfigError(f'{label}, line {exc.lineno}: invalid Python: {exc.msg}{hint}') from exc
    bases = _load_bases(_python_base_spec(tree, label), label, base_dir, chain)
    tree.body = [node for node in tree.body if not _assigns_base(node)]  # `_base_` names the bases' values below
    namespace: dict[str, Any] = {
        '__file__': label, '__name__': '__visioncraft_config__',
        _BASE_REF_FUNC: lambda key: _base_value(bases, key, label),
        # plain `_base_.x` (mmengine): the merged bases themselves, not a copy, so `_base_.model.backbone = ...`
        # changes what the file inherits and `x = _base_.y; x.pipeline = ...` changes both x and y
        '_base_': bases if bases is not None else _NoBases(),
    }
    try:
        exec(compile(tree, label, 'exec'), namespace)
    except (Exception, SystemExit) as exc:  # anything the file raises (exit() too) is a broken config: say where
        what = str(exc) if isinstance(exc, ConfigError) else f'{type(exc).__name__}: {exc}'
        raise ConfigError(f'{label}{_exception_line(exc, label)}: {what}') from exc
    own = {k: v for k, v in namespace.items()
           if not (isinstance(k, str) and k.startswith('_'))
           and not isinstance(v, (types.ModuleType, types.FunctionType, types.BuiltinFunctionType))}
    return merge_dicts(bases, own) if bases is not None else ConfigDict(own)


class ConfigYamlLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` with YAML 1.2 floats: ``1e-4``, ``5E+3`` and ``1.0e5`` are floats (YAML 1.1, which
    PyYAML follows, reads a float without a dot or without an exponent sign as a string, so ``lr: 1e-4`` became
    ``'1e-4'``). Read configs with :func:`load_yaml`, which also rejects duplicate keys."""


ConfigYamlLoader.add_implicit_resolver(
    'tag:yaml.org,2002:float',
    re.compile(r'^(?:[-+]?[0-9][0-9_]*(?:\.[0-9_]*)?[eE][-+]?[0-9]+|[-+]?\.[0-9_]+[eE][-+]?[0-9]+)$'),
    list('-+0123456789.'))

_YAML_MERGE_TAG = 'tag:yaml.org,2002:merge'


def _check_yaml_duplicates(root: yaml.Node, label: str) -> None:
    """Raise :class:`ConfigError` at the first mapping that sets a key twice, naming the key path and both lines
    (YAML would keep the second value without a word). ``<<`` merge keys are not duplicates of anything."""
    seen_nodes: set[int] = set()
    stack: list[tuple[yaml.Node, str]] = [(root, '')]
    while stack:
        node, path = stack.pop()
        if id(node) in seen_nodes:  # an alias of a node already walked
            continue
        seen_nodes.add(id(node))
        if isinstance(node, yaml.MappingNode):
            first: dict[tuple[str, str], int] = {}
            for key_node, value_node in node.value:
                if isinstance(key_node, yaml.ScalarNode) and key_node.tag != _YAML_MERGE_TAG:
                    key = (key_node.tag, key_node.value)
                    line = key_node.start_mark.line + 1
                    full = f'{path}.{key_node.value}' if path else str(key_node.value)
                    if key in first:
                        raise ConfigError(f'{label}: duplicate key {full!r} at lines {first[key]} and {line} (YAML '
                                          f'would keep the second value without a word; set each key once)')
                    first[key] = line
                    stack.append((value_node, full))
                else:
                    stack.append((value_node, path))
        elif isinstance(node, yaml.SequenceNode):
            stack.extend((item, f'{path}.{i}' if path else str(i)) for i, item in enumerate(node.value))


def load_yaml(text: str, label: str = '<string>') -> Any:
    """The data of the YAML document ``text``, read as configs are: safe types only, YAML 1.2 floats
    (:class:`ConfigYamlLoader`), and a key set twice in one mapping is a :class:`ConfigError` naming ``label``, the
    key path and both lines. ``yaml.YAMLError`` for invalid YAML."""
    loader = ConfigYamlLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _check_yaml_duplicates(node, label)
        return loader.construct_document(node)
    finally:
        loader.dispose()


def _json_object_without_duplicates(label: str):
    def hook(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, value in pairs:
            if key in out:
                raise ConfigError(f'{label}: duplicate key {key!r} in one JSON object (JSON would keep the second '
                                  'value without a word; set each key once)')
            out[key] = value
        return out
    return hook


def _parse_data(text: str, fmt: str, label: str, base_dir: str, chain: tuple[str, ...]) -> ConfigDict:
    try:
        data = load_yaml(text, label) if fmt == 'yaml' else \
            json.loads(text, object_pairs_hook=_json_object_without_duplicates(label))
    except yaml.YAMLError as exc:
        mark = getattr(exc, 'problem_mark', None)
        where = f', line {mark.line + 1}' if mark is not None else ''
        raise ConfigError(f'{label}{where}: invalid YAML: {getattr(exc, "problem", None) or exc}') from exc
    except json.JSONDecodeError as exc:
        raise ConfigError(f'{label}, line {exc.lineno}: invalid JSON: {exc.msg}') from exc
    except RecursionError:
        raise ConfigError(f'{label}: nested too deeply to read') from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f'{label}: the top level of a config must be a mapping, got {type(data).__name__}')
    found = [k for k in BASE_KEYS if k in data]
    if len(found) > 1:
        raise ConfigError(f'{label}: use either _base_ or _BASE_, not both')
    bases = _load_bases(data.pop(found[0]) if found else None, label, base_dir, chain)
    own = _substitute_data_refs(data, bases, label)
    return merge_dicts(bases, own) if bases is not None else ConfigDict(own)


def _parse(text: str, fmt: str, filename: str | None, chain: tuple[str, ...]) -> ConfigDict:
    label = filename or '<string>'
    base_dir = os.path.dirname(filename) if filename else os.getcwd()
    text = _substitute_file_vars(text, filename)
    if fmt == 'py':
        return _parse_python(text, label, base_dir, chain)
    return _parse_data(text, fmt, label, base_dir, chain)


def _load_file(path: str | os.PathLike[str], chain: tuple[str, ...] = ()) -> tuple[ConfigDict, str]:
    """Load one file and its bases; return the merged dict and the file's own text."""
    path = os.path.abspath(os.path.expanduser(os.fspath(path)))
    if path in chain:
        raise ConfigError('circular _base_ chain: ' + ' -> '.join([*chain[chain.index(path):], path]))
    if os.path.isdir(path):
        raise ConfigError(f'config file {path} is a folder, not a file')
    if not os.path.isfile(path):
        raise ConfigError(f'config file not found: {path}')
    fmt = _format_of(path)
    try:
        text = Path(path).read_text(encoding='utf-8')
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f'{path}: cannot read the config file: {exc}') from exc
    return _parse(text, fmt, path, (*chain, path)), text


def import_custom_modules(custom_imports: Any, filename: str | None = None) -> list[types.ModuleType]:
    """Import ``custom_imports['imports']`` so that their ``register_module`` decorators run.

    Args:
        custom_imports: ``dict(imports=['pkg.mod', ...], allow_failed_imports=False)``.
        filename: the config file, for messages.

    Returns:
        The modules that were imported.

    Raises:
        ConfigError: a malformed ``custom_imports``, or a module that fails to import (unless
            ``allow_failed_imports=True``, which warns instead).
    """
    label = filename or '<config>'
    if not isinstance(custom_imports, Mapping):
        raise ConfigError(f'{label}: custom_imports must be dict(imports=[...], allow_failed_imports=False), '
                          f'got {custom_imports!r}')
    unknown = sorted(set(custom_imports) - {'imports', 'allow_failed_imports'})
    if unknown:
        raise ConfigError(f'{label}: custom_imports has unknown keys {unknown}; '
                          f'it takes imports and allow_failed_imports')
    names = custom_imports.get('imports', [])
    names = [names] if isinstance(names, str) else names
    if not isinstance(names, (list, tuple)) or not all(isinstance(n, str) for n in names):
        raise ConfigError(f'{label}: custom_imports.imports must be a list of module names, got {names!r}')
    allow_failed = bool(custom_imports.get('allow_failed_imports', False))
    modules = []
    for name in names:
        try:
            modules.append(_import_from_cwd_too(name))
        except Exception as exc:  # ImportError, or whatever the module raised while running
            message = f"{label}: custom_imports could not import {name!r}: {type(exc).__name__}: {exc}"
            if not allow_failed:
                raise ConfigError(message) from exc
            warnings.warn(message + ' (skipped: allow_failed_imports=True)', stacklevel=2)
    return modules


def _import_from_cwd_too(name: str) -> types.ModuleType:
    """``importlib.import_module(name)``; when the package is not found and the current directory is not on
    ``sys.path`` (``python tools/train.py`` puts ``tools/`` there, not the current directory), retry with it, so
    ``custom_imports=dict(imports=['my_project.my_backbone'])`` works from the project root either way."""
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        cwd = os.getcwd()
        top = name.split('.')[0]
        if exc.name != top or cwd in sys.path or '' in sys.path or not (
                os.path.isdir(os.path.join(cwd, top)) or os.path.isfile(os.path.join(cwd, top + '.py'))):
            raise
        sys.path.insert(0, cwd)
        return importlib.import_module(name)


_import_listed_modules = import_custom_modules  # Config.fromfile's argument of the same name hides it


# -- Config ---------------------------------------------------------------------------------------------
class Config:
    """A loaded config: a :class:`ConfigDict` plus the file it came from.

    Keys read as attributes or items (``cfg.model.backbone``, ``cfg['model']``); ``in``, ``len``,
    iteration, ``get``, ``keys``, ``values`` and ``items`` work on the top-level keys. A top-level
    key may not share a name with a public ``Config`` attribute (``filename``, ``text``, ``dump``, ...).

    Args:
        cfg_dict: the values; nested dicts become ``ConfigDict``.
        filename: the file the values came from (stored as an absolute path).
        text: the file's source; read from ``filename`` when not given.
    """

    _cfg_dict: ConfigDict
    _filename: str | None
    _text: str

    def __init__(self, cfg_dict: Mapping[str, Any] | None = None, filename: str | os.PathLike[str] | None = None,
                 *, text: str | None = None) -> None:
        if isinstance(cfg_dict, Config):
            cfg_dict = cfg_dict._cfg_dict
        if cfg_dict is None:
            cfg_dict = {}
        if not isinstance(cfg_dict, Mapping):
            raise TypeError(f'cfg_dict must be a dict, got {type(cfg_dict).__name__}')
        path = os.path.abspath(os.fspath(filename)) if filename else None
        if text is None:
            text = Path(path).read_text(encoding='utf-8') if path and os.path.isfile(path) else ''
        object.__setattr__(self, '_filename', path)
        object.__setattr__(self, '_text', text)
        object.__setattr__(self, '_cfg_dict', ConfigDict(cfg_dict))
        self._check_reserved(self._cfg_dict, path)

    # -- construction ------------------------------------------------------------------------------
    @classmethod
    def fromfile(cls, filename: str | os.PathLike[str], cfg_options: Mapping[str, Any] | None = None,
                 import_custom_modules: bool = True, translate: bool = True) -> Config:
        """Load a ``.py``, ``.yaml``/``.yml`` or ``.json`` config with its bases.

        Args:
            filename: the config file.
            cfg_options: overrides applied after loading, as for :meth:`merge_from_dict`.
            import_custom_modules: import the modules listed in ``custom_imports`` (after the overrides).
            translate: read a config written for another toolbox onto this layout: a PaddleOCR-layout YAML
                (``Global`` + ``Architecture`` at the top: :mod:`visioncraft.config.compat.paddleocr`, where
                ``cfg_options`` set its PaddleOCR keys before the translation, as ``-o Global.epoch_num=3``), an
                MMDetection 2.x config (``data=``, ``lr_config=``, ...: :mod:`visioncraft.config.compat.mmdet2`;
                ``cfg_options`` naming its 2.x keys apply before the translation, the others after). False returns
                it as written.
        """
        cfg_dict, text = _load_file(filename)
        if translate and _format_of(os.fspath(filename)) == 'yaml':
            # function-local: compat.paddleocr imports this module (Config, ConfigError)
            from .compat.paddleocr import is_paddleocr_layout, translate_loaded
            if is_paddleocr_layout(cfg_dict):  # PaddleOCR's YAML: -o overrides first, then the translation
                return translate_loaded(strip_delete(cfg_dict), filename, cfg_options)
        cfg = cls(strip_delete(cfg_dict), filename=filename, text=text)
        # function-local: compat.mmdet2 imports this module (Config, ConfigError)
        from .compat.mmdet2 import is_mmdet2_config, load_translated, mmdet2_loader_options
        if translate and is_mmdet2_config(cfg):  # an MMDetection 2.x config: overrides go around the translation
            cfg, cfg_options = load_translated(cfg, cfg_options), None
        elif translate and cfg_options:  # the 2.x guide's data.test.samples_per_gpu=N on a 3.x-layout config
            cfg_options = mmdet2_loader_options(cfg, cfg_options)
        if cfg_options:
            cfg.merge_from_dict(cfg_options)
        if import_custom_modules and cfg._cfg_dict.get('custom_imports') is not None:
            _import_listed_modules(cfg._cfg_dict['custom_imports'], cfg.filename)
        return cfg

    @classmethod
    def fromstring(cls, text: str, file_format: str) -> Config:
        """Load a config from its text; ``file_format`` is ``'py'``, ``'yaml'`` or ``'json'``
        (a leading dot is accepted). ``_base_`` paths are relative to the current directory."""
        cfg_dict = _parse(text, _normalize_format(file_format), None, ())
        return cls(strip_delete(cfg_dict), text=text)

    # -- properties ----------------------------------------------------------------------------------
    @property
    def filename(self) -> str | None:
        """Absolute path of the file this config was loaded from (``None`` if built from a dict)."""
        return self._filename

    @property
    def text(self) -> str:
        """The raw source of the file itself (its bases are not included); ``''`` when built from a dict."""
        return self._text

    @property
    def pretty_text(self) -> str:
        """Python source that loads back to the same values (see :meth:`dump` for non-data values)."""
        return to_python_source(self._cfg_dict)

    def to_dict(self) -> dict[str, Any]:
        """Plain nested dicts / lists / tuples."""
        return self._cfg_dict.to_dict()

    # -- mapping interface ---------------------------------------------------------------------------
    def _where(self) -> str:
        return self._filename or '<config>'

    @classmethod
    def _check_reserved(cls, cfg_dict: Mapping[Any, Any], filename: str | None = None) -> None:
        clash = sorted(k for k in cfg_dict if k in _RESERVED)
        if clash:
            raise ConfigError(f'{filename or "<config>"}: top-level key(s) {clash} clash with Config '
                              f'attributes; rename them or put them under another key')

    def __getattr__(self, name: str) -> Any:
        if name.startswith('__') or name in ('_cfg_dict', '_filename', '_text'):
            raise AttributeError(name)  # not initialised yet (copy / pickle probes)
        try:
            return self._cfg_dict[name]
        except KeyError:
            close = difflib.get_close_matches(name, [k for k in self._cfg_dict if isinstance(k, str)], n=3)
            hint = f"; closest keys: {', '.join(repr(c) for c in close)}" if close else ''
            raise AttributeError(f'{self._where()}: config has no key {name!r}{hint}') from None

    def __setattr__(self, name: str, value: Any) -> None:
        if name in _RESERVED or name.startswith('_'):
            raise AttributeError(f'cannot set {name!r} on a Config: it is a Config attribute, not a key')
        self._cfg_dict[name] = value

    def __delattr__(self, name: str) -> None:
        try:
            del self._cfg_dict[name]
        except KeyError:
            raise AttributeError(f'{self._where()}: config has no key {name!r}') from None

    def __getitem__(self, key: Any) -> Any:
        return self._cfg_dict[key]

    def __setitem__(self, key: Any, value: Any) -> None:
        self._check_reserved({key: None}, self._filename)
        self._cfg_dict[key] = value

    def __delitem__(self, key: Any) -> None:
        del self._cfg_dict[key]

    def __contains__(self, key: object) -> bool:
        return key in self._cfg_dict

    def __iter__(self) -> Iterator[Any]:
        return iter(self._cfg_dict)

    def __len__(self) -> int:
        return len(self._cfg_dict)

    def get(self, key: Any, default: Any = None) -> Any:
        return self._cfg_dict.get(key, default)

    def keys(self) -> Any:
        return self._cfg_dict.keys()

    def values(self) -> Any:
        return self._cfg_dict.values()

    def items(self) -> Any:
        return self._cfg_dict.items()

    def __dir__(self) -> list[str]:
        return sorted(set(super().__dir__()) | {k for k in self._cfg_dict if isinstance(k, str)})

    # -- copying, pickling, printing -----------------------------------------------------------------
    def copy(self) -> Config:
        """Shallow copy: a new top-level dict; nested values are shared."""
        return Config(self._cfg_dict.copy(), self._filename, text=self._text)

    __copy__ = copy

    def __deepcopy__(self, memo: dict[int, Any]) -> Config:
        return Config(copy.deepcopy(self._cfg_dict, memo), self._filename, text=self._text)

    def __getstate__(self) -> dict[str, Any]:
        return {'cfg_dict': self._cfg_dict, 'filename': self._filename, 'text': self._text}

    def __setstate__(self, state: dict[str, Any]) -> None:
        object.__setattr__(self, '_cfg_dict', state['cfg_dict'])
        object.__setattr__(self, '_filename', state['filename'])
        object.__setattr__(self, '_text', state['text'])

    def __repr__(self) -> str:
        return f'Config (path: {self._filename}):\n{self.pretty_text}'

    # -- overrides -----------------------------------------------------------------------------------
    def merge_from_dict(self, options: Mapping[str, Any], allow_list_keys: bool = True) -> None:
        """Apply ``{'dotted.key.path': value}`` overrides (``--cfg-options`` / ``-o``).

        - A path part may be a list index (``'train_dataloader.dataset.pipeline.1.scale'``) when
          ``allow_list_keys``; a tuple on the path is rebuilt with the new item.
        - Every key must already exist, else ``ConfigError`` names the key, the file and the closest
          existing keys. A leading ``+`` (``'+model.new_key'``) may create the key and any missing dicts
          on its path.
        - A dict value merges into an existing dict (``_delete_=True`` replaces it); anything else replaces.

        Either all overrides apply or, on an error, none does. The routine is :class:`OverrideAssigner`.
        """
        try:
            new = copy.deepcopy(self._cfg_dict)
        except Exception:  # a value that cannot be copied: apply in place instead
            new = self._cfg_dict
        assigner = OverrideAssigner(self._where(), allow_list_keys=allow_list_keys, closest_root=self._cfg_dict)
        for raw_key, value in options.items():
            assigner.assign(new, raw_key, copy.deepcopy(value))
        self._check_reserved(new, self._filename)
        object.__setattr__(self, '_cfg_dict', new)

    # -- dumping ---------------------------------------------------------------------------------------
    def dump(self, file: str | os.PathLike[str] | None = None, *, file_format: str | None = None) -> str | None:
        """Write the config to ``file`` (format from its extension: .py, .yaml/.yml, .json), or return the text.

        Without ``file`` the text is returned, in ``file_format`` if given, else the format of
        :attr:`filename`, else Python. Classes and functions are written as their dotted import path
        string (``'torch.nn.modules.conv.Conv2d'``), which registries accept as a ``type``; plain data
        round-trips exactly through .py (tuples included), while YAML/JSON turn tuples into lists.
        """
        if file_format is not None:
            fmt = _normalize_format(file_format)
        elif file is not None:
            fmt = _format_of(os.fspath(file))
        elif self._filename and os.path.splitext(self._filename)[1].lower() in _FORMATS:
            fmt = _format_of(self._filename)
        else:
            fmt = 'py'
        if fmt == 'py':
            text = self.pretty_text
        elif fmt == 'yaml':
            text = yaml.safe_dump(to_serializable(self._cfg_dict), sort_keys=False, allow_unicode=True,
                                  default_flow_style=False)
        else:
            text = json.dumps(to_serializable(self._cfg_dict), indent=4, ensure_ascii=False) + '\n'
        if file is None:
            return text
        path = Path(file)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding='utf-8')
        return None


class OverrideAssigner:
    """Sets ``{'dotted.key.path': value}`` overrides in a nested dict: the routine behind
    :meth:`Config.merge_from_dict` (``--cfg-options``), which the PaddleOCR reader
    (:mod:`visioncraft.config.compat.paddleocr.overrides`, ``-o Global.epoch_num=3``) runs with ``replace=True``
    and its own messages.

    A path part is a mapping key (``'3'`` also finds an int key 3) or, with ``allow_list_keys``, a list / tuple
    index (a tuple on the path is rebuilt with the new item). A missing key is an error that names the key, the
    file and the closest existing keys, unless the override creates keys (a leading ``+``, or ``create=True``):
    then the key and any missing mappings on its path are made.

    Args:
        where: the file (or label) every message starts with.
        replace: a value replaces what its key held, a mapping too, and is stored as given (PaddleOCR's ``-o``).
            False (``--cfg-options``): a mapping merges into the mapping there (``_delete_=True`` replaces it).
        allow_list_keys: path parts may index lists and tuples.
        fill_none: when creating keys, a ``None`` on the path becomes an empty mapping.
        closest_root: where the closest existing keys of a missing key come from (default: the dict changed).

    Subclasses change the messages (the ``*_error`` methods), the keys offered as the closest ones
    (:meth:`candidate_keys`) and what a key may take (:meth:`check_leaf`).
    """

    #: makes the mappings a created path needs
    new_mapping: Any = ConfigDict

    def __init__(self, where: str, *, replace: bool = False, allow_list_keys: bool = True, fill_none: bool = False,
                 closest_root: Any = None) -> None:
        self.where = where
        self.replace = replace
        self.allow_list_keys = allow_list_keys
        self.fill_none = fill_none
        self.closest_root = closest_root
        self._root: Any = None  # the dict being changed, while assign_path runs

    # -- assigning -------------------------------------------------------------------------------------
    def parse_key(self, raw_key: Any) -> tuple[list[str], bool]:
        """``(path parts, create)`` of an override key (``'+a.b'`` -> ``(['a', 'b'], True)``)."""
        if not isinstance(raw_key, str):
            raise ConfigError(f'{self.where}: override keys must be dotted strings, got {raw_key!r}')
        create = raw_key.startswith('+')
        key = raw_key[1:] if create else raw_key
        parts = key.split('.')
        if not key or '' in parts:
            raise self.bad_key_error(raw_key)
        return parts, create

    def assign(self, root: Any, raw_key: Any, value: Any, *, create: bool = False) -> Any:
        """Set the override ``raw_key`` (``'a.b.0.c'``, ``'+a.new'``) below ``root`` to ``value``; ``create``
        as a leading ``+``. Returns ``root`` (changed in place)."""
        parts, plus = self.parse_key(raw_key)
        return self.assign_path(root, parts, value, raw_key=raw_key, create=create or plus)

    def assign_path(self, root: Any, parts: list[str], value: Any, *, raw_key: str, create: bool) -> Any:
        """:meth:`assign` with the key already split (``raw_key`` is what the messages name)."""
        self._root = root
        try:
            return self._assign(root, parts, 0, value, raw_key, create)
        finally:
            self._root = None

    def _assign(self, node: Any, parts: list[str], i: int, value: Any, raw_key: str, create: bool) -> Any:
        """Set ``parts[i:]`` below ``node`` to ``value``; return ``node`` (a rebuilt one for a tuple)."""
        part, last = parts[i], i == len(parts) - 1
        if isinstance(node, Mapping):
            key = _find_key(node, part)
            if key is _MISSING:
                if not create:
                    raise self.missing_key_error(raw_key, parts, i, node)
                key = part
                node[key] = self.leaf_value(_MISSING, value) if last else self.new_mapping()
                if last:
                    return node
            elif not last and create and self.fill_none and node[key] is None:
                node[key] = self.new_mapping()
            if last:
                self.check_leaf(raw_key, parts, node, node[key], value)
                node[key] = self.leaf_value(node[key], value)
            else:
                node[key] = self._assign(node[key], parts, i + 1, value, raw_key, create)
            return node
        if isinstance(node, (list, tuple)):
            if not self.allow_list_keys:
                raise self.list_keys_error(raw_key, parts, i, node)
            idx = _list_index(node, part)
            if idx is None:
                raise self.bad_index_error(raw_key, parts, i, node)
            if last:
                self.check_leaf(raw_key, parts, node, node[idx], value)
                child = self.leaf_value(node[idx], value)
            else:
                child = self._assign(node[idx], parts, i + 1, value, raw_key, create)
            if isinstance(node, list):
                node[idx] = child
                return node
            return tuple(child if j == idx else v for j, v in enumerate(node))
        raise self.no_key_error(raw_key, parts, i, node)

    def leaf_value(self, old: Any, new: Any) -> Any:
        """What a key that held ``old`` (a private marker when it is created) holds after the override ``new``."""
        if self.replace:
            return new
        if old is _MISSING:
            return strip_delete(new)
        return _merge_value(old, new)

    def check_leaf(self, raw_key: str, parts: list[str], parent: Any, old: Any, new: Any) -> None:
        """Raise when the existing value ``old`` (in ``parent``) may not become ``new``; every change is allowed."""

    # -- messages --------------------------------------------------------------------------------------
    def candidate_keys(self, root: Any) -> list[str]:
        """The dotted keys a missing key is compared with."""
        return list(_dotted_keys(root))

    def closest(self, key: str) -> list[str]:
        root = self.closest_root if self.closest_root is not None else self._root
        return difflib.get_close_matches(key, self.candidate_keys(root), n=3, cutoff=0.6)

    def bad_key_error(self, raw_key: str) -> ConfigError:
        return ConfigError(f'{self.where}: override key {raw_key!r} is not a dotted key path')

    def missing_key_error(self, raw_key: str, parts: list[str], i: int, node: Mapping[Any, Any]) -> ConfigError:
        key = '.'.join(parts)
        here = '.'.join(parts[:i])
        siblings = [str(k) for k in node]
        listed = ', '.join(siblings[:12]) + (', ...' if len(siblings) > 12 else '')
        where = f'under {here!r} ' if here else 'at the top level '
        close = self.closest(key)
        hint = f" Closest existing keys: {', '.join(close)}." if close else ''
        return ConfigError(f'{self.where}: cannot override {raw_key!r}: there is no key {parts[i]!r} '
                           f'{where}(it has: {listed or "nothing"}).{hint} '
                           f"To add a new key, write '+{key}'.")

    def list_keys_error(self, raw_key: str, parts: list[str], i: int, node: list | tuple) -> ConfigError:
        here = '.'.join(parts[:i]) or '<top level>'
        return ConfigError(f'{self.where}: override {raw_key!r}: {here!r} is a list and list indices '
                           f'are not allowed here (allow_list_keys=False)')

    def bad_index_error(self, raw_key: str, parts: list[str], i: int, node: list | tuple) -> ConfigError:
        here = '.'.join(parts[:i]) or '<top level>'
        return ConfigError(f'{self.where}: override {raw_key!r}: {here!r} is a {type(node).__name__} '
                           f'of length {len(node)}; {parts[i]!r} is not a valid index into it')

    def no_key_error(self, raw_key: str, parts: list[str], i: int, node: Any) -> ConfigError:
        here = '.'.join(parts[:i]) or '<top level>'
        return ConfigError(f'{self.where}: override {raw_key!r}: {here!r} is {node!r} '
                           f'(a {type(node).__name__}), so it has no key {parts[i]!r}')


def _merge_value(old: Any, new: Any) -> Any:
    """The value an override ``new`` leaves at a key that held ``old``."""
    if isinstance(old, Mapping) and isinstance(new, Mapping) and not new.get(DELETE_KEY, False):
        return merge_dicts(old, new)
    return to_config_value(strip_delete(new))


_RESERVED = frozenset(name for name in dir(Config) if not name.startswith('_'))
Mapping.register(Config)  # isinstance(cfg, Mapping) holds, so code that takes a dict takes a Config
