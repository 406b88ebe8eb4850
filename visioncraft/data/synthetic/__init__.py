"""Datasets the package generates itself, deterministically, for demos and tests."""
from __future__ import annotations

import logging
import os
import shutil
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

__all__ = ['materialize']


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
        logging.getLogger('visioncraft').info(f'{root} was generated with {found}; regenerating it with {settings}')
    tmp = root.parent / f'.{root.name}.tmp-{uuid.uuid4().hex[:8]}'
    try:
        tmp.mkdir(parents=True)
        write(tmp)
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
        shutil.rmtree(tmp, ignore_errors=True)
    return root
