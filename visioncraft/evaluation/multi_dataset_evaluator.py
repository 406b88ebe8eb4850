"""One evaluator that scores several datasets evaluated in one loop, each under its own key prefix, in the two
spellings users bring (:class:`MultiDatasetEvaluator`; ``MultiDatasetsEvaluator`` is the same class):

* ``datasets=`` (MMPose's ``MultiDatasetEvaluator``): one metric per dataset; each sample goes to the metric of
  the dataset named by its ``dataset_name`` metainfo (a ``CombinedDataset`` of pose test sets).
* ``dataset_prefixes=`` (MMOCR's ``MultiDatasetsEvaluator``): the same metrics run on every dataset of a
  ``ConcatDataset`` of test sets; a sample's dataset follows from its position (the ``cumulative_sizes`` of the evaluated dataset's
  metainfo: a key, as MMEngine's ConcatDataset sets it, or the attribute :class:`~visioncraft.data.ConcatDataset`'s
  metainfo carries); keys are ``'{dataset prefix}/{metric
  prefix}/{key}'``, e.g. ``'IIIT5K/recog/word_acc'``.

Either way it keeps each sample's metric entries in the order the samples came, gather them from every rank like
:meth:`~visioncraft.evaluation.BaseMetric.evaluate` (ranks interleaved back into dataset order, the sampler's
``round_up`` padding cut at ``size``) and only then split them by dataset, so they give the same numbers in
one process or many. A metric used here must append exactly one entry to ``results`` per processed sample
(the :class:`~visioncraft.evaluation.BaseMetric` contract).
"""
from __future__ import annotations

import bisect
import copy
import importlib
import warnings
from collections.abc import Mapping, Sequence
from typing import Any

from visioncraft.registry import DATASETS, EVALUATORS
from visioncraft.structures import DataSample

from . import metric as _metric_mod
from .evaluator import Evaluator
from .metric import BaseMetric, DumpResults

__all__ = ['MultiDatasetEvaluator', 'MultiDatasetsEvaluator']


def _split_batch(data_batch: Any, index: list[int], n: int) -> Any:
    """The part of ``data_batch`` (``dict(inputs=[...], data_samples=[...])``) at ``index``; anything else is
    passed on whole."""
    if not isinstance(data_batch, Mapping):
        return data_batch
    out = {}
    for key, value in data_batch.items():
        if isinstance(value, (list, tuple)) and len(value) == n:
            out[key] = [value[i] for i in index]
        elif hasattr(value, 'shape') and len(getattr(value, 'shape', ())) > 0 and value.shape[0] == n:
            out[key] = value[index]
        else:
            out[key] = value
    return out


class _RoutingEvaluator(Evaluator):
    """Shared machinery: per-sample records ``(route, {metric index: entry})`` gathered in dataset order."""

    def __init__(self, metrics: BaseMetric | dict | Sequence[BaseMetric | dict]) -> None:
        super().__init__(metrics)
        self._records: list[tuple[Any, dict[int, Any]]] = []

    def _run(self, m: int, data_batch: Any, samples: list[Any]) -> list[Any]:
        """Process ``samples`` with metric ``m`` and take the entries it appended (one per sample)."""
        metric = self.metrics[m]
        before = len(metric.results)
        metric.process(data_batch, samples)
        entries = metric.results[before:]
        del metric.results[before:]
        if len(entries) != len(samples):
            raise RuntimeError(f'{type(self).__name__}: {type(metric).__name__}.process appended {len(entries)} '
                               f'entries for {len(samples)} samples; a metric evaluated per dataset must append '
                               'exactly one entry per sample')
        if metric.collect_device == 'cpu':
            entries = [_metric_mod._to_cpu(e) for e in entries]
        return entries

    def _gather(self, size: int | None) -> list[tuple[Any, dict[int, Any]]]:
        local, self._records = self._records, []
        records = _metric_mod.interleave(_metric_mod.all_gather_object(local))
        return records if size is None else records[:int(size)]

    def _groups(self, records: list[tuple[Any, dict[int, Any]]]) -> list[tuple[Any, list[int], list[Any]]]:
        """``[(route, metric indices, records of that route), ...]`` (subclasses)."""
        raise NotImplementedError

    def _key(self, route: Any, metric: BaseMetric, key: str) -> str:
        raise NotImplementedError

    def evaluate(self, size: int) -> dict[str, Any]:
        """Every (dataset, metric) pair's results, prefixed, merged into one dict on every rank.

        Args:
            size: number of samples in the evaluated (combined) dataset.
        """
        records = self._gather(size)
        rank, _ = _metric_mod.get_dist_info()
        payload: Any = None
        if rank == 0:
            try:
                payload = ('ok', self._compute(records))
            except Exception as exc:
                _metric_mod.broadcast_object(('error', f'{type(exc).__name__}: {exc}'))
                raise
        status, value = _metric_mod.broadcast_object(payload)
        if status == 'error':
            raise RuntimeError(f'{type(self).__name__}.evaluate failed on rank 0: {value}')
        return value

    def _compute(self, records: list[tuple[Any, dict[int, Any]]]) -> dict[str, Any]:
        merged: dict[str, Any] = {}
        owner: dict[str, str] = {}
        for route, metric_ids, group in self._groups(records):
            for m in metric_ids:
                metric = self.metrics[m]
                results = [entries[m] for _, entries in group if m in entries]
                where = f'{type(metric).__name__} of dataset {route!r}'
                if not results:
                    warnings.warn(f'{type(self).__name__}: no samples of dataset {route!r} were evaluated; '
                                  f'{type(metric).__name__} is skipped', stacklevel=3)
                    continue
                values = metric.compute_metrics(results)
                if not isinstance(values, dict):
                    raise TypeError(f'{where}: compute_metrics must return a dict, got {type(values).__name__}')
                for key, value in values.items():
                    full = self._key(route, metric, key)
                    if full in merged:
                        raise ValueError(f'{type(self).__name__}: {owner[full]} and {where} both produce the key '
                                         f'{full!r}; give the metrics different prefixes (prefix=...)')
                    merged[full] = value
                    owner[full] = where
        return merged


