"""A PaddleOCR config dict and the file it came from, read strictly: every reader names the file and the key
(``det_mv3_db.yml: Optimizer.beta_1: unknown key ... closest: beta1``)."""
from __future__ import annotations

import difflib
import os
from collections.abc import Mapping, Sequence
from typing import Any

from visioncraft.config.config import ConfigError, import_custom_modules

from .layout import GLOBAL_KEYS, plain

__all__ = ['PaddleOCRDoc', 'as_int']


class PaddleOCRDoc:
    """A PaddleOCR config dict and the file it came from, with strict readers that name file and key."""

    def __init__(self, data: Mapping[str, Any], filename: str | None = None) -> None:
        self.data = plain(dict(data))
        self.filename = os.path.abspath(filename) if filename else None
        self.label = self.filename or '<PaddleOCR config>'

    def error(self, key: str, message: str) -> ConfigError:
        return ConfigError(f'{self.label}: {key}: {message}')

    def section(self, name: str, required: bool = True) -> dict:
        value = self.data.get(name)
        if value is None:
            if required:
                raise ConfigError(f'{self.label}: the PaddleOCR config has no {name} section')
            return {}
        if not isinstance(value, dict):
            raise self.error(name, f'must be a mapping, got {value!r}')
        return value

    def check_keys(self, mapping: Mapping[str, Any] | None, allowed: Sequence[str], key: str) -> dict:
        """``mapping`` as a dict, after checking that it only has ``allowed`` keys."""
        mapping = dict(mapping or {})
        unknown = [k for k in mapping if k not in allowed]
        if unknown:
            k = unknown[0]
            close = difflib.get_close_matches(str(k), list(allowed), n=3, cutoff=0.5)
            hint = f'; closest: {", ".join(close)}' if close else ''
            raise self.error(f'{key}.{k}', f'unknown key (accepted: {", ".join(allowed)}){hint}')
        return mapping

    def named(self, mapping: Any, key: str, choices: Mapping[str, Any] | Sequence[str]) -> str:
        """``mapping['name']``, checked against ``choices``."""
        if not isinstance(mapping, Mapping) or 'name' not in mapping:
            raise self.error(key, f'needs a "name" (one of {", ".join(choices)}), got {mapping!r}')
        name = mapping['name']
        if name not in choices:
            close = difflib.get_close_matches(str(name), list(choices), n=3, cutoff=0.5)
            hint = f'; closest: {", ".join(close)}' if close else ''
            raise self.error(f'{key}.name', f'{name!r} is not supported here (supported: {", ".join(choices)})'
                                            f'{hint}')
        return name

    def transforms(self, split: str) -> list[tuple[str, dict, str]]:
        """``(name, args, key)`` for each item of ``<split>.dataset.transforms`` (``- Name: {args}``)."""
        items = (self.section(split).get('dataset') or {}).get('transforms') or []
        if not isinstance(items, list):
            raise self.error(f'{split}.dataset.transforms', f'must be a list, got {items!r}')
        out = []
        for i, item in enumerate(items):
            key = f'{split}.dataset.transforms.{i}'
            if not isinstance(item, dict) or len(item) != 1:
                raise self.error(key, f'each transform is a one-key mapping "- Name: {{args}}", got {item!r}')
            (name, args), = item.items()
            if args is not None and not isinstance(args, dict):
                raise self.error(f'{key}.{name}', f'the arguments must be a mapping, got {args!r}')
            out.append((str(name), dict(args or {}), f'{key}.{name}'))
        return out

    def import_module_of(self, dotted: str, key: str) -> None:
        """Import the module of the dotted class path ``dotted`` (``pkg.mod.Class``), from the working directory
        too (as ``custom_imports``), so the registry can build ``type=dotted``."""
        module = dotted.rpartition('.')[0]
        try:
            import_custom_modules(dict(imports=[module]), self.label)
        except ConfigError as exc:
            raise self.error(key, f'{dotted!r}: {exc}') from None

    def global_value(self, key: str) -> Any:
        return self.section('Global').get(key, GLOBAL_KEYS.get(key))


def as_int(value: Any, key: str, doc: PaddleOCRDoc, minimum: int = 0) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != int(value) or value < minimum:
        raise doc.error(key, f'must be an integer >= {minimum}, got {value!r}')
    return int(value)
