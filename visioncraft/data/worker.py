"""DataLoader worker set-up, and keeping workers and their parent from outliving each other.

* :func:`worker_init_fn` seeds a worker, and ties its life to the parent's: the stop signals a terminal or a job
  scheduler sends to the whole process group (SIGINT, SIGTERM, SIGUSR1) are ignored (the main process stops its
  workers itself, after it saved its checkpoint), and a worker exits within a second when its parent dies
  (Linux's parent-death signal, plus a thread that watches the parent's pid): a worker blocked writing a batch
  to a dead parent's pipe would otherwise live on.
* :class:`WatchedDataLoader` (what the Runner builds) watches its workers from the main process: when one dies
  (killed, out of memory) while the loader still needs it, the main thread gets :class:`WorkerDiedError`
  within a second, also when it is blocked reading a batch the dead worker had half written.
"""
from __future__ import annotations

import atexit
import functools
import multiprocessing
import os
import random
import signal
import threading
import time
import weakref

import numpy as np
import torch
from torch.utils.data import DataLoader

__all__ = ['worker_init_fn', 'SmallTensorsByValue', 'WatchedDataLoader', 'WorkerDiedError']

# Set in the main process just before a DataLoader forks its workers, read by the forked workers.
_FORK_PARENT_PID: int | None = None
_FORK_FROM_MAIN_THREAD = False
_FORKING_WATCHED = False  # True only while a WatchedDataLoader starts its workers
_WORKER_STOP_SIGNALS = tuple(getattr(signal, n) for n in ('SIGINT', 'SIGTERM', 'SIGUSR1') if hasattr(signal, n))
# 1 while the main process is shutting workers down (or exiting): then a worker's SIGTERM (DataLoader's and
# multiprocessing's way to end a worker that does not stop by itself) ends it; otherwise SIGTERM came from a
# scheduler or a user for the whole job, and the main process stops the workers itself after its checkpoint.
_RELEASE = multiprocessing.RawValue('b', 0)


def _on_worker_sigterm(signum, frame) -> None:
    if _RELEASE.value:
        os._exit(0)


def _exit_with_parent(parent_pid: int) -> None:
    """Make this worker process end when ``parent_pid`` ends."""
    if _FORK_FROM_MAIN_THREAD:  # the death signal fires when the forking *thread* ends: main thread only
        try:
            import ctypes
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(1, int(signal.SIGKILL), 0, 0, 0)  # PR_SET_PDEATHSIG (Linux; elsewhere no prctl symbol)
        except (OSError, AttributeError):
            pass
    if os.getppid() != parent_pid:  # the parent died before the death signal was armed
        os._exit(1)

    def watch() -> None:
        while True:
            time.sleep(0.5)
            if os.getppid() != parent_pid:
                os._exit(1)

    threading.Thread(target=watch, name='visioncraft-parent-watch', daemon=True).start()


def worker_init_fn(worker_id: int, *, num_workers: int, rank: int, seed: int | None,
                   disable_threads: bool = True) -> None:
    """Prepare one DataLoader worker process.

    Pass it as ``functools.partial(worker_init_fn, num_workers=..., rank=..., seed=...)``.

    Args:
        worker_id: given by the DataLoader (0 .. num_workers - 1).
        num_workers: workers per process.
        rank: this process's rank.
        seed: the run's seed; when not None, python ``random`` and numpy's global RNG are seeded with
            ``seed + worker_id + rank * num_workers + torch.initial_seed()`` so every worker of every rank
            has its own stream, and a new one each epoch for non-persistent workers.
            (Torch's RNG is already seeded per worker by the DataLoader. Pipelines of datasets that accept
            :class:`~visioncraft.data.seeding.SeededIndex` are seeded per sample anyway.)
        disable_threads: set OpenCV to run single-threaded and torch to one intra-op thread, so N workers
            do not each start one thread per core and oversubscribe the machine.
    """
    if torch.utils.data.get_worker_info() is not None:  # in a worker process (not a direct call)
        if _FORKING_WATCHED:  # a WatchedDataLoader's worker: its parent ends it even when SIGTERM is ignored
            for signum in _WORKER_STOP_SIGNALS:  # meant for the main process, which stops its workers itself
                signal.signal(signum, _on_worker_sigterm if signum == signal.SIGTERM else signal.SIG_IGN)
            signal.pthread_sigmask(signal.SIG_UNBLOCK, _WORKER_STOP_SIGNALS)  # blocked since the fork (below)
        _exit_with_parent(_FORK_PARENT_PID if _FORK_PARENT_PID is not None else os.getppid())
    if disable_threads:
        try:
            import cv2
        except ImportError:  # OpenCV is optional for datasets that do not decode with it
            pass
        else:
            cv2.setNumThreads(0)
        torch.set_num_threads(1)
    if seed is not None:
        # torch.initial_seed() here is the loader's base seed + worker_id; the runner's loaders draw the
        # base seed from their own generator, reseeded from (seed, epoch), so the stream differs per
        # epoch, rank and worker and still repeats exactly on a rerun or resume.
        worker_seed = (int(seed) + int(worker_id) + int(rank) * int(num_workers)
                       + torch.initial_seed()) % 2 ** 32
        random.seed(worker_seed)
        np.random.seed(worker_seed)


