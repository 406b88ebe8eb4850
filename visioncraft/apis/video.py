"""Detection on videos and camera streams: what the demos in ``demo/`` share.

* Reading: :func:`open_video` opens a file, a stream URL or a camera index with OpenCV and says which
  one could not be opened; :func:`read_frames` yields its frames (H x W x 3 uint8 BGR numpy arrays).
* Writing: :func:`open_video_writer` picks the codec from the file's extension.
* Running: :class:`DevicePipeline` turns frames into a batch tensor with torch ops on the model's device
  (resize, then the model's own normalise and pad), skipping the numpy test pipeline;
  :func:`run_on_stream` runs a predictor over a stream, draws each frame (:class:`FrameDrawer`), writes,
  shows (:class:`FrameWindow`) and reports progress on stderr.
* The demos' command lines: :func:`add_model_args`, :func:`add_video_output_args`, :func:`run_demo`.

Frames are OpenCV's H x W x 3 uint8 BGR everywhere, as numpy arrays, or as torch tensors of the same
layout when decoded on a GPU. Predictions are :class:`DataSample` s with ``pred_instances`` (bboxes float32
K x 4 xyxy in the frame's pixels, scores float32 K, labels int64 K), as from :func:`inference_detector`.
"""
from __future__ import annotations

import argparse
import os
import sys
import warnings
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Union

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from visioncraft.errors import UserError
from visioncraft.structures import DataSample

__all__ = ['VideoIOError', 'VideoInfo', 'open_video', 'read_frames', 'open_video_writer', 'has_display',
           'FrameDrawer', 'FrameWindow', 'DevicePipeline', 'run_on_stream', 'add_model_args',
           'add_video_output_args', 'check_video_output_args', 'decode_on_gpu', 'run_demo', 'QUIT_KEYS']

Frame = Union[np.ndarray, torch.Tensor]

#: key codes that end a shown stream: q, Q, Esc
QUIT_KEYS = (ord('q'), ord('Q'), 27)

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


def _fourcc(path: str | os.PathLike) -> str:
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
    fourcc = _fourcc(path)
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


# -- drawing and showing --------------------------------------------------------------------------------
def has_display() -> bool:
    """Whether a window can be opened: a GUI build of OpenCV, and on Linux an X11 / Wayland display."""
    if sys.platform.startswith('linux') and not (os.environ.get('DISPLAY') or os.environ.get('WAYLAND_DISPLAY')):
        return False
    import cv2
    try:  # headless OpenCV builds have no GUI backend at all
        return bool(cv2.currentUIFramework()) if hasattr(cv2, 'currentUIFramework') else True
    except cv2.error:
        return False


def _to_numpy_frame(frame: Frame) -> np.ndarray:
    if isinstance(frame, torch.Tensor):
        return frame.detach().cpu().numpy()
    return frame


class FrameDrawer:
    """Draws predictions on frames, keeping their size (so they can go into a video of the input's size).

    Args:
        score_thr: predictions scoring below it are not drawn.
        classes: class names indexed by label (else numbers are written).
    """

    def __init__(self, score_thr: float = 0.3, classes: Sequence[str] | None = None) -> None:
        from visioncraft.tasks.detection.visualization import DetLocalVisualizer
        self.score_thr = float(score_thr)
        self.visualizer = DetLocalVisualizer(name='video', min_draw_size=0)
        if classes:
            self.visualizer.dataset_meta = dict(classes=tuple(classes))

    def __call__(self, frame: Frame, sample: DataSample) -> np.ndarray:
        """``frame`` H x W x 3 uint8 BGR (numpy or tensor) -> the drawing, H x W x 3 uint8 BGR numpy."""
        rgb = _to_numpy_frame(frame)[..., ::-1]
        drawn = self.visualizer.draw_sample(rgb, sample, draw_gt=False, draw_pred=True,
                                            pred_score_thr=self.score_thr)
        return np.ascontiguousarray(drawn[..., ::-1])


class FrameWindow:
    """One OpenCV window. Without a display it warns once and shows nothing.

    Args:
        name: the window's title.
        wait_time: seconds each frame stays (at least 1 ms, so the window refreshes and keys are read);
            0 waits for a key.
    """

    def __init__(self, name: str, wait_time: float = 0.001) -> None:
        self.name = name
        self.wait_ms = max(int(round(float(wait_time) * 1000)), 1) if wait_time > 0 else 0
        self.enabled = has_display()
        if not self.enabled:
            warnings.warn(f'{name}: no display to show the frames on (DISPLAY is not set, or OpenCV is a '
                          'headless build); pass --out FILE to write them instead', stacklevel=2)

    def show(self, frame_bgr: np.ndarray) -> bool:
        """Show the frame; False when the user pressed q, Q or Esc. Without a window it only returns True."""
        if not self.enabled:
            return True
        import cv2
        try:
            cv2.imshow(self.name, frame_bgr)
            key = cv2.waitKey(self.wait_ms)
        except cv2.error as exc:
            warnings.warn(f'{self.name}: could not open a window ({exc}); pass --out FILE to write the frames '
                          'instead', stacklevel=2)
            self.enabled = False
            return True
        return (key & 0xFF) not in QUIT_KEYS if key >= 0 else True

    def close(self) -> None:
        if self.enabled:
            import cv2
            cv2.destroyWindow(self.name)


