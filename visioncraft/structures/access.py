"""Reading a field the same way from a data sample, an instance container or a plain dict, and turning a tensor
or array-like into NumPy: the small helpers every metric, visualizer and API used to carry its own copy of."""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

__all__ = ['get_key', 'to_numpy']


def get_key(obj: Any, key: str, default: Any = None) -> Any:
    """``obj[key]`` for a mapping, the field or metainfo ``key`` of a data element (its ``get``), else the
    attribute; ``default`` when ``obj`` is None or lacks ``key``."""
    if obj is None:
        return default
    if isinstance(obj, Mapping):
        return obj.get(key, default)
    getter = getattr(obj, 'get', None)
    if callable(getter):
        return getter(key, default)
    return getattr(obj, key, default)


def to_numpy(value: Any, dtype: Any = None) -> np.ndarray:
    """A tensor (any device, detached) or array-like as a NumPy array, cast to ``dtype`` when given (no copy when
    it already has it)."""
    if hasattr(value, 'detach'):
        value = value.detach().cpu().numpy()
    out = np.asarray(value)
    return out.astype(dtype, copy=False) if dtype is not None else out
