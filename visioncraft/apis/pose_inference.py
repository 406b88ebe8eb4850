"""Top-down pose estimation from Python: build a pose model, run it on person boxes, or run a person detector first.

* :func:`init_model` builds a top-down pose model (e.g. ``TopdownPoseEstimator``) from a config and a checkpoint.
* :func:`inference_topdown` runs it on the person boxes of one image (the whole image when no boxes are given)
  through the config's test pipeline (``LoadImage``, ``GetBBoxCenterScale``, ``TopdownAffine``,
  ``PackPoseInputs``), one :class:`DataSample` per box; :func:`merge_data_samples` joins them into one per image.
* :class:`PoseInferencer` chains a person detector (:func:`~visioncraft.apis.init_detector` /
  :func:`~visioncraft.apis.inference_detector`) and the pose model over images, folders, videos and a webcam, and
  writes MMPose-style JSON predictions and drawn pictures.

Coordinates are original-image pixels everywhere: boxes xyxy (or xywh on input with ``bbox_format='xywh'``),
keypoints (x, y). Images are H x W x 3 uint8 BGR arrays (OpenCV order) or image files.

This module is where detection and pose meet (``apis/`` may use both tasks; a task package never imports another).
"""
from __future__ import annotations

import copy
import json
import logging
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from visioncraft.config import Config
from visioncraft.data.loading import IMG_EXTENSIONS
from visioncraft.structures import DataSample, InstanceData

from .det_inference import ImageInput, inference_steps, read_image

__all__ = ['init_model', 'inference_topdown', 'merge_data_samples', 'PoseInferencer', 'POSE2D_ALIASES',
           'resolve_pose2d', 'split_instances', 'jsonable']

_logger = logging.getLogger('visioncraft')

_REPO = Path(__file__).resolve().parents[2]
#: model aliases :class:`PoseInferencer` accepts for ``pose2d``: candidate configs, first existing one wins
POSE2D_ALIASES: dict[str, tuple[str, ...]] = {
    'human': ('configs/pose/rtmpose/rtmpose-s_8xb256-420e_coco-256x192.py',
              'configs/pose/topdown_heatmap/td-hm_res50_8xb64-210e_coco-256x192.py'),
}
VIDEO_EXTENSIONS = ('.mp4', '.avi', '.mov', '.mkv', '.m4v', '.webm', '.mpg', '.mpeg')


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
    from visioncraft.registry import default_scope
    return default_scope(cfg.get('default_scope', 'mmpose'))


def _pose_dataset_meta(cfg: Config) -> dict:
    """The pose metainfo of the config's test (else val, else train) dataset; COCO-17's when none says."""
    from visioncraft.registry import DATASETS, RegistryError
    from visioncraft.tasks.pose.datasets.metainfo import parse_pose_metainfo
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
               device: str = 'cpu', cfg_options: dict | None = None) -> nn.Module:
    """Build a top-down pose model from a config, load its weights and put it in eval mode on ``device``.

    Args:
        config: a config file or a :class:`Config` (copied, never modified). Its ``default_scope``
            (``'mmpose'`` for our pose configs, and the default) picks what plain type names mean while the model
            (and, in :func:`inference_topdown`, the test pipeline) is built; the global scope is left as it was.
        checkpoint: a checkpoint path or http(s) URL; ``None`` keeps the random initialisation (with a warning).
        device: ``'cpu'``, ``'cuda'``, ``'cuda:1'``...
        cfg_options: overrides applied to the config, as for ``--cfg-options``.

    Returns:
        The model, with ``model.cfg`` and ``model.dataset_meta``: the checkpoint's ``meta['dataset_meta']`` when
        it describes keypoints, else the config's test dataset ``metainfo`` (or its dataset class's), else COCO-17,
        parsed by :func:`~visioncraft.tasks.pose.datasets.metainfo.parse_pose_metainfo` (``num_keypoints``,
        ``flip_indices``, ``keypoint_colors``, ``skeleton_links``, ``sigmas``...). Pretrained backbone weights in
        the config are not loaded (nothing is downloaded but ``checkpoint``).
    """
    from visioncraft.apis.det_inference import _check_device, build_model_with_weights
    dev = _check_device(device)
    cfg = _read_cfg(config, cfg_options, 'init_model')
    with _scope(cfg):
        model, meta = build_model_with_weights(cfg, checkpoint, 'init_model')
    dataset_meta = _ckpt_dataset_meta(meta)
    model.cfg = cfg
    try:
        model.dataset_meta = dataset_meta if dataset_meta is not None else _pose_dataset_meta(cfg)
    except (KeyError, ValueError, TypeError) as exc:  # e.g. a detector's config: its classes are no keypoints
        from visioncraft.errors import mark_user_error
        raise mark_user_error(exc, f'init_model: {cfg.filename or "the config"}: reading the pose dataset metainfo '
                                   '(is it the config of a pose model?)')
    model.to(dev)
    model.eval()
    return model