def _dataset_meta_of(dataset: Any, i: int) -> dict:
    """The metainfo of ``datasets[i]``: a built dataset's ``metainfo``; for a config (nothing is loaded), the
    class's ``_load_metainfo(metainfo)`` (MMPose's classmethod) if it has one; else, when the class's module uses
    ``parse_pose_metainfo`` (pose datasets), that parser on the config's ``metainfo`` or else the class's
    ``METAINFO`` (``dict(from_file='configs/_base_/datasets/coco.py')``), as the dataset's constructor does;
    else the class's ``METAINFO`` updated with the config's ``metainfo``."""
    if not isinstance(dataset, Mapping):
        meta = getattr(dataset, 'metainfo', None)
        if meta is None:
            raise TypeError(f'MultiDatasetEvaluator: datasets[{i}] must be a dataset config dict or a dataset with '
                            f'metainfo, got {type(dataset).__name__}')
        return dict(meta)
    if 'type' not in dataset:
        raise KeyError(f"MultiDatasetEvaluator: datasets[{i}] has no 'type' (a dataset config such as "
                       "dict(type='CocoDataset', ...))")
    cls = DATASETS.get(dataset['type'], key_path=f'datasets[{i}].type')
    given = copy.deepcopy(dataset.get('metainfo'))
    loader = getattr(cls, '_load_metainfo', None)
    if callable(loader):
        return dict(loader(given))
    class_meta = dict(getattr(cls, 'METAINFO', None) or {})
    # a pose dataset's metainfo (the config's, else the class's dict(from_file=...)) is read by the parser its
    # own module uses, as its constructor does (no task import here)
    parse = getattr(importlib.import_module(cls.__module__), 'parse_pose_metainfo', None)
    if callable(parse) and (given or class_meta):
        return dict(parse(copy.deepcopy(given or class_meta)))
    meta = copy.deepcopy(class_meta)
    meta.update(given or {})
    if 'from_file' in meta:
        raise ValueError(f"MultiDatasetEvaluator: datasets[{i}] ({dataset['type']}) has metainfo "
                         f"dict(from_file={meta['from_file']!r}) but its class has no _load_metainfo(metainfo) "
                         'classmethod to read it; pass the built dataset instead')
    return meta


