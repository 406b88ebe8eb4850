"""Run a trained detector on images: build it from a config and a checkpoint, then predict.

:func:`init_detector` turns a config (and optionally a checkpoint path or URL) into a ready model in eval
mode; :func:`inference_detector` runs it on image files or in-memory BGR arrays through the config's
test pipeline; :func:`async_inference_detector` does the same off the event loop.

Predictions follow the data contract: ``pred_instances = InstanceData(bboxes float32 K x 4 xyxy in
ORIGINAL image pixels, scores float32 K, labels int64 K)``, on the model's device.
"""
from __future__ import annotations

import asyncio
import copy
import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Union

import numpy as np
import torch
from torch import nn

from visioncraft.config import Config
from visioncraft.data.collate import pseudo_collate
from visioncraft.data.loading import LoadImageFromFile, imread, unreadable_image_reason
from visioncraft.data.transforms import Compose
from visioncraft.engine.checkpoint import load_model_weights
from visioncraft.errors import ImageReadError, check_device, read_checkpoint
from visioncraft.registry import DATASETS, MODELS, TRANSFORMS, RegistryError
from visioncraft.structures import DataSample

__all__ = ['init_detector', 'inference_detector', 'async_inference_detector', 'LoadImageFromNDArray']

_logger = logging.getLogger('visioncraft')

ImageInput = Union[str, os.PathLike, np.ndarray]


@TRANSFORMS.register_module()
class LoadImageFromNDArray(LoadImageFromFile):
    """Take the image from ``results['img']`` (H x W x 3 uint8 BGR, or H x W) instead of a file.

    The in-memory twin of :class:`LoadImageFromFile`, with the same arguments: ``color_type='color'``
    makes a grayscale array 3-channel, ``'grayscale'`` makes a colour array single-channel and
    ``'unchanged'`` keeps it as it is. Sets ``img_shape`` and ``ori_shape`` (h, w) and ``img_path=None``.
    The caller's array is never modified.
    """

    def transform(self, results: dict) -> dict:
        import cv2
        img = results.get('img')
        if not isinstance(img, np.ndarray) or img.ndim not in (2, 3):
            raise TypeError('LoadImageFromNDArray: results["img"] must be an H x W x C or H x W numpy array, '
                            f'got {type(img).__name__} {getattr(img, "shape", "")}')
        if self.color_type == 'color' and img.ndim == 2:
            img = cv2.cvtColor(img, cv2.COLOR_GRAY2BGR)
        elif self.color_type == 'grayscale' and img.ndim == 3:
            img = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)
        img = img.astype(np.float32) if self.to_float32 else img.copy()
        results['img'] = img
        results['img_path'] = results.get('img_path')
        results['img_shape'] = img.shape[:2]
        results['ori_shape'] = img.shape[:2]
        return results


# -- building the model ---------------------------------------------------------------------------------
def build_model_with_weights(cfg: Config, checkpoint: str | os.PathLike | None,
                             who: str) -> tuple[nn.Module, dict | None]:
    """``(model, checkpoint meta or None)``: ``cfg.model`` built without its backbone's pretrained ``init_cfg`` (the
    checkpoint holds the trained weights; nothing is downloaded), with ``checkpoint``'s weights loaded (a warning
    when they do not fully match; another when there is no checkpoint). ``who`` names the caller in messages."""
    if 'model' not in cfg:
        from visioncraft.errors import mark_user_error
        hint = (' (a PaddleOCR-layout YAML? translate it first: visioncraft config FILE.yml > FILE.py)'
                if str(cfg.filename or '').endswith(('.yml', '.yaml')) else '')
        raise mark_user_error(KeyError(f'{who}: the config {cfg.filename or ""} has no "model" section{hint}'))
    if isinstance(cfg.model.get('backbone'), dict):
        cfg.model.backbone.init_cfg = None
    model = MODELS.build(cfg.model, key_path='model')
    if checkpoint is None:
        _logger.warning(f'{who}: no checkpoint given; the model keeps its random initialisation')
        return model, None
    ckpt, state_dict = read_checkpoint(checkpoint, map_location='cpu')
    report = load_model_weights(model, state_dict, logger=_logger, source=checkpoint)
    if not report.clean:
        _logger.warning(f'{who}: checkpoint {checkpoint} does not fully match the model')
    meta = ckpt.get('meta') if isinstance(ckpt, dict) else None
    return model, meta if isinstance(meta, dict) else None


