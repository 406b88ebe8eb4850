"""Request bodies into images, with the limits of the server: the one place a client's bytes are read.

A predict request carries one image in one of three ways (:func:`image_bytes`):

* ``multipart/form-data`` with the image in the field ``file`` (an HTML form's file input, ``curl -F file=@a.jpg``);
* the raw bytes with an ``image/*`` (or ``application/octet-stream``) ``Content-Type`` (``curl --data-binary``);
* ``application/json``: ``{"image": "<base64>"}`` (a ``data:image/...;base64,`` prefix is accepted).

:func:`decode_image` turns the bytes into an H x W x 3 uint8 BGR array with
:func:`visioncraft.fileio.image.imdecode` (which refuses truncated JPEG / PNG data), after checking the pixel count
the header claims. Every refusal is a :class:`ClientError` with an HTTP status and a one-line reason; nothing here
touches the server's files.
"""
from __future__ import annotations

import base64
import binascii
import io
import json
import re
import warnings

import numpy as np

__all__ = ['ClientError', 'Limits', 'image_bytes', 'decode_image', 'read_body', 'body_limit']

_RAW_TYPES = ('application/octet-stream',)
_DATA_URL = re.compile(r'^data:[\w.+-]+/[\w.+-]+(;[\w=.+-]+)*;base64,', re.IGNORECASE)
_MULTIPART_SLACK = 64 * 1024  # bytes of a multipart body besides the file (boundaries, headers, small fields)


