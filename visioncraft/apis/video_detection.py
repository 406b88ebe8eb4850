"""Detection on videos with the pre-processing on the model's device (``demo/video_gpuaccel_demo.py``).

* :class:`DevicePipeline` turns frames into a batch tensor with torch ops on the model's device (resize, then the
  model's own normalise and pad), skipping the numpy test pipeline;
* :class:`DeviceDetInferencer` is :class:`~visioncraft.apis.DetInferencer` with that pipeline: reading, drawing,
  writing, showing and progress are the inferencers' (:mod:`.base_inferencer`), as for every other video.

Frames are OpenCV's H x W x 3 uint8 BGR everywhere, as numpy arrays, or as torch tensors of the same
layout when decoded on a GPU. Predictions are :class:`DataSample` s with ``pred_instances`` (bboxes float32
K x 4 xyxy in the frame's pixels, scores float32 K, labels int64 K), as from :func:`inference_detector`.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Union

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from visioncraft.errors import mark_user_error
from visioncraft.registry import TRANSFORMS
from visioncraft.structures import DataSample

from .base_inferencer import InputItem
from .det_inferencer import DetInferencer

__all__ = ['Frame', 'DevicePipeline', 'DeviceDetInferencer']

Frame = Union[np.ndarray, torch.Tensor]


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


class DeviceDetInferencer(DetInferencer):
    """:class:`~visioncraft.apis.DetInferencer` whose frames skip the numpy test pipeline: each batch goes to the
    model's device as one uint8 tensor through :class:`DevicePipeline` (frames may be numpy arrays or tensors already
    on the GPU, from :func:`~visioncraft.apis.video.decode_on_gpu`). Same arguments as DetInferencer (a config model;
    exported directories have no device pipeline); run it with
    :meth:`~visioncraft.apis.base_inferencer.BaseInferencer.iterate_frames`."""

    who = 'DeviceDetInferencer'

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if self.model is None:
            raise mark_user_error(ValueError(f'{self.who}: an exported model directory has no device pipeline; give '
                                             'a config file and its checkpoint'))
        self.pipeline = DevicePipeline(self.model)

    def preprocess(self, item: InputItem) -> Frame:
        return item.img

    def forward(self, batch: list[Frame]) -> list[DataSample]:
        return list(self.pipeline(batch))
