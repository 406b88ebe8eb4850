"""The server's counters in the Prometheus text exposition format (version 0.0.4), with no client library.

``GET /metrics`` answers :meth:`Metrics.render`:

* ``visioncraft_requests_total{route, model, code}``: answered requests, by route template (``/v1/models/{name}/
  predict``, ``/healthz``, ...; ``other`` for URLs no route matches), model (predict requests for a served model,
  else ``""``) and HTTP status code;
* ``visioncraft_request_duration_seconds{model}``: histogram of predict latency (arrival to answer) of the requests
  answered 200;
* ``visioncraft_queue_depth{model}``: requests waiting for the model now (gauge);
* ``visioncraft_batch_size{model}``: histogram of the images per model call;
* ``visioncraft_model_seconds{model}``: histogram of the seconds per model call (a whole batch);
* ``visioncraft_models``: how many models are served.
"""
from __future__ import annotations

import bisect
import threading
from collections.abc import Callable, Sequence

__all__ = ['Metrics', 'Histogram', 'LATENCY_BUCKETS', 'BATCH_BUCKETS', 'CONTENT_TYPE']

#: the ``Content-Type`` of ``GET /metrics``
CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8'
#: upper bounds (seconds) of the latency histograms' buckets
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
#: upper bounds of the batch size histogram's buckets
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128)


def _label(value: str) -> str:
    return str(value).replace('\\', r'\\').replace('"', r'\"').replace('\n', r'\n')


def _labels(pairs: Sequence[tuple[str, str]]) -> str:
    return '{' + ','.join(f'{k}="{_label(v)}"' for k, v in pairs) + '}' if pairs else ''


def _number(v: float) -> str:
    if v == int(v) and abs(v) < 1e15:
        return str(int(v))
    return repr(float(v))


class Histogram:
    """Cumulative bucket counts, a sum and a count (one label set)."""

    def __init__(self, bounds: Sequence[float]) -> None:
        self.bounds = tuple(float(b) for b in bounds)
        self.counts = [0] * (len(self.bounds) + 1)  # the last: above every bound (+Inf only)
        self.sum = 0.0
        self.count = 0

    def observe(self, value: float) -> None:
        self.counts[bisect.bisect_left(self.bounds, float(value))] += 1
        self.sum += float(value)
        self.count += 1

    def lines(self, name: str, pairs: Sequence[tuple[str, str]]) -> list[str]:
        out, total = [], 0
        for bound, n in zip((*self.bounds, float('inf')), self.counts):
            total += n
            le = '+Inf' if bound == float('inf') else _number(bound)
            out.append(f'{name}_bucket{_labels([*pairs, ("le", le)])} {total}')
        out.append(f'{name}_sum{_labels(pairs)} {_number(self.sum)}')
        out.append(f'{name}_count{_labels(pairs)} {self.count}')
        return out


class Metrics:
    """Thread-safe counters of one server (the event loop and the model threads both write them).

    Args:
        queue_depths: called at each :meth:`render`: ``{model name: requests waiting}``.
    """

    def __init__(self, models: Sequence[str], queue_depths: Callable[[], dict[str, int]] | None = None) -> None:
        self._lock = threading.Lock()
        self.models = list(models)
        self.queue_depths = queue_depths or (lambda: {})
        self.requests: dict[tuple[str, str, str], int] = {}
        self.latency = {m: Histogram(LATENCY_BUCKETS) for m in self.models}
        self.batch_size = {m: Histogram(BATCH_BUCKETS) for m in self.models}
        self.model_seconds = {m: Histogram(LATENCY_BUCKETS) for m in self.models}

    def count_request(self, route: str, model: str, code: int) -> None:
        key = (route, model, str(int(code)))
        with self._lock:
            self.requests[key] = self.requests.get(key, 0) + 1

    def observe_latency(self, model: str, seconds: float) -> None:
        with self._lock:
            self.latency[model].observe(seconds)

    def observe_batch(self, model: str, size: int, seconds: float) -> None:
        with self._lock:
            self.batch_size[model].observe(size)
            self.model_seconds[model].observe(seconds)

    def render(self) -> str:
        """The exposition text (ends with a newline)."""
        depths = self.queue_depths()
        with self._lock:
            lines = ['# HELP visioncraft_requests_total Requests answered, by route, model and HTTP status code.',
                     '# TYPE visioncraft_requests_total counter']
            for (route, model, code), n in sorted(self.requests.items()):
                lines.append(f'visioncraft_requests_total{_labels([("route", route), ("model", model), ("code", code)])}'
                             f' {n}')
            lines += ['# HELP visioncraft_request_duration_seconds Predict requests answered 200: seconds from '
                      'arrival to answer.', '# TYPE visioncraft_request_duration_seconds histogram']
            for m in self.models:
                lines += self.latency[m].lines('visioncraft_request_duration_seconds', [('model', m)])
            lines += ['# HELP visioncraft_queue_depth Requests waiting for the model.',
                      '# TYPE visioncraft_queue_depth gauge']
            lines += [f'visioncraft_queue_depth{_labels([("model", m)])} {int(depths.get(m, 0))}' for m in self.models]
            lines += ['# HELP visioncraft_batch_size Images per model call.', '# TYPE visioncraft_batch_size histogram']
            for m in self.models:
                lines += self.batch_size[m].lines('visioncraft_batch_size', [('model', m)])
            lines += ['# HELP visioncraft_model_seconds Seconds per model call (one batch).',
                      '# TYPE visioncraft_model_seconds histogram']
            for m in self.models:
                lines += self.model_seconds[m].lines('visioncraft_model_seconds', [('model', m)])
            lines += ['# HELP visioncraft_models Models served.', '# TYPE visioncraft_models gauge',
                      f'visioncraft_models {len(self.models)}']
        return '\n'.join(lines) + '\n'
