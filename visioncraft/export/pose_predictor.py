"""Top-down pose estimation with an exported model (``visioncraft export POSE_CONFIG CKPT --out-dir DIR``): no config
and no model classes, the same results as :func:`visioncraft.apis.inference_topdown` +
:func:`~visioncraft.apis.merge_data_samples` on the checkpoint.

Interface (what :class:`~visioncraft.apis.PoseInferencer` and ``visioncraft predict`` call)::

    predictor = PosePredictor(model_dir, backend='onnxruntime' | 'torchscript', device='cpu' | 'cuda[:N]')
    sample = predictor(img_bgr, bboxes=None, bbox_format='xyxy', bbox_scores=None)
    sample.pred_instances.keypoints        # float32 (N, K, 2), (x, y) in image pixels, one row per box
    sample.pred_instances.keypoint_scores  # float32 (N, K)
    sample.pred_instances.keypoints_visible  # float32 (N, K), = the scores (MMPose's)
    sample.pred_instances.bboxes           # float32 (N, 4) xyxy image pixels: the boxes given (or the whole image)
    sample.pred_instances.bbox_scores      # float32 (N,)  (``bbox_scores`` given, else 1)
    predictor.dataset_meta                 # keypoint names, flip_indices, colours, skeleton_links, sigmas...

* ``img_bgr``: an H x W x 3 uint8 BGR array (OpenCV order; H x W grey is made BGR) or an image file.
* ``bboxes``: person boxes (N, 4) in image pixels (numpy, tensor or nested lists), ``xyxy`` or, with
  ``bbox_format='xywh'``, (x, y, w, h); ``None`` = the whole image is one box (as ``inference_topdown``); an
  empty array gives a sample with no instances (``keypoints`` (0, K, 2)).
* The sample's metainfo is the first box's (``img_path``, ``ori_shape``, ``input_center``...), as
  ``merge_data_samples`` gives it. :meth:`PosePredictor.predict` returns the per-box samples instead.

What runs where (see docs/export.md, "Pose"):

1. the stored test pipeline per box, built from the transform registry in the stored scope (``LoadImageFromNDArray``,
   ``GetBBoxCenterScale``, ``TopdownAffine`` to the codec's input size, ``PackPoseInputs``);
2. the stored data preprocessor (``PoseDataPreprocessor``: BGR -> RGB, ``(x - mean) / std``), all boxes one batch;
3. the graph (``model.onnx`` on onnxruntime or ``model.pt`` on TorchScript): heatmaps, or the SimCC x / y logits; with
   the stored ``flip_test`` on the batch and its mirror image at once (2N crops), as the estimator does;
4. the flip test's merge: ``merge_flip_heatmaps`` (flip_mode, shift_heatmap) or ``flip_vectors`` and the mean;
5. the codec built from the stored config (``MSRAHeatmap`` / ``UDPHeatmap`` / ``SimCCLabel``): its ``batch_decode``
   (arg-max + sub-pixel refinement, or the SimCC arg-max) gives input-pixel keypoints and scores;
6. ``input_to_image_coords`` with each crop's ``input_center`` / ``input_scale`` (and UDP flag) maps them back.

Steps 3-6 are the estimator's and heads' own functions, so the two paths cannot drift apart.
"""
from __future__ import annotations

import copy
import os
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..apis.pose import merge_data_samples
from ..data.transforms import Compose
from ..errors import AnnotationError, check_device
from ..fileio.image import ImageInput, read_image
from ..registry import KEYPOINT_CODECS, MODELS, default_scope
from ..structures import DataSample, InstanceData, to_numpy
from ..tasks.pose.codecs import flip_vectors
from ..tasks.pose.models.estimator import input_to_image_coords
from ..tasks.pose.models.heatmap_head import merge_flip_heatmaps
from .artifacts import INFERENCE_JSON
from .predictor import BACKENDS, _Runtime, load_inference_settings

