"""Files VisionCraft ships besides its code (``configs/...``), found the same way in a source checkout and in an
installed package.

A source checkout (or an editable install) has them at the repository root, next to the ``visioncraft/`` folder; a
built wheel carries them as package data under ``visioncraft/.mim/`` (the ``.mim/**/*`` of pyproject.toml's
``package-data``, OpenMMLab's layout). :func:`find_package_file` looks in both, the package's own data first, and says
where it looked when the file is in neither.
"""
from __future__ import annotations

import os
from pathlib import Path

__all__ = ['PACKAGE_DATA_DIR', 'SOURCE_ROOT', 'package_data_roots', 'find_package_file']

#: the package's own data: ``visioncraft/.mim/`` (``configs/...`` inside it in an installed wheel)
PACKAGE_DATA_DIR = Path(__file__).resolve().parents[1] / '.mim'
#: the folder that holds the ``visioncraft/`` package: the repository root in a source checkout
SOURCE_ROOT = Path(__file__).resolve().parents[2]


def package_data_roots() -> tuple[Path, ...]:
    """The folders shipped files are looked up in, in order: the package's own data, then the source checkout."""
    return (PACKAGE_DATA_DIR, SOURCE_ROOT)


def find_package_file(*candidates: str | os.PathLike) -> Path:
    """The first of ``candidates`` (paths relative to the repository root, e.g.
    ``'configs/body_2d_keypoint/rtmpose/coco/rtmpose-s_8xb256-420e_coco-256x192.py'``) that is a file under one of
    :func:`package_data_roots`; each candidate is looked for in every root before the next candidate.

    Raises:
        FileNotFoundError: none is there; the message lists every path looked at.
    """
    if not candidates:
        raise ValueError('find_package_file: give at least one path')
    roots = package_data_roots()
    for rel in candidates:
        for root in roots:
            path = root / rel
            if path.is_file():
                return path
    looked = ', '.join(str(root / rel) for rel in candidates for root in roots)
    raise FileNotFoundError(f'{", ".join(str(c) for c in candidates)}: not found in the package data '
                            f'({PACKAGE_DATA_DIR}) or the source checkout ({SOURCE_ROOT}); looked for {looked}')
