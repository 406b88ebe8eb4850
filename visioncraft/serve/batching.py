"""One worker thread per served model, fed by a bounded queue: requests that arrive together run as one batch.

:meth:`BatchWorker.submit` puts a decoded image in the queue and returns a :class:`concurrent.futures.Future` (the
web handlers await it with :func:`asyncio.wrap_future`, so the event loop never waits for the model). The worker
takes the oldest request, then keeps taking requests until it holds ``max_batch`` of them, and runs the model once
on them. When the queue is empty it waits up to ``max_wait_s`` for more only while other requests are on their way
(announced with :meth:`BatchWorker.expect`: the server does so while it reads and decodes a body), so a lone request
never waits. A full queue (``max_queue`` requests waiting, not
counting the batch the model is running) refuses more at once (:class:`QueueFull`, answered 503 with
``Retry-After``): the backlog, and with it the answer time, stays bounded.

A batch whose model call raises is run again image by image, so one bad image fails its own request only. A request
cancelled while waiting (its client went away) is dropped before the model sees it.
"""
from __future__ import annotations

import collections
import concurrent.futures
import contextlib
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ['BatchWorker', 'QueueFull', 'Result']

_logger = logging.getLogger('visioncraft')


class QueueFull(Exception):
    """The model's queue holds ``max_queue`` requests already."""


@dataclass
class Result:
    """What a request's future resolves to: the model's JSON document for the image and how it got there."""
    doc: Any
    batch_size: int
    queue_s: float  # from submit() to the start of the model call
    model_s: float  # the model call on the whole batch


class _Expected:
    """A request announced by :meth:`BatchWorker.expect`; ``done`` once it was submitted or given up."""
    done = False


@dataclass
class _Job:
    image: np.ndarray
    future: concurrent.futures.Future
    submitted: float