__all__ = ['PosePredictor', 'restore_dataset_meta']

#: the metainfo keys ``inference_topdown`` hands the test pipeline with every box
_META_KEYS = ('flip_indices', 'dataset_name', 'upper_body_ids', 'lower_body_ids', 'flip_pairs',
              'dataset_keypoint_weights')


def restore_dataset_meta(meta: dict | None) -> dict[str, Any]:
    """``inference.json``'s ``dataset_meta`` with the types :func:`~visioncraft.tasks.pose.datasets.metainfo.
    parse_pose_metainfo` gives: colours uint8 arrays, weights and sigmas float32 arrays, int keys of
    ``keypoint_id2name``."""
    dm = dict(meta or {})
    for key, dtype in (('keypoint_colors', np.uint8), ('skeleton_link_colors', np.uint8),
                       ('dataset_keypoint_weights', np.float32), ('sigmas', np.float32)):
        if dm.get(key) is not None:
            dm[key] = np.asarray(dm[key], dtype=dtype)
    if isinstance(dm.get('keypoint_id2name'), dict):
        dm['keypoint_id2name'] = {int(k): v for k, v in dm['keypoint_id2name'].items()}
    return dm


def _as_boxes(bboxes: Any, bbox_format: str, img_hw: tuple[int, int]) -> np.ndarray:
    """(N, 4) float32 xyxy boxes (``inference_topdown``'s reading of ``bboxes``)."""
    if bbox_format not in ('xyxy', 'xywh'):
        raise ValueError(f"PosePredictor: bbox_format must be 'xyxy' or 'xywh', got {bbox_format!r}")
    if bboxes is None:
        return np.array([[0, 0, img_hw[1], img_hw[0]]], dtype=np.float32)
    boxes = to_numpy(bboxes).astype(np.float32)
    if boxes.size == 0:
        return np.zeros((0, 4), np.float32)
    if boxes.ndim == 1:
        boxes = boxes[None]
    if boxes.ndim != 2 or boxes.shape[1] != 4:
        raise ValueError(f'PosePredictor: bboxes must be N x 4 ({bbox_format}), got shape {boxes.shape}')
    if bbox_format == 'xywh':
        boxes = boxes.copy()
        boxes[:, 2:] += boxes[:, :2]
    return boxes


