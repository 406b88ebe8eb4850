"""Video files, streams and cameras in and out, with OpenCV (and NVDEC on a GPU):

* Reading: :func:`open_video` opens a file, a stream URL or a camera index and says which one could not be opened;
  :func:`read_frames` yields its frames (H x W x 3 uint8 BGR numpy arrays); :func:`decode_on_gpu` decodes a file on a
  CUDA GPU into tensors of the same layout.
* Writing: :func:`open_video_writer` picks the codec from the file's extension (:data:`FOURCC_BY_EXT`).

Showing frames in a window is :mod:`.display`; running a detector over frames is :mod:`.video_detection`.
"""
from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from visioncraft.errors import UserError

__all__ = ['VideoIOError', 'VideoInfo', 'open_video', 'read_frames', 'open_video_writer', 'decode_on_gpu',
           'fourcc_for', 'FOURCC_BY_EXT']

#: codec (OpenCV fourcc) for each video file extension :func:`open_video_writer` knows
FOURCC_BY_EXT = {'.mp4': 'mp4v', '.m4v': 'mp4v', '.mov': 'mp4v', '.avi': 'XVID', '.mkv': 'XVID'}


class VideoIOError(UserError, OSError):
    """A video, camera or codec that cannot be used; the message names it and says what to do."""


# -- reading and writing ------------------------------------------------------------------------------
@dataclass(frozen=True)
class VideoInfo:
    """What OpenCV reports about an opened source. ``frame_count`` is 0 when unknown (cameras, streams)."""
    fps: float
    width: int
    height: int
    frame_count: int


def _source_name(source: int | str | os.PathLike) -> str:
    return f'camera {source}' if isinstance(source, int) else f'video {str(source)!r}'


def open_video(source: int | str | os.PathLike) -> tuple[Any, VideoInfo]:
    """Open a video file, a stream URL (``rtsp://``, ``http://``...) or a camera index with OpenCV.

    Returns:
        ``(cv2.VideoCapture, VideoInfo)``. ``fps`` falls back to 30 when the source does not say.

    Raises:
        VideoIOError: naming the file / camera when it is missing or OpenCV cannot open it.
    """
    import cv2
    name = _source_name(source)
    if not isinstance(source, int):
        source = str(source)
        if '://' not in source and not Path(source).is_file():
            raise VideoIOError(f'cannot open {name}: no such file')
    log = getattr(getattr(cv2, 'utils', None), 'logging', None)
    old_level = log.getLogLevel() if log is not None else None
    if log is not None and not os.environ.get('VISIONCRAFT_DEBUG'):
        log.setLogLevel(log.LOG_LEVEL_SILENT)  # our error says what failed; no backend-by-backend warnings
    try:
        cap = cv2.VideoCapture(source)
    finally:
        if log is not None:
            log.setLogLevel(old_level)
    if not cap.isOpened():
        cap.release()
        hint = ' (is a camera connected, and is the index right?)' if isinstance(source, int) else \
            ' (OpenCV cannot decode it, or it is not a video)'
        raise VideoIOError(f'cannot open {name}{hint}')
    fps = cap.get(cv2.CAP_PROP_FPS)
    info = VideoInfo(fps=float(fps) if fps and fps > 0 and np.isfinite(fps) else 30.0,
                     width=int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), height=int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT)),
                     frame_count=max(int(cap.get(cv2.CAP_PROP_FRAME_COUNT)), 0))
    return cap, info


def read_frames(cap: Any, source: int | str | os.PathLike | None = None) -> Iterator[np.ndarray]:
    """Frames of an opened ``cv2.VideoCapture`` (H x W x 3 uint8 BGR) until it ends; releases it then. A source
    that opens but gives not one frame (a broken file OpenCV took for an image sequence) is a VideoIOError naming
    ``source``."""
    n = 0
    try:
        while True:
            ok, frame = cap.read()
            if not ok or frame is None:
                break
            n += 1
            yield frame
    finally:
        cap.release()
    if n == 0:
        name = _source_name(source) if source is not None else 'the video'
        raise VideoIOError(f'cannot read {name}: not one frame decodes (not a video, or a broken one)')


