"""``ConfigDict``: a ``dict`` whose keys also read as attributes (``cfg.model.backbone.depth``).

Every dict stored in a ``ConfigDict`` -- directly, or inside a list or tuple -- is turned into a
``ConfigDict`` when it is stored, so attribute access works at any depth::

    cfg = ConfigDict(model=dict(backbone=dict(depth=50)), pipeline=[dict(type='LoadImage')])
    cfg.model.backbone.depth      # 50
    cfg.pipeline[0].type          # 'LoadImage'

Keys that share a name with a ``dict`` method (``items``, ``keys``, ``copy``, ``update``, ...) read
as the method; use ``cfg['items']`` for those.
"""
from __future__ import annotations

import copy
import difflib
from collections.abc import Iterable, Mapping
from typing import Any

__all__ = ['ConfigDict', 'to_config_value', 'to_plain']


def to_config_value(value: Any) -> Any:
    """Return ``value`` with every plain ``dict`` in it (through lists and tuples) made a ``ConfigDict``.

    Lists and tuples are rebuilt only when something inside them changed, so a list of numbers
    stored in a config is the very list that was given.
    """
    if isinstance(value, ConfigDict):
        return value
    if isinstance(value, dict):
        return ConfigDict(value)
    if type(value) in (list, tuple):
        items = [to_config_value(v) for v in value]
        if all(new is old for new, old in zip(items, value)):
            return value
        return type(value)(items)
    return value


def to_plain(value: Any) -> Any:
    """Return ``value`` with every ``ConfigDict`` in it made a plain ``dict`` (lists stay lists, tuples tuples)."""
    if isinstance(value, dict):
        return {k: to_plain(v) for k, v in value.items()}
    if type(value) in (list, tuple):
        return type(value)(to_plain(v) for v in value)
    return value


class ConfigDict(dict):
    """A ``dict`` with attribute access; nested dicts become ``ConfigDict`` when stored.

    A missing attribute raises ``AttributeError`` that names the key and the closest existing keys;
    a missing item raises ``KeyError`` as a ``dict`` does.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__()
        self.update(*args, **kwargs)

    # -- storing: every path in converts nested dicts ---------------------------------------------
    def __setitem__(self, key: Any, value: Any) -> None:
        super().__setitem__(key, to_config_value(value))

    def update(self, *args: Any, **kwargs: Any) -> None:  # type: ignore[override]
        if len(args) > 1:
            raise TypeError(f'update expected at most 1 positional argument, got {len(args)}')
        if args:
            other = args[0]
            items: Iterable[Any] = other.items() if isinstance(other, Mapping) else other
            for key, value in items:
                self[key] = value
        for key, value in kwargs.items():
            self[key] = value

    def setdefault(self, key: Any, default: Any = None) -> Any:
        if key not in self:
            self[key] = default
        return self[key]

    def __ior__(self, other: Any) -> ConfigDict:  # type: ignore[override]
        self.update(other)
        return self

    def __or__(self, other: Any) -> ConfigDict:  # type: ignore[override]
        if not isinstance(other, Mapping):
            return NotImplemented
        out = self.copy()
        out.update(other)
        return out

    def __ror__(self, other: Any) -> ConfigDict:  # type: ignore[override]
        if not isinstance(other, Mapping):
            return NotImplemented
        out = ConfigDict(other)
        out.update(self)
        return out

    # -- attribute access ------------------------------------------------------------------------
    def __getattr__(self, name: str) -> Any:
        # Only called when normal attribute look-up failed, i.e. for keys (and missing names).
        try:
            return self[name]
        except KeyError:
            if name.startswith('__') and name.endswith('__'):
                raise AttributeError(name) from None  # protocol probes (copy, pickle): stay quiet
            raise AttributeError(self._missing_message(name)) from None

    def __setattr__(self, name: str, value: Any) -> None:
        self[name] = value

    def __delattr__(self, name: str) -> None:
        try:
            del self[name]
        except KeyError:
            raise AttributeError(self._missing_message(name)) from None

    def _missing_message(self, name: str) -> str:
        keys = [k for k in self if isinstance(k, str)]
        close = difflib.get_close_matches(name, keys, n=3, cutoff=0.6)
        hint = f"; closest keys: {', '.join(repr(c) for c in close)}" if close else ''
        return f'config has no key {name!r}{hint}'

    # -- copying and pickling --------------------------------------------------------------------
    def copy(self) -> ConfigDict:
        """A shallow copy that is still a ``ConfigDict`` (``dict.copy`` would return a plain dict)."""
        out = ConfigDict()
        dict.update(out, self)
        return out

    __copy__ = copy

    def __deepcopy__(self, memo: dict[int, Any]) -> ConfigDict:
        out = ConfigDict()
        memo[id(self)] = out
        for key, value in self.items():
            dict.__setitem__(out, copy.deepcopy(key, memo), copy.deepcopy(value, memo))
        return out

    def __reduce__(self) -> tuple[Any, ...]:
        return (ConfigDict, (dict(self),))

    def __reduce_ex__(self, protocol: Any) -> tuple[Any, ...]:
        return self.__reduce__()

    def __repr__(self) -> str:
        return f'ConfigDict({dict.__repr__(self)})'

    def to_dict(self) -> dict[Any, Any]:
        """Plain nested ``dict`` / ``list`` / ``tuple`` copies of the structure (leaf values are shared)."""
        return to_plain(self)