class PosePredictor:
    """Top-down pose estimation with an exported heatmap or SimCC model (see the module docstring).

    Args:
        model_dir: a directory written by :func:`visioncraft.export.export_model` for a pose model (``task``
            ``'pose'`` in its ``inference.json``).
        backend: ``'onnxruntime'`` (``model.onnx``) or ``'torchscript'`` (``model.pt``).
        device: ``'cpu'`` or ``'cuda[:N]'`` (onnxruntime uses its CUDA provider when it has one).
        flip_test: overrides the stored ``postprocess.flip_test`` (False halves the work; the eager model with
            ``test_cfg.flip_test=False`` gives the same results).
        num_threads: onnxruntime's intra-op threads.
    """

    def __init__(self, model_dir: str | os.PathLike, backend: str = 'onnxruntime', device: str = 'cpu', *,
                 flip_test: bool | None = None, num_threads: int | None = None) -> None:
        if backend not in BACKENDS:
            raise ValueError(f'unknown backend {backend!r}; choose one of {", ".join(BACKENDS)}')
        self.model_dir = Path(model_dir)
        self.info = load_inference_settings(self.model_dir)
        where = self.model_dir / INFERENCE_JSON
        if self.info.get('task') != 'pose':
            raise ValueError(f'{where}: task is {self.info.get("task", "textdet")!r}, PosePredictor needs a pose '
                             'export')
        self.backend, self.device = backend, check_device(device)
        self.runtime = _Runtime(self.model_dir, self.info, backend, self.device, num_threads)
        pre = self.info['preprocess']
        self.scope = pre.get('scope') or 'mmpose'
        with default_scope(self.scope):  # the config's scope: plain type names mean the pose transforms
            self.pipeline = Compose(copy.deepcopy(pre['pipeline']))
            self.data_preprocessor = MODELS.build(dict(pre['data_preprocessor']),
                                                  key_path='inference.json preprocess.data_preprocessor')
            post = dict(self.info['postprocess'])
            if post.get('head_output') not in ('heatmaps', 'simcc'):
                raise AnnotationError(f'{where}: postprocess.head_output must be "heatmaps" or "simcc", got '
                                      f'{post.get("head_output")!r}')
            self.codec = KEYPOINT_CODECS.build(dict(post['codec']), key_path='inference.json postprocess.codec')
        self.data_preprocessor.to(self.device)
        self.postprocess_cfg = post
        self.head_output = post['head_output']
        self.flip_test = bool(post.get('flip_test', False)) if flip_test is None else bool(flip_test)
        self.test_cfg = dict(flip_mode=post.get('flip_mode', 'heatmap'), shift_heatmap=post.get('shift_heatmap', True))
        self.dataset_meta = restore_dataset_meta(self.info.get('dataset_meta'))
        if self.flip_test and 'flip_indices' not in self.dataset_meta:
            raise AnnotationError(f'{where}: flip_test is on but dataset_meta has no flip_indices')

    # ------------------------------------------------------------------ steps
    def preprocess(self, img: np.ndarray, boxes: np.ndarray, scores: np.ndarray, path: str | None = None
                   ) -> tuple[torch.Tensor, list[DataSample]]:
        """The config's test pipeline per box, then the data preprocessor: the normalised crops float32
        (N, 3, h, w) and their samples (metainfo ``input_center``, ``input_scale``, ``input_size``...)."""
        packed = []
        for i in range(len(boxes)):
            info = dict(img=img, img_path=path, img_id=0, id=i, category_id=1, bbox=boxes[i:i + 1].copy(),
                        bbox_score=scores[i:i + 1].copy())
            info.update({k: self.dataset_meta[k] for k in _META_KEYS if k in self.dataset_meta})
            out = self.pipeline(info)
            if out is None:
                raise RuntimeError(f'PosePredictor: the preprocessing pipeline dropped box {i} ({boxes[i].tolist()})')
            packed.append(out)
        data = self.data_preprocessor(dict(inputs=[p['inputs'] for p in packed],
                                           data_samples=[p['data_samples'] for p in packed]))
        return data['inputs'], list(data['data_samples'])

    def forward(self, batch: torch.Tensor) -> torch.Tensor | tuple[torch.Tensor, torch.Tensor]:
        """The graph on the crops: heatmaps (N, K, H, W), or the SimCC ``(x (N, K, Wx), y (N, K, Hy))``; with the
        flip test on the crops and their mirror images in one run (2N first dimension)."""
        if self.flip_test:
            batch = torch.cat([batch, batch.flip(-1)])
        out = self.runtime.run(batch)
        if self.head_output == 'simcc':
            wx = int(self.postprocess_cfg['simcc_x_bins'])
            return out[..., :wx], out[..., wx:]
        return out

    def _flip_indices(self, samples: list[DataSample]) -> list[int]:
        meta = samples[0].metainfo if samples else {}
        return list(meta['flip_indices'] if 'flip_indices' in meta else self.dataset_meta['flip_indices'])

    def decode(self, out, samples: list[DataSample]) -> tuple[np.ndarray, np.ndarray]:
        """Flip merge + the codec's ``batch_decode``, as the heads' ``predict``: keypoints float32 (N, K, 2) in input
        pixels and scores (N, K)."""
        n = len(samples)
        if self.head_output == 'heatmaps':
            heatmaps = merge_flip_heatmaps(out[:n], out[n:], self._flip_indices(samples), self.test_cfg) \
                if self.flip_test else out
            keypoints, scores = self.codec.batch_decode(heatmaps)
        else:
            x, y = out
            if self.flip_test:
                fx, fy = flip_vectors(x[n:], y[n:], flip_indices=self._flip_indices(samples))
                x, y = (x[:n] + fx) * 0.5, (y[:n] + fy) * 0.5
            keypoints, scores = self.codec.batch_decode(x, y)
        return (keypoints.detach().float().cpu().numpy().astype(np.float32, copy=False),
                scores.detach().float().cpu().numpy().astype(np.float32, copy=False))

    def postprocess(self, keypoints: np.ndarray, scores: np.ndarray, samples: list[DataSample]) -> list[DataSample]:
        """Input-pixel keypoints -> image pixels (``input_to_image_coords``) and ``pred_instances`` per sample, as
        ``TopdownPoseEstimator.add_pred_to_datasample``."""
        metas = [s.metainfo for s in samples]
        kpts = input_to_image_coords(keypoints[:, None],
                                     np.stack([np.asarray(m['input_size'], np.float32) for m in metas]),
                                     np.stack([np.asarray(m['input_center'], np.float32).reshape(2) for m in metas]),
                                     np.stack([np.asarray(m['input_scale'], np.float32).reshape(2) for m in metas]),
                                     np.array([bool(m.get('input_udp', False)) for m in metas]))
        for i, sample in enumerate(samples):
            gt = sample.get('gt_instances')
            bboxes = to_numpy(gt.bboxes).reshape(-1, 4).astype(np.float32)
            bbox_scores = to_numpy(gt.bbox_scores).reshape(-1).astype(np.float32) if 'bbox_scores' in gt \
                else np.ones(len(bboxes), np.float32)
            sample.pred_instances = InstanceData(keypoints=kpts[i], keypoint_scores=scores[i:i + 1],
                                                 keypoints_visible=scores[i:i + 1], bboxes=bboxes,
                                                 bbox_scores=bbox_scores)
        return samples

    def predict(self, img: ImageInput, bboxes: Any = None, bbox_format: str = 'xyxy', bbox_scores: Any = None
                ) -> list[DataSample]:
        """One :class:`DataSample` per box (``inference_topdown``'s output): ``pred_instances`` with ``keypoints``
        (1, K, 2) image pixels, ``keypoint_scores`` (1, K), ``keypoints_visible``, ``bboxes`` (1, 4),
        ``bbox_scores`` (1,)."""
        image, path = read_image(img, 'PosePredictor')
        boxes = _as_boxes(bboxes, bbox_format, image.shape[:2])
        n = len(boxes)
        if n == 0:
            return []
        scores = np.ones(n, np.float32) if bbox_scores is None else to_numpy(bbox_scores).astype(np.float32).reshape(-1)
        if len(scores) != n:
            raise ValueError(f'PosePredictor: {len(scores)} bbox_scores for {n} boxes')
        batch, samples = self.preprocess(image, boxes, scores, path)
        keypoints, kpt_scores = self.decode(self.forward(batch.to(self.device)), samples)
        return self.postprocess(keypoints, kpt_scores, samples)

    def __call__(self, img: ImageInput, bboxes: Any = None, bbox_format: str = 'xyxy', bbox_scores: Any = None
                 ) -> DataSample:
        samples = self.predict(img, bboxes, bbox_format, bbox_scores)
        if samples:
            return merge_data_samples(samples)
        image, path = read_image(img, 'PosePredictor')
        k = int(self.postprocess_cfg.get('num_keypoints') or self.dataset_meta.get('num_keypoints') or 0)
        empty = DataSample(metainfo=dict(img_path=path, ori_shape=image.shape[:2]))
        empty.pred_instances = InstanceData(keypoints=np.zeros((0, k, 2), np.float32),
                                            keypoint_scores=np.zeros((0, k), np.float32),
                                            keypoints_visible=np.zeros((0, k), np.float32),
                                            bboxes=np.zeros((0, 4), np.float32), bbox_scores=np.zeros(0, np.float32))
        return empty
