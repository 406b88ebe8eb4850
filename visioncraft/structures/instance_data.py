"""Attribute containers for one image's annotations and predictions.

:class:`BaseDataElement` keeps two kinds of attributes apart:

* **metainfo**: facts about the image (``img_shape``, ``scale_factor``, ...), set with :meth:`set_metainfo`
  and read as attributes; not moved by ``.to()`` and never indexed.
* **data fields**: the payload (tensors, arrays, lists, nested elements), set as attributes.

:class:`InstanceData` adds one rule on top: every data field holds one entry per instance, so all fields
have the same length, and indexing the container indexes every field together. Ground truth is named
``gt_*`` by convention (``bboxes``/``labels`` inside ``gt_instances``) and predictions ``pred_*``.
"""
from __future__ import annotations

import copy
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import torch

from .indexing import normalize_index

__all__ = ['BaseDataElement', 'InstanceData']

_MISSING = object()


def _apply(value: Any, fn_name: str, *args: Any, **kwargs: Any) -> Any:
    """Call ``value.<fn_name>(...)`` when ``value`` has that method, else return ``value`` unchanged."""
    fn = getattr(value, fn_name, None)
    if callable(fn) and not isinstance(value, type):
        return fn(*args, **kwargs)
    return value


def _summary(value: Any) -> str:
    """A one-line description of a field for ``repr``: shapes and dtypes rather than full contents."""
    if isinstance(value, torch.Tensor):
        dev = '' if value.device.type == 'cpu' else f', device={value.device}'
        return f'Tensor(shape={tuple(value.shape)}, dtype={str(value.dtype).replace("torch.", "")}{dev})'
    if isinstance(value, np.ndarray):
        return f'ndarray(shape={value.shape}, dtype={value.dtype})'
    if isinstance(value, BaseDataElement):
        return repr(value).replace('\n', '\n    ')
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + '...'


