"""Seeding, and RNG state capture in a form ``torch.load(weights_only=True)`` accepts."""
from __future__ import annotations

import contextlib
import os
import random
from collections.abc import Iterator

import numpy as np
import torch

from ..dist import get_rank, sync_random_seed

__all__ = ['set_random_seed', 'get_rng_state', 'set_rng_state', 'preserve_rng']


def set_random_seed(seed: int | None = None, *, deterministic: bool = False, diff_rank_seed: bool = False) -> int:
    """Seed Python, NumPy and torch (CPU and CUDA). ``None`` draws one on rank 0 and shares it.

    Returns the seed used (before the rank offset of ``diff_rank_seed``).
    """
    if seed is None:
        seed = sync_random_seed()
    seed = int(seed)
    used = seed + get_rank() if diff_rank_seed else seed
    random.seed(used)
    np.random.seed(used % 2 ** 32)
    torch.manual_seed(used)
    os.environ['PYTHONHASHSEED'] = str(used)
    if deterministic:
        os.environ.setdefault('CUBLAS_WORKSPACE_CONFIG', ':4096:8')
        torch.backends.cudnn.benchmark = False
        torch.backends.cudnn.deterministic = True
        torch.use_deterministic_algorithms(True, warn_only=True)
    return seed


def get_rng_state() -> dict:
    """Python, NumPy, torch CPU and CUDA RNG states as tensors / plain Python values."""
    np_state = np.random.get_state()
    state = {
        'python': random.getstate(),
        'numpy': {'key': torch.from_numpy(np_state[1].astype(np.int64)), 'pos': int(np_state[2]),
                  'has_gauss': int(np_state[3]), 'cached_gaussian': float(np_state[4])},
        'torch': torch.get_rng_state(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state['cuda'] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    random.setstate(_to_tuple(state['python']))
    npst = state['numpy']
    np.random.set_state(('MT19937', npst['key'].numpy().astype(np.uint32), npst['pos'], npst['has_gauss'],
                         npst['cached_gaussian']))
    torch.set_rng_state(state['torch'])
    if 'cuda' in state and torch.cuda.is_available():
        cuda_states = state['cuda']
        if len(cuda_states) == torch.cuda.device_count():
            torch.cuda.set_rng_state_all(cuda_states)


def _to_tuple(x):
    return tuple(_to_tuple(v) for v in x) if isinstance(x, (list, tuple)) else x


@contextlib.contextmanager
def preserve_rng() -> Iterator[None]:
    """Run a block (validation, say) without changing any global RNG state seen afterwards."""
    state = get_rng_state()
    try:
        yield
    finally:
        set_rng_state(state)
