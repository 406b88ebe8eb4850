"""Process-group set-up for every launcher, and the few collectives the engine needs.

Launchers:
    ``none``     one process.
    ``pytorch``  torchrun / torch.distributed.launch: RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR, MASTER_PORT.
    ``slurm``    srun: SLURM_PROCID, SLURM_NTASKS, SLURM_LOCALID, SLURM_NODELIST (MASTER_ADDR is the first
                 node of the list); the port is PORT, else MASTER_PORT, else 29500.
    ``mpi``      mpirun (Open MPI): OMPI_COMM_WORLD_RANK / _SIZE / _LOCAL_RANK; MASTER_ADDR must be set
                 (or defaults to 127.0.0.1 for a single node).

The backend is NCCL when CUDA is available and gloo otherwise.
"""
from __future__ import annotations

import datetime
import os
import re
import subprocess
from typing import Any

import torch
import torch.distributed as torch_dist

__all__ = [
    'init_dist', 'env_for_launcher', 'is_distributed', 'get_dist_info', 'get_rank', 'get_world_size',
    'get_local_rank', 'is_main_process', 'barrier', 'all_gather_object', 'broadcast_object',
    'sync_random_seed', 'all_reduce_mean', 'any_rank', 'master_only', 'destroy_dist',
]

LAUNCHERS = ('none', 'pytorch', 'slurm', 'mpi')


def _first_slurm_host(nodelist: str) -> str:
    """First host of a SLURM node list ('node[01-03,07],gpu5' -> 'node01'), via scontrol when present."""
    try:
        out = subprocess.run(['scontrol', 'show', 'hostnames', nodelist], capture_output=True, text=True,
                             timeout=20, check=True).stdout.split()
        if out:
            return out[0]
    except (OSError, subprocess.SubprocessError):
        pass
    first = re.split(r',(?![^\[]*\])', nodelist.strip())[0]
    m = re.match(r'^(.*?)\[([^\]]+)\](.*)$', first)
    if not m:
        return first
    prefix, ranges, suffix = m.groups()
    lo = ranges.split(',')[0].split('-')[0]
    return f'{prefix}{lo}{suffix}'


def env_for_launcher(launcher: str, environ: dict[str, str] | None = None) -> dict[str, str]:
    """The torch.distributed environment (RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR, MASTER_PORT)
    that a launcher implies, derived from its own variables. Pure: reads ``environ``, changes nothing."""
    env = dict(os.environ if environ is None else environ)
    if launcher == 'pytorch':
        missing = [k for k in ('RANK', 'WORLD_SIZE') if k not in env]
        if missing:
            raise RuntimeError(f'--launcher pytorch needs {", ".join(missing)} in the environment: '
                               'start the job with torchrun (tools/dist_train.sh does)')
        out = {k: env[k] for k in ('RANK', 'WORLD_SIZE')}
        out['LOCAL_RANK'] = env.get('LOCAL_RANK', '0')
        out['MASTER_ADDR'] = env.get('MASTER_ADDR', '127.0.0.1')
        out['MASTER_PORT'] = env.get('MASTER_PORT', '29500')
        return out
    if launcher == 'slurm':
        missing = [k for k in ('SLURM_PROCID', 'SLURM_NTASKS', 'SLURM_NODELIST') if k not in env]
        if missing:
            raise RuntimeError(f'--launcher slurm needs {", ".join(missing)}: start the job with srun '
                               '(tools/slurm_train.sh does)')
        port = env.get('PORT') or env.get('MASTER_PORT') or '29500'
        return {
            'RANK': env['SLURM_PROCID'], 'WORLD_SIZE': env['SLURM_NTASKS'],
            'LOCAL_RANK': env.get('SLURM_LOCALID', '0'),
            'MASTER_ADDR': env.get('MASTER_ADDR') or _first_slurm_host(env['SLURM_NODELIST']),
            'MASTER_PORT': str(port),
        }
    if launcher == 'mpi':
        missing = [k for k in ('OMPI_COMM_WORLD_RANK', 'OMPI_COMM_WORLD_SIZE') if k not in env]
        if missing:
            raise RuntimeError(f'--launcher mpi needs {", ".join(missing)}: start the job with Open MPI mpirun')
        return {
            'RANK': env['OMPI_COMM_WORLD_RANK'], 'WORLD_SIZE': env['OMPI_COMM_WORLD_SIZE'],
            'LOCAL_RANK': env.get('OMPI_COMM_WORLD_LOCAL_RANK', '0'),
            'MASTER_ADDR': env.get('MASTER_ADDR', '127.0.0.1'),
            'MASTER_PORT': env.get('PORT') or env.get('MASTER_PORT') or '29500',
        }
    raise ValueError(f'unknown launcher {launcher!r}; choose one of {", ".join(LAUNCHERS)}')