def _check_device(device: str | torch.device) -> torch.device:
    """``torch.device(device)``; a device string that names no device, or a device this machine lacks (CUDA on a
    CPU-only machine), is a :class:`~visioncraft.errors.DeviceError` (a RuntimeError) naming it."""
    return check_device(device)


def _default_dataset_meta(cfg: Config) -> dict:
    """Class names for a model whose checkpoint carries none: the test dataset's, else COCO's."""
    dataset = (cfg.get('test_dataloader') or {}).get('dataset') or {}
    meta = dataset.get('metainfo') or {}
    if meta.get('classes'):
        return dict(meta)
    ds_type = dataset.get('type')
    if isinstance(ds_type, str):
        try:
            ds_cls = DATASETS.get(ds_type)
        except RegistryError:
            ds_cls = None
        if ds_cls is not None and getattr(ds_cls, 'METAINFO', None):
            return dict(ds_cls.METAINFO)
    from visioncraft.tasks.detection.datasets.coco import COCO_CLASSES
    _logger.warning('init_detector: no class names in the checkpoint or the test dataset config; '
                    'using the COCO classes')
    return dict(classes=tuple(COCO_CLASSES))


def init_detector(config: str | Path | Config, checkpoint: str | Path | None = None, device: str = 'cuda:0',
                  cfg_options: dict | None = None) -> nn.Module:
    """Build a detector from a config, load its weights and put it in eval mode on ``device``.

    Args:
        config: a config file or a :class:`Config` (which is copied, never modified).
        checkpoint: a checkpoint path or http(s) URL; ``None`` keeps the random initialisation. Keys that
            do not fit the model are logged as a warning, not raised.
        device: ``'cpu'``, ``'cuda'``, ``'cuda:1'``...; a CUDA device on a machine without CUDA is a
            RuntimeError.
        cfg_options: overrides applied to the config, as for ``--cfg-options``.

    Returns:
        The model, with ``model.cfg`` (the config used) and ``model.dataset_meta`` (at least ``classes``):
        taken from ``checkpoint['meta']['dataset_meta']``, else the test dataset's metainfo, else COCO.
        The backbone's pretrained ``init_cfg`` is dropped: nothing is downloaded but ``checkpoint``.
    """
    dev = _check_device(device)
    if isinstance(config, (str, Path)):
        cfg = Config.fromfile(config, cfg_options=cfg_options)
    elif isinstance(config, Config):
        cfg = copy.deepcopy(config)
        if cfg_options:
            cfg.merge_from_dict(cfg_options)
    else:
        raise TypeError(f'init_detector: config must be a file path or a Config, got {type(config).__name__}')
    model, meta = build_model_with_weights(cfg, checkpoint, 'init_detector')
    dataset_meta = dict(meta['dataset_meta']) if meta and isinstance(meta.get('dataset_meta'), dict) else None
    model.cfg = cfg
    model.dataset_meta = dataset_meta if dataset_meta and dataset_meta.get('classes') \
        else _default_dataset_meta(cfg)
    model.to(dev)
    model.eval()
    return model


# -- running it -----------------------------------------------------------------------------------------
def read_image(img: ImageInput, who: str) -> tuple[np.ndarray, str | None]:
    """``(H x W x 3 uint8 BGR image, its path or None)`` from a path or an array (grey is made BGR); a bad input
    is an error naming ``who``."""
    import cv2
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


