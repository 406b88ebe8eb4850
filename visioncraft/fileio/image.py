"""Image files in and out, one reader for training and inference.

* :func:`imread` / :func:`imdecode`: ``cv2.imread`` / ``cv2.imdecode`` that return None, instead of raising or of
  returning a half-decoded picture, for anything that is not a whole image: a missing file, a folder, 0 bytes,
  a JPEG or PNG cut short (libjpeg fills the missing rows with grey and only prints "Premature end of JPEG file"),
  a header claiming more pixels than :func:`max_image_pixels` (checked from the header, before decoding), or
  bytes OpenCV does not decode. :func:`unreadable_image_reason` says which, for the error message.
* :func:`read_image`: a path or an array -> an H x W x 3 uint8 BGR array, with errors naming the caller and the file.
* :func:`imwrite`: ``cv2.imwrite``, checked.

The pixel limit is ``VISIONCRAFT_MAX_IMAGE_PIXELS`` from the environment (default 2**28, a 16384 x 16384
picture), or :func:`set_max_image_pixels`.
"""
from __future__ import annotations

import io
import os
import threading
import warnings
from pathlib import Path
from typing import Union

import cv2
import numpy as np
from PIL import Image

from ..errors import ImageReadError

__all__ = ['ImageInput', 'read_image', 'imread', 'imdecode', 'imwrite', 'unreadable_image_reason',
           'max_image_pixels', 'set_max_image_pixels', 'DEFAULT_MAX_IMAGE_PIXELS']

#: what the inference API takes as an image: a file path or an H x W x 3 uint8 BGR array
ImageInput = Union[str, os.PathLike, np.ndarray]

#: the default pixel limit (width x height): a 16384 x 16384 picture
DEFAULT_MAX_IMAGE_PIXELS = 2 ** 28
_ENV = 'VISIONCRAFT_MAX_IMAGE_PIXELS'
_max_pixels: int | None = None
_PIL_LIMIT_LOCK = threading.Lock()
_TAIL = 4096  # bytes read from the end of a file to find its end-of-image marker
_JPEG_SOI, _JPEG_EOI = b'\xff\xd8', b'\xff\xd9'
_PNG_SIGNATURE, _PNG_IEND = b'\x89PNG\r\n\x1a\n', b'IEND'


def max_image_pixels() -> int:
    """The largest width x height an image may claim: :func:`set_max_image_pixels`, else the environment's
    ``VISIONCRAFT_MAX_IMAGE_PIXELS``, else :data:`DEFAULT_MAX_IMAGE_PIXELS`."""
    if _max_pixels is not None:
        return _max_pixels
    value = os.environ.get(_ENV)
    if value is None or not value.strip():
        return DEFAULT_MAX_IMAGE_PIXELS
    try:
        n = int(value)
    except ValueError:
        raise ValueError(f'{_ENV}={value!r} must be a positive whole number of pixels') from None
    if n <= 0:
        raise ValueError(f'{_ENV}={value!r} must be a positive whole number of pixels')
    return n


def set_max_image_pixels(n: int | None) -> None:
    """Set the pixel limit for this process (None: back to the environment / default)."""
    global _max_pixels
    if n is not None and (isinstance(n, bool) or not isinstance(n, int) or n <= 0):
        raise ValueError(f'set_max_image_pixels: the limit must be a positive int, got {n!r}')
    _max_pixels = n


