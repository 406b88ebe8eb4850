"""Detection on videos and camera streams: what the video demos in ``demo/`` share.

* :class:`DevicePipeline` turns frames into a batch tensor with torch ops on the model's device (resize, then the
  model's own normalise and pad), skipping the numpy test pipeline;
* :func:`run_on_stream` runs a predictor over a stream, draws each frame (:class:`FrameDrawer`), writes it
  (:func:`~visioncraft.apis.video.open_video_writer`), shows it (:class:`~visioncraft.apis.display.FrameWindow`) and
  reports progress on stderr.

Frames are OpenCV's H x W x 3 uint8 BGR everywhere, as numpy arrays, or as torch tensors of the same
layout when decoded on a GPU. Predictions are :class:`DataSample` s with ``pred_instances`` (bboxes float32
K x 4 xyxy in the frame's pixels, scores float32 K, labels int64 K), as from :func:`inference_detector`.
"""
from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Union

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from visioncraft.registry import TRANSFORMS
from visioncraft.structures import DataSample
from visioncraft.tasks.detection.visualization import DetLocalVisualizer

from .display import FrameWindow
from .video import fourcc_for, open_video_writer

__all__ = ['Frame', 'FrameDrawer', 'DevicePipeline', 'run_on_stream']

Frame = Union[np.ndarray, torch.Tensor]


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
        fourcc_for(out)  # an unknown extension fails before any frame is processed
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