class BatchWorker:
    """Run ``predict`` (a list of images -> a list of JSON documents, e.g.
    :meth:`~visioncraft.serve.models.ServedModel.predict`) in one thread, on batches of queued requests.

    Args:
        predict: the model call; runs in the worker thread only.
        name: names the thread and log lines.
        max_batch: images per model call, at most.
        max_queue: requests that may wait; one more raises :class:`QueueFull`.
        max_wait_s: how long a batch waits for more requests once it has one.
        on_batch: called in the worker thread after each model call with ``(batch size, seconds)`` (metrics).
    """

    def __init__(self, predict: Callable[[list[np.ndarray]], list[Any]], *, name: str = 'model', max_batch: int = 8,
                 max_queue: int = 64, max_wait_s: float = 0.005,
                 on_batch: Callable[[int, float], None] | None = None) -> None:
        if int(max_batch) < 1 or int(max_queue) < 1 or not max_wait_s >= 0:
            raise ValueError(f'BatchWorker: max_batch ({max_batch}) and max_queue ({max_queue}) must be >= 1 and '
                             f'max_wait_s ({max_wait_s}) >= 0')
        self.predict = predict
        self.name = name
        self.max_batch, self.max_queue, self.max_wait_s = int(max_batch), int(max_queue), float(max_wait_s)
        self.on_batch = on_batch
        self._queue: collections.deque[_Job] = collections.deque()
        self._cond = threading.Condition()
        self._thread: threading.Thread | None = None
        self._stopping = False
        self._arriving = 0  # requests announced by expect() and not yet submitted
        self.running = 0  # images in the model call under way

    @property
    def depth(self) -> int:
        """Requests waiting (not counting the batch the model is running)."""
        return len(self._queue)

    def start(self) -> None:
        """Start the thread (again after :meth:`stop`); nothing when it runs."""
        with self._cond:
            if self._thread is not None and self._thread.is_alive():
                return
            self._stopping = False
            self._thread = threading.Thread(target=self._loop, name=f'visioncraft-serve-{self.name}', daemon=True)
            self._thread.start()

    def stop(self, timeout: float | None = 10.0) -> None:
        """Finish the batch under way, fail the waiting requests (RuntimeError) and end the thread."""
        with self._cond:
            self._stopping = True
            waiting = list(self._queue)
            self._queue.clear()
            self._cond.notify_all()
        for job in waiting:
            if job.future.set_running_or_notify_cancel():
                job.future.set_exception(RuntimeError('the server is shutting down'))
        if self._thread is not None:
            self._thread.join(timeout)

    @contextlib.contextmanager
    def expect(self):
        """Announce a request on its way (its body being read and decoded) for as long as the block runs, or until
        its image is submitted with the token this yields (``submit(image, expected=token)``): a batch being gathered
        waits for it (up to ``max_wait_s``) instead of starting without it."""
        token = _Expected()
        with self._cond:
            self._arriving += 1
        try:
            yield token
        finally:
            with self._cond:
                if not token.done:
                    token.done = True
                    self._arriving -= 1
                    self._cond.notify_all()

    def submit(self, image: np.ndarray, expected: _Expected | None = None) -> concurrent.futures.Future:
        """Queue ``image``; the future resolves to a :class:`Result`, or raises the model's error.
        :class:`QueueFull` when ``max_queue`` requests wait already. ``expected``: the token of :meth:`expect` that
        announced this request."""
        if self._thread is None or not self._thread.is_alive():
            self.start()
        future: concurrent.futures.Future = concurrent.futures.Future()
        with self._cond:
            if expected is not None and not expected.done:
                expected.done = True
                self._arriving -= 1
                self._cond.notify_all()
            if len(self._queue) >= self.max_queue:
                raise QueueFull(f'{self.name}: {len(self._queue)} requests are waiting already (--max-queue '
                                f'{self.max_queue})')
            self._queue.append(_Job(image, future, time.perf_counter()))
            self._cond.notify()
        return future

    # -- the thread ----------------------------------------------------------------------------------------------
    def _take_batch(self) -> list[_Job] | None:
        with self._cond:
            while not self._queue and not self._stopping:
                self._cond.wait()
            if self._stopping:
                return None
            batch = [self._queue.popleft()]
            deadline = time.perf_counter() + self.max_wait_s
            while len(batch) < self.max_batch:
                if self._queue:
                    batch.append(self._queue.popleft())
                    continue
                left = deadline - time.perf_counter()
                if left <= 0 or self._stopping or self._arriving <= 0:
                    break
                self._cond.wait(left)
            return batch

    def _loop(self) -> None:
        while True:
            batch = self._take_batch()
            if batch is None:
                return
            # a request whose client went away (its future cancelled) is dropped here
            batch = [job for job in batch if job.future.set_running_or_notify_cancel()]
            if batch:
                self._run(batch)

    def _run(self, batch: list[_Job]) -> None:
        start = time.perf_counter()
        self.running = len(batch)
        try:
            docs = self.predict([job.image for job in batch])
            if len(docs) != len(batch):
                raise RuntimeError(f'{self.name}: the model gave {len(docs)} results for {len(batch)} images')
        except Exception as exc:  # noqa: BLE001 - the worker must survive whatever the model raises
            if len(batch) == 1:
                batch[0].future.set_exception(exc)
                self._note(1, time.perf_counter() - start)
            else:  # one bad image must not fail the others: run them one by one
                _logger.warning(f'serve: {self.name}: a batch of {len(batch)} failed ({type(exc).__name__}: '
                                f'{exc}); running its images one by one')
                for job in batch:
                    self._run_one(job)
            return
        finally:
            self.running = 0
        seconds = time.perf_counter() - start
        for job, doc in zip(batch, docs):
            job.future.set_result(Result(doc, len(batch), start - job.submitted, seconds))
        self._note(len(batch), seconds)

    def _note(self, size: int, seconds: float) -> None:
        if self.on_batch is None:
            return
        try:
            self.on_batch(size, seconds)
        except Exception:  # noqa: BLE001 - metrics must never stop the worker
            _logger.exception(f'serve: {self.name}: recording a batch failed')

    def _run_one(self, job: _Job) -> None:
        start = time.perf_counter()
        try:
            (doc,) = self.predict([job.image])
        except Exception as exc:  # noqa: BLE001
            job.future.set_exception(exc)
        else:
            job.future.set_result(Result(doc, 1, start - job.submitted, time.perf_counter() - start))
        self._note(1, time.perf_counter() - start)
