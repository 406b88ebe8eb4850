"""DataLoader worker set-up."""
from __future__ import annotations

import random

import numpy as np
import torch

__all__ = ['worker_init_fn', 'SmallTensorsByValue']


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
