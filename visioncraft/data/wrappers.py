"""Dataset wrappers: concatenate, repeat, or combine datasets with a shared pipeline.

Each wrapper maps a global index to ``(child dataset, local index)``. A :class:`SeededIndex` keeps its
seed on the way down, so a wrapped sample is augmented exactly as the sampler asked.
"""
from __future__ import annotations

import bisect
import copy
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch.utils.data

from visioncraft.registry import DATASETS

from .seeding import SeededIndex, derive_seed, sample_rng
from .transforms import Compose

__all__ = ['ConcatDataset', 'RepeatDataset', 'CombinedDataset']


def _build(dataset: Any, key_path: str) -> Any:
    if isinstance(dataset, dict):
        return DATASETS.build(dataset, key_path=key_path)
    return dataset


def _accepts_seeds(dataset: Any) -> bool:
    return bool(getattr(dataset, 'accepts_seeded_index', False))


def _local_index(dataset: Any, global_idx: Any, local: int) -> int:
    """``local`` as a SeededIndex with ``global_idx``'s seed when the child understands seeds."""
    if isinstance(global_idx, SeededIndex) and _accepts_seeds(dataset):
        return SeededIndex(local, seed=global_idx.seed)
    return local


def _full_init(dataset: Any) -> None:
    init = getattr(dataset, 'full_init', None)
    if callable(init):
        init()


def _values_equal(a: Any, b: Any) -> bool:
    try:
        if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
            return bool(np.array_equal(np.asarray(a), np.asarray(b)))
        if isinstance(a, torch.Tensor) or isinstance(b, torch.Tensor):
            return bool(torch.equal(torch.as_tensor(a), torch.as_tensor(b)))
        if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
            return len(a) == len(b) and all(_values_equal(x, y) for x, y in zip(a, b))
        if isinstance(a, dict) and isinstance(b, dict):
            return a.keys() == b.keys() and all(_values_equal(a[k], b[k]) for k in a)
        return bool(a == b)
    except (TypeError, ValueError, RuntimeError):
        return a is b


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + '...'


class ConcatMetainfo(dict):
    """A ConcatDataset's metainfo: a plain dict of the first dataset's metainfo, plus the attribute
    ``cumulative_sizes`` (list[int])."""

    cumulative_sizes: list[int] | None = None


@DATASETS.register_module()
class ConcatDataset(torch.utils.data.Dataset):
    """Several datasets one after another.

    Args:
        datasets: datasets or their config dicts (built with ``DATASETS``).
        ignore_keys: metainfo keys allowed to differ between the datasets. All other metainfo keys must be
            equal (a ValueError names the key and the datasets otherwise); ``metainfo`` is the first
            dataset's.
        lazy_init: do not compute the index map until first use.
    """

    def __init__(self, datasets: Sequence[Any], ignore_keys: str | Sequence[str] | None = None,
                 lazy_init: bool = False) -> None:
        if not datasets:
            raise ValueError('ConcatDataset needs at least one dataset')
        self.datasets = [_build(d, f'datasets[{i}]') for i, d in enumerate(datasets)]
        if isinstance(ignore_keys, str):
            ignore_keys = [ignore_keys]
        self.ignore_keys = set(ignore_keys or ())
        self._metainfo = self._check_metainfo()
        self.cumulative_sizes: list[int] = []
        self._fully_initialized = False
        if not lazy_init:
            self.full_init()

    def _check_metainfo(self) -> dict:
        metas = [getattr(d, 'metainfo', {}) or {} for d in self.datasets]
        first = metas[0]
        for i, meta in enumerate(metas[1:], 1):
            for key in sorted(set(first) | set(meta), key=str):
                if key in self.ignore_keys:
                    continue
                if key not in first or key not in meta:
                    where, missing = (0, i) if key not in first else (i, 0)
                    raise ValueError(f"ConcatDataset: metainfo key {key!r} is set in dataset {missing} "
                                     f'({type(self.datasets[missing]).__name__}) but not in dataset {where} '
                                     f'({type(self.datasets[where]).__name__}); add it to ignore_keys if that '
                                     'is intended')
                if not _values_equal(first[key], meta[key]):
                    raise ValueError(f'ConcatDataset: metainfo {key!r} differs between dataset 0 '
                                     f'({type(self.datasets[0]).__name__}: {_short(first[key])}) and dataset {i} '
                                     f'({type(self.datasets[i]).__name__}: {_short(meta[key])}); add it to '
                                     'ignore_keys if that is intended')
        return copy.deepcopy(first)

    @property
    def metainfo(self) -> dict:
        """The first dataset's metainfo; once initialized it also carries, as the attribute (not a key)
        ``metainfo.cumulative_sizes`` (list[int]), where each dataset ends, which MultiDatasetsEvaluator uses
        to split results by dataset."""
        meta = copy.deepcopy(self._metainfo)
        if not self._fully_initialized:
            return meta
        meta = ConcatMetainfo(meta)
        meta.cumulative_sizes = [int(n) for n in self.cumulative_sizes]
        return meta

    @property
    def accepts_seeded_index(self) -> bool:
        return all(_accepts_seeds(d) for d in self.datasets)

    def full_init(self) -> None:
        if self._fully_initialized:
            return
        sizes = []
        total = 0
        for d in self.datasets:
            _full_init(d)
            total += len(d)
            sizes.append(total)
        self.cumulative_sizes = sizes
        self._fully_initialized = True

    def __len__(self) -> int:
        self.full_init()
        return self.cumulative_sizes[-1]

    def get_dataset_idx_and_sample_idx(self, idx: int) -> tuple[int, int]:
        """``(which dataset, index inside it)`` for global index ``idx`` (negative counts from the end)."""
        n = len(self)
        idx = int(idx)
        if not -n <= idx < n:
            raise IndexError(f'ConcatDataset: index {idx} is out of range for {n} samples')
        idx %= n
        d = bisect.bisect_right(self.cumulative_sizes, idx)
        local = idx - (self.cumulative_sizes[d - 1] if d > 0 else 0)
        return d, local

    def get_data_info(self, idx: int) -> dict:
        d, local = self.get_dataset_idx_and_sample_idx(idx)
        return self.datasets[d].get_data_info(local)

    def __getitem__(self, idx: int) -> Any:
        d, local = self.get_dataset_idx_and_sample_idx(idx)
        dataset = self.datasets[d]
        return dataset[_local_index(dataset, idx, local)]

    def __repr__(self) -> str:
        size = str(len(self)) if self._fully_initialized else 'not loaded yet (lazy_init)'
        children = ''.join(f'\n    [{i}] {type(d).__name__} ({len(d) if self._fully_initialized else "?"} samples)'
                           for i, d in enumerate(self.datasets))
        return f'ConcatDataset(num_samples={size}, datasets:{children}\n)'


