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

import numpy as np
import torch
from torch import nn

from visioncraft.config import Config
from visioncraft.data.collate import pseudo_collate
from visioncraft.data.transforms import Compose
from visioncraft.engine.randomness import set_random_seed  # MMDetection 2.x's mmdet.apis.set_random_seed
from visioncraft.errors import check_device
from visioncraft.fileio.image import ImageInput
from visioncraft.registry import DATASETS, RegistryError
from visioncraft.structures import DataSample
from visioncraft.tasks.detection.datasets.coco import COCO_CLASSES

from .display import has_display
from .inference_pipeline import build_inference_pipeline
from .model_index import resolve_config_arg
from .model_loading import build_model_with_weights

__all__ = ['init_detector', 'inference_detector', 'async_inference_detector', 'show_result_pyplot', 'set_random_seed']

_logger = logging.getLogger('visioncraft')


# -- building the model ---------------------------------------------------------------------------------
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
    _logger.warning('init_detector: no class names in the checkpoint or the test dataset config; '
                    'using the COCO classes')
    return dict(classes=tuple(COCO_CLASSES))


def init_detector(config: str | Path | Config, checkpoint: str | Path | None = None, device: str = 'cuda:0',
                  cfg_options: dict | None = None, *, allow_partial: bool | None = None) -> nn.Module:
    """Build a detector from a config, load its weights and put it in eval mode on ``device``.

    Args:
        config: a config file, a :class:`Config` (which is copied, never modified), or a detection model name of
            the model index (``'faster-rcnn_r50_fpn_1x_coco'``, ``'retinanet'``; ``visioncraft models --task det``
            lists them): its shipped config, and its weights downloaded on first use when ``checkpoint`` is None.
        checkpoint: a checkpoint path or http(s) URL; ``None`` keeps the random initialisation (with a config).
            A checkpoint that fits the model badly (a shape mismatch, or more than 1% of the model's weights
            missing) is a :class:`~visioncraft.fileio.checkpoint.CheckpointFitError` naming it.
        device: ``'cpu'``, ``'cuda'``, ``'cuda:1'``...; a CUDA device on a machine without CUDA is a
            RuntimeError.
        cfg_options: overrides applied to the config, as for ``--cfg-options``.
        allow_partial: load a checkpoint that fits badly anyway (what fits; a warning lists the rest). None:
            ``$VISIONCRAFT_ALLOW_PARTIAL_WEIGHTS``.

    Returns:
        The model, with ``model.cfg`` (the config used) and ``model.dataset_meta`` (at least ``classes``):
        taken from ``checkpoint['meta']['dataset_meta']``, else the test dataset's metainfo, else COCO.
        The backbone's pretrained ``init_cfg`` is dropped: nothing is downloaded but ``checkpoint``.
    """
    dev = check_device(device)  # a DeviceError (RuntimeError) naming a device this machine lacks
    config, checkpoint = resolve_config_arg(config, checkpoint, task='det')  # a model name of the index
    if isinstance(config, (str, Path)):
        cfg = Config.fromfile(config, cfg_options=cfg_options)
    elif isinstance(config, Config):
        cfg = copy.deepcopy(config)
        if cfg_options:
            cfg.merge_from_dict(cfg_options)
    else:
        raise TypeError(f'init_detector: config must be a file path or a Config, got {type(config).__name__}')
    model, meta = build_model_with_weights(cfg, checkpoint, 'init_detector', allow_partial=allow_partial)
    dataset_meta = dict(meta['dataset_meta']) if meta and isinstance(meta.get('dataset_meta'), dict) else None
    model.cfg = cfg
    model.dataset_meta = dataset_meta if dataset_meta and dataset_meta.get('classes') \
        else _default_dataset_meta(cfg)
    model.to(dev)
    model.eval()
    return model


# -- running it -----------------------------------------------------------------------------------------
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
            pipelines[from_array] = build_inference_pipeline(cfg, from_array)
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


# -- showing a result (MMDetection 2.x's mmdet.apis.show_result_pyplot) -----------------------------------------------
def show_result_pyplot(model: nn.Module, img: ImageInput, result, score_thr: float = 0.3, title: str = 'result',
                       wait_time: float = 0, palette=None, out_file: str | os.PathLike | None = None) -> np.ndarray:
    """Draw ``result`` on ``img`` with ``model.show_result`` and show it: with matplotlib when it is installed and
    can show figures (a notebook, a desktop), else in an OpenCV window. Without a display nothing is shown and a
    warning says so (pass ``out_file`` to write the picture).

    Args:
        model: a detector (from :func:`init_detector`; its ``dataset_meta`` names the classes).
        img: an image file or an H x W x 3 uint8 BGR array.
        result: what :func:`inference_detector` returns (or MMDetection 2.x's per-class arrays).
        score_thr: predictions scoring below it are not drawn.
        title, wait_time: the figure's / window's title, and seconds an OpenCV window stays (0: until a key).
        palette: a (B, G, R) colour or a colour name for the boxes (2.x's dataset palettes are not drawn).
        out_file: also write the picture there.

    Returns:
        The drawing, H x W x 3 uint8 BGR.
    """
    show = getattr(model, 'show_result', None)
    if show is None:
        raise TypeError(f'show_result_pyplot: {type(model).__name__} is not a detector (it has no show_result)')
    color = palette if isinstance(palette, (str, tuple, list)) else None
    drawn = show(img, result, score_thr=score_thr, bbox_color=color, show=False, out_file=out_file)
    try:
        import matplotlib
        backend = matplotlib.get_backend().lower()
        interactive = 'inline' in backend or backend not in ('agg', 'pdf', 'ps', 'svg', 'cairo', 'template')
    except ImportError:
        interactive = False
    if interactive:
        import matplotlib.pyplot as plt
        plt.figure(figsize=(15, 10))
        plt.imshow(drawn[..., ::-1])
        plt.title(title)
        plt.axis('off')
        plt.show()
    elif has_display():
        import cv2
        cv2.imshow(title, drawn)
        cv2.waitKey(max(int(wait_time * 1000), 1) if wait_time > 0 else 0)
    else:
        where = f'it was written to {out_file}' if out_file else 'pass out_file=... to write it'
        _logger.warning('show_result_pyplot: no display to show the picture on (DISPLAY is not set, and matplotlib '
                        f'cannot show figures here); {where}')
    return drawn
