"""Top-down pose estimation from Python: build a pose model, run it on the person boxes of an image.

* :func:`init_model` builds a top-down pose model (e.g. ``TopdownPoseEstimator``) from a config and a checkpoint.
* :func:`inference_topdown` runs it on the person boxes of one image (the whole image when no boxes are given)
  through the config's test pipeline (``LoadImage``, ``GetBBoxCenterScale``, ``TopdownAffine``,
  ``PackPoseInputs``), one :class:`DataSample` per box; :func:`merge_data_samples` joins them into one per image;
  :func:`split_instances` turns its persons into MMPose's JSON-ready result dicts.

With a person detector first, over images, folders, videos and a webcam: :class:`~visioncraft.apis.PoseInferencer`
(:mod:`.pose_inferencer`).

Coordinates are original-image pixels everywhere: boxes xyxy (or xywh on input with ``bbox_format='xywh'``),
keypoints (x, y). Images are H x W x 3 uint8 BGR arrays (OpenCV order) or image files.
"""
from __future__ import annotations

import copy
import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from visioncraft.config import Config
from visioncraft.data.collate import pseudo_collate
from visioncraft.data.transforms import Compose
from visioncraft.errors import check_device, mark_user_error
from visioncraft.fileio.image import ImageInput, read_image
from visioncraft.registry import DATASETS, RegistryError, default_scope
from visioncraft.structures import DataSample, InstanceData
from visioncraft.tasks.pose.datasets.metainfo import parse_pose_metainfo
from visioncraft.tasks.pose.visualization import heatmaps_to_image

from .inference_pipeline import inference_steps
from .model_index import resolve_config_arg
from .model_loading import build_model_with_weights

__all__ = ['init_model', 'inference_topdown', 'merge_data_samples', 'split_instances']

_logger = logging.getLogger('visioncraft')


# -- building the model ---------------------------------------------------------------------------------
def _read_cfg(config: str | os.PathLike | Config, cfg_options: dict | None, who: str) -> Config:
    if isinstance(config, (str, os.PathLike)):
        if not Path(config).is_file():
            raise FileNotFoundError(f'{who}: config file not found: {config}')
        return Config.fromfile(config, cfg_options=cfg_options)
    if isinstance(config, Config):
        cfg = copy.deepcopy(config)
        if cfg_options:
            cfg.merge_from_dict(cfg_options)
        return cfg
    raise TypeError(f'{who}: config must be a file path or a Config, got {type(config).__name__}')


def _scope(cfg: Config):
    return default_scope(cfg.get('default_scope', 'mmpose'))


def _pose_dataset_meta(cfg: Config) -> dict:
    """The pose metainfo of the config's test (else val, else train) dataset; COCO-17's when none says."""
    model_meta = (cfg.get('model') or {}).get('metainfo')
    if model_meta:  # the estimator's own metainfo=dict(from_file=...)
        return parse_pose_metainfo(dict(model_meta))
    for split in ('test_dataloader', 'val_dataloader', 'train_dataloader'):
        dataset = (cfg.get(split) or {}).get('dataset') or {}
        if dataset.get('metainfo'):
            return parse_pose_metainfo(dict(dataset['metainfo']))
        ds_type = dataset.get('type')
        if isinstance(ds_type, str):
            with _scope(cfg):
                try:
                    ds_cls = DATASETS.get(ds_type)
                except RegistryError:
                    ds_cls = None
            if ds_cls is not None and getattr(ds_cls, 'METAINFO', None):
                return parse_pose_metainfo(dict(ds_cls.METAINFO))
    _logger.warning('init_model: no dataset metainfo in the checkpoint or the config; using COCO-17\'s '
                    '(configs/_base_/datasets/coco.py)')
    return parse_pose_metainfo(dict(from_file='configs/_base_/datasets/coco.py'))


def _ckpt_dataset_meta(meta: Any) -> dict | None:
    """The checkpoint's ``meta['dataset_meta']`` when it describes keypoints, with arrays restored."""
    if not isinstance(meta, dict) or not isinstance(meta.get('dataset_meta'), dict):
        return None
    dm = dict(meta['dataset_meta'])
    if not (dm.get('num_keypoints') or dm.get('keypoint_id2name') or dm.get('flip_indices')):
        return None
    for key, dtype in (('keypoint_colors', np.uint8), ('skeleton_link_colors', np.uint8),
                       ('dataset_keypoint_weights', np.float32), ('sigmas', np.float32)):
        if dm.get(key) is not None:
            dm[key] = np.asarray(dm[key], dtype=dtype)
    if isinstance(dm.get('keypoint_id2name'), dict):  # JSON-like round trips turn int keys into str
        dm['keypoint_id2name'] = {int(k): v for k, v in dm['keypoint_id2name'].items()}
    return dm


