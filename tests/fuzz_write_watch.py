"""Which files an audit event writes: shared by the fuzz test's in-process watch (fuzz_entry_points_lib) and the
``sitecustomize`` it gives its subprocesses, so both watch the same events the same way. Imports only ``os``."""
from __future__ import annotations

import os

_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND
WRITE_EVENTS = {'os.mkdir', 'os.rename', 'os.remove', 'os.rmdir', 'os.link', 'os.symlink', 'os.truncate',
                'os.chmod', 'os.chown', 'os.utime', 'shutil.rmtree', 'shutil.copyfile', 'shutil.move',
                'os.mkfifo', 'os.mknod'}


def written_paths(event: str, args: tuple) -> list[str]:
    """The absolute paths audit event ``event`` (with ``args``) writes or changes; ``.pyc`` caches left out."""
    if event == 'open':
        path, mode, flags = (tuple(args) + (None, None))[:3]
        writing = (isinstance(mode, str) and any(c in mode for c in 'wax+')) or \
            (mode is None and isinstance(flags, int) and flags & _WRITE_FLAGS)
        paths = [path] if writing else []
    elif event in ('os.link', 'os.symlink', 'shutil.copyfile'):
        paths = list(args[1:2])  # the new name
    elif event in ('os.rename', 'shutil.move'):
        paths = list(args[:2])
    elif event in WRITE_EVENTS:
        paths = list(args[:1])
    else:
        return []
    out = []
    for p in paths:
        if isinstance(p, int) or p is None:
            continue
        try:
            full = os.path.abspath(os.fsdecode(p))
        except (TypeError, ValueError):
            continue
        if f'{os.sep}__pycache__{os.sep}' not in full:
            out.append(full)
    return out
