"""DataLoader worker set-up."""
from __future__ import annotations

import random

import numpy as np
import torch

__all__ = ['worker_init_fn']


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
