"""Write a config back out: as Python source that loads to the same values, or as plain YAML/JSON data.

Plain data (dicts, lists, tuples, str, int, float, bool, None) round-trips exactly through the
Python form, tuples included. Other values are written as strings:

- classes and functions as their dotted import path (``torch.nn.Conv2d`` ->
  ``'torch.nn.modules.conv.Conv2d'``), which the registries accept as a ``type``;
- NumPy scalars and arrays as their Python numbers / nested lists;
- anything else as its ``repr()`` string (the dump never fails, but such values do not round-trip).
"""
from __future__ import annotations

import keyword
import math
import types
from typing import Any

__all__ = ['dotted_path', 'to_python_source', 'format_value', 'to_serializable']

WIDTH = 100
_INDENT = '    '


def dotted_path(obj: Any) -> str:
    """``module.qualname`` of a class or function (``torch.nn.modules.conv.Conv2d``)."""
    return f'{obj.__module__}.{obj.__qualname__}'


def _is_named_object(value: Any) -> bool:
    return isinstance(value, (type, types.FunctionType, types.BuiltinFunctionType, types.MethodType))


def _leaf_to_data(value: Any) -> Any:
    """Map a non-container value to plain data (str, number, bool, None) where it is not already."""
    if value is None or type(value) in (bool, int, float, str, bytes):
        return value
    if _is_named_object(value):
        return dotted_path(value)
    if type(value).__module__ == 'numpy' and hasattr(value, 'tolist'):
        return value.tolist()
    for kind in (bool, int, float, str, bytes):  # subclasses (np.float64, IntEnum) write as the base type
        if isinstance(value, kind):
            return kind(value)
    return repr(value)


def _is_identifier(key: Any) -> bool:
    return isinstance(key, str) and key.isidentifier() and not keyword.iskeyword(key)


def _format_leaf(value: Any) -> str:
    if isinstance(value, float) and not math.isfinite(value):
        return f"float('{value}')"
    return repr(value)


def _items(value: Any) -> tuple[str, str, list[tuple[str, Any]]] | None:
    """For a container: its opening text, closing text and ``(prefix, item)`` pairs; else ``None``."""
    if isinstance(value, dict):
        if all(_is_identifier(k) for k in value):
            return 'dict(', ')', [(f'{k}=', v) for k, v in value.items()]
        return '{', '}', [(f'{format_value(_leaf_to_data(k))}: ', v) for k, v in value.items()]
    if isinstance(value, list):
        return '[', ']', [('', v) for v in value]
    if isinstance(value, tuple):
        return '(', ')', [('', v) for v in value]
    if isinstance(value, (set, frozenset)):
        return '{', '}', [('', v) for v in value]
    return None


def _inline(value: Any) -> str:
    parts = _items(value)
    if parts is None:
        converted = _leaf_to_data(value)
        if converted is not value and isinstance(converted, list):
            return _inline(converted)  # a NumPy array
        return _format_leaf(converted)
    opening, closing, items = parts
    if not items:
        return {'{': 'set()' if isinstance(value, (set, frozenset)) else '{}'}.get(opening, opening + closing)
    body = ', '.join(prefix + _inline(item) for prefix, item in items)
    if isinstance(value, tuple) and len(items) == 1:
        body += ','
    return opening + body + closing


def format_value(value: Any, indent: int = 0, used: int = 0) -> str:
    """Python source for ``value``: on one line if it fits in ``WIDTH``, else one item per line.

    Args:
        indent: the indentation level of the line the value starts on.
        used: characters already on that line before the value.
    """
    inline = _inline(value)
    parts = _items(value)
    if parts is None or not parts[2] or len(_INDENT) * indent + used + len(inline) <= WIDTH:
        return inline
    opening, closing, items = parts
    pad = _INDENT * (indent + 1)
    lines = [opening]
    if all(not prefix and _items(item) is None for prefix, item in items):
        # A long run of numbers or strings: fill each line instead of one item per line.
        line = ''
        for _, item in items:
            piece = _inline(item) + ','
            if line and len(pad) + len(line) + 1 + len(piece) > WIDTH:
                lines.append(pad + line)
                line = piece
            else:
                line = f'{line} {piece}' if line else piece
        lines.append(pad + line)
    else:
        for prefix, item in items:
            lines.append(f'{pad}{prefix}{format_value(item, indent + 1, len(prefix))},')
    lines.append(_INDENT * indent + closing)
    return '\n'.join(lines)


def to_python_source(cfg: dict[Any, Any]) -> str:
    """Python source that, executed as a config file, gives back ``cfg``.

    Each top-level key is written as ``key = value``. A key that is not a valid Python name (a YAML
    key such as ``'my-key'``) is written as ``globals()['my-key'] = value``, which the loader also reads.
    """
    out: list[str] = []
    for key, value in cfg.items():
        target = key if _is_identifier(key) else f'globals()[{key!r}]'
        block = f'{target} = {format_value(value, 0, len(target) + 3)}'
        if out and ('\n' in block or '\n' in out[-1]):
            out.append('')  # a blank line around multi-line values
        out.append(block)
    return '\n'.join(out) + '\n' if out else ''


def to_serializable(value: Any) -> Any:
    """Plain YAML/JSON data: tuples and sets become lists, other non-data values become strings."""
    if isinstance(value, dict):
        return {_leaf_to_data(k) if not isinstance(k, (str, int, float, bool)) and k is not None else k:
                to_serializable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [to_serializable(v) for v in value]
    converted = _leaf_to_data(value)
    if isinstance(converted, bytes):
        return converted.decode('utf-8', errors='replace')
    if isinstance(converted, list):
        return to_serializable(converted)
    return converted