def _header_size(source: str | bytes) -> tuple[int, int] | None:
    """(width, height) from the image header (Pillow reads only the header), None when Pillow does not know
    the format. Pillow's own decompression-bomb check is off here: the limit is ours."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter('ignore', Image.DecompressionBombWarning)
            fp = io.BytesIO(source) if isinstance(source, bytes) else source
            with Image.open(fp) as im:
                return im.size
    except Image.DecompressionBombError:
        # over Pillow's own limit: read the header again without it (rare; the lock keeps the switch private)
        with _PIL_LIMIT_LOCK:
            saved, Image.MAX_IMAGE_PIXELS = Image.MAX_IMAGE_PIXELS, None
            try:
                fp = io.BytesIO(source) if isinstance(source, bytes) else source
                with Image.open(fp) as im:
                    return im.size
            except Exception:  # noqa: BLE001
                return None
            finally:
                Image.MAX_IMAGE_PIXELS = saved
    except Exception:  # noqa: BLE001 - not a format Pillow knows, or a broken header: OpenCV decides
        return None


def _truncation(head: bytes, tail: bytes) -> str | None:
    """Why a JPEG or PNG whose first and last bytes are ``head`` / ``tail`` is cut short, or None."""
    if head.startswith(_JPEG_SOI):
        # entropy-coded data never holds FF D9 (0xFF is stuffed as FF 00), so a whole JPEG has its EOI marker
        # near the end (some writers pad a few bytes after it)
        if _JPEG_EOI not in tail:
            return 'is truncated (the JPEG data ends before its end-of-image marker)'
    elif head.startswith(_PNG_SIGNATURE):
        if _PNG_IEND not in tail[-64:]:
            return 'is truncated (the PNG data ends before its IEND chunk)'
    return None


def _problem(source: str | bytes) -> str | None:
    """Why ``source`` (a file path or encoded bytes) must not be decoded: over the pixel limit or truncated."""
    if isinstance(source, bytes):
        head, tail = source[:16], source[-_TAIL:]
    else:
        with open(source, 'rb') as f:
            head = f.read(16)
            size = f.seek(0, os.SEEK_END)
            f.seek(max(0, size - _TAIL))
            tail = f.read()
    size = _header_size(source)
    if size is not None:
        limit = max_image_pixels()
        if size[0] * size[1] > limit:
            return (f'claims {size[0]} x {size[1]} pixels in its header, over the limit of {limit} '
                    f'({_ENV}); a corrupt header or an image too large to read')
    return _truncation(head, tail)


def _flag(flag: int | None) -> int:
    return cv2.IMREAD_COLOR if flag is None else flag


def imread(path, flag: int | None = None) -> np.ndarray | None:
    """``cv2.imread(path, flag)`` (default ``IMREAD_COLOR``), or None for anything that is not a whole, decodable
    image of at most :func:`max_image_pixels` pixels (see the module docstring); :func:`unreadable_image_reason`
    says why."""
    path = str(path)
    if not os.path.isfile(path):
        return None
    try:  # the file is read once: the checks and the decoding work on the same bytes
        with open(path, 'rb') as f:
            data = f.read()
    except OSError:
        return None
    return imdecode(data, flag)


def imdecode(data: bytes, flag: int | None = None) -> np.ndarray | None:
    """``cv2.imdecode`` of encoded bytes, or None for empty, truncated, over-limit or undecodable bytes (see
    :func:`imread`)."""
    if not data:
        return None
    data = bytes(data)
    try:
        if _problem(data) is not None:
            return None
        return cv2.imdecode(np.frombuffer(data, np.uint8), _flag(flag))
    except cv2.error:
        return None


def unreadable_image_reason(source) -> str:
    """Why :func:`imread` (a path) or :func:`imdecode` (bytes) got nothing: 'does not exist', 'is a folder, not an
    image file', 'is empty (0 bytes)', 'claims W x H pixels in its header, over the limit ...', 'is truncated
    (...)', 'could not be decoded by OpenCV (...)' or 'is not a readable image (...)'."""
    if isinstance(source, (bytes, bytearray, memoryview)):
        data = bytes(source)
        if not data:
            return 'is empty (0 bytes)'
        why = _problem(data)
        if why:
            return why
        return 'is not a readable image (corrupt, or not an image format OpenCV decodes)'
    path = str(source)
    if not os.path.exists(path):
        return 'does not exist'
    if os.path.isdir(path):
        return 'is a folder, not an image file'
    try:
        if os.path.getsize(path) == 0:
            return 'is empty (0 bytes)'
        why = _problem(path)
        if why:
            return why
        cv2.imread(path, cv2.IMREAD_UNCHANGED)
    except cv2.error as exc:
        if 'CV_IO_MAX_IMAGE_PIXELS' in str(exc) or 'validateInputImageSize' in str(exc):
            return ('claims more pixels in its header than OpenCV decodes (CV_IO_MAX_IMAGE_PIXELS); a corrupt header '
                    'or an image too large to read')
        return f'could not be decoded by OpenCV ({str(exc).strip().splitlines()[-1][:200]})'
    except OSError as exc:
        return f'could not be read ({exc})'
    return 'is not a readable image (corrupt, or not an image format OpenCV decodes)'


def imwrite(path, img: np.ndarray, who: str = 'imwrite') -> None:
    """``cv2.imwrite``, checked: an extension OpenCV writes no image format for, or a write that fails, is an
    OSError naming ``who`` and the file (the folder is made first, when the extension is fine)."""
    path = str(path)
    if not cv2.haveImageWriter(path):
        raise OSError(f'{who}: cannot write {path}: {os.path.splitext(path)[1] or "no extension"!r} is not an image '
                      'format OpenCV writes (use .png or .jpg)')
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    try:
        ok = cv2.imwrite(path, img)
    except cv2.error as exc:
        raise OSError(f'{who}: could not write {path}: {str(exc).strip().splitlines()[-1]}') from None
    if not ok:
        raise OSError(f'{who}: could not write {path} (is the folder writable?)')


def read_image(img: ImageInput, who: str) -> tuple[np.ndarray, str | None]:
    """``(H x W x 3 uint8 BGR image, its path or None)`` from a path or an array (grey is made BGR); a bad input
    is an error naming ``who`` and the file."""
    if isinstance(img, np.ndarray):
        if img.ndim == 2:
            img = cv2.cvtColor(img, cv2.COLOR_GRAY2BGR)
        if img.ndim != 3 or img.shape[2] != 3 or img.dtype != np.uint8:
            raise TypeError(f'{who}: the image must be an H x W x 3 uint8 BGR array, got {img.dtype} {img.shape}')
        return img, None
    if not isinstance(img, (str, os.PathLike)):
        raise TypeError(f'{who}: the image must be a path or a numpy array, got {type(img).__name__}')
    if not Path(img).exists():
        raise FileNotFoundError(f'{who}: image file not found: {img}')
    arr = imread(img, cv2.IMREAD_COLOR)
    if arr is None:
        raise ImageReadError(f'{who}: could not read image {img}: it {unreadable_image_reason(img)}')
    return arr, str(img)