# -- running a model on frames --------------------------------------------------------------------------
_TORCH_MODES = dict(bilinear='bilinear', nearest='nearest', bicubic='bicubic', area='area')


def _short_type(step: dict) -> str:
    name = step.get('type')
    return name.rsplit('.', 1)[-1] if isinstance(name, str) else type(name).__name__


class DevicePipeline:
    """A detector's test pipeline as torch ops on its device, for frames that all have one size.

    Reads the ``Resize`` of ``model.cfg.test_dataloader.dataset.pipeline`` (loading and packing steps are
    not needed for frames; any other step is an error that names it), resizes the frames with
    ``torch.nn.functional.interpolate`` (bilinear, no antialiasing, half-pixel centres: OpenCV's
    ``INTER_LINEAR``; rounded back to uint8 as OpenCV does), then hands the N x 3 x H x W uint8 batch to the
    model's ``data_preprocessor`` (BGR->RGB, normalise, pad) and ``forward(mode='predict')``.
    Predictions equal :func:`inference_detector`'s up to the rounding of the resized pixels.

    Args:
        model: a detector from :func:`init_detector`.
    """

    def __init__(self, model: nn.Module) -> None:
        from visioncraft.registry import TRANSFORMS
        self.model = model
        try:
            pipeline = model.cfg.test_dataloader.dataset.pipeline
        except (AttributeError, KeyError) as exc:
            raise KeyError('DevicePipeline: the model config has no test_dataloader.dataset.pipeline') from exc
        self.resize = None
        for i, step in enumerate(pipeline):
            short = _short_type(step)
            if short.startswith('Load') or short == 'PackDetInputs':
                continue
            if short != 'Resize' or self.resize is not None:
                raise ValueError(f'DevicePipeline: test_dataloader.dataset.pipeline[{i}] (type={step.get("type")!r}) '
                                 'has no device version (only one Resize is supported besides loading and '
                                 'packing); run demo/video_demo.py, which uses the full pipeline')
            self.resize = TRANSFORMS.build(dict(step), key_path=f'test_dataloader.dataset.pipeline[{i}]')
            if self.resize.interpolation not in _TORCH_MODES:
                raise ValueError(f'DevicePipeline: Resize interpolation {self.resize.interpolation!r} has no torch '
                                 f'version; use one of {sorted(_TORCH_MODES)}')
        self.device = next((p.device for p in model.parameters()), torch.device('cpu'))

    def target_size(self, height: int, width: int) -> tuple[int, int]:
        """(new_w, new_h) the config's Resize gives a ``height`` x ``width`` frame (itself when none)."""
        if self.resize is None:
            return width, height
        return self.resize._target_size(dict(img=np.empty((height, width, 0), dtype=np.uint8)))

    def preprocess(self, frames: Sequence[Frame]) -> tuple[torch.Tensor, list[DataSample]]:
        """``frames``: N frames H x W x 3 uint8 BGR of one size (numpy or tensors on any device).

        Returns:
            (N x 3 x h x w uint8 batch on the model's device, resized; data samples whose metainfo has
            ``ori_shape`` (H, W), ``img_shape`` (h, w) and ``scale_factor`` (w / W, h / H)).
        """
        if not frames:
            raise ValueError('DevicePipeline: no frames given')
        batch = torch.stack([torch.as_tensor(f) for f in frames]).to(self.device, non_blocking=True)
        if batch.ndim != 4 or batch.shape[-1] != 3 or batch.dtype != torch.uint8:
            raise ValueError('DevicePipeline: frames must be H x W x 3 uint8 BGR of one size, got a batch of '
                             f'{tuple(batch.shape)} {batch.dtype}')
        h, w = batch.shape[1:3]
        new_w, new_h = self.target_size(h, w)
        batch = batch.permute(0, 3, 1, 2)
        if (new_h, new_w) != (h, w):
            mode = _TORCH_MODES[self.resize.interpolation]
            extra = dict(align_corners=False) if mode in ('bilinear', 'bicubic') else {}
            resized = F.interpolate(batch.float(), size=(new_h, new_w), mode=mode, **extra)
            batch = resized.round_().clamp_(0, 255).to(torch.uint8)
        meta = dict(ori_shape=(h, w), img_shape=(new_h, new_w), scale_factor=(new_w / w, new_h / h))
        return batch.contiguous(), [DataSample(metainfo=dict(meta)) for _ in range(len(frames))]

    @torch.no_grad()
    def __call__(self, frames: Sequence[Frame]) -> list[DataSample]:
        """Predictions for ``frames`` (see :meth:`preprocess`), one :class:`DataSample` each, in order."""
        inputs, samples = self.preprocess(frames)
        data = self.model.data_preprocessor(dict(inputs=inputs, data_samples=samples), training=False)
        return self.model(**data, mode='predict')


