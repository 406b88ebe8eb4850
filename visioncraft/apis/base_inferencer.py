"""One inference layer for every task: :class:`BaseInferencer` owns the inputs, the batching, the device, the progress
bar and the outputs; a task's inferencer (:class:`~visioncraft.apis.DetInferencer`,
:class:`~visioncraft.apis.PoseInferencer`, :class:`~visioncraft.apis.OCRInferencer`) supplies only how one image
becomes a prediction and what is drawn and written for it.

What a task subclass supplies:

* :meth:`BaseInferencer.preprocess` (one :class:`InputItem` -> what :meth:`~BaseInferencer.forward` takes; default:
  the item itself) and :meth:`~BaseInferencer.forward` (a batch of those -> one prediction per item, normally a
  :class:`~visioncraft.structures.DataSample`);
* :meth:`~BaseInferencer.visualize` (the image, H x W x 3 uint8 BGR, and its prediction -> the drawing, H' x W' x 3
  uint8 RGB) and :meth:`~BaseInferencer.pred_to_json` (a prediction -> a JSON-ready object);
* optionally :meth:`~BaseInferencer.nothing_drawn` (why a prediction draws nothing, logged as one line) and the
  output names (:attr:`~BaseInferencer.pred_subdir`, :attr:`~BaseInferencer.vis_subdir`,
  :meth:`~BaseInferencer.pred_file_name`, :meth:`~BaseInferencer.vis_file_name`).

What the base does (:meth:`BaseInferencer.iterate`, which the subclasses' ``__call__`` run):

* inputs (:mod:`.inputs`): an image file, an H x W x 3 uint8 BGR array, a folder, a glob pattern, an ``http(s)://``
  URL, a list of those, a video file or stream URL, ``'webcam'`` or a camera index;
* batches of ``batch_size`` images (or frames), a progress bar on stderr (``show_progress``);
* outputs, per image: ``pred_out_dir/<stem>.json`` and ``vis_out_dir/<name>`` (the drawing, named as the input; an
  array is ``00000000.jpg``, ``00000001.jpg``...); per video: ``pred_out_dir/<video stem>.json`` (one entry per
  frame) and the drawn frames as ``vis_out_dir/<video name>`` (or ``video_out``); the drawings (RGB) and the
  predictions (JSON-ready, or the data samples with ``return_datasamples``) are yielded batch by batch; ``show``
  shows the drawings in a window (never without a display: a warning says so and nothing is shown).

Devices: ``device=None`` or ``'auto'`` is CUDA when ``torch.cuda.is_available()``, else the CPU
(:func:`resolve_inference_device`).
"""
from __future__ import annotations

import json
import logging
import sys
import urllib.parse
import warnings
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from visioncraft.errors import check_device

from .display import FrameWindow, has_display
from .inputs import camera_index, image_items, input_kind, load_image
from .video import FOURCC_BY_EXT, VideoIOError, fourcc_for, open_video, open_video_writer, read_frames
from .writers import unique_names, write_json, write_picture

__all__ = ['BaseInferencer', 'InputItem', 'resolve_inference_device']

_logger = logging.getLogger('visioncraft')


def resolve_inference_device(device: str | torch.device | None, who: str = 'inferencer') -> str:
    """``None`` / ``'auto'``: ``'cuda:0'`` when ``torch.cuda.is_available()``, else ``'cpu'``; any other device is
    checked (a :class:`~visioncraft.errors.DeviceError` naming ``who`` for one this machine lacks) and returned."""
    if device is None or device == 'auto':
        return 'cuda:0' if torch.cuda.is_available() else 'cpu'
    check_device(device, f'{who}: device')
    return str(device)


@dataclass
class InputItem:
    """One image or video frame on its way through an inferencer.

    Attributes:
        img: H x W x 3 uint8 BGR (a numpy array; a torch tensor of that layout for frames decoded on a GPU).
        name: the output name (``'a.jpg'``; ``'00000003.jpg'`` for an array; the video's name for frames).
        path: the image file or URL it came from (None for arrays and frames).
        frame_id: the frame's index in its video (None for images).
    """
    img: Any
    name: str
    path: str | None = None
    frame_id: int | None = None

    def numpy(self) -> np.ndarray:
        """The image as an H x W x 3 uint8 BGR numpy array."""
        if isinstance(self.img, torch.Tensor):
            return self.img.detach().cpu().numpy()
        return self.img


