"""BaseMetric: process batches, then evaluate the same way in one process or many; and DumpResults.

A metric appends **one entry per sample** to ``self.results`` in :meth:`BaseMetric.process`. With the
:class:`~visioncraft.data.DefaultSampler`, rank ``r`` of ``W`` sees samples ``r, r + W, r + 2W, ...``, so
:meth:`BaseMetric.evaluate` interleaves the ranks' lists to get dataset order back and cuts the padding that
``round_up`` added before calling :meth:`BaseMetric.compute_metrics` on rank 0.
"""
from __future__ import annotations

import os
import os.path as osp
import pickle
import warnings
from abc import ABCMeta, abstractmethod
from collections.abc import Sequence
from typing import Any

import torch

from visioncraft import dist
from visioncraft.fileio.backend import check_backend_args
from visioncraft.registry import METRICS
from visioncraft.structures import DataSample

__all__ = ['BaseMetric', 'DumpResults']


# Looked up at call time (and importable here) so tests can simulate several ranks by patching either this
# module or visioncraft.dist.
def get_dist_info() -> tuple[int, int]:
    return dist.get_dist_info()


def all_gather_object(obj: Any) -> list[Any]:
    return dist.all_gather_object(obj)


def broadcast_object(obj: Any, src: int = 0) -> Any:
    return dist.broadcast_object(obj, src=src)


def _to_cpu(obj: Any) -> Any:
    """Tensors (also inside dicts, lists, tuples and data elements) moved to the CPU, detached."""
    if isinstance(obj, torch.Tensor):
        return obj.detach().cpu()
    if isinstance(obj, dict):
        out = {k: _to_cpu(v) for k, v in obj.items()}
        if type(obj) is not dict:
            try:
                return type(obj)(out)
            except TypeError:
                pass
        return out
    if isinstance(obj, list):
        return [_to_cpu(v) for v in obj]
    if isinstance(obj, tuple):
        items = [_to_cpu(v) for v in obj]
        return type(obj)(*items) if hasattr(obj, '_fields') else tuple(items)
    cpu = getattr(obj, 'cpu', None)
    if callable(cpu) and hasattr(obj, 'metainfo_keys'):  # a data element
        return cpu()
    return obj


def interleave(parts: Sequence[Sequence[Any]]) -> list[Any]:
    """``[[a0, a2, a4], [a1, a3]] -> [a0, a1, a2, a3, a4]``: undo the samplers' ``rank::world_size`` split."""
    out = []
    longest = max((len(p) for p in parts), default=0)
    for i in range(longest):
        for part in parts:
            if i < len(part):
                out.append(part[i])
    return out


