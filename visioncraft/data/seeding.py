"""Per-sample random seeds: the same sample is augmented the same way whatever the number of workers,
the number of processes, or where training resumed.

The sampler yields :class:`SeededIndex` values (an ``int`` carrying a ``.seed``) whose seed depends only on
``(base seed, epoch, dataset index)``; the dataset runs its pipeline inside :func:`sample_rng(seed)
<sample_rng>`, which seeds python ``random``, numpy's global RNG and torch's CPU RNG and puts their previous
states back afterwards. Transforms keep drawing from the global RNGs as usual.
"""
from __future__ import annotations

import contextlib
import random
from collections.abc import Iterator

import numpy as np
import torch

__all__ = ['SeededIndex', 'sample_seed', 'derive_seed', 'sample_rng']

_U64 = 2 ** 64


class SeededIndex(int):
    """A dataset index that carries the seed for its augmentation.

    Behaves as a plain ``int`` everywhere (indexing, hashing, comparison); arithmetic returns plain ints.
    It survives pickling, so it reaches DataLoader worker processes with its seed.

    Example::

        idx = SeededIndex(5, seed=123)
        idx == 5, idx.seed        # True, 123
        type(idx + 1)             # int
    """

    seed: int

    def __new__(cls, index: int, seed: int) -> SeededIndex:
        obj = super().__new__(cls, int(index))
        obj.seed = int(seed)
        return obj

    def __getnewargs__(self) -> tuple[int, int]:
        return int(self), self.seed

    def __reduce__(self):
        return SeededIndex, (int(self), self.seed)

    def __repr__(self) -> str:
        return f'SeededIndex({int(self)}, seed={self.seed})'


def sample_seed(base_seed: int, epoch: int, index: int) -> int:
    """A seed in ``[0, 2**32)`` mixed from ``(base_seed, epoch, index)``; the same inputs always give the
    same seed and nearby inputs give unrelated seeds."""
    return derive_seed(base_seed, epoch, index)


def derive_seed(*keys: int) -> int:
    """A seed in ``[0, 2**32)`` mixed from any number of integers (negative ones are taken mod 2**64)."""
    entropy = [int(k) % _U64 for k in keys]
    return int(np.random.SeedSequence(entropy).generate_state(1, dtype=np.uint32)[0])


@contextlib.contextmanager
def sample_rng(seed: int) -> Iterator[None]:
    """Seed python ``random``, numpy's legacy global RNG and torch's CPU generator with ``seed`` for the
    duration of the block.

    In the main process (``num_workers=0``) torch's CPU generator and python ``random`` are restored
    afterwards, so model randomness (dropout, batch-level augmentation drawing from ``random``) does not
    depend on how many samples were read. NumPy's global stream is *not* restored: saving and restoring
    it costs ~90 us a sample, more than the rest of a typical pipeline. It is left as the last sample
    seeded it, which is deterministic (and saved in checkpoints), so runs and resumes still repeat
    exactly; main-process code that needs its own NumPy stream should use ``np.random.default_rng``.
    Inside DataLoader workers nothing is restored: their global RNGs serve the pipeline alone.
    CUDA generators are never touched.
    """
    seed = int(seed)
    np.random.seed(seed % 2 ** 32)
    if torch.utils.data.get_worker_info() is not None:
        random.seed(seed)
        torch.default_generator.manual_seed(seed % _U64)
        yield
        return
    py_state = random.getstate()
    torch_state = torch.get_rng_state()
    try:
        random.seed(seed)
        torch.default_generator.manual_seed(seed % _U64)
        yield
    finally:
        random.setstate(py_state)
        torch.set_rng_state(torch_state)