def _batches(frames: Iterable[Frame], size: int, limit: int | None) -> Iterator[list[Frame]]:
    batch: list[Frame] = []
    for i, frame in enumerate(frames):
        if limit is not None and i >= limit:
            break
        batch.append(frame)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def run_on_stream(frames: Iterable[Frame], predict: Callable[[list[Frame]], list[DataSample]], *,
                  drawer: FrameDrawer, fps: float = 30.0, out: str | os.PathLike | None = None,
                  window: FrameWindow | None = None, batch_size: int = 1, total: int | None = None,
                  max_frames: int | None = None) -> int:
    """Run ``predict`` over ``frames`` in batches of ``batch_size``; draw each frame, write it to the video
    ``out`` (``fps`` frames a second, the frames' size) and show it in ``window``, in order. Progress (frames
    done / ``total``) goes to stderr. Stops at the end of the stream, after ``max_frames``, or when the user
    quits the window; then closes the writer and the window.

    Returns:
        The number of frames processed.
    """
    from tqdm import tqdm
    if out is not None:
        _fourcc(out)  # an unknown extension fails before any frame is processed
    if max_frames is not None and total:
        total = min(total, max_frames)
    done, writer = 0, None
    try:
        with tqdm(total=total or None, unit='frame', file=sys.stderr, dynamic_ncols=True, mininterval=0.5) as bar:
            for batch in _batches(frames, max(int(batch_size), 1), max_frames):
                for frame, sample in zip(batch, predict(batch)):
                    drawn = drawer(frame, sample)
                    if out is not None:
                        if writer is None:
                            writer = open_video_writer(out, fps, (drawn.shape[1], drawn.shape[0]))
                        writer.write(drawn)
                    done += 1
                    bar.update(1)
                    if window is not None and not window.show(drawn):
                        return done
        return done
    finally:
        if writer is not None:
            writer.release()
        if window is not None:
            window.close()


# -- the demos' command lines -----------------------------------------------------------------------------
def add_model_args(parser: argparse.ArgumentParser, *, score_thr: float = 0.3,
                   checkpoint_optional: bool = False) -> None:
    """``CONFIG CHECKPOINT --device --score-thr``, as every detection demo takes them."""
    parser.add_argument('config', help='model config file')
    if checkpoint_optional:
        parser.add_argument('checkpoint', nargs='?', default=None, help='checkpoint file or URL (default: none)')
    else:
        parser.add_argument('checkpoint', help='checkpoint file or URL')
    parser.add_argument('--device', default='cuda:0', help="device to run on, e.g. 'cpu' or 'cuda:0'")
    parser.add_argument('--score-thr', type=float, default=score_thr, help='hide predictions scoring below this')


def add_video_output_args(parser: argparse.ArgumentParser) -> None:
    """``--out FILE --show --wait-time S`` for the demos that draw a video; at least one of ``--out`` and
    ``--show`` must be given (checked by :func:`check_video_output_args`)."""
    parser.add_argument('--out', default=None, help='write the drawn frames to this video file (.mp4, .avi...)')
    parser.add_argument('--show', action='store_true', help='show the drawn frames in a window (q / Esc quits)')
    parser.add_argument('--wait-time', type=float, default=0.001,
                        help='seconds each shown frame stays (default 0.001: as fast as the model runs)')


def check_video_output_args(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    if not (args.out or args.show):
        parser.error('say what to do with the drawn frames: --out FILE, --show, or both')


def run_demo(main: Callable[[list[str] | None], int], argv: list[str] | None = None) -> int:
    """Run a demo's ``main``; a video, camera, config or file the user got wrong is printed as one
    ``error: ...`` line with exit status 2 (``VISIONCRAFT_DEBUG=1`` shows the traceback)."""
    from visioncraft.errors import run_entry_point
    return run_entry_point(main, argv)  # VideoIOError is a UserError: one line too
