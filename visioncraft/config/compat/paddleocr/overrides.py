"""PaddleOCR's ``-o Global.epoch_num=3 Optimizer.base_lr=1e-4`` overrides of the PaddleOCR keys, applied before the
translation by Config's own assignment routine (:class:`~visioncraft.config.config.OverrideAssigner`) with
PaddleOCR's rules and messages (:class:`PaddleOCROverrides`)."""
from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from visioncraft.config.config import ConfigError, OverrideAssigner
from visioncraft.config.config_dict import to_plain

from .layout import GLOBAL_KEYS, plain

__all__ = ['apply_paddleocr_overrides', 'PaddleOCROverrides']


class PaddleOCROverrides(OverrideAssigner):
    """Config's assignment routine as PaddleOCR's ``-o``: a value replaces what its key held (a mapping too, with
    ``replace``), a mapping is never replaced by a non-mapping, a created path turns a ``None`` into a mapping,
    and the messages name the PaddleOCR file, the key and the closest PaddleOCR keys (the documented
    ``Global`` keys and ``Optimizer.base_lr`` included)."""

    new_mapping = dict

    def __init__(self, label: str, *, replace: bool = True) -> None:
        super().__init__(label, replace=replace, fill_none=True)

    def leaf_value(self, old: Any, new: Any) -> Any:
        return to_plain(super().leaf_value(old, new))  # the document stays plain dicts (merging makes ConfigDicts)

    def check_leaf(self, raw_key: str, parts: list[str], parent: Any, old: Any, new: Any) -> None:
        if isinstance(parent, Mapping) and isinstance(old, Mapping) and not isinstance(new, Mapping):
            key = '.'.join(parts)
            hint = ' (the learning rate is Optimizer.lr.learning_rate, or Optimizer.base_lr)' \
                if key == 'Optimizer.lr' else ''
            raise ConfigError(f'{self.where}: cannot override {raw_key!r}: {key} is a mapping with keys '
                              f'{", ".join(map(str, old))}; set one of them{hint}')

    def candidate_keys(self, root: Any) -> list[str]:
        keys = super().candidate_keys(root) + [f'Global.{k}' for k in GLOBAL_KEYS] + ['Optimizer.base_lr']
        return sorted(set(keys))

    def _closest_hint(self, key: str) -> str:
        close = self.closest(key)
        return f' Closest existing keys: {", ".join(close)}.' if close else ''

    def bad_key_error(self, raw_key: str) -> ConfigError:
        return ConfigError(f'{self.where}: override {raw_key!r} is not a dotted key path such as Global.epoch_num')

    def missing_key_error(self, raw_key: str, parts: list[str], i: int, node: Mapping[Any, Any]) -> ConfigError:
        here = '.'.join(parts[:i]) or 'the top level'
        listed = ', '.join(str(k) for k in list(node)[:12]) or 'nothing'
        return ConfigError(f'{self.where}: cannot override {raw_key!r}: there is no key {parts[i]!r} under '
                           f'{here} (it has: {listed}).{self._closest_hint(".".join(parts))}')

    def bad_index_error(self, raw_key: str, parts: list[str], i: int, node: list | tuple) -> ConfigError:
        here = '.'.join(parts[:i]) or 'the top level'
        return ConfigError(f'{self.where}: cannot override {raw_key!r}: {here} is a list of {len(node)} '
                           f'items; {parts[i]!r} is not an index into it')

    def no_key_error(self, raw_key: str, parts: list[str], i: int, node: Any) -> ConfigError:
        here = '.'.join(parts[:i]) or 'the top level'
        return ConfigError(f'{self.where}: cannot override {raw_key!r}: {here} is {node!r}, which has no key '
                           f'{parts[i]!r}.{self._closest_hint(".".join(parts))}')


def apply_paddleocr_overrides(doc: Mapping[str, Any], options: Mapping[str, Any] | None,
                              filename: str | None = None, *, replace: bool = True) -> dict:
    """A copy of the PaddleOCR dict ``doc`` with ``{'Section.key.sub': value}`` overrides applied.

    Strict, unlike PaddleOCR (which silently adds unknown keys): every key must exist, except the documented
    optional ``Global`` keys (:data:`~.layout.GLOBAL_KEYS`) and keys written with a leading ``+`` (which are
    created). List items are addressed by index (``Train.dataset.transforms.3.EastRandomCropData.size``).
    ``Optimizer.base_lr`` is an alias of ``Optimizer.lr.learning_rate``. With ``replace`` (the default, as in
    PaddleOCR) a value replaces what was there (a mapping replaces a whole mapping:
    ``-o Architecture.Backbone={name: MyNet, width: 8}``); ``replace=False`` merges a mapping into the mapping
    there, as ``--cfg-options`` does. A mapping is never replaced by a non-mapping (``-o Optimizer.lr=0.001`` is
    an error pointing at ``Optimizer.lr.learning_rate``).
    """
    assigner = PaddleOCROverrides(filename or '<PaddleOCR config>', replace=replace)
    out = copy.deepcopy(plain(dict(doc)))
    for raw_key, value in (options or {}).items():
        parts, create = assigner.parse_key(raw_key)
        value = copy.deepcopy(value)
        if parts == ['Optimizer', 'base_lr']:
            opt = out.get('Optimizer')
            if not isinstance(opt, dict):
                raise ConfigError(f'{assigner.where}: override {raw_key!r}: the config has no Optimizer section')
            if isinstance(opt.get('lr'), dict):
                assigner.assign_path(out, ['Optimizer', 'lr', 'learning_rate'], value, raw_key=raw_key, create=True)
            else:
                assigner.assign_path(out, ['Optimizer', 'lr'], dict(learning_rate=value), raw_key=raw_key,
                                     create=True)
            continue
        if parts[0] == 'Global' and len(parts) == 2 and parts[1] in GLOBAL_KEYS:
            create = True  # a documented optional Global key may be set when the YAML omits it
        assigner.assign_path(out, parts, value, raw_key=raw_key, create=create)
    return out
