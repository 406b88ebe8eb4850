"""Collate functions: turn a list of samples into a batch.

``pseudo_collate`` only regroups (a list of dicts becomes a dict of lists) and never stacks, so images of
different sizes and :class:`DataSample` objects pass through; the model's data preprocessor pads and stacks.
``default_collate`` stacks tensors, arrays and numbers like torch's, but keeps data elements as lists.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch

from visioncraft.registry import FUNCTIONS
from visioncraft.structures import BaseDataElement

__all__ = ['pseudo_collate', 'default_collate']


def _is_namedtuple(obj: Any) -> bool:
    return isinstance(obj, tuple) and hasattr(obj, '_fields')


def _collate_mapping(batch: list, fn) -> dict:
    first = batch[0]
    for i, item in enumerate(batch):
        if not isinstance(item, Mapping):
            raise TypeError(f'collate: sample 0 is a {type(first).__name__} but sample {i} is a '
                            f'{type(item).__name__}')
        missing = [k for k in first if k not in item]
        if missing:
            raise KeyError(f'collate: sample {i} lacks key(s) {missing} that sample 0 has; every sample of a '
                           'batch must have the same keys')
    out = {key: fn([item[key] for item in batch]) for key in first}
    try:
        return type(first)(out)
    except TypeError:
        return out


def _same_lengths(batch: list) -> bool:
    n = len(batch[0])
    return all(len(item) == n for item in batch)


@FUNCTIONS.register_module(name='pseudo_collate')
def pseudo_collate(batch: Sequence[Any]) -> Any:
    """Regroup a batch without stacking.

    * a list of dicts becomes a dict of lists (recursively, so nested dicts are regrouped too);
    * a list of equal-length tuples / lists is transposed (``[(a1, b1), (a2, b2)] -> [[a1, a2], [b1, b2]]``);
      lists of different lengths are kept as they are;
    * anything else (tensors, arrays, DataSample, str, numbers) is returned as a list.
    """
    batch = list(batch)
    if not batch:
        return batch
    first = batch[0]
    if isinstance(first, Mapping):
        return _collate_mapping(batch, pseudo_collate)
    if isinstance(first, Sequence) and not isinstance(first, (str, bytes)) \
            and all(isinstance(b, Sequence) and not isinstance(b, (str, bytes)) for b in batch):
        if not _same_lengths(batch):
            return batch
        transposed = [pseudo_collate(list(samples)) for samples in zip(*batch)]
        if _is_namedtuple(first):
            return type(first)(*transposed)
        return transposed
    return batch


@FUNCTIONS.register_module(name='default_collate')
def default_collate(batch: Sequence[Any]) -> Any:
    """Stack a batch like ``torch.utils.data.default_collate``.

    Tensors are stacked along a new first axis; numeric numpy arrays and numpy scalars become stacked
    tensors; python ints / floats / bools become 1-D tensors; dicts and equal-length sequences are collated
    field by field. :class:`DataSample` / :class:`InstanceData` objects, strings and anything else that cannot
    be stacked stay a list.
    """
    batch = list(batch)
    if not batch:
        return batch
    first = batch[0]
    if isinstance(first, BaseDataElement):
        return batch
    if isinstance(first, torch.Tensor):
        shapes = {tuple(b.shape) for b in batch}
        if len(shapes) > 1:
            raise RuntimeError(f'default_collate cannot stack tensors of different shapes {sorted(shapes)}; '
                               'use pseudo_collate and let the data preprocessor pad them')
        return torch.stack(batch, 0)
    if isinstance(first, np.ndarray):
        if first.dtype.kind in 'biufc':
            return default_collate([torch.as_tensor(b) for b in batch])
        return batch
    if isinstance(first, np.generic):
        if first.dtype.kind in 'biufc':
            return torch.as_tensor(np.array(batch))
        return batch
    if isinstance(first, bool):
        return torch.tensor(batch, dtype=torch.bool)
    if isinstance(first, int):
        return torch.tensor([int(b) for b in batch], dtype=torch.int64)
    if isinstance(first, float):
        return torch.tensor(batch, dtype=torch.float64)
    if isinstance(first, (str, bytes)):
        return batch
    if isinstance(first, Mapping):
        return _collate_mapping(batch, default_collate)
    if isinstance(first, Sequence):
        if not _same_lengths(batch):
            raise RuntimeError('default_collate: every sequence in a batch must have the same length, got '
                               f'lengths {[len(b) for b in batch]}')
        transposed = [default_collate(list(samples)) for samples in zip(*batch)]
        if _is_namedtuple(first):
            return type(first)(*transposed)
        return transposed
    return batch