def init_model(config: str | os.PathLike | Config, checkpoint: str | os.PathLike | None = None,
               device: str = 'cpu', cfg_options: dict | None = None, *,
               allow_partial: bool | None = None) -> nn.Module:
    """Build a top-down pose model from a config, load its weights and put it in eval mode on ``device``.

    Args:
        config: a config file, a :class:`Config` (copied, never modified), or a pose model name of the model index
            (``'td-hm_res50_8xb64-210e_coco-256x192'``, ``'human'``; ``visioncraft models --task pose``): its
            shipped config, and its weights downloaded on first use when ``checkpoint`` is None. The config's
            ``default_scope`` (``'mmpose'`` for our pose configs, and the default) picks what plain type names mean
            while the model (and, in :func:`inference_topdown`, the test pipeline) is built; the global scope is
            left as it was.
        checkpoint: a checkpoint path or http(s) URL; ``None`` keeps the random initialisation (with a warning).
            A checkpoint that fits the model badly is a :class:`~visioncraft.fileio.checkpoint.CheckpointFitError`.
        device: ``'cpu'``, ``'cuda'``, ``'cuda:1'``...
        cfg_options: overrides applied to the config, as for ``--cfg-options``.
        allow_partial: load a checkpoint that fits badly anyway (a warning). None:
            ``$VISIONCRAFT_ALLOW_PARTIAL_WEIGHTS``.

    Returns:
        The model, with ``model.cfg`` and ``model.dataset_meta``: the checkpoint's ``meta['dataset_meta']`` when
        it describes keypoints, else the config's test dataset ``metainfo`` (or its dataset class's), else COCO-17,
        parsed by :func:`~visioncraft.tasks.pose.datasets.metainfo.parse_pose_metainfo` (``num_keypoints``,
        ``flip_indices``, ``keypoint_colors``, ``skeleton_links``, ``sigmas``...). Pretrained backbone weights in
        the config are not loaded (nothing is downloaded but ``checkpoint``).
    """
    dev = check_device(device)
    config, checkpoint = resolve_config_arg(config, checkpoint, task='pose')  # a model name of the index
    cfg = _read_cfg(config, cfg_options, 'init_model')
    with _scope(cfg):
        model, meta = build_model_with_weights(cfg, checkpoint, 'init_model', allow_partial=allow_partial)
    dataset_meta = _ckpt_dataset_meta(meta)
    model.cfg = cfg
    try:
        model.dataset_meta = dataset_meta if dataset_meta is not None else _pose_dataset_meta(cfg)
    except (KeyError, ValueError, TypeError) as exc:  # e.g. a detector's config: its classes are no keypoints
        raise mark_user_error(exc, f'init_model: {cfg.filename or "the config"}: reading the pose dataset metainfo '
                                   '(is it the config of a pose model?)')
    model.to(dev)
    model.eval()
    return model


# -- running it on boxes ----------------------------------------------------------------------------------
def _topdown_pipeline(model: nn.Module):
    """The config's test pipeline with image loading from memory (cached on the model)."""
    cached = getattr(model, '_vc_topdown_pipeline', None)
    if cached is not None:
        return cached
    cfg = model.cfg
    # the image is read once per image, not once per box
    steps = inference_steps(cfg, 'inference_topdown', from_array=True)
    with _scope(cfg):
        compose = Compose(steps)
    model._vc_topdown_pipeline = compose
    return compose


def _as_boxes(bboxes: Any, bbox_format: str, img_hw: tuple[int, int]) -> np.ndarray:
    if bbox_format not in ('xyxy', 'xywh'):
        raise ValueError(f"inference_topdown: bbox_format must be 'xyxy' or 'xywh', got {bbox_format!r}")
    if bboxes is None:
        return np.array([[0, 0, img_hw[1], img_hw[0]]], dtype=np.float32)
    boxes = bboxes.detach().cpu().numpy() if isinstance(bboxes, torch.Tensor) else np.asarray(bboxes)
    boxes = boxes.astype(np.float32)
    if boxes.size == 0:
        return np.zeros((0, 4), np.float32)
    if boxes.ndim == 1:
        boxes = boxes[None]
    if boxes.ndim != 2 or boxes.shape[1] != 4:
        raise ValueError(f'inference_topdown: bboxes must be N x 4 ({bbox_format}), got shape {boxes.shape}')
    if bbox_format == 'xywh':
        boxes = boxes.copy()
        boxes[:, 2:] += boxes[:, :2]
    return boxes