class BaseDataElement:
    """Metainfo + data fields, reachable as attributes.

    Args:
        metainfo: facts about the sample (image path, shapes, scale factor, ...).
        **fields: data fields.

    Private attributes (names starting with ``_``) are ordinary Python attributes; every other
    attribute set on the element becomes a data field. A name cannot be both a metainfo key and a
    data field.
    """

    def __init__(self, metainfo: dict | None = None, **fields: Any) -> None:
        object.__setattr__(self, '_metainfo', {})
        object.__setattr__(self, '_fields', {})
        if metainfo is not None:
            self.set_metainfo(metainfo)
        for name, value in fields.items():
            setattr(self, name, value)

    # -- setting ----------------------------------------------------------------------------------
    def set_metainfo(self, metainfo: dict) -> None:
        """Add or update metainfo keys (a shallow copy of each value is not taken; values are stored)."""
        if not isinstance(metainfo, dict):
            raise TypeError(f'{type(self).__name__}.set_metainfo expects a dict, got {type(metainfo).__name__}')
        for key, value in metainfo.items():
            self.set_field(value, key, field_type='metainfo')

    def set_field(self, value: Any, name: str, field_type: str = 'data', dtype: type | tuple | None = None) -> None:
        """Store ``value`` under ``name`` as a ``'data'`` field or as ``'metainfo'``.

        Args:
            value: what to store.
            name: attribute name (must not start with ``_``).
            field_type: ``'data'`` or ``'metainfo'``.
            dtype: when given, ``value`` must be an instance of it (TypeError otherwise).
        """
        if field_type not in ('data', 'metainfo'):
            raise ValueError(f"field_type must be 'data' or 'metainfo', got {field_type!r}")
        if not isinstance(name, str) or not name or name.startswith('_'):
            raise AttributeError(f'{type(self).__name__}: {name!r} is not a valid field name '
                                 '(names starting with "_" are private)')
        if hasattr(type(self), name) and not isinstance(getattr(type(self), name), property):
            raise AttributeError(f'{type(self).__name__}: {name!r} is a method name and cannot be a field')
        if dtype is not None and not isinstance(value, dtype):
            names = dtype.__name__ if isinstance(dtype, type) else ' | '.join(t.__name__ for t in dtype)
            raise TypeError(f'{type(self).__name__}.{name} must be of type {names}, got {type(value).__name__}')
        if field_type == 'metainfo':
            if name in self._fields:
                raise AttributeError(f'{type(self).__name__}: {name!r} is already a data field; '
                                     'it cannot also be a metainfo key')
            self._metainfo[name] = value
        else:
            if name in self._metainfo:
                raise AttributeError(f'{type(self).__name__}: {name!r} is a metainfo key; '
                                     'change it with set_metainfo({...})')
            self._check_field(name, value)
            self._fields[name] = value

    def _check_field(self, name: str, value: Any) -> None:
        """Hook for subclasses that constrain data fields (InstanceData checks lengths)."""

    def __setattr__(self, name: str, value: Any) -> None:
        if name.startswith('_') or isinstance(getattr(type(self), name, None), property):
            object.__setattr__(self, name, value)  # private attribute, or a property with its own setter
        else:
            self.set_field(value, name, field_type='data')

    def __getattr__(self, name: str) -> Any:
        # Only called when normal look-up fails. Private names must not recurse (pickle, deepcopy).
        if name.startswith('_'):
            raise AttributeError(name)
        fields = self.__dict__.get('_fields', {})
        if name in fields:
            return fields[name]
        meta = self.__dict__.get('_metainfo', {})
        if name in meta:
            return meta[name]
        raise AttributeError(f"{type(self).__name__} has no field or metainfo key {name!r}; "
                             f'data fields: {sorted(fields)}, metainfo: {sorted(meta)}')

    def __delattr__(self, name: str) -> None:
        if name.startswith('_'):
            raise AttributeError(f'{type(self).__name__}: cannot delete private attribute {name!r}')
        if name in self._fields:
            del self._fields[name]
        elif name in self._metainfo:
            del self._metainfo[name]
        else:
            raise AttributeError(f'{type(self).__name__} has no field or metainfo key {name!r}')

    __delitem__ = __delattr__

    def pop(self, name: str, default: Any = _MISSING) -> Any:
        """Remove a data field or metainfo key and return its value."""
        if name in self._fields:
            return self._fields.pop(name)
        if name in self._metainfo:
            return self._metainfo.pop(name)
        if default is _MISSING:
            raise KeyError(f'{type(self).__name__} has no field or metainfo key {name!r}')
        return default

    # -- reading ----------------------------------------------------------------------------------
    @property
    def metainfo(self) -> dict:
        """A copy of the metainfo dict (changing it does not change the element)."""
        return dict(self._metainfo)

    def get(self, name: str, default: Any = None) -> Any:
        """The data field or metainfo value called ``name``, else ``default``."""
        if name in self._fields:
            return self._fields[name]
        return self._metainfo.get(name, default)

    def __contains__(self, name: object) -> bool:
        return name in self._fields or name in self._metainfo

    def __getitem__(self, name: str) -> Any:
        """``element[name]``: the data field or metainfo value ``name``, a KeyError when there is none.

        Mapping-style reading, with :meth:`get` and ``in``, so metrics written for MMDetection / MMOCR / MMPose
        (``data_sample['pred_instances']['bboxes']``, ``data_sample.get('gt_text')``) read a data sample as they
        read the dict MMEngine's evaluator gave them.
        """
        if not isinstance(name, str):
            raise TypeError(f'{type(self).__name__}[...] takes a field or metainfo name (str), got '
                            f'{type(name).__name__}')
        if name in self._fields:
            return self._fields[name]
        if name in self._metainfo:
            return self._metainfo[name]
        raise KeyError(f'{type(self).__name__} has no field or metainfo key {name!r}; data fields: '
                       f'{sorted(self._fields)}, metainfo: {sorted(self._metainfo)}')

    # Not iterable (only InstanceData is, over its instances): without this, ``__getitem__`` would make Python
    # iterate an element by indexing it with 0, 1, ...
    __iter__ = None

    def keys(self) -> list[str]:
        """Data field names (not metainfo)."""
        return list(self._fields)

    def values(self) -> list[Any]:
        return list(self._fields.values())

    def items(self) -> Iterator[tuple[str, Any]]:
        yield from list(self._fields.items())

    def metainfo_keys(self) -> list[str]:
        return list(self._metainfo)

    def metainfo_values(self) -> list[Any]:
        return list(self._metainfo.values())

    def metainfo_items(self) -> Iterator[tuple[str, Any]]:
        yield from list(self._metainfo.items())

    def all_keys(self) -> list[str]:
        return list(self._metainfo) + list(self._fields)

    # -- copies and conversions -------------------------------------------------------------------
    def new(self, *, metainfo: dict | None = None, **fields: Any):
        """A new element of the same type with this element's metainfo (updated by ``metainfo``) and
        the given data fields only."""
        out = type(self)(metainfo=dict(self._metainfo))
        if metainfo is not None:
            out.set_metainfo(metainfo)
        for name, value in fields.items():
            setattr(out, name, value)
        return out

    def clone(self):
        """A deep copy."""
        return copy.deepcopy(self)

    def update(self, other: BaseDataElement) -> None:
        """Copy ``other``'s metainfo and data fields into this element."""
        self.set_metainfo(dict(other.metainfo_items()))
        for name, value in other.items():
            setattr(self, name, value)

    def _map(self, fn_name: str, *args: Any, **kwargs: Any):
        out = self.new()
        for name, value in self._fields.items():
            # Set through the dict: a conversion never changes lengths, so no re-check is needed.
            out._fields[name] = _apply(value, fn_name, *args, **kwargs)
        return out

    def to(self, *args: Any, **kwargs: Any):
        """Move every field that has ``.to`` (tensors, nested elements) like ``Tensor.to``."""
        return self._map('to', *args, **kwargs)

    def cpu(self):
        return self._map('cpu')

    def cuda(self, *args: Any, **kwargs: Any):
        return self._map('cuda', *args, **kwargs)

    def detach(self):
        return self._map('detach')

    def numpy(self):
        """Tensors become numpy arrays (detached, on the CPU); nested elements are converted too."""
        out = self.new()
        for name, value in self._fields.items():
            if isinstance(value, torch.Tensor):
                value = value.detach().cpu().numpy()
            elif isinstance(value, BaseDataElement):
                value = value.numpy()
            out._fields[name] = value
        return out

    def to_tensor(self):
        """Numpy arrays become tensors; nested elements are converted too."""
        out = self.new()
        for name, value in self._fields.items():
            if isinstance(value, np.ndarray):
                value = torch.from_numpy(value)
            elif isinstance(value, BaseDataElement):
                value = value.to_tensor()
            out._fields[name] = value
        return out

    def to_dict(self) -> dict:
        """Metainfo and data fields as one plain dict; nested elements become dicts too."""
        out = dict(self._metainfo)
        for name, value in self._fields.items():
            out[name] = value.to_dict() if isinstance(value, BaseDataElement) else value
        return out

    # -- pickling ---------------------------------------------------------------------------------
    def __getstate__(self) -> dict:
        return dict(self.__dict__)

    def __setstate__(self, state: dict) -> None:
        for key, value in state.items():
            object.__setattr__(self, key, value)

    # -- repr -------------------------------------------------------------------------------------
    def _repr_header(self) -> str:
        return f'{type(self).__name__}('

    def __repr__(self) -> str:
        lines = [f'<{self._repr_header()}']
        if self._metainfo:
            lines.append('  metainfo:')
            lines += [f'    {k}: {_summary(v)}' for k, v in self._metainfo.items()]
        if self._fields:
            lines.append('  data:')
            lines += [f'    {k}: {_summary(v)}' for k, v in self._fields.items()]
        lines.append(')>')
        return '\n'.join(lines)