@EVALUATORS.register_module(name=['MultiDatasetEvaluator', 'MultiDatasetsEvaluator'])
class MultiDatasetEvaluator(_RoutingEvaluator):
    """Several test sets evaluated in one loop, each under its own keys; one class for both toolboxes' spellings
    (``MultiDatasetsEvaluator`` is the same class under MMOCR's name).

    **MMPose** (``datasets=``): one metric per dataset of a combined test set.

    Args:
        metrics: one metric (or metric config) per dataset, in the order of ``datasets``.
        datasets: the datasets' configs (as in the combined dataset's ``datasets``) or built datasets. Each
            metric's ``dataset_meta`` is its dataset's metainfo (sigmas, keypoint names, ...), and the metainfo's
            ``dataset_name`` names the dataset.

    A sample goes to the metric of the dataset named by its ``dataset_name`` metainfo (the pose datasets put it
    in every sample), falling back to the evaluated dataset's ``dataset_name``. Keys are each metric's own
    (with its ``prefix``, e.g. ``'coco/AP'``, ``'aic/AP'``); two metrics producing the same key is an error,
    so give all but one a ``prefix``::

        val_evaluator = dict(
            type='MultiDatasetEvaluator',
            metrics=[dict(type='CocoMetric', ann_file='data/coco/annotations/person_keypoints_val2017.json'),
                     dict(type='CocoMetric', ann_file='data/aic/annotations/aic_val.json', use_area=False,
                          gt_converter=aic_to_coco_converter, prefix='aic')],
            datasets=[coco_val, aic_val])

    **MMOCR** (``dataset_prefixes=``): the same metrics on each dataset of a ``ConcatDataset`` of test sets.

    Args:
        metrics: a metric, a metric config or a list of them (run on every dataset); ``metric=`` is accepted too.
        dataset_prefixes: one name per concatenated dataset, in order, e.g. ``['IIIT5K', 'SVT']``.

    A :class:`~visioncraft.evaluation.DumpResults` among the metrics (``tools/test.py --out / --dump /
    --save-preds`` add one) is not split: it writes every sample's prediction, in dataset order, to one file.
    Sample ``i`` (in dataset order) belongs to the dataset ``d`` with ``cumulative_sizes[d - 1] <= i <
    cumulative_sizes[d]``, read from ``dataset_meta['cumulative_sizes']`` or ``dataset_meta.cumulative_sizes``
    (what ``ConcatDataset.metainfo`` carries); a single dataset needs none. Keys:
    ``'{dataset prefix}/{metric prefix}/{key}'`` (``'IIIT5K/recog/word_acc'``), or ``'{dataset prefix}/{key}'``
    for a metric without prefix::

        test_evaluator = dict(type='MultiDatasetsEvaluator', metrics=[dict(type='WordMetric', mode=['exact']),
                              dict(type='CharMetric')], dataset_prefixes=['IIIT5K', 'SVT', 'IC13'])
    """

    def __init__(self, metrics: BaseMetric | dict | Sequence[BaseMetric | dict] | None = None,
                 datasets: Sequence[Any] | None = None, dataset_prefixes: Sequence[str] | None = None, *,
                 metric: BaseMetric | dict | Sequence[BaseMetric | dict] | None = None) -> None:
        if (dataset_prefixes is None and isinstance(datasets, Sequence) and not isinstance(datasets, str)
                and datasets and all(isinstance(d, str) for d in datasets)):
            datasets, dataset_prefixes = None, datasets  # names, not datasets: MMOCR's positional dataset_prefixes
        self.by_name = datasets is not None
        who = 'MultiDatasetEvaluator' if self.by_name else 'MultiDatasetsEvaluator'
        if (metrics is None) == (metric is None):
            raise TypeError(f'{who}: give the metrics once, as metrics=[...] or metric=[...]')
        metrics = metrics if metrics is not None else metric
        if self.by_name == (dataset_prefixes is not None):
            raise TypeError(f'{who}: give datasets=[...] (MMPose: one metric per dataset, routed by dataset_name) '
                            'or dataset_prefixes=[...] (MMOCR: the same metrics on each concatenated dataset), '
                            'one of the two')
        if self.by_name:
            self._init_by_name(metrics, datasets)
        else:
            self._init_by_position(metrics, dataset_prefixes)

    def _init_by_name(self, metrics, datasets) -> None:
        if isinstance(metrics, (Mapping, BaseMetric)):
            metrics = [metrics]
        if isinstance(datasets, Mapping) or not isinstance(datasets, Sequence):
            datasets = [datasets]
        if len(metrics) != len(datasets):
            raise ValueError(f'MultiDatasetEvaluator: {len(metrics)} metrics but {len(datasets)} datasets; give one '
                             'metric per dataset, in the same order')
        super().__init__(metrics)
        self.metric_of: dict[str, int] = {}
        for i, (dataset, metric) in enumerate(zip(datasets, self.metrics)):
            meta = _dataset_meta_of(dataset, i)
            name = meta.get('dataset_name')
            if not name:
                raise KeyError(f"MultiDatasetEvaluator: the metainfo of datasets[{i}] has no 'dataset_name', which "
                               'routes samples to its metric')
            if name in self.metric_of:
                raise ValueError(f'MultiDatasetEvaluator: datasets[{self.metric_of[name]}] and datasets[{i}] are both '
                                 f'named {name!r}; each dataset needs its own dataset_name')
            metric.dataset_meta = meta
            self.metric_of[name] = i

    def _init_by_position(self, metrics, dataset_prefixes) -> None:
        super().__init__(metrics)
        if isinstance(dataset_prefixes, str) or not dataset_prefixes:
            raise ValueError(f'MultiDatasetsEvaluator: dataset_prefixes must be a non-empty list of names, got '
                             f'{dataset_prefixes!r}')
        if len(set(dataset_prefixes)) != len(dataset_prefixes):
            raise ValueError(f'MultiDatasetsEvaluator: dataset_prefixes {list(dataset_prefixes)} repeat a name')
        self.dataset_prefixes = [str(p) for p in dataset_prefixes]

    @property
    def dataset_meta(self) -> dict | None:
        """The evaluated (combined) dataset's metainfo. With ``datasets=`` setting it leaves each metric with its
        own dataset's metainfo; with ``dataset_prefixes=`` every metric gets it, as with :class:`Evaluator`."""
        return self._dataset_meta

    @dataset_meta.setter
    def dataset_meta(self, meta: dict | None) -> None:
        self._dataset_meta = meta
        if not self.by_name:
            for metric in self.metrics:
                metric.dataset_meta = meta

    def process(self, data_batch: Any, data_samples: Sequence[DataSample | Mapping] | None = None) -> None:
        """Route every sample to its dataset's metric (``datasets=``), or run every metric on the batch and split
        the entries by dataset in :meth:`evaluate` (``dataset_prefixes=``). Arguments as for
        :meth:`Evaluator.process` (dict samples become DataSamples here)."""
        data_samples = self._data_samples(data_batch, data_samples)
        if not self.by_name:
            per_metric = [self._run(m, data_batch, data_samples) for m in range(len(self.metrics))]
            self._records.extend((None, {m: per_metric[m][k] for m in range(len(self.metrics))})
                                 for k in range(len(data_samples)))
            return
        fallback = (self._dataset_meta or {}).get('dataset_name')
        routes: list[str] = []
        for k, sample in enumerate(data_samples):
            name = sample.get('dataset_name')
            name = fallback if name is None else name
            if name not in self.metric_of:
                raise KeyError(f'MultiDatasetEvaluator: data sample {k} has dataset_name {name!r}, which is none of '
                               f'the configured datasets {sorted(self.metric_of)}')
            routes.append(name)
        entries: list[Any] = [None] * len(data_samples)
        for name in dict.fromkeys(routes):
            index = [k for k, r in enumerate(routes) if r == name]
            done = self._run(self.metric_of[name], _split_batch(data_batch, index, len(data_samples)),
                             [data_samples[k] for k in index])
            for k, entry in zip(index, done):
                entries[k] = entry
        self._records.extend((name, {self.metric_of[name]: e}) for name, e in zip(routes, entries))

    def _cumulative_sizes(self, n: int) -> list[int]:
        meta = self._dataset_meta or {}
        sizes = meta.get('cumulative_sizes', getattr(meta, 'cumulative_sizes', None))
        if sizes is None:
            if len(self.dataset_prefixes) == 1:
                return [n]
            raise KeyError(f'MultiDatasetsEvaluator: {len(self.dataset_prefixes)} dataset_prefixes but the evaluated '
                           "dataset's metainfo has no 'cumulative_sizes'; evaluate a ConcatDataset of the test sets")
        sizes = [int(s) for s in sizes]
        if len(sizes) != len(self.dataset_prefixes):
            raise ValueError(f'MultiDatasetsEvaluator: {len(self.dataset_prefixes)} dataset_prefixes '
                             f'{self.dataset_prefixes} but the ConcatDataset has {len(sizes)} datasets')
        return sizes

    def _groups(self, records):
        if self.by_name:
            return [(name, [m], [r for r in records if r[0] == name]) for name, m in self.metric_of.items()]
        sizes = self._cumulative_sizes(len(records))
        buckets: list[list] = [[] for _ in sizes]
        for i, record in enumerate(records):
            d = bisect.bisect_right(sizes, i)
            if d >= len(sizes):
                raise ValueError(f'MultiDatasetsEvaluator: sample {i} is past the datasets\' cumulative sizes {sizes}')
            buckets[d].append(record)
        whole = [m for m, metric in enumerate(self.metrics) if isinstance(metric, DumpResults)]
        per_set = [m for m in range(len(self.metrics)) if m not in whole]
        groups = [(prefix, per_set, bucket) for prefix, bucket in zip(self.dataset_prefixes, buckets)]
        return groups + ([(None, whole, records)] if whole else [])

    def _key(self, route: Any, metric: BaseMetric, key: str) -> str:
        if self.by_name or route is None:  # route None: DumpResults, every sample in one file, in dataset order
            return f'{metric.prefix}/{key}' if metric.prefix else key
        return f'{route}/{metric.prefix}/{key}' if metric.prefix else f'{route}/{key}'


#: MMOCR's name for the same class (configs write ``type='MultiDatasetsEvaluator'``)
MultiDatasetsEvaluator = MultiDatasetEvaluator
