"""Datasets the package generates itself, deterministically, for demos and tests."""
from __future__ import annotations

import contextvars
import logging
import os
import shutil
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, TypeVar

__all__ = ['materialize', 'GenerationProgress', 'generated']

_T = TypeVar('_T')
_logger = logging.getLogger('visioncraft')


class GenerationProgress:
    """Log lines while a dataset is generated (up to a minute for the demos' datasets, which used to be silent):
    one when it starts (what, how many images, where), one every ``every_s`` seconds with the count done, and one
    at the end with the time taken. Plain log lines, not a progress bar: they read the same in a terminal, a log
    file and a Slurm job's output."""

    def __init__(self, what: str, total: int, *, every_s: float = 5.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.what, self.total, self.every_s, self.clock = what, int(total), float(every_s), clock
        self.done = 0
        self.start = self.last = clock()
        _logger.info(f'generating {what}: {self.total} images (once; later runs reuse them)')

    def step(self, n: int = 1) -> None:
        self.done += n
        now = self.clock()
        if now - self.last >= self.every_s and self.done < self.total:
            self.last = now
            _logger.info(f'generating {self.what}: {self.done}/{self.total} images '
                         f'({100 * self.done // max(self.total, 1)} %)')

    def finish(self) -> None:
        _logger.info(f'generated {self.what}: {self.done} images in {self.clock() - self.start:.1f} s')


# the generation under way in this thread (materialize sets it; the generators' loops tick it)
_current: contextvars.ContextVar[GenerationProgress | None] = contextvars.ContextVar('vc_generation', default=None)


def generated(items: Iterable[_T]) -> Iterator[_T]:
    """``items`` as they are, ticking the progress of the generation under way once per item (each item is one
    image written); a plain pass-through outside :func:`materialize`."""
    for item in items:
        yield item
        progress = _current.get()
        if progress is not None:
            progress.step()


def materialize(root: str | os.PathLike, settings: dict[str, Any],
                stored_settings: Callable[[Path], dict | None], write: Callable[[Path], None]) -> Path:
    """Make sure ``root`` holds a generated dataset made with ``settings``; return ``root``.

    ``stored_settings(folder)`` reads the settings a finished folder was made with (None when there is
    no readable dataset); ``write(folder)`` generates into an empty ``folder``. A folder made with the
    same settings is reused; one made with others is replaced. Writing goes to a private temporary
    folder that is renamed into place, so concurrent callers (the ranks of a distributed run) never see
    a half-written dataset: the first rename wins and the others discard their copy.
    """
    root = Path(root)
    found = stored_settings(root) if root.exists() else None
    if found == settings:
        return root
    if root.exists():
        _logger.info(f'{root} was generated with {found}; regenerating it with {settings}')
    tmp = root.parent / f'.{root.name}.tmp-{uuid.uuid4().hex[:8]}'
    total = sum(int(v) for k, v in settings.items() if k.startswith('num_') and isinstance(v, int))
    progress = GenerationProgress(str(root), total)
    token = _current.set(progress)
    try:
        tmp.mkdir(parents=True)
        write(tmp)
        progress.finish()
        if root.exists():  # stale: move it aside first, so the new one appears in one rename
            old = root.parent / f'.{root.name}.old-{uuid.uuid4().hex[:8]}'
            try:
                os.rename(root, old)
                shutil.rmtree(old, ignore_errors=True)
            except OSError:
                pass  # another process replaced it already
        try:
            os.rename(tmp, root)
        except OSError:
            if stored_settings(root) != settings:
                raise
    finally:
        _current.reset(token)
        shutil.rmtree(tmp, ignore_errors=True)
    return root
