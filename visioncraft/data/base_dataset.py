"""BaseDataset: load an annotation list once, keep it compact, run a pipeline per sample.

Subclasses implement :meth:`BaseDataset.load_data_list` (and optionally :meth:`BaseDataset.filter_data`).
The default ``load_data_list`` reads the common annotation format, a JSON or pickle file holding
``{'metainfo': {...}, 'data_list': [{...}, ...]}``.
"""
from __future__ import annotations

import copy
import os.path as osp
import pickle
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch.utils.data

from visioncraft.errors import mark_user_error, read_json
from visioncraft.fileio.backend import check_backend_args
from visioncraft.registry import DATASETS

from .seeding import SeededIndex, derive_seed, sample_rng
from .transforms import Compose

__all__ = ['BaseDataset']


#: what reading a broken annotation file raises (json / XML / pickle syntax, a missing key, a wrong type)
_ANNOTATION_ERRORS = (ValueError, KeyError, TypeError, IndexError, AttributeError, AssertionError, SyntaxError,
                      EOFError, pickle.UnpicklingError, RecursionError)


def _is_remote(path: str) -> bool:
    return '://' in path


def _join(root: str, path: str) -> str:
    if not root or not isinstance(path, str) or osp.isabs(path) or _is_remote(path):
        return path
    return osp.join(root, path)


