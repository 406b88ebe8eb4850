"""``backend_args``: MMEngine's file-backend settings, which MMDetection 3.x, MMPose 1.x and MMOCR 1.x configs pass to
their loaders, datasets, metrics and hooks (``backend_args = None`` in most files, ``dict(backend='local')`` in
MMPose's runtime).

VisionCraft reads local files only, so the local backend is honoured (it is what reading does anyway) and every other
backend (``petrel``, ``memcached``, ``lmdb``, ``http``...) is an error naming it, rather than a setting that is
silently ignored.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ['LOCAL_BACKENDS', 'check_backend_args']

#: backend names meaning "the local file system": MMEngine's ``local`` and MMCV 1.x's ``disk`` (``file_client_args``)
LOCAL_BACKENDS = ('local', 'disk')


def check_backend_args(backend_args: Any, owner: str, key: str = 'backend_args') -> None:
    """Accept ``None`` / ``{}`` / ``dict(backend='local')``; raise ValueError naming ``owner`` (the class or key path)
    for anything else."""
    if backend_args is None:
        return
    if not isinstance(backend_args, Mapping):
        raise ValueError(f'{owner}: {key} must be None or a dict such as dict(backend=\'local\'), '
                         f'got {type(backend_args).__name__} {backend_args!r}')
    backend = backend_args.get('backend', 'local')
    if backend not in LOCAL_BACKENDS:
        raise ValueError(f'{owner}: {key}={dict(backend_args)!r} names the {backend!r} file backend; VisionCraft '
                         "reads local files only: set backend_args=None (or dict(backend='local')) and copy or "
                         'mount the data locally')
    others = sorted(k for k in backend_args if k != 'backend')
    if others:
        raise ValueError(f'{owner}: {key} has {others} besides backend={backend!r}; the local backend takes no '
                         'other settings: remove them')
