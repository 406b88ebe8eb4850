"""Deterministic stand-in weights for the upstream parity references, computed from the parameter names and shapes
alone, with NumPy only: the reference generator (make_reference.py, in a venv with the upstream packages) and our
tests (without them) compute the same tensors, so no weights are stored in the repository, only the names, shapes
and the upstream outputs.

Each tensor is drawn from its own PCG64 stream, seeded by the SHA-256 of ``seed:name``, as uniform doubles (the
bit stream to double conversion is fixed, unlike NumPy's normal sampler), then scaled by the kind of tensor:
convolution / linear weights +-sqrt(3 / fan_in) (unit variance through a layer), biases +-0.1, BatchNorm / GroupNorm
/ LayerNorm weights and learnt scalars in [0.5, 1.5], norm biases +-0.1, running means +-0.1, running variances in [0.5, 1.5]
(non-trivial statistics, so a model that ignores them is caught), counters 0.
"""
from __future__ import annotations

import hashlib

import numpy as np

__all__ = ['reference_tensor', 'reference_state', 'strip_pretrained', 'set_dotted']


def _uniform(seed: int, name: str, shape: tuple[int, ...]) -> np.ndarray:
    digest = hashlib.sha256(f'{seed}:{name}'.encode()).digest()
    rng = np.random.Generator(np.random.PCG64(int.from_bytes(digest[:16], 'little')))
    return rng.random(int(np.prod(shape, dtype=np.int64)), dtype=np.float64).reshape(shape)  # [0, 1)


def reference_tensor(seed: int, name: str, shape: tuple[int, ...], *, norm: bool = False) -> np.ndarray:
    """The stand-in value of parameter / buffer ``name`` of ``shape`` (float32; int64 zeros for counters).
    ``norm``: the tensor belongs to a normalisation layer (its weight is a scale around 1)."""
    shape = tuple(int(s) for s in shape)
    leaf = name.rsplit('.', 1)[-1]
    if leaf == 'num_batches_tracked':
        return np.zeros(shape, dtype=np.int64)
    u = _uniform(seed, name, shape)
    if leaf == 'running_var':
        out = 0.5 + u
    elif leaf == 'running_mean':
        out = (u - 0.5) * 0.2
    elif (norm and leaf == 'weight') or len(shape) == 0:  # a norm's scale, or a learnt scalar (FCOS's Scale)
        out = 0.5 + u
    elif leaf == 'bias' or len(shape) <= 1:
        out = (u - 0.5) * 0.2
    else:
        fan_in = int(np.prod(shape[1:]))
        out = (u * 2 - 1) * np.sqrt(3.0 / max(fan_in, 1))
    return np.asarray(out, dtype=np.float32)


def reference_state(seed: int, names_shapes: list[tuple[str, tuple[int, ...]]], norm_names: set[str]) -> dict:
    """``{name: ndarray}`` for every ``(name, shape)``; ``norm_names``: the names of normalisation-layer tensors."""
    return {name: reference_tensor(seed, name, shape, norm=name in norm_names) for name, shape in names_shapes}


def strip_pretrained(node) -> None:
    """Drop ``init_cfg=dict(type='Pretrained', ...)`` everywhere in a model config, in place (no downloads): the
    stand-in weights replace every tensor anyway. Shared by the generator, the parity test and the benchmarks."""
    if isinstance(node, dict):
        for k in list(node):
            if k == 'init_cfg' and isinstance(node[k], dict) and node[k].get('type') == 'Pretrained':
                node[k] = None
            else:
                strip_pretrained(node[k])
    elif isinstance(node, list):
        for v in node:
            strip_pretrained(v)


def set_dotted(cfg, key: str, value) -> None:
    """``cfg['a']['b'] = value`` for ``key='a.b'`` (an upstream Config or a dict), in place."""
    node = cfg
    parts = key.split('.')
    for p in parts[:-1]:
        node = node[p]
    node[parts[-1]] = value