@DATASETS.register_module()
class RepeatDataset(torch.utils.data.Dataset):
    """A dataset repeated ``times`` times (fewer epoch boundaries for small datasets).

    Args:
        dataset: dataset or its config dict.
        times: number of repeats (>= 1).
        lazy_init: do not initialize the child until first use.
    """

    def __init__(self, dataset: Any, times: int, lazy_init: bool = False) -> None:
        self.dataset = _build(dataset, 'dataset')
        if int(times) < 1:
            raise ValueError(f'RepeatDataset: times must be >= 1, got {times}')
        self.times = int(times)
        self._ori_len = 0
        self._fully_initialized = False
        if not lazy_init:
            self.full_init()

    @property
    def metainfo(self) -> dict:
        return copy.deepcopy(getattr(self.dataset, 'metainfo', {}) or {})

    @property
    def accepts_seeded_index(self) -> bool:
        return _accepts_seeds(self.dataset)

    def full_init(self) -> None:
        if self._fully_initialized:
            return
        _full_init(self.dataset)
        self._ori_len = len(self.dataset)
        self._fully_initialized = True

    def __len__(self) -> int:
        self.full_init()
        return self.times * self._ori_len

    def get_sample_idx(self, idx: int) -> int:
        n = len(self)
        idx = int(idx)
        if not -n <= idx < n:
            raise IndexError(f'RepeatDataset: index {idx} is out of range for {n} samples')
        return (idx % n) % self._ori_len

    def get_data_info(self, idx: int) -> dict:
        return self.dataset.get_data_info(self.get_sample_idx(idx))

    def __getitem__(self, idx: int) -> Any:
        local = self.get_sample_idx(idx)
        return self.dataset[_local_index(self.dataset, idx, local)]

    def __repr__(self) -> str:
        return f'RepeatDataset(times={self.times}, dataset={type(self.dataset).__name__})'