@dataclass
class _Options:
    pred_dir: Path | None
    vis_dir: Path | None
    video_out: Path | None
    return_vis: bool
    return_datasamples: bool
    print_result: bool
    show: bool
    wait_time: float
    visualize_kwargs: dict
    forward_kwargs: dict

    @classmethod
    def make(cls, pred_dir, vis_dir, video_out, *, return_vis, return_datasamples, print_result, show, wait_time,
             visualize_kwargs, forward_kwargs) -> _Options:
        def path(p):
            return None if p is None else Path(p)
        return cls(pred_dir=path(pred_dir), vis_dir=path(vis_dir), video_out=path(video_out),
                   return_vis=bool(return_vis), return_datasamples=bool(return_datasamples),
                   print_result=bool(print_result), show=bool(show), wait_time=float(wait_time),
                   visualize_kwargs=dict(visualize_kwargs or {}), forward_kwargs=dict(forward_kwargs or {}))

    @property
    def need_vis(self) -> bool:
        return bool(self.return_vis or self.show or self.vis_dir is not None or self.video_out is not None)


@dataclass
class _Silent:
    """Frames of a stream whose predictions draw nothing: how many, the first reason, the best score among them."""
    frames: int = 0
    reason: str = ''
    best: float | None = None
    total: int = 0