class ClientError(Exception):
    """A request the server refuses: ``status`` (4xx / 503) and a one-line ``reason``; ``headers`` go with it."""

    def __init__(self, status: int, reason: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(reason)
        self.status = int(status)
        self.reason = ' '.join(str(reason).split())  # one line
        self.headers = dict(headers or {})


class Limits:
    """What one request may send: ``max_bytes`` of image data and ``max_pixels`` (width x height)."""

    def __init__(self, max_bytes: int = 20 * 2 ** 20, max_pixels: int = 40_000_000) -> None:
        if int(max_bytes) < 1 or int(max_pixels) < 1:
            raise ValueError(f'Limits: max_bytes ({max_bytes}) and max_pixels ({max_pixels}) must be >= 1')
        self.max_bytes, self.max_pixels = int(max_bytes), int(max_pixels)

    def too_large(self, n: int) -> ClientError:
        return ClientError(413, f'the image is {n} bytes, over the limit of {self.max_bytes} bytes '
                                f'({self.max_bytes / 2 ** 20:g} MiB, --max-image-mb)')


async def read_body(receive_chunks, content_length: str | None, limit: int, limits: Limits) -> bytes:
    """The request body from the async iterator ``receive_chunks`` (Starlette's ``request.stream()``), refused with
    413 once it passes ``limit`` bytes, before more is read (a ``Content-Length`` over it is refused at once)."""
    if content_length is not None:
        try:
            declared = int(content_length)
        except ValueError:
            raise ClientError(400, f'Content-Length {content_length!r} is not a number') from None
        if declared > limit:
            raise limits.too_large(declared)
    chunks, total = [], 0
    async for chunk in receive_chunks:
        total += len(chunk)
        if total > limit:
            raise limits.too_large(total)
        chunks.append(chunk)
    return b''.join(chunks)


def _media_type(content_type: str | None) -> str:
    return (content_type or '').split(';', 1)[0].strip().lower()


def body_limit(content_type: str | None, limits: Limits) -> int:
    """The most body bytes a request of this type may send for a ``max_bytes`` image."""
    media = _media_type(content_type)
    if media == 'multipart/form-data':
        return limits.max_bytes + _MULTIPART_SLACK
    if media == 'application/json':
        return (limits.max_bytes + 2) // 3 * 4 + _MULTIPART_SLACK  # base64 is 4/3 the bytes
    return limits.max_bytes


def _from_json(body: bytes, limits: Limits) -> bytes:
    try:
        doc = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ClientError(400, f'the JSON body does not parse ({exc})') from None
    except RecursionError:
        raise ClientError(400, 'the JSON body is nested too deeply; send {"image": "<base64>"}') from None
    if not isinstance(doc, dict):
        raise ClientError(400, f'the JSON body must be an object {{"image": "<base64>"}}, got {type(doc).__name__}')
    if 'image' not in doc:
        raise ClientError(400, f'the JSON body has no "image" field (fields: {", ".join(map(str, doc)) or "none"}); '
                               'send {"image": "<base64 of the image file>"}')
    text = doc['image']
    if not isinstance(text, str):
        raise ClientError(400, f'"image" must be a base64 string, got {type(text).__name__}')
    text = _DATA_URL.sub('', text.strip(), count=1)
    try:
        data = base64.b64decode(''.join(text.split()), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ClientError(400, f'"image" is not valid base64 ({exc})') from None
    if len(data) > limits.max_bytes:
        raise limits.too_large(len(data))
    return data


async def _from_multipart(form_of, limits: Limits) -> bytes:
    """The ``file`` field of the form that ``await form_of()`` parses."""
    try:
        form = await form_of()
    except Exception as exc:  # noqa: BLE001 - python-multipart / Starlette's parse errors: the client's fault
        reason = getattr(exc, 'detail', None) or str(exc) or type(exc).__name__
        raise ClientError(400, f'the multipart body does not parse ({reason})') from None
    try:
        if 'file' not in form:
            fields = ', '.join(sorted({str(k) for k in form.keys()})) or 'none'
            raise ClientError(400, f'no "file" field in the multipart form (fields: {fields}); send the image as '
                                   'the field "file"')
        upload = form['file']
        if isinstance(upload, str) or not hasattr(upload, 'read'):
            raise ClientError(400, 'the form field "file" must be a file upload, not a text value')
        data = await upload.read(limits.max_bytes + 1)
        if len(data) > limits.max_bytes:
            raise limits.too_large(len(data))
        return data
    finally:
        await form.close()


async def image_bytes(content_type: str | None, body: bytes, form_of, limits: Limits) -> bytes:
    """The image file's bytes in a request of ``content_type`` whose body is ``body`` (``form_of``: an async
    callable that parses it as a multipart form). A :class:`ClientError` for any other kind of body."""
    media = _media_type(content_type)
    if media == 'multipart/form-data':
        data = await _from_multipart(form_of, limits)
    elif media == 'application/json':
        data = _from_json(body, limits)
    elif media.startswith('image/') or media in _RAW_TYPES:
        data = body
    elif not media:
        raise ClientError(415, 'no Content-Type: send multipart/form-data with the field "file", the raw image '
                               'with Content-Type image/..., or application/json {"image": "<base64>"}')
    else:
        raise ClientError(415, f'unsupported Content-Type {media!r}: send multipart/form-data with the field '
                               '"file", the raw image with Content-Type image/..., or application/json '
                               '{"image": "<base64>"}')
    if not data:
        raise ClientError(400, 'the image is empty (0 bytes)')
    return data


def _header_pixels(data: bytes) -> tuple[int, str] | None:
    """``(width x height, 'W x H')`` from the image header (Pillow reads the header only), None when Pillow does not
    know the format (OpenCV decides then)."""
    from PIL import Image
    try:
        with warnings.catch_warnings():
            warnings.simplefilter('ignore')
            with Image.open(io.BytesIO(data)) as im:
                w, h = im.size
                return w * h, f'{w} x {h}'
    except Image.DecompressionBombError as exc:  # over Pillow's own limit; its message holds the pixel count
        found = re.search(r'\((\d+) pixels\)', str(exc))
        n = int(found.group(1)) if found else 2 ** 63
        return n, f'{n}-pixel'
    except Exception:  # noqa: BLE001 - not a format Pillow knows, or a broken header: OpenCV decides
        return None


def decode_image(data: bytes, limits: Limits) -> np.ndarray:
    """``data`` (an encoded image file) as an H x W x 3 uint8 BGR array; 413 for more than ``limits.max_pixels``
    pixels (from the header, before decoding), 400 for bytes that are no whole image (truncated, not an image)."""
    from visioncraft.fileio.image import imdecode, unreadable_image_reason
    header = _header_pixels(data)
    if header is not None and header[0] > limits.max_pixels:
        raise ClientError(413, f'the image header claims a {header[1]} picture, over the limit of {limits.max_pixels} '
                               'pixels (--max-image-pixels)')
    img = imdecode(data)
    if img is None:
        reason = unreadable_image_reason(data)
        if reason.startswith('is not a readable image'):
            reason = 'is not an image (not a format OpenCV decodes, or corrupt)'
        raise ClientError(400, f'the upload {reason}')
    if img.ndim == 2:
        img = np.repeat(img[:, :, None], 3, axis=2)
    h, w = img.shape[:2]
    if h * w > limits.max_pixels:
        raise ClientError(413, f'the image is {w} x {h} pixels, over the limit of {limits.max_pixels} pixels '
                               '(--max-image-pixels)')
    return np.ascontiguousarray(img[:, :, :3])