@DATASETS.register_module()
class CombinedDataset(ConcatDataset):
    """Datasets with their own pipelines (e.g. mapping each source's keypoints or labels to a common
    layout), concatenated, then a shared pipeline.

    Args:
        metainfo: the combined dataset's metainfo (the children's may differ; they are not compared).
        datasets: datasets or their config dicts.
        pipeline: transforms applied after each child's own pipeline.
        test_mode: a shared pipeline that returns None is an error instead of a refetch.
        max_refetch: how many other samples to try when the shared pipeline returns None.
        lazy_init: do not compute the index map until first use.
        sample_ratio_factor: one factor per dataset (MMPose's argument): dataset ``i`` contributes
            ``round(len_i * factor_i)`` samples per epoch. Below 1 each of its samples is a random one from
            its own stretch of the dataset (so an epoch still spans all of it); above 1 every sample appears
            about ``factor_i`` times. The draw uses the sample's seed when the sampler gives one
            (:class:`SeededIndex`), else NumPy's global RNG. ``None``: every sample once.
    """

    def __init__(self, metainfo: dict, datasets: Sequence[Any], pipeline: Sequence[dict | Callable] = (),
                 test_mode: bool = False, max_refetch: int = 1000, lazy_init: bool = False,
                 sample_ratio_factor: Sequence[float] | None = None) -> None:
        self._given_metainfo = copy.deepcopy(dict(metainfo or {}))
        self.pipeline = pipeline if isinstance(pipeline, Compose) else Compose(pipeline)
        self.test_mode = test_mode
        self.max_refetch = int(max_refetch)
        if sample_ratio_factor is not None:
            factors = [float(f) for f in sample_ratio_factor]
            if len(factors) != len(datasets):
                raise ValueError(f'CombinedDataset: sample_ratio_factor has {len(factors)} values but there are '
                                 f'{len(datasets)} datasets')
            if min(factors) < 0:
                raise ValueError(f'CombinedDataset: sample_ratio_factor values must be >= 0, got {factors}')
            sample_ratio_factor = factors
        self.sample_ratio_factor = sample_ratio_factor
        self._lens_ori: list[int] = []
        super().__init__(datasets, lazy_init=lazy_init)

    def _check_metainfo(self) -> dict:
        return self._given_metainfo

    def full_init(self) -> None:
        if self._fully_initialized:
            return
        super().full_init()
        self._lens_ori = [len(d) for d in self.datasets]
        if self.sample_ratio_factor is not None:
            lens = [int(round(n * f)) for n, f in zip(self._lens_ori, self.sample_ratio_factor)]
            self.cumulative_sizes = np.cumsum(lens).tolist()

    @property
    def lens(self) -> list[int]:
        """Samples each dataset contributes (after ``sample_ratio_factor``)."""
        self.full_init()
        return np.diff([0] + list(self.cumulative_sizes)).tolist()

    def get_dataset_idx_and_sample_idx(self, idx: int, rng: Any = None) -> tuple[int, int]:
        """``(which dataset, index inside it)``; with ``sample_ratio_factor`` the index inside is drawn from
        the global index's stretch of that dataset with ``rng`` (default: NumPy's global RNG)."""
        d, local = super().get_dataset_idx_and_sample_idx(idx)
        if self.sample_ratio_factor is not None:
            n_ori = self._lens_ori[d]
            gap = n_ori / (self.cumulative_sizes[d] - (self.cumulative_sizes[d - 1] if d else 0))
            u = (np.random if rng is None else rng).random()
            local = min(int((local + u) * gap), n_ori - 1)
        return d, local

    def _merge_child_result(self, data: Any) -> Any:
        """Hook between a child's pipeline and the shared one (the pose CombinedDataset adds its metainfo)."""
        return data

    def _prepare(self, idx: int, seed: int | None) -> Any:
        rng = None if seed is None else np.random.default_rng([int(idx), int(seed), 2])
        d, local = self.get_dataset_idx_and_sample_idx(idx, rng=rng)
        dataset = self.datasets[d]
        child_idx = SeededIndex(local, seed=seed) if seed is not None and _accepts_seeds(dataset) else local
        data = dataset[child_idx]
        if data is None:
            return None
        data = self._merge_child_result(data)
        if seed is None:
            return self.pipeline(data)
        # A seed distinct from the child's, so the shared pipeline does not replay the child's random draws.
        with sample_rng(derive_seed(seed, 1)):
            return self.pipeline(data)

    def __getitem__(self, idx: int) -> Any:
        seed = idx.seed if isinstance(idx, SeededIndex) else None
        n = len(self)
        idx = int(idx)
        if not -n <= idx < n:
            raise IndexError(f'CombinedDataset: index {idx} is out of range for {n} samples')
        idx %= n
        data = self._prepare(idx, seed)
        if data is not None:
            return data
        if self.test_mode:
            raise RuntimeError(f'CombinedDataset: the shared pipeline returned None for sample {idx} in test_mode')
        rng = np.random.default_rng([idx, 0 if seed is None else seed])
        for attempt in range(1, self.max_refetch + 1):
            other = int(rng.integers(n))
            data = self._prepare(other, None if seed is None else derive_seed(seed, attempt, other))
            if data is not None:
                return data
        raise RuntimeError(f'CombinedDataset: the shared pipeline returned None for sample {idx} and for the '
                           f'{self.max_refetch} other samples tried in its place (max_refetch)')

    def __repr__(self) -> str:
        text = super().__repr__().replace('ConcatDataset(', 'CombinedDataset(', 1)
        pipeline = repr(self.pipeline).replace('\n', '\n    ')
        return text[:-2] + f'\n    pipeline: {pipeline}\n)'
