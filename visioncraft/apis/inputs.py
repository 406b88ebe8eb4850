"""What a path given to an inferencer or a command names: an image, a folder of images, a video or the webcam, and
the images it holds.

* :func:`input_kind`: ``'webcam'``, ``'video'`` (by extension, :data:`VIDEO_EXTENSIONS`), ``'folder'``, ``'image'``
  or ``'images'`` (arrays, a list).
* :func:`list_images`: a file itself, or the images directly inside a folder (sorted, by
  :data:`~visioncraft.data.loading.IMG_EXTENSIONS`).
* :func:`image_items`: ``(image source, output name)`` pairs for image-like inputs (a file, a folder, arrays or a
  list of them).
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from visioncraft.data.loading import IMG_EXTENSIONS

__all__ = ['VIDEO_EXTENSIONS', 'input_kind', 'list_images', 'image_items']

#: file name endings (lower case) taken for videos
VIDEO_EXTENSIONS = ('.mp4', '.avi', '.mov', '.mkv', '.m4v', '.webm', '.mpg', '.mpeg')


def input_kind(inputs: Any) -> str:
    """``'webcam'``, ``'video'`` (by extension), ``'folder'``, ``'image'`` (a path) or ``'images'`` (arrays,
    a list)."""
    if isinstance(inputs, str) and inputs == 'webcam':
        return 'webcam'
    if isinstance(inputs, (str, os.PathLike)):
        p = Path(inputs)
        if p.is_dir():
            return 'folder'
        if p.suffix.lower() in VIDEO_EXTENSIONS:
            return 'video'
        return 'image'
    return 'images'


def list_images(path: str | os.PathLike, who: str | None = None) -> list[Path]:
    """``path`` itself when it is a file, else the images directly inside the folder (sorted). FileNotFoundError
    (its message starting with ``who:`` when given) for a missing path or a folder without images."""
    prefix = f'{who}: ' if who else ''
    p = Path(path)
    if p.is_file():
        return [p]
    if not p.is_dir():
        raise FileNotFoundError(f'{prefix}image file or folder not found: {p}')
    files = sorted(f for f in p.iterdir() if f.is_file() and f.suffix.lower() in IMG_EXTENSIONS)
    if not files:
        raise FileNotFoundError(f'{prefix}no images ({", ".join(IMG_EXTENSIONS)}) in folder {p}')
    return files


def image_items(inputs: Any, who: str) -> list[tuple[Any, str]]:
    """(image source, output name) for image-like inputs (an image file, a folder, an array, or a list of image
    files / arrays; an array is named ``<index:08d>.jpg``), in order; FileNotFoundError naming ``who`` for a missing
    one."""
    kind = input_kind(inputs)
    if kind == 'folder':
        return [(p, p.name) for p in list_images(inputs, who)]
    if kind == 'image':
        if not Path(inputs).is_file():
            raise FileNotFoundError(f'{who}: input not found: {inputs} (an image, a folder, a video '
                                    "file or 'webcam')")
        return [(inputs, Path(inputs).name)]
    items = list(inputs) if isinstance(inputs, (list, tuple)) else [inputs]
    out = []
    for i, item in enumerate(items):
        if isinstance(item, np.ndarray):
            out.append((item, f'{i:08d}.jpg'))
        elif isinstance(item, (str, os.PathLike)) and Path(item).is_file():
            out.append((item, Path(item).name))
        else:
            raise FileNotFoundError(f'{who}: input {i} is neither an image array nor an image file: '
                                    f'{item!r}')
    return out