def decode_on_gpu(path: str | os.PathLike, device: str | torch.device,
                  chunk: int = 8) -> tuple[Iterator[torch.Tensor], VideoInfo]:
    """Decode a video file on a CUDA GPU (NVDEC) with torchcodec, the decoder torchvision >= 0.22 points to
    (torchvision 0.29 has no video decoding of its own).

    Returns:
        (frames as H x W x 3 uint8 BGR tensors on ``device``, decoded ``chunk`` at a time; the video's info).

    Raises:
        VideoIOError: torchcodec is not installed (saying what to install), ``device`` is not an available
            CUDA device, or the file is missing or cannot be decoded.
    """
    try:
        from torchcodec.decoders import VideoDecoder
    except ImportError:
        raise VideoIOError('decoding on the GPU (--nvdecode) needs torchcodec, which is not installed: '
                           '`pip install torchcodec` (the release made for your torch version; it uses the '
                           "system's FFmpeg libraries), or leave out --nvdecode to decode with OpenCV") from None
    device = torch.device(device)
    if device.type != 'cuda' or not torch.cuda.is_available():
        raise VideoIOError(f'decoding on the GPU (--nvdecode) needs a CUDA device, got --device {device} '
                           f'(CUDA available: {torch.cuda.is_available()}); leave out --nvdecode to decode '
                           'with OpenCV')
    if not Path(path).is_file():
        raise VideoIOError(f'cannot open {_source_name(path)}: no such file')
    try:
        decoder = VideoDecoder(str(path), device=str(device), dimension_order='NHWC')
    except (RuntimeError, ValueError) as exc:
        raise VideoIOError(f'cannot decode {_source_name(path)} on {device} with torchcodec: {exc}') from exc
    meta = decoder.metadata
    info = VideoInfo(fps=float(meta.average_fps or 30.0), width=int(meta.width), height=int(meta.height),
                     frame_count=len(decoder))

    def frames() -> Iterator[torch.Tensor]:
        for start in range(0, len(decoder), chunk):
            for rgb in decoder[start:start + chunk]:  # N x H x W x 3 RGB
                yield rgb.flip(-1)

    return frames(), info


def fourcc_for(path: str | os.PathLike) -> str:
    """The codec (:data:`FOURCC_BY_EXT`) :func:`open_video_writer` uses for ``path``; a VideoIOError for an
    extension it has none for."""
    suffix = Path(path).suffix.lower()
    if suffix not in FOURCC_BY_EXT:
        raise VideoIOError(f'cannot write video {str(path)!r}: unknown extension {suffix!r}; use one of '
                           f'{", ".join(sorted(FOURCC_BY_EXT))}')
    return FOURCC_BY_EXT[suffix]


def open_video_writer(path: str | os.PathLike, fps: float, size: tuple[int, int]) -> Any:
    """A ``cv2.VideoWriter`` for ``path`` (folders are made), ``fps`` frames a second, frames of ``size``
    = (width, height). The codec follows the extension (:data:`FOURCC_BY_EXT`: .mp4 / .mov mp4v,
    .avi / .mkv XVID).

    Raises:
        VideoIOError: for an unknown extension, or when OpenCV cannot open a writer for the file.
    """
    import cv2
    path = Path(path)
    fourcc = fourcc_for(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise VideoIOError(f'cannot write video {str(path)!r}: cannot make its folder ({exc})') from exc
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), float(fps), (int(size[0]), int(size[1])))
    if not writer.isOpened():
        writer.release()
        raise VideoIOError(f'cannot write video {str(path)!r}: OpenCV could not open a writer with codec {fourcc} '
                           'for it (try .avi or .mp4, and check that the folder is writable)')
    return writer
