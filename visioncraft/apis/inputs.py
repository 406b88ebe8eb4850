"""What an inferencer's ``inputs`` name, and the images they hold: the one place the inferencers
(:class:`~visioncraft.apis.base_inferencer.BaseInferencer` and its task subclasses) and the commands read inputs.

* :func:`input_kind`: ``'webcam'`` (the string ``'webcam'`` or a camera index), ``'video'`` (a file, or a stream
  URL, by extension: :data:`VIDEO_EXTENSIONS`; ``rtsp://`` streams), ``'folder'``, ``'glob'`` (a pattern such as
  ``imgs/*.jpg``), ``'url'`` (an ``http(s)://`` image), ``'image'`` (a path) or ``'images'`` (arrays, a list).
* :func:`list_images`: a file itself, or the images directly inside a folder (sorted, by
  :data:`~visioncraft.data.loading.IMG_EXTENSIONS`).
* :func:`image_items`: ``(image source, output name)`` pairs for image-like inputs (a file, a folder, a glob, a URL,
  arrays or a list of them), checked before any model runs; :func:`load_image` reads one source.
* :func:`read_url_image`: download and decode an ``http(s)://`` image.

Images are H x W x 3 uint8 BGR numpy arrays (OpenCV order) everywhere.
"""
from __future__ import annotations

import glob
import os
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import numpy as np

from visioncraft.data.loading import IMG_EXTENSIONS
from visioncraft.errors import ImageReadError
from visioncraft.fileio.image import imdecode, read_image, unreadable_image_reason

__all__ = ['VIDEO_EXTENSIONS', 'URL_SCHEMES', 'is_url', 'input_kind', 'list_images', 'image_items', 'load_image',
           'read_url_image', 'camera_index']

#: file name endings (lower case) taken for videos
VIDEO_EXTENSIONS = ('.mp4', '.avi', '.mov', '.mkv', '.m4v', '.webm', '.mpg', '.mpeg')
#: what an image URL starts with
URL_SCHEMES = ('http://', 'https://')
_STREAM_SCHEMES = ('rtsp://', 'rtmp://')
_GLOB_CHARS = ('*', '?', '[')
#: seconds a URL download may wait for the server
URL_TIMEOUT_S = 30.0


def is_url(value: Any) -> bool:
    """Whether ``value`` is an ``http://`` or ``https://`` string."""
    return isinstance(value, str) and value.lower().startswith(URL_SCHEMES)


def _url_suffix(url: str) -> str:
    return Path(urllib.parse.urlparse(url).path).suffix.lower()


def camera_index(inputs: Any) -> int | None:
    """The camera ``inputs`` names: 0 for ``'webcam'``, the index for an int (or a digit string such as ``'1'`` that
    is no file); None otherwise."""
    if isinstance(inputs, bool):
        return None
    if isinstance(inputs, int):
        return inputs
    if isinstance(inputs, str):
        if inputs == 'webcam':
            return 0
        if inputs.isdigit() and not Path(inputs).exists():
            return int(inputs)
    return None


def input_kind(inputs: Any) -> str:
    """``'webcam'``, ``'video'`` (by extension, or an ``rtsp://`` stream), ``'folder'``, ``'glob'``, ``'url'``,
    ``'image'`` (a path) or ``'images'`` (arrays, a list)."""
    if camera_index(inputs) is not None:
        return 'webcam'
    if isinstance(inputs, str) and inputs.lower().startswith(_STREAM_SCHEMES):
        return 'video'
    if is_url(inputs):
        return 'video' if _url_suffix(inputs) in VIDEO_EXTENSIONS else 'url'
    if isinstance(inputs, (str, os.PathLike)):
        p = Path(inputs)
        if p.is_dir():
            return 'folder'
        if not p.exists() and any(c in str(inputs) for c in _GLOB_CHARS):
            return 'glob'
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


def _glob_images(pattern: str, who: str) -> list[Path]:
    files = sorted(Path(f) for f in glob.glob(pattern, recursive=True)
                   if Path(f).is_file() and Path(f).suffix.lower() in IMG_EXTENSIONS)
    if not files:
        raise FileNotFoundError(f'{who}: no images ({", ".join(IMG_EXTENSIONS)}) match the pattern {pattern}')
    return files


def _url_name(url: str, i: int) -> str:
    name = Path(urllib.parse.urlparse(url).path).name
    return name if Path(name).suffix.lower() in IMG_EXTENSIONS else f'url_{i:08d}.jpg'


def image_items(inputs: Any, who: str, array_name: str = '{:08d}.jpg') -> list[tuple[Any, str]]:
    """(image source, output name) for image-like inputs, in order: an image file, a folder, a glob pattern, an
    ``http(s)://`` URL, an array, or a list of image files / URLs / arrays. An array is named ``array_name`` with its
    index (``00000000.jpg``), a URL by the file name of its path. FileNotFoundError naming ``who`` for a missing
    file; nothing is read or downloaded here (:func:`load_image` does that)."""
    kind = input_kind(inputs)
    if kind == 'folder':
        return [(p, p.name) for p in list_images(inputs, who)]
    if kind == 'glob':
        return [(p, p.name) for p in _glob_images(str(inputs), who)]
    if kind == 'url':
        return [(inputs, _url_name(inputs, 0))]
    if kind == 'image':
        if not Path(inputs).is_file():
            raise FileNotFoundError(f'{who}: input not found: {inputs} (an image, a folder, a glob pattern, a URL, '
                                    "a video file or 'webcam')")
        return [(inputs, Path(inputs).name)]
    if kind in ('video', 'webcam'):
        raise ValueError(f'{who}: {inputs!r} is a {kind}, not an image')
    items = list(inputs) if isinstance(inputs, (list, tuple)) else [inputs]
    out = []
    for i, item in enumerate(items):
        if isinstance(item, np.ndarray):
            out.append((item, array_name.format(i)))
        elif is_url(item):
            out.append((item, _url_name(item, i)))
        elif isinstance(item, (str, os.PathLike)) and Path(item).is_file():
            out.append((item, Path(item).name))
        else:
            raise FileNotFoundError(f'{who}: input {i} is neither an image array, an image file nor a URL: '
                                    f'{item!r:.200}')
    return out


def read_url_image(url: str, who: str, timeout: float = URL_TIMEOUT_S) -> np.ndarray:
    """Download ``url`` (``http(s)://``) and decode it: H x W x 3 uint8 BGR. An ImageReadError naming ``who`` and
    the URL when the server cannot be reached, answers with an error status, or sends no decodable image."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 (http(s) only: is_url)
            data = response.read()
    except urllib.error.HTTPError as exc:
        raise ImageReadError(f'{who}: could not download image {url}: HTTP {exc.code} {exc.reason}') from None
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, 'reason', exc)
        raise ImageReadError(f'{who}: could not download image {url}: {reason}') from None
    img = imdecode(data)
    if img is None:
        raise ImageReadError(f'{who}: could not read image {url}: the download {unreadable_image_reason(data)}')
    return img


def load_image(source: Any, who: str) -> tuple[np.ndarray, str | None]:
    """``(H x W x 3 uint8 BGR image, its path or URL, None for an array)`` of one source of :func:`image_items`; a
    bad one is an error naming ``who`` and the file or URL."""
    if is_url(source):
        return read_url_image(source, who), source
    return read_image(source, who)