@DATASETS.register_module()
class BaseDataset(torch.utils.data.Dataset):
    """Base class of map-style datasets.

    Args:
        ann_file: annotation file; a relative path is joined to ``data_root``.
        metainfo: overrides / extends the class's ``METAINFO`` (e.g. ``dict(classes=('cat', 'dog'))``).
        data_root: root that relative ``ann_file`` and ``data_prefix`` values are joined to.
        data_prefix: folders of the sample files, by key (default ``dict(img_path='')``); the dataset's
            ``parse_data_info`` joins them to the matching keys of each raw entry.
        filter_cfg: settings for :meth:`filter_data` (e.g. ``dict(filter_empty_gt=True, min_size=32)``).
        indices: keep only part of the data: an int N keeps the first N samples (a negative one the last
            ``|N|``), a list keeps those positions in that order. Applied after filtering.
        serialize_data: store the data list as one numpy byte buffer plus an offset array instead of a
            list of dicts, so forked DataLoader workers share it instead of copying it as Python touches
            reference counts.
        pipeline: transform configs / callables, composed with :class:`Compose`.
        test_mode: evaluation mode: a pipeline that returns None is an error instead of a refetch.
        lazy_init: do not load annotations in ``__init__``; they are loaded by :meth:`full_init`, called
            automatically on first use.
        max_refetch: how many other samples to try when the pipeline returns None for one.
        backend_args: MMEngine's file-backend settings: None or ``dict(backend='local')``
            (:func:`visioncraft.fileio.backend.check_backend_args`); another backend is an error.

    Class attributes:
        METAINFO: dataset facts (``classes``, ``palette``, ...), copied into ``self.metainfo``.
        accepts_seeded_index: ``__getitem__`` understands :class:`SeededIndex` and runs the pipeline under
            that seed.
    """

    METAINFO: dict = dict()
    accepts_seeded_index: bool = True

    def __init__(self, ann_file: str = '', metainfo: dict | None = None, data_root: str = '',
                 data_prefix: dict | None = None, filter_cfg: dict | None = None,
                 indices: int | Sequence[int] | None = None, serialize_data: bool = True,
                 pipeline: Sequence[dict | Callable] | Compose = (), test_mode: bool = False,
                 lazy_init: bool = False, max_refetch: int = 1000, backend_args: dict | None = None) -> None:
        check_backend_args(backend_args, type(self).__name__)  # MMEngine's file backend: local files only
        self.data_root = data_root or ''
        self._ann_file_arg = ann_file or ''
        self.ann_file = _join(self.data_root, ann_file) if ann_file else ''
        prefix = dict(img_path='') if data_prefix is None else dict(data_prefix)
        self.data_prefix = {k: _join(self.data_root, v) for k, v in prefix.items()}
        self.filter_cfg = copy.deepcopy(filter_cfg)
        self._indices = indices
        self.serialize_data = serialize_data
        self.test_mode = test_mode
        self.max_refetch = int(max_refetch)
        if metainfo is not None and not isinstance(metainfo, dict):
            raise TypeError(f'{type(self).__name__}: metainfo must be a dict, got {type(metainfo).__name__}')
        self._metainfo: dict = copy.deepcopy(dict(type(self).METAINFO))
        if metainfo:
            self._metainfo.update(copy.deepcopy(metainfo))
        self._user_metainfo_keys = set(metainfo or ())
        self.pipeline = pipeline if isinstance(pipeline, Compose) else Compose(pipeline)

        self.data_list: list[dict] = []
        self.data_bytes: np.ndarray | None = None
        self.data_address: np.ndarray | None = None
        self._fully_initialized = False
        if not lazy_init:
            self.full_init()

    # -- metainfo ---------------------------------------------------------------------------------
    @property
    def metainfo(self) -> dict:
        """A deep copy of the dataset's metainfo."""
        return copy.deepcopy(self._metainfo)

    # -- loading ----------------------------------------------------------------------------------
    def _check_ann_file(self) -> None:
        if not self.ann_file or _is_remote(self.ann_file) or osp.exists(self.ann_file):
            return
        name = type(self).__name__
        if self.data_root and self.ann_file != self._ann_file_arg:
            if not osp.exists(self.data_root):
                raise FileNotFoundError(f'{name}: data_root {self.data_root!r} does not exist (so ann_file '
                                        f'{self._ann_file_arg!r} was not found under it); fix the data_root '
                                        'config key')
            raise FileNotFoundError(f'{name}: annotation file {self.ann_file!r} not found: ann_file '
                                    f'{self._ann_file_arg!r} joined to data_root {self.data_root!r}; fix the '
                                    'ann_file config key')
        raise FileNotFoundError(f'{name}: annotation file {self.ann_file!r} not found (from the ann_file '
                                'config key)')

    def full_init(self) -> None:
        """Load, filter, subset and serialize the data list. Safe to call more than once."""
        if self._fully_initialized:
            return
        self._check_ann_file()
        try:
            data_list = self.load_data_list()
            if not isinstance(data_list, list):
                raise TypeError(f'{type(self).__name__}.load_data_list must return a list of dicts, got '
                                f'{type(data_list).__name__}')
            num_loaded = len(data_list)
            data_list = self.filter_data(data_list)
        except _ANNOTATION_ERRORS as exc:
            # a broken annotation file (invalid JSON / XML, a missing key, a wrong type): the entry points print
            # it as one line naming the file (visioncraft.errors)
            named = self.ann_file and (self.ann_file in str(exc) or type(self).__name__ in str(exc))
            raise mark_user_error(exc, None if named else f'{type(self).__name__}: annotation file {self.ann_file}'
                                  if self.ann_file else type(self).__name__)
        num_filtered = len(data_list)
        if self._indices is not None:
            data_list = self._subset(data_list, self._indices)
        self._num_samples = dict(loaded=num_loaded, filtered=num_filtered, kept=len(data_list))
        if self.serialize_data:
            self.data_bytes, self.data_address = self._serialize(data_list)
            self.data_list = []
        else:
            self.data_list = data_list
        self._fully_initialized = True

    #: what one entry of the data list is, in messages ('image', 'person instance', 'word image')
    sample_name: str = 'sample'

    def empty_reason(self) -> str:
        """Why the dataset has no sample, in one line naming the class, the annotation file and what emptied it:
        the file holds none (:meth:`load_note` adds what loading dropped), ``filter_cfg=dict(...)`` removed all N,
        or ``indices`` kept none (see :func:`visioncraft.data.validation.check_not_empty`)."""
        self.full_init()
        counts = getattr(self, '_num_samples', None) or {}
        where = f'{type(self).__name__}: {self._source()}'
        unit = self.sample_name
        loaded, filtered = counts.get('loaded', 0), counts.get('filtered', 0)
        if not loaded:
            note = self.load_note()
            return f'{where}: holds no {unit}s' + (f' ({note})' if note else '')
        if not filtered:
            cfg = ', '.join(f'{k}={v!r}' for k, v in (self.filter_cfg or {}).items())
            by = f'filter_cfg=dict({cfg})' if self.filter_cfg else f'{type(self).__name__}.filter_data'
            return f'{where}: {by} removed all {loaded} {unit}s'
        return f'{where}: indices={self._indices!r} kept none of the {filtered} {unit}s'

    def _source(self) -> str:
        """The annotation source named in messages: ``ann_file``, else the label files, else the data folders."""
        if self.ann_file:
            return self.ann_file
        files = getattr(self, 'label_file_list', None)
        if files:
            return ', '.join(map(str, files))
        folders = [v for v in self.data_prefix.values() if v]
        return ', '.join(folders) if folders else '(no ann_file)'

    def load_note(self) -> str:
        """What loading left out, for :meth:`empty_reason` (records skipped with ``skip_invalid``, instances
        dropped by the reader's rules); '' when nothing."""
        skipped = getattr(self, 'num_invalid_skipped', 0)
        return f'{skipped} invalid record(s) skipped with skip_invalid=True' if skipped else ''

    def load_data_list(self) -> list[dict]:
        """Read ``ann_file``: JSON or pickle holding ``{'metainfo': {...}, 'data_list': [...]}``.

        ``metainfo`` keys in the file fill in what the class and the ``metainfo`` argument did not set.
        Each raw entry goes through :meth:`parse_data_info`.
        """
        if not self.ann_file:
            raise ValueError(f'{type(self).__name__}: no ann_file given; set ann_file or override '
                             'load_data_list()')
        if self.ann_file.endswith(('.pkl', '.pickle')):
            with open(self.ann_file, 'rb') as f:
                annotations = pickle.load(f)
        else:
            annotations = read_json(self.ann_file, f'{type(self).__name__}: annotation file')
        if not isinstance(annotations, dict) or 'data_list' not in annotations:
            raise ValueError(f'{type(self).__name__}: {self.ann_file} must hold a dict with a "data_list" key '
                             '(and optionally "metainfo"); override load_data_list() for other formats')
        for key, value in (annotations.get('metainfo') or {}).items():
            if key not in self._user_metainfo_keys:
                self._metainfo.setdefault(key, value)
        data_list = []
        for raw in annotations['data_list']:
            info = self.parse_data_info(raw)
            if isinstance(info, dict):
                data_list.append(info)
            elif isinstance(info, list):
                data_list.extend(info)
            else:
                raise TypeError(f'{type(self).__name__}.parse_data_info must return a dict or a list of dicts, '
                                f'got {type(info).__name__}')
        return data_list

    def parse_data_info(self, raw_data_info: dict) -> dict | list[dict]:
        """Join ``data_prefix`` folders to the matching keys of one raw entry."""
        info = dict(raw_data_info)
        for key, prefix in self.data_prefix.items():
            if key in info and isinstance(info[key], str) and prefix:
                info[key] = _join(prefix, info[key])
        return info

    def filter_data(self, data_list: list[dict]) -> list[dict]:
        """Drop unwanted entries according to ``self.filter_cfg``. The base class keeps everything."""
        return data_list

    def _subset(self, data_list: list[dict], indices: int | Sequence[int]) -> list[dict]:
        n = len(data_list)
        if isinstance(indices, (int, np.integer)):
            k = int(indices)
            if abs(k) > n:
                warnings.warn(f'{type(self).__name__}: indices={k} asks for more samples than the {n} '
                              'available; keeping all of them', stacklevel=3)
            return data_list[:k] if k >= 0 else data_list[k:]
        if not isinstance(indices, Sequence) and not isinstance(indices, np.ndarray):
            raise TypeError(f'{type(self).__name__}: indices must be an int or a list of ints, got '
                            f'{type(indices).__name__}')
        out = []
        for i in indices:
            i = int(i)
            if not -n <= i < n:
                raise IndexError(f'{type(self).__name__}: indices contains {i}, out of range for {n} samples')
            out.append(data_list[i])
        return out

    @staticmethod
    def _serialize(data_list: list[dict]) -> tuple[np.ndarray, np.ndarray]:
        chunks = [np.frombuffer(pickle.dumps(item, protocol=pickle.HIGHEST_PROTOCOL), dtype=np.uint8)
                  for item in data_list]
        address = np.cumsum([len(c) for c in chunks], dtype=np.int64)
        data = np.concatenate(chunks) if chunks else np.zeros(0, dtype=np.uint8)
        return data, address

    # -- access -----------------------------------------------------------------------------------
    def __len__(self) -> int:
        self.full_init()
        if self.serialize_data:
            return len(self.data_address)
        return len(self.data_list)

    def _check_index(self, idx: int) -> int:
        n = len(self)
        if not -n <= idx < n:
            raise IndexError(f'{type(self).__name__}: index {idx} is out of range for {n} samples')
        return idx % n if n else idx

    def get_data_info(self, idx: int) -> dict:
        """A fresh copy of entry ``idx`` of the data list, with ``sample_idx`` set to ``idx``."""
        idx = self._check_index(int(idx))
        if self.serialize_data:
            start = 0 if idx == 0 else int(self.data_address[idx - 1])
            end = int(self.data_address[idx])
            info = pickle.loads(self.data_bytes[start:end].tobytes())
        else:
            info = copy.deepcopy(self.data_list[idx])
        info['sample_idx'] = idx
        return info

    def prepare_data(self, idx: int) -> Any:
        """Run the pipeline on entry ``idx``."""
        return self.pipeline(self.get_data_info(idx))

    def _prepare_seeded(self, idx: int, seed: int | None) -> Any:
        if seed is None:
            return self.prepare_data(idx)
        with sample_rng(seed):
            return self.prepare_data(idx)

    def __getitem__(self, idx: int) -> Any:
        """Sample ``idx`` after the pipeline.

        When ``idx`` is a :class:`SeededIndex`, the pipeline runs under ``sample_rng(idx.seed)``. When the
        pipeline returns None outside test mode, another sample (drawn deterministically from ``idx`` and
        its seed) is tried, up to ``max_refetch`` times.
        """
        seed = idx.seed if isinstance(idx, SeededIndex) else None
        idx = self._check_index(int(idx))
        data = self._prepare_seeded(idx, seed)
        if data is not None:
            return data
        name = type(self).__name__
        if self.test_mode:
            raise RuntimeError(f'{name}: the pipeline returned None for sample {idx} in test_mode; test '
                               'pipelines must not drop samples')
        rng = np.random.default_rng([idx, 0 if seed is None else seed])
        for attempt in range(1, self.max_refetch + 1):
            other = int(rng.integers(len(self)))
            other_seed = None if seed is None else derive_seed(seed, attempt, other)
            data = self._prepare_seeded(other, other_seed)
            if data is not None:
                return data
        raise RuntimeError(f'{name}: the pipeline returned None for sample {idx} and for the {self.max_refetch} '
                           'other samples tried in its place (max_refetch); check the pipeline and the '
                           'filter settings')

    def __repr__(self) -> str:
        size = str(len(self)) if self._fully_initialized else 'not loaded yet (lazy_init)'
        lines = [f'{type(self).__name__}(',
                 f'    num_samples: {size},',
                 f'    ann_file: {self.ann_file!r},',
                 f'    data_root: {self.data_root!r},',
                 f'    data_prefix: {self.data_prefix!r},',
                 f'    test_mode: {self.test_mode},',
                 f'    serialize_data: {self.serialize_data},']
        for key, value in self._metainfo.items():
            text = repr(value)
            lines.append(f'    metainfo.{key}: {text if len(text) <= 100 else text[:97] + "..."},')
        pipeline = repr(self.pipeline).replace('\n', '\n    ')
        lines.append(f'    pipeline: {pipeline}')
        lines.append(')')
        return '\n'.join(lines)