def _field_len(value: Any) -> int:
    if isinstance(value, torch.Tensor) and value.dim() == 0:
        raise TypeError('a 0-d tensor has no per-instance length')
    if isinstance(value, np.ndarray) and value.ndim == 0:
        raise TypeError('a 0-d array has no per-instance length')
    return len(value)


def _index_field(value: Any, index: slice | np.ndarray) -> Any:
    """``value`` indexed by a slice or a 1-D int64 array of positions."""
    if isinstance(index, slice):
        return value[index]
    if isinstance(value, torch.Tensor):
        return value[torch.from_numpy(index).to(value.device)]
    if isinstance(value, np.ndarray):
        return value[index]
    if isinstance(value, (list, tuple)):
        return type(value)(value[i] for i in index.tolist())
    # Other per-instance types (box / polygon / keypoint structures) are expected to accept a long tensor.
    return value[torch.from_numpy(index)]


class InstanceData(BaseDataElement):
    """Per-instance fields of one image; every data field has the same length.

    Args:
        metainfo: facts shared by all instances (e.g. ``img_shape``).
        **fields: per-instance data, each a tensor / array of shape ``(N, ...)``, a list of length N, or
            any object with ``__len__`` and ``__getitem__`` (box and polygon structures).

    Example::

        gt = InstanceData(bboxes=torch.rand(3, 4), labels=torch.tensor([0, 2, 1]))  # bboxes: xyxy, pixels
        big = gt[gt.labels > 0]          # bool mask -> 2 instances
        first = gt[0]                    # int -> a length-1 InstanceData
        both = InstanceData.cat([gt, big])
    """

    def _check_field(self, name: str, value: Any) -> None:
        if isinstance(value, (str, bytes, dict)) or not (hasattr(value, '__getitem__') and hasattr(value, '__len__')):
            raise TypeError(f'InstanceData.{name} must be per-instance data (tensor, ndarray, list or an '
                            f'indexable object with a length), got {type(value).__name__}; put image-level '
                            'values in metainfo')
        try:
            length = _field_len(value)
        except TypeError as exc:
            raise TypeError(f'InstanceData.{name}: {exc}; got {type(value).__name__}') from None
        others = {k: v for k, v in self._fields.items() if k != name}
        if others:
            expected = _field_len(next(iter(others.values())))
            if length != expected:
                raise ValueError(f'InstanceData.{name} has length {length} but the other fields '
                                 f'({", ".join(others)}) have length {expected}; every field must hold one '
                                 'entry per instance')

    def __len__(self) -> int:
        if not self._fields:
            return 0
        return _field_len(next(iter(self._fields.values())))

    def _repr_header(self) -> str:
        return f'InstanceData(num_instances={len(self)},'

    def _normalize_index(self, index: Any) -> slice | np.ndarray:
        return normalize_index(index, len(self), 'InstanceData instances')

    def __getitem__(self, index: Any) -> InstanceData:
        """A new InstanceData with every field indexed by ``index``.

        ``index`` may be an int (the result has length 1), a slice, a bool tensor / array / list of length
        ``len(self)``, or a long tensor / int array / list of positions. A str returns that field (or metainfo
        value; a KeyError when there is none), as for any data element.
        """
        if isinstance(index, str):
            return super().__getitem__(index)
        norm = self._normalize_index(index)
        out = self.new()
        for name, value in self._fields.items():
            out._fields[name] = _index_field(value, norm)
        return out

    def __iter__(self) -> Iterator[InstanceData]:
        for i in range(len(self)):
            yield self[i]

    @classmethod
    def cat(cls, instances_list: Sequence[InstanceData]) -> InstanceData:
        """Concatenate along the instance axis. All inputs must have the same field names; the metainfo is
        the first input's. Tensors are ``torch.cat``-ed, arrays ``np.concatenate``-d, lists joined, and
        other types use their own ``cat`` classmethod."""
        items = list(instances_list)
        if not items:
            raise ValueError('InstanceData.cat needs at least one InstanceData')
        for i, item in enumerate(items):
            if not isinstance(item, InstanceData):
                raise TypeError(f'InstanceData.cat: item {i} is a {type(item).__name__}, not an InstanceData')
        if len(items) == 1:
            return items[0].new(**items[0]._fields)
        keys = set(items[0].keys())
        for i, item in enumerate(items[1:], 1):
            if set(item.keys()) != keys:
                raise ValueError(f'InstanceData.cat: item {i} has fields {sorted(item.keys())} but item 0 has '
                                 f'{sorted(keys)}')
        out = items[0].new()
        for name in items[0].keys():
            values = [item._fields[name] for item in items]
            first = values[0]
            if isinstance(first, torch.Tensor):
                merged = torch.cat(values, dim=0)
            elif isinstance(first, np.ndarray):
                merged = np.concatenate(values, axis=0)
            elif isinstance(first, (list, tuple)):
                merged = type(first)(v for value in values for v in value)
            elif callable(getattr(type(first), 'cat', None)):
                merged = type(first).cat(values)
            else:
                raise TypeError(f'InstanceData.cat: cannot concatenate field {name!r} of type '
                                f'{type(first).__name__} (give it a cat classmethod)')
            out._fields[name] = merged
        return out