def inference_steps(cfg: Config, who: str, from_array: bool) -> list[dict]:
    """The config's test pipeline steps without annotation loading (``LoadAnnotations``, ``LoadOCRAnnotations``,
    any scope prefix). With ``from_array`` the image-loading step reads from memory: ``LoadImageFromFile`` keeps
    its arguments as ``LoadImageFromNDArray``; MMPose's ``LoadImage`` becomes a plain ``LoadImageFromNDArray``."""
    try:
        pipeline = cfg.test_dataloader.dataset.pipeline
    except (AttributeError, KeyError) as exc:
        raise KeyError(f'{who}: the model config has no test_dataloader.dataset.pipeline') from exc
    steps = []
    for step in pipeline:
        step = dict(step)
        name = step.get('type')
        short = name.rsplit('.', 1)[-1] if isinstance(name, str) else ''  # 'mmdet.LoadAnnotations' too
        if short.startswith('Load') and short.endswith('Annotations'):
            continue  # no ground truth at inference time
        if from_array and short == 'LoadImageFromFile':
            step['type'] = 'LoadImageFromNDArray'
        elif from_array and short == 'LoadImage':
            step = dict(type='LoadImageFromNDArray')
        steps.append(step)
    return steps


def _test_pipeline(cfg: Config, from_array: bool) -> Compose:
    """The config's test pipeline without annotation loading; from an array it loads from memory."""
    return Compose(inference_steps(cfg, 'inference_detector', from_array))


def _model_device(model: nn.Module) -> torch.device:
    for p in model.parameters():
        return p.device
    return torch.device('cpu')


def inference_detector(model: nn.Module, imgs: ImageInput | Sequence[ImageInput]) -> DataSample | list[DataSample]:
    """Detect objects in one image or a list of them.

    Args:
        model: a detector from :func:`init_detector` (it needs ``model.cfg``).
        imgs: an image file, an H x W x 3 uint8 BGR array (OpenCV order), or a list / tuple of them
            (mixed is fine). A list runs in batches of ``cfg.test_dataloader.batch_size`` (default 1).

    Returns:
        For one image a :class:`DataSample`, for a list a list in the same order, each with
        ``pred_instances`` (bboxes float32 K x 4 xyxy in original pixels, scores float32 K, labels int64 K).
    """
    cfg = getattr(model, 'cfg', None)
    if cfg is None:
        raise AttributeError('inference_detector: the model has no .cfg; build it with init_detector')
    is_batch = isinstance(imgs, (list, tuple))
    items = list(imgs) if is_batch else [imgs]
    if not items:
        return []
    batch_size = max(int((cfg.get('test_dataloader') or {}).get('batch_size', 1) or 1), 1)
    pipelines: dict[bool, Compose] = {}

    samples = []
    for i, img in enumerate(items):
        from_array = isinstance(img, np.ndarray)
        if not from_array and not isinstance(img, (str, os.PathLike)):
            raise TypeError(f'inference_detector: image {i} must be a path or a numpy array, '
                            f'got {type(img).__name__}')
        if from_array not in pipelines:
            pipelines[from_array] = _test_pipeline(cfg, from_array)
        data = dict(img=img, img_id=i) if from_array else dict(img_path=str(img), img_id=i)
        packed = pipelines[from_array](data)
        if packed is None:
            raise RuntimeError(f'inference_detector: the test pipeline dropped image {i}')
        samples.append(packed)

    results: list[DataSample] = []
    with torch.no_grad():
        for start in range(0, len(samples), batch_size):
            results.extend(model.test_step(pseudo_collate(samples[start:start + batch_size])))
    return results if is_batch else results[0]


async def async_inference_detector(model: nn.Module,
                                   imgs: ImageInput | Sequence[ImageInput]) -> DataSample | list[DataSample]:
    """:func:`inference_detector` in a worker thread, so the event loop keeps running.

    On a CUDA model the work is queued on its own ``torch.cuda.Stream`` (so concurrent requests can
    overlap) and the stream is synchronised before the result is returned. Same inputs and outputs as
    :func:`inference_detector`.
    """
    device = _model_device(model)

    def work():
        if device.type != 'cuda':
            return inference_detector(model, imgs)
        stream = torch.cuda.Stream(device=device)
        stream.wait_stream(torch.cuda.current_stream(device))
        with torch.cuda.stream(stream):
            out = inference_detector(model, imgs)
        stream.synchronize()
        return out

    return await asyncio.to_thread(work)