class BaseInferencer:
    """Inputs, batching, device, progress and outputs of an inferencer; see the module docstring for what a task
    subclass supplies.

    Args:
        device: ``None`` / ``'auto'`` (CUDA when available, else the CPU), ``'cpu'``, ``'cuda'``, ``'cuda:N'``.
        show_progress: a progress bar (stderr) over the images or frames.
    """

    #: names the inferencer in messages
    who = 'BaseInferencer'
    #: the folders under ``out_dir`` the JSON files and the drawings go to (``''``: ``out_dir`` itself)
    pred_subdir = 'preds'
    vis_subdir = 'vis'
    #: the output name of the i-th array input
    array_name = '{:08d}.jpg'
    #: what :meth:`nothing_drawn`'s best value is, in messages
    score_name = 'score'
    #: the key a frame's prediction goes under in a video's JSON file (None: the prediction dict itself, with
    #: ``frame_id`` added, as MMDetection and MMOCR write it)
    frame_doc_key: str | None = 'instances'

    def __init__(self, device: str | torch.device | None = None, show_progress: bool = True) -> None:
        self.device = resolve_inference_device(device, self.who)
        self.show_progress = bool(show_progress)
        self._window: FrameWindow | None = None

    # -- what a task supplies ------------------------------------------------------------------------------------
    def preprocess(self, item: InputItem) -> Any:
        """One input -> what :meth:`forward` takes (default: the item)."""
        return item

    def forward(self, batch: list[Any], **kwargs: Any) -> list[Any]:
        """A batch of :meth:`preprocess` outputs -> one prediction per item, in order (``kwargs``: the call's
        ``forward_kwargs``)."""
        raise NotImplementedError(f'{type(self).__name__} must implement forward()')

    def visualize(self, img: np.ndarray, pred: Any, **kwargs: Any) -> np.ndarray:
        """The prediction drawn on ``img`` (H x W x 3 uint8 BGR): H' x W' x 3 uint8 RGB."""
        raise NotImplementedError(f'{type(self).__name__} must implement visualize()')

    def pred_to_json(self, pred: Any, item: InputItem) -> Any:
        """A prediction as a JSON-ready object (what ``pred_out_dir/<stem>.json`` holds)."""
        raise NotImplementedError(f'{type(self).__name__} must implement pred_to_json()')

    def nothing_drawn(self, pred: Any, **kwargs: Any) -> tuple[str, float | None] | None:
        """``(why nothing is drawn, the best score seen or None)`` when ``pred`` draws nothing with the drawing
        options ``kwargs``, else None (the default: never)."""
        return None

    def frame_json(self, frame_id: int, doc: Any) -> Any:
        """One frame's entry in a video's JSON file: ``{'frame_id', <frame_doc_key>: doc}``, or the prediction dict
        with ``frame_id`` added when :attr:`frame_doc_key` is None."""
        if self.frame_doc_key is None:
            return dict(frame_id=frame_id, **doc)
        return {'frame_id': frame_id, self.frame_doc_key: doc}

    def pred_file_name(self, name: str) -> str:
        return f'{Path(name).stem}.json'

    def vis_file_name(self, name: str) -> str:
        return name

    # -- running ------------------------------------------------------------------------------------------------
    def output_dirs(self, out_dir: str | Path | None, *, save_pred: bool = True,
                    save_vis: bool = True) -> tuple[Path | None, Path | None]:
        """``(pred_out_dir, vis_out_dir)`` under ``out_dir`` (:attr:`pred_subdir`, :attr:`vis_subdir`); None for
        what is not saved, and both None without ``out_dir`` (``None`` or ``''``)."""
        if out_dir is None or str(out_dir) == '':
            return None, None
        root = Path(out_dir)
        return (root / self.pred_subdir if save_pred else None), (root / self.vis_subdir if save_vis else None)

    def run_all(self, inputs: Any, *, out_dir: str | Path | None = '', no_save_pred: bool = True,
                no_save_vis: bool = False, **iterate_kwargs: Any) -> dict[str, list]:
        """Everything :meth:`iterate` yields for ``inputs`` (``iterate_kwargs``: its options), in one
        ``{'predictions': [...], 'visualization': [...]}``; the JSON files and drawings go under ``out_dir``
        (:meth:`output_dirs`) unless ``no_save_pred`` / ``no_save_vis``. What the MMDetection / MMOCR-style
        ``__call__`` s return."""
        pred_dir, vis_dir = self.output_dirs(out_dir, save_pred=not no_save_pred, save_vis=not no_save_vis)
        result: dict[str, list] = dict(predictions=[], visualization=[])
        for out in self.iterate(inputs, pred_out_dir=pred_dir, vis_out_dir=vis_dir, **iterate_kwargs):
            result['predictions'].extend(out['predictions'])
            result['visualization'].extend(out['visualization'])
        return result

    def iterate(self, inputs: Any, *, batch_size: int = 1, pred_out_dir: str | Path | None = None,
                vis_out_dir: str | Path | None = None, video_out: str | Path | None = None, return_vis: bool = False,
                return_datasamples: bool = False, print_result: bool = False, show: bool = False,
                wait_time: float = 0.0, max_frames: int | None = None, visualize_kwargs: dict | None = None,
                forward_kwargs: dict | None = None) -> Iterator[dict[str, list]]:
        """Run on ``inputs`` and yield ``{'predictions': [...], 'visualization': [...]}`` per batch of ``batch_size``
        images or frames: the predictions as :meth:`pred_to_json` makes them (the raw predictions with
        ``return_datasamples``), the drawings (H x W x 3 uint8 RGB) with ``return_vis`` (else an empty list).

        Args:
            inputs: see the module docstring. Missing files fail before anything runs.
            pred_out_dir / vis_out_dir: where the JSON files / drawings go (None: not written).
            video_out: for a video or camera, the file the drawn frames go to (default:
                ``vis_out_dir/<video name>``; ``.mp4`` when the input's extension has no writer).
            print_result: print each prediction (``name: JSON``) on stdout.
            show: show the drawings in a window (q / Esc stops a video). Without a display: a warning, nothing
                shown; for a camera with nothing else to do, a VideoIOError.
            wait_time: seconds a shown picture stays (0: until a key is pressed; a video's frames at least 1 ms).
            max_frames: stop a video or camera after this many frames.
            visualize_kwargs: passed to :meth:`visualize` and :meth:`nothing_drawn`.
            forward_kwargs: passed to :meth:`forward`.
        """
        if isinstance(batch_size, bool) or int(batch_size) < 1:
            raise ValueError(f'{self.who}: batch_size must be >= 1, got {batch_size}')
        opts = _Options.make(pred_out_dir, vis_out_dir, video_out, return_vis=return_vis,
                             return_datasamples=return_datasamples, print_result=print_result, show=show,
                             wait_time=wait_time, visualize_kwargs=visualize_kwargs, forward_kwargs=forward_kwargs)
        kind = input_kind(inputs)
        if kind in ('video', 'webcam'):
            yield from self._iterate_source(inputs, kind, opts, int(batch_size), max_frames)
            return
        items = image_items(inputs, self.who, self.array_name)  # every path checked before the model runs
        names = unique_names([name for _, name in items])
        self._check_show(opts, stream=False)
        bar = self._progress(len(items), 'img')
        silent = _Silent()
        try:
            for start in range(0, len(items), int(batch_size)):
                batch = []
                for (src, _), name in zip(items[start:start + int(batch_size)], names[start:start + int(batch_size)]):
                    img, path = load_image(src, self.who)
                    batch.append(InputItem(img, name, path))
                out, stop = self._run_batch(batch, opts, silent, writer_state=None)
                bar.update(len(batch))
                yield out
                if stop:
                    return
        finally:
            bar.close()
            self._close_window()

    def iterate_frames(self, frames: Iterable[Any], *, name: str, fps: float = 30.0, total: int | None = None,
                       batch_size: int = 1, pred_out_dir: str | Path | None = None,
                       vis_out_dir: str | Path | None = None, video_out: str | Path | None = None,
                       return_vis: bool = False, return_datasamples: bool = False, print_result: bool = False,
                       show: bool = False, wait_time: float = 0.0, max_frames: int | None = None,
                       visualize_kwargs: dict | None = None, forward_kwargs: dict | None = None
                       ) -> Iterator[dict[str, list]]:
        """:meth:`iterate` over frames already opened (H x W x 3 uint8 BGR numpy arrays or tensors, e.g. decoded on a
        GPU by :func:`~visioncraft.apis.video.decode_on_gpu`): ``name`` is the video's output name, ``fps`` and
        ``total`` (frame count, for the progress bar) what its reader reported."""
        if isinstance(batch_size, bool) or int(batch_size) < 1:
            raise ValueError(f'{self.who}: batch_size must be >= 1, got {batch_size}')
        opts = _Options.make(pred_out_dir, vis_out_dir, video_out, return_vis=return_vis,
                             return_datasamples=return_datasamples, print_result=print_result, show=show,
                             wait_time=wait_time, visualize_kwargs=visualize_kwargs, forward_kwargs=forward_kwargs)
        self._check_show(opts, stream=True)
        yield from self._run_stream(frames, name, fps, total, opts, int(batch_size), max_frames)

    # -- the two loops ------------------------------------------------------------------------------------------
    def _iterate_source(self, inputs: Any, kind: str, opts: _Options, batch_size: int,
                        max_frames: int | None) -> Iterator[dict[str, list]]:
        cam = camera_index(inputs) if kind == 'webcam' else None
        if cam is not None and not (opts.show or opts.vis_dir or opts.video_out or opts.pred_dir or opts.return_vis
                                    or opts.print_result):
            opts.show = True  # a camera with nothing else to do is shown
        if cam is not None and opts.show and not has_display():
            raise VideoIOError(f'{self.who}: showing camera {cam} needs a display (DISPLAY is not set, or OpenCV is '
                               'a headless build); pass out_dir (--out-dir) to write the drawn frames instead')
        self._check_show(opts, stream=True)
        if opts.video_out is not None:
            fourcc_for(opts.video_out)  # an unknown extension fails before the source is opened
        source = cam if cam is not None else inputs
        cap, info = open_video(source)
        if cam is not None:
            name = 'webcam.mp4' if cam == 0 else f'camera{cam}.mp4'
        else:
            name = Path(urllib.parse.urlparse(str(inputs)).path if '://' in str(inputs) else str(inputs)).name
        yield from self._run_stream(read_frames(cap, source), name or 'stream.mp4', info.fps, info.frame_count, opts,
                                    batch_size, max_frames)

    def _run_stream(self, frames: Iterable[Any], name: str, fps: float, total: int | None, opts: _Options,
                    batch_size: int, max_frames: int | None) -> Iterator[dict[str, list]]:
        video_path = opts.video_out
        if video_path is None and opts.vis_dir is not None:
            video_name = name if Path(name).suffix.lower() in FOURCC_BY_EXT else f'{Path(name).stem}.mp4'
            video_path = opts.vis_dir / video_name
        if video_path is not None:
            fourcc_for(video_path)
        if max_frames is not None and total:
            total = min(total, int(max_frames))
        state = dict(path=video_path, fps=fps, writer=None, docs=[])
        silent = _Silent()
        bar = self._progress(total or None, 'frame')
        finished = False
        try:
            batch: list[InputItem] = []
            stop = False
            for frame_id, frame in enumerate(frames):
                if max_frames is not None and frame_id >= max_frames:
                    break
                batch.append(InputItem(frame, name, None, frame_id))
                if len(batch) == batch_size:
                    out, stop = self._run_batch(batch, opts, silent, writer_state=state)
                    bar.update(len(batch))
                    batch = []
                    yield out
                    if stop:
                        break
            if batch and not stop:
                out, stop = self._run_batch(batch, opts, silent, writer_state=state)
                bar.update(len(batch))
                yield out
            finished = True
        finally:
            bar.close()
            if state['writer'] is not None:
                state['writer'].release()
            self._close_window()
        if opts.pred_dir is not None and finished:
            write_json(opts.pred_dir / self.pred_file_name(name), state['docs'])
        if silent.frames:
            best = '' if silent.best is None else f'; best {self.score_name} in those frames {silent.best:.3g}'
            _logger.warning(f'{self.who}: {name}: {silent.frames} of {silent.total} frames: {silent.reason}{best}')

    def _run_batch(self, batch: list[InputItem], opts: _Options, silent: _Silent,
                   writer_state: dict | None) -> tuple[dict[str, list], bool]:
        """Predict ``batch``, write / show / collect its outputs; ``(result dict, whether the user quit)``."""
        preds = self.forward([self.preprocess(item) for item in batch], **opts.forward_kwargs)
        if len(preds) != len(batch):
            raise RuntimeError(f'{self.who}: forward() gave {len(preds)} predictions for {len(batch)} inputs')
        predictions, visualization = [], []
        stop = False
        for item, pred in zip(batch, preds):
            self._note_silence(item, pred, opts, silent)
            img = item.numpy()
            drawn = self.visualize(img, pred, **opts.visualize_kwargs) if opts.need_vis else None
            need_doc = not opts.return_datasamples or opts.pred_dir is not None or opts.print_result
            doc = self.pred_to_json(pred, item) if need_doc else None
            if writer_state is None:
                if opts.pred_dir is not None:
                    write_json(opts.pred_dir / self.pred_file_name(item.name), doc)
                if opts.vis_dir is not None:
                    write_picture(opts.vis_dir / self.vis_file_name(item.name), drawn, self.who)
            else:
                if opts.pred_dir is not None:
                    writer_state['docs'].append(self.frame_json(item.frame_id, doc))
                if writer_state['path'] is not None:
                    bgr = np.ascontiguousarray(drawn[..., ::-1])
                    if writer_state['writer'] is None:
                        writer_state['writer'] = open_video_writer(writer_state['path'], writer_state['fps'],
                                                                   (bgr.shape[1], bgr.shape[0]))
                    writer_state['writer'].write(bgr)
            if opts.print_result:
                where = item.name if item.frame_id is None else f'{item.name} frame {item.frame_id}'
                print(f'{where}: {json.dumps(doc, ensure_ascii=False)}', flush=True)
            predictions.append(pred if opts.return_datasamples else doc)
            if opts.return_vis:
                visualization.append(drawn)
            if opts.show and not stop:
                wait = opts.wait_time if writer_state is None or opts.wait_time > 0 else 0.001
                stop = not self._show(drawn, wait)
        return dict(predictions=predictions, visualization=visualization), stop

    def _note_silence(self, item: InputItem, pred: Any, opts: _Options, silent: _Silent) -> None:
        silent.total += 1
        found = self.nothing_drawn(pred, **opts.visualize_kwargs)
        if found is None:
            return
        reason, best = found
        if item.frame_id is None:
            tail = '' if best is None else f'; best {self.score_name} {best:.3g}'
            _logger.warning(f'{self.who}: {item.name}: {reason}{tail}')
            return
        silent.frames += 1
        silent.reason = silent.reason or reason
        if best is not None:
            silent.best = best if silent.best is None else max(silent.best, best)

    # -- progress and showing -----------------------------------------------------------------------------------
    def _progress(self, total: int | None, unit: str):
        from tqdm import tqdm
        # a bar only on a terminal (disable=None): written to a file or a pipe, each refresh is a line of its own,
        # and the last update and the closing refresh both printed '100%'
        return tqdm(total=total, unit=unit, file=sys.stderr, dynamic_ncols=True, mininterval=0.5,
                    disable=None if self.show_progress else True, desc=self.who)

    def _check_show(self, opts: _Options, stream: bool) -> None:
        if opts.show and not has_display():
            where = (f'the drawings still go to {opts.video_out or opts.vis_dir}' if (opts.video_out or opts.vis_dir)
                     else 'pass out_dir (--out-dir) to write the drawings instead')
            warnings.warn(f'{self.who}: show=True, but there is no display to show the '
                          f'{"frames" if stream else "pictures"} on (DISPLAY is not set, or OpenCV is a headless '
                          f'build): nothing is shown; {where}', stacklevel=4)
            opts.show = False

    def _show(self, drawn_rgb: np.ndarray, wait_time: float) -> bool:
        if self._window is None:
            self._window = FrameWindow(self.who, wait_time)
        return self._window.show(np.ascontiguousarray(drawn_rgb[..., ::-1]))

    def _close_window(self) -> None:
        if self._window is not None:
            self._window.close()
            self._window = None