def inference_topdown(model: nn.Module, img: ImageInput, bboxes: Any = None, bbox_format: str = 'xyxy', *,
                      bbox_scores: Any = None, batch_size: int | None = None) -> list[DataSample]:
    """Estimate the pose of each person box in one image.

    Args:
        model: a top-down pose model from :func:`init_model` (it needs ``model.cfg`` and ``model.dataset_meta``).
        img: an image file or an H x W x 3 uint8 BGR array.
        bboxes: N x 4 person boxes in image pixels (numpy, tensor or nested list); ``None`` uses the whole image
            as one box; an empty array gives an empty list.
        bbox_format: ``'xyxy'`` (x1, y1, x2, y2) or ``'xywh'`` (x, y, w, h) for ``bboxes``.
        bbox_scores: N detection scores carried to ``pred_instances.bbox_scores`` (default 1.0).
        batch_size: boxes per forward pass (default: all of them in one batch).

    Returns:
        One :class:`DataSample` per box, in order, with ``pred_instances`` (``keypoints`` float32 1 x K x 2 image
        pixels, ``keypoint_scores`` 1 x K, ``bboxes`` 1 x 4 xyxy, ``bbox_scores`` 1) and the metainfo of the test
        pipeline (``img_path``, ``ori_shape``, ``input_center``, ``input_scale``, ``input_size``...).
    """
    if getattr(model, 'cfg', None) is None:
        raise AttributeError('inference_topdown: the model has no .cfg; build it with init_model')
    image, path = read_image(img, 'inference_topdown')
    boxes = _as_boxes(bboxes, bbox_format, image.shape[:2])
    n = len(boxes)
    if n == 0:
        return []
    if bbox_scores is None:
        scores = np.ones(n, np.float32)
    else:
        scores = np.asarray(bbox_scores.detach().cpu() if isinstance(bbox_scores, torch.Tensor) else bbox_scores,
                            np.float32).reshape(-1)
        if len(scores) != n:
            raise ValueError(f'inference_topdown: {len(scores)} bbox_scores for {n} boxes')
    pipeline = _topdown_pipeline(model)
    meta = dict(getattr(model, 'dataset_meta', None) or {})
    samples = []
    for i in range(n):
        info = dict(img=image, img_path=path, img_id=0, id=i, category_id=1, bbox=boxes[i:i + 1].copy(),
                    bbox_score=scores[i:i + 1].copy())
        for key in ('flip_indices', 'dataset_name', 'upper_body_ids', 'lower_body_ids', 'flip_pairs',
                    'dataset_keypoint_weights'):
            if key in meta:
                info[key] = meta[key]
        packed = pipeline(info)
        if packed is None:
            raise RuntimeError(f'inference_topdown: the test pipeline dropped box {i} ({boxes[i].tolist()})')
        samples.append(packed)
    step = n if batch_size is None else max(int(batch_size), 1)
    results: list[DataSample] = []
    with torch.no_grad():
        for start in range(0, n, step):
            results.extend(model.test_step(pseudo_collate(samples[start:start + step])))
    return results


def _np(value: Any) -> np.ndarray:
    return value.detach().cpu().numpy() if isinstance(value, torch.Tensor) else np.asarray(value)


def merge_data_samples(data_samples: Sequence[DataSample]) -> DataSample:
    """Join the one-person samples of one image (from :func:`inference_topdown`) into one sample.

    Returns:
        A :class:`DataSample` with the first sample's metainfo, ``pred_instances`` (and ``gt_instances`` when
        every sample has them) concatenated along the instance axis (``keypoints`` N x K x 2...), and, when the
        samples carry ``pred_heatmaps`` (K x h x w in their crop frames), ``pred_heatmaps`` K x H x W in the
        image frame: each instance's heatmaps pasted back with its ``input_center`` / ``input_scale``, then the
        maximum over instances.
    """
    items = list(data_samples)
    if not items:
        raise ValueError('merge_data_samples: no data samples given')
    merged = DataSample(metainfo=dict(items[0].metainfo))
    for field in ('pred_instances', 'gt_instances'):
        if all(field in s for s in items):
            parts = []
            for s in items:
                inst = getattr(s, field)
                parts.append(InstanceData(**{k: (_np(v) if isinstance(v, torch.Tensor) else v)
                                             for k, v in inst.items()}))
            setattr(merged, field, InstanceData.cat(parts))
    if all(s.get('pred_heatmaps') is not None for s in items):
        ori = items[0].metainfo.get('ori_shape')
        maps = []
        for s in items:
            hm = _np(s.pred_heatmaps).astype(np.float32)
            m = s.metainfo
            if ori is not None and m.get('input_center') is not None and m.get('input_scale') is not None:
                hm = heatmaps_to_image(hm, m['input_center'], m['input_scale'], tuple(ori[:2]))
            maps.append(hm)
        if all(m.shape == maps[0].shape for m in maps):
            merged.pred_heatmaps = np.max(np.stack(maps), axis=0)
    return merged


def split_instances(instances: InstanceData | None) -> list[dict[str, Any]]:
    """MMPose's per-person result dicts: ``{'keypoints': [[x, y], ...], 'keypoint_scores': [...],
    'bbox': [[x1, y1, x2, y2]], 'bbox_score': float}`` (plain Python numbers, JSON-ready)."""
    if instances is None or len(instances) == 0:
        return []
    kpts = _np(instances.keypoints).astype(np.float64)
    scores = _np(instances.keypoint_scores).astype(np.float64) if instances.get('keypoint_scores') is not None \
        else np.ones(kpts.shape[:2])
    boxes = _np(instances.bboxes).astype(np.float64).reshape(-1, 4) if instances.get('bboxes') is not None else None
    bscores = _np(instances.bbox_scores).astype(np.float64).reshape(-1) \
        if instances.get('bbox_scores') is not None else None
    out = []
    for i in range(len(kpts)):
        res = dict(keypoints=kpts[i].tolist(), keypoint_scores=scores[i].tolist())
        if boxes is not None:
            res['bbox'] = [boxes[i].tolist()]
        if bscores is not None:
            res['bbox_score'] = float(bscores[i])
        out.append(res)
    return out