def init_dist(launcher: str, backend: str | None = None, timeout_s: int = 1800) -> None:
    """Join the process group for ``launcher`` (no-op for ``none`` or when already joined)."""
    if launcher == 'none' or is_distributed():
        return
    os.environ.update(env_for_launcher(launcher))
    local_rank = int(os.environ['LOCAL_RANK'])
    if backend is None:
        backend = 'nccl' if torch.cuda.is_available() else 'gloo'
    if backend == 'nccl':
        torch.cuda.set_device(local_rank % max(torch.cuda.device_count(), 1))
    torch_dist.init_process_group(backend=backend, timeout=datetime.timedelta(seconds=timeout_s))


def destroy_dist(*, wait: bool = True) -> None:
    """Leave the process group. With ``wait``, first wait for every rank, so no process exits while
    another still talks to it. Letting interpreter shutdown tear the group down instead can abort a
    process ("terminate called without an active exception") and fail a run that had succeeded."""
    if is_distributed():
        if wait:
            torch_dist.barrier()
        torch_dist.destroy_process_group()


def is_distributed() -> bool:
    return torch_dist.is_available() and torch_dist.is_initialized()


def get_dist_info() -> tuple[int, int]:
    """(rank, world_size); (0, 1) outside a process group."""
    if is_distributed():
        return torch_dist.get_rank(), torch_dist.get_world_size()
    return 0, 1


def get_rank() -> int:
    return get_dist_info()[0]


def get_world_size() -> int:
    return get_dist_info()[1]


def get_local_rank() -> int:
    return int(os.environ.get('LOCAL_RANK', 0))


def is_main_process() -> bool:
    return get_rank() == 0


def master_only(fn):
    """Decorator: run ``fn`` on rank 0 only (returns None elsewhere)."""
    import functools

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        if is_main_process():
            return fn(*args, **kwargs)
        return None
    return wrapper


def barrier() -> None:
    if is_distributed():
        torch_dist.barrier()


def all_gather_object(obj: Any) -> list[Any]:
    """Every rank's ``obj``, in rank order (``[obj]`` in one process)."""
    if not is_distributed():
        return [obj]
    out: list[Any] = [None] * get_world_size()
    torch_dist.all_gather_object(out, obj)
    return out


def broadcast_object(obj: Any, src: int = 0) -> Any:
    """Rank ``src``'s ``obj`` on every rank."""
    if not is_distributed():
        return obj
    box = [obj]
    torch_dist.broadcast_object_list(box, src=src)
    return box[0]


def sync_random_seed() -> int:
    """A random seed drawn on rank 0 and shared with all ranks (samplers must agree on shuffles)."""
    import numpy as np
    seed = int(np.random.randint(2 ** 31))
    return int(broadcast_object(seed))


def all_reduce_mean(tensor: torch.Tensor) -> torch.Tensor:
    """Mean of ``tensor`` over ranks (a copy; the input is left alone)."""
    if not is_distributed():
        return tensor
    out = tensor.detach().clone()
    torch_dist.all_reduce(out)
    return out / get_world_size()


def any_rank(flag: bool) -> bool:
    """Whether ``flag`` is true on at least one rank (every rank gets the same answer)."""
    if not is_distributed():
        return bool(flag)
    device = torch.device('cuda', torch.cuda.current_device()) if torch_dist.get_backend() == 'nccl' \
        else torch.device('cpu')
    t = torch.tensor([1 if flag else 0], device=device)
    torch_dist.all_reduce(t, op=torch_dist.ReduceOp.MAX)
    return bool(t.item())