class BaseMetric(metaclass=ABCMeta):
    """Base class of metrics.

    Args:
        collect_device: ``'cpu'`` moves tensors in ``results`` to the CPU before gathering them from all
            ranks; ``'gpu'`` gathers them as they are.
        prefix: prepended to every key of the metrics dict as ``'{prefix}/{key}'``; defaults to the class
            attribute ``default_prefix`` (None means no prefix).
        backend_args: MMEngine's file backend of the metric's files (``ann_file``, outputs): None or
            ``dict(backend='local')``; another backend is an error (:func:`visioncraft.fileio.backend.check_backend_args`).

    Subclasses implement :meth:`process` (append one entry per sample to ``self.results``) and
    :meth:`compute_metrics`.
    """

    default_prefix: str | None = None

    def __init__(self, collect_device: str = 'cpu', prefix: str | None = None, *,
                 backend_args: dict | None = None) -> None:
        check_backend_args(backend_args, type(self).__name__)
        if collect_device not in ('cpu', 'gpu'):
            raise ValueError(f"{type(self).__name__}: collect_device must be 'cpu' or 'gpu', got {collect_device!r}")
        self.collect_device = collect_device
        self.prefix = prefix or self.default_prefix
        self.results: list[Any] = []
        self._dataset_meta: dict | None = None

    @property
    def dataset_meta(self) -> dict | None:
        """The evaluated dataset's metainfo (``classes``, ...), set by the evaluator."""
        return self._dataset_meta

    @dataset_meta.setter
    def dataset_meta(self, meta: dict | None) -> None:
        self._dataset_meta = None if meta is None else dict(meta)

    @abstractmethod
    def process(self, data_batch: Any, data_samples: Sequence[DataSample]) -> None:
        """Turn one batch of predictions into entries of ``self.results`` (one per sample).

        Args:
            data_batch: the data loader's batch (``dict(inputs=..., data_samples=...)``), or None.
            data_samples: the model's predictions, one :class:`~visioncraft.structures.DataSample` per sample
                (the :class:`~visioncraft.evaluation.Evaluator` converts dict samples before calling this); read
                fields as attributes, or ``sample.get('key')`` / ``sample['key']`` / ``'key' in sample``.
        """

    @abstractmethod
    def compute_metrics(self, results: list[Any]) -> dict[str, Any]:
        """The metrics of all samples' ``results``, in dataset order (called on rank 0 only)."""

    def evaluate(self, size: int) -> dict[str, Any]:
        """Gather all ranks' results, restore dataset order, keep the first ``size``, compute the metrics on
        rank 0 and share them with every rank. ``self.results`` is cleared.

        Args:
            size: number of samples in the evaluated dataset (drops the sampler's ``round_up`` padding).
        """
        name = type(self).__name__
        local = _to_cpu(self.results) if self.collect_device == 'cpu' else list(self.results)
        parts = all_gather_object(local)
        self.results.clear()
        results = interleave(parts)
        if not results:
            warnings.warn(f'{name} got no results: its process() must append one entry per sample to '
                          'self.results; returning an empty metrics dict', stacklevel=2)
            return {}
        if size is not None:
            results = results[:int(size)]
        rank, _ = get_dist_info()
        payload: Any = None
        if rank == 0:
            try:
                metrics = self.compute_metrics(results)
            except Exception as exc:
                # Tell the other ranks, which are waiting in the broadcast, instead of leaving them hanging.
                broadcast_object(('error', f'{type(exc).__name__}: {exc}'))
                raise
            if not isinstance(metrics, dict):
                broadcast_object(('error', f'compute_metrics returned a {type(metrics).__name__}, not a dict'))
                raise TypeError(f'{name}.compute_metrics must return a dict, got {type(metrics).__name__}')
            if self.prefix:
                metrics = {f'{self.prefix}/{k}': v for k, v in metrics.items()}
            payload = ('ok', metrics)
        payload = broadcast_object(payload)
        status, value = payload
        if status == 'error':
            raise RuntimeError(f'{name}.compute_metrics failed on rank 0: {value}')
        return value

    def __repr__(self) -> str:
        return f'{type(self).__name__}(prefix={self.prefix!r}, collect_device={self.collect_device!r})'


@METRICS.register_module()
class DumpResults(BaseMetric):
    """Save every sample's predictions to a pickle file (rank 0 writes it); computes no metric.

    Args:
        out_file_path: where to write; must end with ``.pkl`` or ``.pickle``.
        collect_device: see :class:`BaseMetric`.

    The file holds a list in dataset order; each entry is ``data_sample.to_dict()`` (tensors on the CPU), which
    :meth:`~visioncraft.evaluation.Evaluator.offline_evaluate` takes back.
    """

    def __init__(self, out_file_path: str, collect_device: str = 'cpu') -> None:
        super().__init__(collect_device=collect_device)
        if not str(out_file_path).endswith(('.pkl', '.pickle')):
            raise ValueError(f'DumpResults: out_file_path must end with .pkl or .pickle, got {out_file_path!r}')
        self.out_file_path = str(out_file_path)

    def process(self, data_batch: Any, data_samples: Sequence[DataSample]) -> None:
        self.results.extend(_to_cpu(sample).to_dict() for sample in data_samples)

    def compute_metrics(self, results: list[Any]) -> dict[str, Any]:
        folder = osp.dirname(self.out_file_path)
        if folder:
            os.makedirs(folder, exist_ok=True)
        with open(self.out_file_path, 'wb') as f:
            pickle.dump(results, f, protocol=pickle.HIGHEST_PROTOCOL)
        return {}