# -- sending batches from the workers ------------------------------------------------------------------------------
#: tensors up to this size travel from a worker to the main process inside the pickle, by value; larger ones
#: through shared memory as PyTorch sends every tensor
SMALL_TENSOR_BYTES = 256 * 1024
_BY_VALUE_DTYPES = {torch.float32, torch.float64, torch.float16, torch.uint8, torch.int8, torch.int16, torch.int32,
                    torch.int64, torch.bool}


def _tensor_from_array(array: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(array)


def _load_batch(payload: bytes):
    import pickle
    return pickle.loads(payload)


class _SmallTensorsByValue:
    """What a worker puts on its queue: the batch, pickled so that each small plain CPU tensor is copied into the
    pickle as a NumPy array instead of getting a shared-memory segment and a file descriptor of its own.
    Unpickling in the main process gives the batch itself (with equal tensors).

    A top-down pose batch of 32 crops holds ~350 tensors of a few bytes to a few kB (boxes, keypoints, weights,
    heatmaps, crops); passing each through shared memory cost ~0.1 s per batch in the main process, about a third
    of a training step of the pose quickstart on the CPU."""

    __slots__ = ('batch',)

    def __init__(self, batch) -> None:
        self.batch = batch

    def __reduce__(self):
        import io
        import pickle
        from multiprocessing.reduction import ForkingPickler

        class _Pickler(ForkingPickler):
            def reducer_override(self, obj):  # noqa: D401 - pickle hook
                if (type(obj) is torch.Tensor and obj.device.type == 'cpu' and not obj.requires_grad
                        and obj.dtype in _BY_VALUE_DTYPES and obj.element_size() * obj.numel() <= SMALL_TENSOR_BYTES):
                    return _tensor_from_array, (obj.numpy(),)
                return NotImplemented

        buf = io.BytesIO()
        _Pickler(buf, pickle.HIGHEST_PROTOCOL).dump(self.batch)
        return _load_batch, (buf.getvalue(),)


class SmallTensorsByValue:
    """Wrap a collate function: inside a DataLoader worker its batch is sent as :class:`_SmallTensorsByValue`;
    in the main process (``num_workers=0``) it is returned as is."""

    def __init__(self, collate) -> None:
        self.collate = collate

    def __call__(self, samples):
        batch = self.collate(samples)
        if torch.utils.data.get_worker_info() is None:
            return batch
        return _SmallTensorsByValue(batch)


# -- watching the workers from the main process ----------------------------------------------------------------
class WorkerDiedError(RuntimeError):
    """A DataLoader worker process ended while its loader still needed it (killed, or out of memory)."""


_watched: 'weakref.WeakSet' = weakref.WeakSet()  # iterators whose workers the death watch checks
_all_iterators: 'weakref.WeakSet' = weakref.WeakSet()  # every iterator with workers, for the exit handler
_watch_lock = threading.Lock()
_watch_thread: threading.Thread | None = None
_failure: str | None = None  # the message the main thread's SIGCHLD handler raises
_previous_sigchld = None
_sigchld_installed = False


def _dead_worker(it) -> str | None:
    """A message when one of iterator ``it``'s workers ended while the iterator still needs it."""
    if getattr(it, '_shutdown', True):
        return None
    for i, w in enumerate(list(getattr(it, '_workers', ()))):
        if not it._workers_status[i] or w.pid is None:
            continue
        try:  # WNOWAIT: look without reaping, so the DataLoader's own checks still see the exit
            res = os.waitid(os.P_PID, w.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
        except ChildProcessError:
            code = w.exitcode
            if code is None:
                continue
            how = f'exit status {code}' if code >= 0 else f'signal {signal.Signals(-code).name}'
        else:
            if res is None or res.si_pid == 0:
                continue
            how = (f'signal {signal.Signals(res.si_status).name}' if res.si_code in (os.CLD_KILLED, os.CLD_DUMPED)
                   else f'exit status {res.si_status}')
        hint = ' (the kernel kills the largest process when memory runs out: fewer workers or a smaller ' \
               'batch may help)' if 'SIGKILL' in how else ''
        return (f'DataLoader worker {i} (pid {w.pid}) ended with {how} while loading data{hint}; the run '
                f'stops here')
    return None


def _sigchld(signum, frame) -> None:
    global _failure
    if _failure is not None:
        msg, _failure = _failure, None
        raise WorkerDiedError(msg)
    if callable(_previous_sigchld):
        _previous_sigchld(signum, frame)


def _watch() -> None:
    global _failure
    main = threading.main_thread()
    while main.is_alive():
        time.sleep(0.5)
        with _watch_lock:
            iterators = list(_watched)
        for it in iterators:
            msg = _dead_worker(it)
            if msg is not None and _failure is None:
                _failure = msg
            if msg is not None:  # again each round until the iterator is shut down: the main thread may be
                try:             # blocked on a batch the dead worker had half written
                    signal.pthread_kill(main.ident, signal.SIGCHLD)
                except (OSError, ValueError):  # pragma: no cover
                    pass
                break


def _kill_survivors(it) -> None:
    """SIGKILL the workers of iterator ``it`` still alive after the DataLoader's own shutdown: ours ignore the
    SIGTERM with which DataLoader (and multiprocessing, at exit) would end them, so a stuck one would otherwise
    keep the process from exiting."""
    if not _owned(it):
        return
    for w in list(getattr(it, '_workers', ())):
        if w.pid is not None and w.exitcode is None:
            try:
                os.kill(w.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            w.join(timeout=5)


def _owned(it) -> bool:
    """Whether iterator ``it``'s workers are this process's children. A forked worker inherits the main
    process's iterators (and this module's exit hooks, which run when the worker ends): it must never shut down
    or kill its siblings (a validation worker ending used to SIGKILL the persistent training workers)."""
    return getattr(it, '_vc_owner_pid', None) == os.getpid()


def _shutdown_then_kill(ref: 'weakref.ref', original) -> None:
    it = ref()
    if it is not None and not _owned(it):
        return
    _RELEASE.value = 1
    try:
        original()
        it = ref()
        if it is not None:
            _kill_survivors(it)
    finally:
        _RELEASE.value = 0


def _kill_workers_at_exit() -> None:
    """End every worker still running when the interpreter exits. It runs with threading's exit hooks, before
    the atexit handlers: a DataLoader iterator that an exception's traceback kept alive would otherwise be
    collected during those, after its queues' feeder threads were finalised, and wait on workers that never
    get its stop message; multiprocessing's own handler then ends them with SIGTERM, which they ignore."""
    with _watch_lock:
        iterators = [it for it in _all_iterators if _owned(it)]
    if not iterators:  # a worker process ending, or nothing started: nothing of ours to end
        return
    _RELEASE.value = 1
    for it in iterators:
        _kill_survivors(it)


_register_exit = getattr(threading, '_register_atexit', None)  # CPython >= 3.9; atexit elsewhere
if _register_exit is not None:
    _register_exit(_kill_workers_at_exit)
atexit.register(_kill_workers_at_exit)


def _watch_iterator(it) -> None:
    """Start watching the workers of DataLoader iterator ``it`` (the death watch from the main thread only;
    elsewhere DataLoader's own 5-second checks remain)."""
    global _watch_thread, _previous_sigchld, _sigchld_installed
    it._vc_owner_pid = os.getpid()
    original = it._shutdown_workers  # a stuck worker is killed after the DataLoader's own shutdown
    it._shutdown_workers = functools.partial(_shutdown_then_kill, weakref.ref(it), original)
    with _watch_lock:
        _all_iterators.add(it)
    if threading.current_thread() is not threading.main_thread() or not hasattr(signal, 'SIGCHLD'):
        return
    if not _sigchld_installed or signal.getsignal(signal.SIGCHLD) is not _sigchld:
        current = signal.getsignal(signal.SIGCHLD)
        _previous_sigchld = current if callable(current) else None
        signal.signal(signal.SIGCHLD, _sigchld)
        _sigchld_installed = True
    with _watch_lock:
        _watched.add(it)
        if _watch_thread is None or not _watch_thread.is_alive():
            _watch_thread = threading.Thread(target=_watch, name='visioncraft-worker-watch', daemon=True)
            _watch_thread.start()


class WatchedDataLoader(DataLoader):
    """A DataLoader whose worker processes are watched (see the module's docstring); with ``num_workers=0`` it is
    a plain DataLoader. :meth:`shutdown_workers` ends the workers of every iterator it made that is still
    alive (one an exception interrupted, say)."""

    def shutdown_workers(self) -> None:
        for it in list(getattr(self, '_live_iterators', ())):
            it._shutdown_workers()

    def _get_iterator(self):
        global _FORK_PARENT_PID, _FORK_FROM_MAIN_THREAD, _FORKING_WATCHED
        if self.num_workers == 0:
            return super()._get_iterator()
        _FORK_PARENT_PID = os.getpid()
        _FORK_FROM_MAIN_THREAD = threading.current_thread() is threading.main_thread()
        # The workers start with the stop signals blocked (a signal mask is inherited), so that not even one
        # arriving before worker_init_fn ignores them kills a worker; here they are only held back for the
        # moment of the fork and then delivered to this process as usual.
        old = signal.pthread_sigmask(signal.SIG_BLOCK, _WORKER_STOP_SIGNALS) if _WORKER_STOP_SIGNALS else None
        _FORKING_WATCHED = True
        try:
            it = super()._get_iterator()
        finally:
            _FORKING_WATCHED = False
            if old is not None:
                signal.pthread_sigmask(signal.SIG_SETMASK, old)
        _watch_iterator(it)
        if '_live_iterators' not in self.__dict__:
            self._live_iterators = weakref.WeakSet()
        self._live_iterators.add(it)
        return it
