"""Evaluator: feeds each batch to several metrics and merges what they compute."""
from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from visioncraft.registry import EVALUATORS, METRICS

from .metric import BaseMetric

__all__ = ['Evaluator', 'build_evaluator']


@EVALUATORS.register_module()
class Evaluator:
    """Run metrics side by side: ``process`` every batch, then ``evaluate`` once.

    Args:
        metrics: a metric, a metric config dict (built with ``METRICS``), or a list of either.

    Example::

        evaluator = Evaluator([dict(type='CocoMetric', ann_file=...), DumpResults('preds.pkl')])
        evaluator.dataset_meta = dataset.metainfo
        for batch in loader:
            evaluator.process(model.test_step(batch), batch)
        metrics = evaluator.evaluate(len(dataset))
    """

    def __init__(self, metrics: BaseMetric | dict | Sequence[BaseMetric | dict]) -> None:
        if isinstance(metrics, (Mapping, BaseMetric)) or not isinstance(metrics, Sequence):
            metrics = [metrics]
        self.metrics: list[BaseMetric] = []
        for i, metric in enumerate(metrics):
            if isinstance(metric, Mapping):
                metric = METRICS.build(metric, key_path=f'metrics[{i}]')
            missing = [m for m in ('process', 'evaluate') if not callable(getattr(metric, m, None))]
            if missing:
                raise TypeError(f'Evaluator: metrics[{i}] must be a BaseMetric or a metric config dict, got '
                                f'{type(metric).__name__} (no {", ".join(missing)} method)')
            self.metrics.append(metric)
        self._dataset_meta: dict | None = None

    @property
    def dataset_meta(self) -> dict | None:
        """The dataset's metainfo; setting it sets every metric's ``dataset_meta``."""
        return self._dataset_meta

    @dataset_meta.setter
    def dataset_meta(self, meta: dict | None) -> None:
        self._dataset_meta = meta
        for metric in self.metrics:
            metric.dataset_meta = meta

    def process(self, data_samples: Sequence[Any], data_batch: Any = None) -> None:
        """Give one batch's predictions (and optionally the batch from the data loader) to every metric."""
        for metric in self.metrics:
            metric.process(data_batch, data_samples)

    def evaluate(self, size: int) -> dict[str, Any]:
        """Every metric's results merged into one dict; two metrics producing the same key is a ValueError.

        Args:
            size: number of samples in the evaluated dataset.
        """
        merged: dict[str, Any] = {}
        owner: dict[str, str] = {}
        for metric in self.metrics:
            name = type(metric).__name__
            for key, value in metric.evaluate(size).items():
                if key in merged:
                    raise ValueError(f'Evaluator: metrics {owner[key]} and {name} both produce the key {key!r}; '
                                     'give one of them a prefix (prefix=...)')
                merged[key] = value
                owner[key] = name
        return merged

    def offline_evaluate(self, data_samples: Sequence[Any], data: Sequence[Any] | None = None,
                         chunk_size: int = 1) -> dict[str, Any]:
        """Evaluate predictions saved earlier (e.g. by DumpResults), ``chunk_size`` samples per ``process``."""
        if data is not None and len(data) != len(data_samples):
            raise ValueError(f'Evaluator.offline_evaluate: {len(data_samples)} data samples but {len(data)} '
                             'data items')
        for start in range(0, len(data_samples), chunk_size):
            batch = None if data is None else list(data[start:start + chunk_size])
            self.process(list(data_samples[start:start + chunk_size]), batch)
        return self.evaluate(len(data_samples))

    def __iter__(self) -> Iterator[BaseMetric]:
        return iter(self.metrics)

    def __len__(self) -> int:
        return len(self.metrics)

    def __repr__(self) -> str:
        body = ''.join(f'\n    {m!r},' for m in self.metrics)
        return f'Evaluator(metrics=[{body}\n])'


def build_evaluator(cfg: Evaluator | BaseMetric | dict | Sequence[BaseMetric | dict]) -> Evaluator:
    """An :class:`Evaluator` from an evaluator, a metric, a list of metrics / metric configs, or a config dict.

    A dict with a ``metrics`` key is an evaluator config (``type`` defaults to ``'Evaluator'``); any other dict
    is a single metric config.
    """
    if cfg is None:
        raise TypeError('build_evaluator: got None; give a metric config, a list of them or an Evaluator')
    if isinstance(cfg, Evaluator):
        return cfg
    if isinstance(cfg, Mapping):
        if 'metrics' in cfg:
            args = dict(cfg)
            args.setdefault('type', 'Evaluator')
            return EVALUATORS.build(args, key_path='evaluator')
        if isinstance(cfg.get('type'), str) and cfg['type'] in EVALUATORS and cfg['type'] not in METRICS:
            return EVALUATORS.build(cfg, key_path='evaluator')
    if callable(getattr(cfg, 'evaluate', None)) and callable(getattr(cfg, 'process', None)) \
            and not isinstance(cfg, BaseMetric) and hasattr(cfg, 'metrics'):
        return cfg  # an evaluator of another class
    return Evaluator(cfg)
