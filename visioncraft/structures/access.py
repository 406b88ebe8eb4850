"""Turning a tensor or array-like into NumPy: the one helper metrics, visualizers and models share for it.

Reading a field needs no helper: metrics and visualizers receive a :class:`~visioncraft.structures.DataSample`
per sample (the evaluator converts dict samples at its boundary) and read it with attributes, ``get`` or ``[]``.
"""
from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ['to_numpy']


def to_numpy(value: Any, dtype: Any = None) -> np.ndarray:
    """A tensor (any device, detached) or array-like as a NumPy array, cast to ``dtype`` when given (no copy when
    it already has it)."""
    if hasattr(value, 'detach'):
        value = value.detach().cpu().numpy()
    out = np.asarray(value)
    return out.astype(dtype, copy=False) if dtype is not None else out
