"""The ``visioncraft`` logger and the scalar history that log lines are made from.

Log lines read ``11/21 08:26:50 - visioncraft - INFO - <message>``. Rank 0 logs INFO to the console
and to ``<log_dir>/<timestamp>.log``; other ranks log warnings and errors only.
"""
from __future__ import annotations

import logging
import sys
from collections import defaultdict, deque
from pathlib import Path
from typing import Any

__all__ = ['get_logger', 'setup_logger', 'FILE_ONLY', 'MessageHub', 'LOG_FORMAT', 'LOG_DATEFMT']

LOG_FORMAT = '%(asctime)s - %(name)s - %(levelname)s - %(message)s'
LOG_DATEFMT = '%m/%d %H:%M:%S'
_LOGGER_NAME = 'visioncraft'


def get_logger() -> logging.Logger:
    return logging.getLogger(_LOGGER_NAME)


#: ``logger.info(msg, extra=FILE_ONLY)``: to the log file, not the console (the merged config, long dumps)
FILE_ONLY = {'file_only': True}


def _not_file_only(record: logging.LogRecord) -> bool:
    return not getattr(record, 'file_only', False)


def setup_logger(log_file: str | Path | None = None, *, rank: int = 0, level: str | int = 'INFO') -> logging.Logger:
    """(Re)configure the ``visioncraft`` logger: console + optional file, for this rank."""
    logger = get_logger()
    for h in list(logger.handlers):
        logger.removeHandler(h)
        h.close()
    logger.propagate = False
    fmt = logging.Formatter(LOG_FORMAT, datefmt=LOG_DATEFMT)
    lvl = logging.getLevelName(level) if isinstance(level, str) else level
    logger.setLevel(lvl if rank == 0 else logging.WARNING)
    console = logging.StreamHandler(sys.stdout)
    console.setFormatter(fmt)
    console.addFilter(_not_file_only)
    logger.addHandler(console)
    if log_file is not None and rank == 0:
        Path(log_file).parent.mkdir(parents=True, exist_ok=True)
        fh = logging.FileHandler(log_file, mode='a', encoding='utf-8')
        fh.setFormatter(fmt)
        logger.addHandler(fh)
    return logger


class _History:
    """Recent values of one scalar, with counts, for windowed means."""

    __slots__ = ('values', 'counts', 'total', 'total_count')

    def __init__(self, maxlen: int = 1000) -> None:
        self.values: deque[float] = deque(maxlen=maxlen)
        self.counts: deque[int] = deque(maxlen=maxlen)
        self.total = 0.0
        self.total_count = 0

    def update(self, value: float, count: int = 1) -> None:
        self.values.append(float(value))
        self.counts.append(count)
        self.total += float(value) * count
        self.total_count += count

    def mean(self, window: int | None = None) -> float:
        vals = list(self.values)[-window:] if window else list(self.values)
        cnts = list(self.counts)[-window:] if window else list(self.counts)
        n = sum(cnts)
        return sum(v * c for v, c in zip(vals, cnts)) / n if n else float('nan')

    def current(self) -> float:
        return self.values[-1] if self.values else float('nan')


class MessageHub:
    """Scalar histories (``'train/loss'`` -> recent values) and runtime facts (``'max_iters'``...)."""

    def __init__(self) -> None:
        self._scalars: dict[str, _History] = defaultdict(_History)
        self.runtime: dict[str, Any] = {}

    def update_scalar(self, key: str, value: float, count: int = 1) -> None:
        self._scalars[key].update(value, count)

    def update_scalars(self, values: dict[str, float], prefix: str = '') -> None:
        for k, v in values.items():
            self.update_scalar(prefix + k, v)

    def mean(self, key: str, window: int | None = None) -> float:
        return self._scalars[key].mean(window) if key in self._scalars else float('nan')

    def current(self, key: str) -> float:
        return self._scalars[key].current() if key in self._scalars else float('nan')

    def keys(self, prefix: str = '') -> list[str]:
        return [k for k in self._scalars if k.startswith(prefix)]

    def clear(self, prefix: str) -> None:
        for k in self.keys(prefix):
            del self._scalars[k]