# -- running it on boxes ----------------------------------------------------------------------------------
def _topdown_pipeline(model: nn.Module):
    """The config's test pipeline with image loading from memory (cached on the model)."""
    from visioncraft.data.transforms import Compose
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
    from visioncraft.data.collate import pseudo_collate
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
    from visioncraft.tasks.pose.visualization import heatmaps_to_image
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


def jsonable(value: Any) -> Any:
    """``value`` with numpy arrays / scalars and tuples turned into lists and numbers (for ``json.dumps``)."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, torch.Tensor):
        value = value.detach().cpu().numpy()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    return value


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


# -- detector + pose model ---------------------------------------------------------------------------------
def resolve_pose2d(pose2d: str | os.PathLike, pose2d_weights: str | os.PathLike | None) -> str:
    """The config file for ``pose2d``: an alias of :data:`POSE2D_ALIASES` (which needs ``pose2d_weights``: no
    weights are downloaded) or a config path."""
    key = str(pose2d)
    if key in POSE2D_ALIASES:
        found = next((c for c in POSE2D_ALIASES[key] if (_REPO / c).is_file()), None)
        if found is None:
            raise FileNotFoundError(f"PoseInferencer: pose2d='{key}' names the configs {list(POSE2D_ALIASES[key])}, "
                                    f'none of which is in {_REPO}; pass a config file instead')
        if pose2d_weights is None:
            raise ValueError(f"PoseInferencer: pose2d='{key}' resolves to {found}, but no weights can be downloaded "
                             'here: pass pose2d_weights=CHECKPOINT (a checkpoint trained with that config), e.g. '
                             f'`visioncraft pose IMG --pose2d {key} --pose2d-weights CKPT`')
        return str(_REPO / found)
    path = Path(key)
    if not path.is_file():
        raise FileNotFoundError(f'PoseInferencer: pose2d={key!r} is neither a model alias '
                                f'({", ".join(POSE2D_ALIASES)}) nor a config file')
    return str(path)


def _list_dir(folder: Path) -> list[Path]:
    files = sorted(f for f in folder.iterdir() if f.is_file() and f.suffix.lower() in IMG_EXTENSIONS)
    if not files:
        raise FileNotFoundError(f'PoseInferencer: no images ({", ".join(IMG_EXTENSIONS)}) in folder {folder}')
    return files


class PoseInferencer:
    """Person detector + top-down pose model over images, folders, videos and a webcam (MMPose's inferencer).

    Args:
        pose2d: ``'human'`` (COCO-17; needs ``pose2d_weights``) or a pose config file.
        pose2d_weights: the pose checkpoint (``None`` with a config file keeps random weights, with a warning).
        det_model: a detection config file, or ``None`` to use the whole image as the person box.
        det_weights: the detector's checkpoint.
        det_cat_ids: the detector's label(s) that are persons (default 0, COCO's ``person``).
        device: ``'cpu'`` or ``'cuda[:N]'``.
        show_progress: a progress bar (stderr) over the inputs.
        visualizer: options of :class:`~visioncraft.tasks.pose.visualization.PoseLocalVisualizer` (radius,
            line_width, alpha, ...) for the drawings.

    ``inferencer(inputs, ...)`` is a generator (MMPose's lazy interface): ``next(inferencer(img))`` or
    ``list(inferencer(folder))``. Each item covers ``batch_size`` inputs (frames of a video)::

        {'predictions': [[{'keypoints': [[x, y], ...K], 'keypoint_scores': [...K], 'bbox': [[x1, y1, x2, y2]],
                           'bbox_score': s}, ...persons], ...images],
         'visualization': [H x W x 3 uint8 RGB drawing, ...images] (with return_vis=True, else [])}
    """

    def __init__(self, pose2d: str | os.PathLike = 'human', pose2d_weights: str | os.PathLike | None = None,
                 det_model: str | os.PathLike | None = None, det_weights: str | os.PathLike | None = None,
                 det_cat_ids: int | Sequence[int] = 0, device: str = 'cpu', show_progress: bool = False,
                 visualizer: dict | None = None) -> None:
        from visioncraft.tasks.pose.visualization import PoseLocalVisualizer
        config = resolve_pose2d(pose2d, pose2d_weights)
        if pose2d_weights is not None and not str(pose2d_weights).startswith(('http://', 'https://')) \
                and not Path(pose2d_weights).is_file():
            raise FileNotFoundError(f'PoseInferencer: pose2d_weights: checkpoint file not found: {pose2d_weights}')
        self.pose_model = init_model(config, None if pose2d_weights is None else str(pose2d_weights), device=device)
        self.det_model = None
        if det_model is not None:
            from visioncraft.apis.det_inference import init_detector
            if not Path(det_model).is_file():
                raise FileNotFoundError(f'PoseInferencer: det_model: config file not found: {det_model}')
            if det_weights is not None and not str(det_weights).startswith(('http://', 'https://')) \
                    and not Path(det_weights).is_file():
                raise FileNotFoundError(f'PoseInferencer: det_weights: checkpoint file not found: {det_weights}')
            self.det_model = init_detector(str(det_model), None if det_weights is None else str(det_weights),
                                           device=device)
        self.det_cat_ids = tuple(int(c) for c in ((det_cat_ids,) if isinstance(det_cat_ids, int) else det_cat_ids))
        self.show_progress = bool(show_progress)
        self.visualizer = PoseLocalVisualizer(name='pose_inferencer', **(visualizer or {}))
        self.visualizer.dataset_meta = dict(self.pose_model.dataset_meta)
        self._window = None

    @property
    def dataset_meta(self) -> dict:
        return self.pose_model.dataset_meta

    # -- one image ----------------------------------------------------------------------------------------
    def detect(self, img: np.ndarray, bbox_thr: float = 0.3, nms_thr: float = 0.3) -> tuple[np.ndarray, np.ndarray]:
        """Person boxes of ``img`` (H x W x 3 uint8 BGR): the detector's boxes whose label is in ``det_cat_ids``
        and score ``>= bbox_thr``, after NMS at IoU ``nms_thr``, best first. Without a detector, the whole image
        with score 1.

        Returns:
            (boxes float32 N x 4 xyxy image pixels, scores float32 N).
        """
        if self.det_model is None:
            h, w = img.shape[:2]
            return np.array([[0, 0, w, h]], np.float32), np.ones(1, np.float32)
        from torchvision.ops import nms

        from visioncraft.apis.det_inference import inference_detector
        pred = inference_detector(self.det_model, img).pred_instances
        boxes = pred.bboxes.detach().float().cpu()
        scores = pred.scores.detach().float().cpu()
        labels = pred.labels.detach().cpu()
        keep = (scores >= bbox_thr) & torch.isin(labels, torch.tensor(self.det_cat_ids, dtype=labels.dtype))
        boxes, scores = boxes[keep], scores[keep]
        if len(boxes):
            order = nms(boxes, scores, float(nms_thr))
            boxes, scores = boxes[order], scores[order]
        return boxes.numpy().astype(np.float32), scores.numpy().astype(np.float32)

    def predict(self, img: np.ndarray, bbox_thr: float = 0.3, nms_thr: float = 0.3,
                img_path: str | None = None, output_heatmaps: bool = False) -> DataSample:
        """Detect persons in ``img`` (H x W x 3 uint8 BGR) and estimate their poses (with ``output_heatmaps``
        also their heatmaps, merged into the image frame as ``pred_heatmaps`` K x H x W).

        Returns:
            One :class:`DataSample` for the image (:func:`merge_data_samples`); ``pred_instances`` is empty
            (no fields) when no person was found. ``img_path`` goes to its metainfo.
        """
        boxes, scores = self.detect(img, bbox_thr, nms_thr)
        test_cfg = getattr(self.pose_model, 'test_cfg', None)
        saved = dict(test_cfg) if isinstance(test_cfg, dict) else None
        if saved is not None and output_heatmaps:
            test_cfg['output_heatmaps'] = True  # for this call only
        try:
            samples = inference_topdown(self.pose_model, img, boxes, bbox_scores=scores)
        finally:
            if saved is not None:
                test_cfg.clear()
                test_cfg.update(saved)
        if not samples:
            return DataSample(metainfo=dict(img_path=img_path, ori_shape=img.shape[:2], img_shape=img.shape[:2]),
                              pred_instances=InstanceData())
        merged = merge_data_samples(samples)
        merged.set_metainfo(dict(img_path=img_path))
        return merged

    def visualize(self, img: np.ndarray, sample: DataSample, *, kpt_thr: float = 0.3, draw_bbox: bool = False,
                  draw_heatmap: bool = False, show_kpt_idx: bool = False, skeleton_style: str = 'mmpose'
                  ) -> np.ndarray:
        """The predictions drawn on ``img`` (BGR in): H x W x 3 uint8 RGB (twice as high with heatmaps)."""
        return self.visualizer.draw_sample(img[..., ::-1], sample, draw_gt=False, draw_pred=True, kpt_thr=kpt_thr,
                                           draw_bbox=draw_bbox, draw_heatmap=draw_heatmap, show_kpt_idx=show_kpt_idx,
                                           skeleton_style=skeleton_style)

    # -- inputs -------------------------------------------------------------------------------------------
    @staticmethod
    def input_kind(inputs: Any) -> str:
        """``'webcam'``, ``'video'`` (by extension), ``'folder'``, ``'image'`` (a path) or ``'images'`` (arrays,
        a list)."""
        if isinstance(inputs, str) and inputs == 'webcam':
            return 'webcam'
        if isinstance(inputs, (str, os.PathLike)):
            p = Path(inputs)
            if p.is_dir():
                return 'folder'
            if p.suffix.lower() in VIDEO_EXTENSIONS:
                return 'video'
            return 'image'
        return 'images'

    def image_items(self, inputs: Any) -> list[tuple[Any, str]]:
        """(image source, output name) for image-like inputs (a file, a folder, arrays or a list), in the order
        :meth:`__call__` runs them; FileNotFoundError for a missing one."""
        kind = self.input_kind(inputs)
        if kind == 'folder':
            return [(p, p.name) for p in _list_dir(Path(inputs))]
        if kind == 'image':
            if not Path(inputs).is_file():
                raise FileNotFoundError(f'PoseInferencer: input not found: {inputs} (an image, a folder, a video '
                                        "file or 'webcam')")
            return [(inputs, Path(inputs).name)]
        items = list(inputs) if isinstance(inputs, (list, tuple)) else [inputs]
        out = []
        for i, item in enumerate(items):
            if isinstance(item, np.ndarray):
                out.append((item, f'{i:08d}.jpg'))
            elif isinstance(item, (str, os.PathLike)) and Path(item).is_file():
                out.append((item, Path(item).name))
            else:
                raise FileNotFoundError(f'PoseInferencer: input {i} is neither an image array nor an image file: '
                                        f'{item!r}')
        return out

    # -- running ------------------------------------------------------------------------------------------
    def __call__(self, inputs: Any, *, bbox_thr: float = 0.3, nms_thr: float = 0.3, kpt_thr: float = 0.3,
                 out_dir: str | os.PathLike | None = None, show: bool = False, wait_time: float = 0.0,
                 draw_bbox: bool = False, draw_heatmap: bool = False, show_kpt_idx: bool = False,
                 skeleton_style: str = 'mmpose', return_vis: bool = False, batch_size: int = 1,
                 pred_out_dir: str | os.PathLike | None = None, vis_out_dir: str | os.PathLike | None = None,
                 max_frames: int | None = None) -> Iterator[dict[str, list]]:
        """Run on ``inputs`` and yield results ``batch_size`` inputs (or frames) at a time.

        Args:
            inputs: an image file, a folder of images, a video file (by extension: .mp4, .avi...), ``'webcam'``
                (camera 0), an H x W x 3 uint8 BGR array, or a list of image files / arrays.
            bbox_thr, nms_thr: person boxes scoring below ``bbox_thr`` are dropped, then NMS at IoU ``nms_thr``.
            kpt_thr: keypoints scoring below it are not drawn (all are returned).
            out_dir: writes ``out_dir/predictions/<name>.json`` (the image's list of persons; for a video one
                file with ``[{'frame_id': i, 'instances': [...]}, ...]``) and ``out_dir/visualizations/<name>``
                (the drawing, named as the input: ``<stem>.jpg`` / ``.png``...; a video's drawn frames as
                ``<video name>``); ``pred_out_dir`` / ``vis_out_dir`` override the two folders.
            show: show each drawing in a window (needs a display; q / Esc stops a video or the webcam).
            draw_bbox, draw_heatmap, show_kpt_idx, skeleton_style: drawing options (see PoseLocalVisualizer).
            return_vis: put the drawings (H x W x 3 uint8 RGB) in the results.
            max_frames: stop a video or the webcam after this many frames.

        Yields:
            ``{'predictions': [...], 'visualization': [...]}`` (see the class docstring).
        """
        if int(batch_size) < 1:
            raise ValueError(f'PoseInferencer: batch_size must be >= 1, got {batch_size}')
        if pred_out_dir is None and out_dir is not None:
            pred_out_dir = Path(out_dir) / 'predictions'
        if vis_out_dir is None and out_dir is not None:
            vis_out_dir = Path(out_dir) / 'visualizations'
        draw_opts = dict(kpt_thr=kpt_thr, draw_bbox=draw_bbox, draw_heatmap=draw_heatmap, show_kpt_idx=show_kpt_idx,
                         skeleton_style=skeleton_style)
        self.visualizer._check_style(skeleton_style)
        need_vis = bool(return_vis or show or vis_out_dir is not None)
        kind = self.input_kind(inputs)
        if kind in ('video', 'webcam'):
            yield from self._run_stream(inputs, kind, int(batch_size), bbox_thr, nms_thr, draw_opts, need_vis,
                                        return_vis, show, wait_time, pred_out_dir, vis_out_dir, max_frames)
            return
        items = self.image_items(inputs)
        progress = None
        if self.show_progress:
            import sys

            from tqdm import tqdm
            progress = tqdm(total=len(items), unit='img', file=sys.stderr, dynamic_ncols=True)
        try:
            for start in range(0, len(items), int(batch_size)):
                preds, vis = [], []
                for src, name in items[start:start + int(batch_size)]:
                    img, path = read_image(src, 'PoseInferencer')
                    sample = self.predict(img, bbox_thr, nms_thr, img_path=path, output_heatmaps=draw_heatmap)
                    persons = split_instances(sample.pred_instances)
                    preds.append(persons)
                    drawn = self.visualize(img, sample, **draw_opts) if need_vis else None
                    if pred_out_dir is not None:
                        out = Path(pred_out_dir)
                        out.mkdir(parents=True, exist_ok=True)
                        (out / f'{Path(name).stem}.json').write_text(json.dumps(persons) + '\n')
                    if vis_out_dir is not None:
                        self._write_image(Path(vis_out_dir) / name, drawn)
                    if show and not self._show(drawn, wait_time):
                        return
                    if return_vis:
                        vis.append(drawn)
                    if progress is not None:
                        progress.update(1)
                yield dict(predictions=preds, visualization=vis)
        finally:
            if progress is not None:
                progress.close()
            self._close_window()

    def _run_stream(self, inputs, kind, batch_size, bbox_thr, nms_thr, draw_opts, need_vis, return_vis, show,
                    wait_time, pred_out_dir, vis_out_dir, max_frames) -> Iterator[dict[str, list]]:
        from visioncraft.apis.video import VideoIOError, has_display, open_video, open_video_writer, read_frames
        if kind == 'webcam' and not (show or vis_out_dir is not None or return_vis or pred_out_dir is not None):
            show = True
        if kind == 'webcam' and show and not has_display():
            raise VideoIOError("PoseInferencer: 'webcam' with show=True needs a display (DISPLAY is not set, or "
                               'OpenCV is a headless build); pass out_dir to write the drawn frames instead')
        cap, info = open_video(0 if kind == 'webcam' else inputs)
        name = 'webcam.mp4' if kind == 'webcam' else Path(inputs).name
        if vis_out_dir is not None and Path(name).suffix.lower() not in ('.mp4', '.avi', '.mov', '.mkv', '.m4v'):
            name = f'{Path(name).stem}.mp4'
        frames_out: list[dict] = []
        writer = None
        frame_id = 0
        try:
            batch_preds, batch_vis = [], []
            for frame in read_frames(cap, 0 if kind == 'webcam' else inputs):
                if max_frames is not None and frame_id >= max_frames:
                    break
                sample = self.predict(frame, bbox_thr, nms_thr, output_heatmaps=draw_opts['draw_heatmap'])
                persons = split_instances(sample.pred_instances)
                frames_out.append(dict(frame_id=frame_id, instances=persons))
                drawn = self.visualize(frame, sample, **draw_opts) if need_vis else None
                if vis_out_dir is not None:
                    bgr = np.ascontiguousarray(drawn[..., ::-1])
                    if writer is None:
                        writer = open_video_writer(Path(vis_out_dir) / name, info.fps, (bgr.shape[1], bgr.shape[0]))
                    writer.write(bgr)
                frame_id += 1
                batch_preds.append(persons)
                if return_vis:
                    batch_vis.append(drawn)
                stop = show and not self._show(drawn, wait_time if wait_time > 0 else 0.001)
                if len(batch_preds) == batch_size or stop:
                    yield dict(predictions=batch_preds, visualization=batch_vis)
                    batch_preds, batch_vis = [], []
                if stop:
                    break
            if batch_preds:
                yield dict(predictions=batch_preds, visualization=batch_vis)
        finally:
            cap.release()
            if writer is not None:
                writer.release()
            self._close_window()
            if pred_out_dir is not None:
                out = Path(pred_out_dir)
                out.mkdir(parents=True, exist_ok=True)
                (out / f'{Path(name).stem}.json').write_text(json.dumps(frames_out) + '\n')

    # -- output helpers -----------------------------------------------------------------------------------
    @staticmethod
    def _write_image(path: Path, drawn_rgb: np.ndarray) -> None:
        import cv2
        path.parent.mkdir(parents=True, exist_ok=True)
        if path.suffix.lower() not in IMG_EXTENSIONS:
            path = path.with_suffix('.jpg')
        if not cv2.imwrite(str(path), np.ascontiguousarray(drawn_rgb[..., ::-1])):
            raise OSError(f'PoseInferencer: could not write {path}')

    def _show(self, drawn_rgb: np.ndarray, wait_time: float) -> bool:
        from visioncraft.apis.video import FrameWindow
        if self._window is None:
            self._window = FrameWindow('pose', wait_time)
        return self._window.show(np.ascontiguousarray(drawn_rgb[..., ::-1]))

    def _close_window(self) -> None:
        if self._window is not None:
            self._window.close()
            self._window = None
