"""Index normalisation shared by every per-instance container (InstanceData, mask lists)."""
from __future__ import annotations

from typing import Any

import numpy as np
import torch

__all__ = ['normalize_index']


def normalize_index(index: Any, n: int, what: str = 'instances') -> slice | np.ndarray:
    """Turn an int / slice / bool or integer tensor, array or list into a slice or an int64 array.

    An int keeps the dimension (``i`` -> ``slice(i, i + 1)``); negative ints and indices count from the
    end. Out-of-range indices, wrong-length boolean masks and non-integer dtypes raise, naming ``what``.
    """
    if isinstance(index, (int, np.integer)) and not isinstance(index, (bool, np.bool_)):
        i = int(index)
        if not -n <= i < n:
            raise IndexError(f'index {i} is out of range for {n} {what}')
        i %= n
        return slice(i, i + 1)
    if isinstance(index, slice):
        return index
    if isinstance(index, torch.Tensor):
        index = index.detach().cpu().numpy()
    elif isinstance(index, (list, tuple)):
        index = np.asarray(index)
        if index.size == 0:
            index = index.astype(np.int64)
    if not isinstance(index, np.ndarray):
        raise TypeError(f'{what} cannot be indexed with {type(index).__name__}; use an int, slice, '
                        'bool/long tensor, list or numpy array')
    if index.ndim == 0:
        return normalize_index(int(index), n, what)
    if index.ndim != 1:
        raise IndexError(f'an index of {what} must be 1-D, got shape {index.shape}')
    if index.dtype == np.bool_:
        if len(index) != n:
            raise IndexError(f'boolean index has length {len(index)} but there are {n} {what}')
        return np.nonzero(index)[0].astype(np.int64)
    if not np.issubdtype(index.dtype, np.integer):
        raise TypeError(f'an index of {what} must hold integers or booleans, got dtype {index.dtype}')
    index = index.astype(np.int64)
    if index.size and (index.min() < -n or index.max() >= n):
        raise IndexError(f'index out of range for {n} {what}: min {index.min()}, max {index.max()}')
    return np.where(index < 0, index + n, index)
