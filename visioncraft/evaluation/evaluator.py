"""Evaluator: feeds each batch to several metrics and merges what they compute.

The evaluator is where data samples are checked: ``process(data_batch, data_samples)`` (the argument order of
:meth:`BaseMetric.process`) turns a dict sample (MMEngine's evaluator handed metrics ``data_sample.to_dict()``;
``DumpResults`` files hold such dicts) into a :class:`~visioncraft.structures.DataSample` once, so metrics only
ever receive DataSamples.
"""
from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from visioncraft.registry import EVALUATORS, METRICS
from visioncraft.structures import BaseDataElement, DataSample

from .metric import BaseMetric

__all__ = ['Evaluator', 'build_evaluator']


def _is_data_item(obj: Any) -> bool:
    """A data loader item / batch ``dict(inputs=..., data_samples=...)``, not a prediction."""
    return isinstance(obj, Mapping) and 'inputs' in obj and 'data_samples' in obj


def _looks_like_samples(obj: Any) -> bool:
    return (isinstance(obj, Sequence) and not isinstance(obj, (str, bytes)) and len(obj) > 0
            and all(isinstance(s, (BaseDataElement, Mapping)) and not _is_data_item(s) for s in obj))


def _as_data_samples(data_batch: Any, data_samples: Any, who: str) -> list[DataSample]:
    """``data_samples`` as a list of :class:`DataSample`: DataSamples as they are, a dict through
    :meth:`DataSample.from_dict`. The arguments of a call in the old ``(data_samples, data_batch)`` order, or
    anything that is not a sample, raise a TypeError saying what was expected."""
    if data_samples is None or isinstance(data_samples, (Mapping, str, bytes, BaseDataElement)) \
            or not isinstance(data_samples, Sequence):
        if _looks_like_samples(data_batch):
            raise TypeError(f'{who}.process takes (data_batch, data_samples), the order of BaseMetric.process; '
                            'it got the data samples first. Call process(data_batch, data_samples), or by keyword '
                            'process(data_batch=..., data_samples=...)')
        raise TypeError(f'{who}.process(data_batch, data_samples): data_samples must be a list of DataSample (or '
                        f'of dicts, as MMEngine gave metrics), got {type(data_samples).__name__}')
    out = []
    for k, sample in enumerate(data_samples):
        if isinstance(sample, DataSample):
            out.append(sample)
        elif _is_data_item(sample):
            raise TypeError(f'{who}.process: data sample {k} is a data item dict(inputs=..., data_samples=...), not '
                            'a prediction; process takes (data_batch, data_samples), the model\'s outputs second')
        elif isinstance(sample, Mapping):
            try:
                out.append(DataSample.from_dict(sample))
            except TypeError as exc:
                raise TypeError(f'{who}.process: data sample {k} is a dict that cannot become a DataSample: '
                                f'{exc}') from None
        else:
            raise TypeError(f'{who}.process: data sample {k} is a {type(sample).__name__}; metrics take DataSamples '
                            '(a dict is converted), as the models\' val_step / test_step return them')
    return out


@EVALUATORS.register_module()
class Evaluator:
    """Run metrics side by side: ``process`` every batch, then ``evaluate`` once.

    Args:
        metrics: a metric, a metric config dict (built with ``METRICS``), or a list of either.

    Example::

        evaluator = Evaluator([dict(type='CocoMetric', ann_file=...), DumpResults('preds.pkl')])
        evaluator.dataset_meta = dataset.metainfo
        for batch in loader:
            evaluator.process(batch, model.test_step(batch))
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

    def process(self, data_batch: Any, data_samples: Sequence[DataSample | Mapping] | None = None) -> None:
        """Give one batch's predictions to every metric, as DataSamples.

        Args:
            data_batch: the batch from the data loader (``dict(inputs=..., data_samples=...)``), or None.
            data_samples: the model's outputs for it (``val_step`` / ``test_step``), one per sample (required;
                its default only lets a call in the old ``(data_samples, data_batch)`` order get a clear error).
                Dicts (``DataSample.to_dict()``, MMEngine style) are converted by :meth:`DataSample.from_dict`.

        The arguments are those of :meth:`BaseMetric.process`, in its order; MMEngine's loops pass them by keyword
        (``process(data_samples=outputs, data_batch=data_batch)``), which works too.
        """
        samples = self._data_samples(data_batch, data_samples)
        for metric in self.metrics:
            metric.process(data_batch, samples)

    def _data_samples(self, data_batch: Any, data_samples: Any) -> list[DataSample]:
        """The boundary check of :meth:`process`: ``data_samples`` as a list of DataSamples."""
        return _as_data_samples(data_batch, data_samples, type(self).__name__)

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
        """Evaluate predictions saved earlier (e.g. the dicts DumpResults writes), ``chunk_size`` samples per
        ``process``; ``data``, when given, holds the data item of each sample."""
        if data is not None and len(data) != len(data_samples):
            raise ValueError(f'Evaluator.offline_evaluate: {len(data_samples)} data samples but {len(data)} '
                             'data items')
        for start in range(0, len(data_samples), chunk_size):
            batch = None if data is None else list(data[start:start + chunk_size])
            self.process(batch, list(data_samples[start:start + chunk_size]))
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
