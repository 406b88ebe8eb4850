"""MMPose's inferencer: a person detector and a top-down pose model over images, folders, URLs, videos and a webcam,
on :class:`~visioncraft.apis.base_inferencer.BaseInferencer` (which reads the inputs and writes the outputs).

:class:`PoseInferencer` runs the person detector through :class:`~visioncraft.apis.DetInferencer` and the pose model
through :func:`~visioncraft.apis.inference_topdown` (:mod:`.pose`), or exported models (``visioncraft export``
directories) for either, and writes MMPose-style JSON predictions and drawn pictures.

This module is where detection and pose meet (``apis/`` may use both tasks; a task package never imports another).
"""
from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from visioncraft.structures import DataSample, InstanceData, to_numpy
from visioncraft.tasks.pose.visualization import PoseLocalVisualizer

from .base_inferencer import BaseInferencer, InputItem
from .det_inferencer import DetInferencer
from .model_loading import is_exported_dir, load_exported
from .inputs import image_items, input_kind
from .model_aliases import resolve_pose2d_weights
from .model_index import is_model_name
from .pose import inference_topdown, init_model, merge_data_samples, split_instances

__all__ = ['PoseInferencer', 'EXPORTED_POSE_TASKS']

#: the ``task`` values (in an export's ``inference.json``) of exported top-down pose models
EXPORTED_POSE_TASKS = ('pose',)


class PoseInferencer(BaseInferencer):
    """Person detector + top-down pose model over images, folders, URLs, videos and a webcam (MMPose's inferencer).

    Args:
        pose2d: a pose model name of the index (``'human'``: RTMPose-s, COCO-17; ``visioncraft models --task
            pose``; its weights download on first use without ``pose2d_weights``), a pose config file, or a
            directory written by
            ``visioncraft export`` for a pose model (then ``pose2d_weights`` must be None).
        pose2d_weights: the pose checkpoint (``None`` with a config file keeps random weights, with a warning).
        det_model: a detection config file or an exported detector directory, or ``None`` to use the whole image as
            the person box.
        det_weights: the detector's checkpoint (downloaded for a name of the model index when None).
        det_cat_ids: the detector's label(s) that are persons (default 0, COCO's ``person``).
        device: ``None`` / ``'auto'`` (CUDA when available, else the CPU), ``'cpu'`` or ``'cuda[:N]'``.
        show_progress: a progress bar (stderr) over the inputs.
        visualizer: options of :class:`~visioncraft.tasks.pose.visualization.PoseLocalVisualizer` (radius,
            line_width, alpha, ...) for the drawings.

    ``inferencer(inputs, ...)`` is a generator (MMPose's lazy interface): ``next(inferencer(img))`` or
    ``list(inferencer(folder))``. Each item covers ``batch_size`` inputs (frames of a video)::

        {'predictions': [[{'keypoints': [[x, y], ...K], 'keypoint_scores': [...K], 'bbox': [[x1, y1, x2, y2]],
                           'bbox_score': s}, ...persons], ...images],
         'visualization': [H x W x 3 uint8 RGB drawing, ...images] (with return_vis=True, else [])}
    """

    who = 'PoseInferencer'
    pred_subdir = 'predictions'
    vis_subdir = 'visualizations'
    score_name = 'keypoint score'

    def __init__(self, pose2d: str | os.PathLike = 'human', pose2d_weights: str | os.PathLike | None = None,
                 det_model: str | os.PathLike | None = None, det_weights: str | os.PathLike | None = None,
                 det_cat_ids: int | Sequence[int] = 0, device: str | None = None, show_progress: bool = False,
                 visualizer: dict | None = None, *, backend: str = 'onnxruntime') -> None:
        super().__init__(device, show_progress)
        self.pose_model = None
        self.pose_predictor = None
        if is_exported_dir(pose2d):
            if pose2d_weights is not None:
                raise ValueError(f'PoseInferencer: pose2d_weights={pose2d_weights} given with the exported model '
                                 f'directory {pose2d}: an export holds its own weights')
            self.pose_predictor = load_exported(pose2d, EXPORTED_POSE_TASKS, 'pose model', self.who, self.device,
                                                backend)
            info = getattr(self.pose_predictor, 'info', None) or {}
            self._dataset_meta = dict(getattr(self.pose_predictor, 'dataset_meta', None)
                                      or info.get('dataset_meta') or {})
        else:
            if pose2d_weights is not None and not str(pose2d_weights).startswith(('http://', 'https://')) \
                    and not Path(pose2d_weights).is_file():
                raise FileNotFoundError(f'PoseInferencer: pose2d_weights: checkpoint file not found: '
                                        f'{pose2d_weights}')
            # a name of the model index: its config, and its weights downloaded on first use when none are given
            config, pose2d_weights = resolve_pose2d_weights(pose2d, pose2d_weights)
            self.pose_model = init_model(config, pose2d_weights, device=self.device)
            self._dataset_meta = dict(self.pose_model.dataset_meta)
        self.detector: DetInferencer | None = None
        if det_model is not None:
            if not is_exported_dir(det_model) and not Path(det_model).is_file() \
                    and not is_model_name(str(det_model), 'det'):
                raise FileNotFoundError(f'PoseInferencer: det_model: config file or exported model directory not '
                                        f'found: {det_model}')
            self.detector = DetInferencer(det_model, det_weights, device=self.device, show_progress=False,
                                          backend=backend)
        self.det_cat_ids = tuple(int(c) for c in ((det_cat_ids,) if isinstance(det_cat_ids, int) else det_cat_ids))
        self.visualizer = PoseLocalVisualizer(name='pose_inferencer', **(visualizer or {}))
        self.visualizer.dataset_meta = dict(self._dataset_meta)

    @property
    def dataset_meta(self) -> dict:
        return self._dataset_meta

    @property
    def det_model(self):
        """The person detector's model (None without a detector, or for an exported one)."""
        return None if self.detector is None else self.detector.model

    # -- one image ----------------------------------------------------------------------------------------
    def detect(self, img: np.ndarray, bbox_thr: float = 0.3, nms_thr: float = 0.3) -> tuple[np.ndarray, np.ndarray]:
        """Person boxes of ``img`` (H x W x 3 uint8 BGR): the detector's boxes whose label is in ``det_cat_ids``
        and score ``>= bbox_thr``, after NMS at IoU ``nms_thr``, best first. Without a detector, the whole image
        with score 1.

        Returns:
            (boxes float32 N x 4 xyxy image pixels, scores float32 N).
        """
        if self.detector is None:
            h, w = img.shape[:2]
            return np.array([[0, 0, w, h]], np.float32), np.ones(1, np.float32)
        from torchvision.ops import nms
        item = InputItem(img, 'image')
        pred = self.detector.forward([self.detector.preprocess(item)])[0].pred_instances
        boxes = torch.as_tensor(to_numpy(pred.bboxes), dtype=torch.float32).reshape(-1, 4)
        scores = torch.as_tensor(to_numpy(pred.scores), dtype=torch.float32).reshape(-1)
        labels = torch.as_tensor(to_numpy(pred.labels)).reshape(-1)
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
        if self.pose_predictor is not None:
            # the exported model's predictor: inference_topdown's one-person samples (or them merged)
            samples = self.pose_predictor.predict(img, boxes, bbox_scores=scores) if len(boxes) else []
        else:
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

    # -- the base's hooks ---------------------------------------------------------------------------------
    def forward(self, batch: list[InputItem], bbox_thr: float = 0.3, nms_thr: float = 0.3,
                output_heatmaps: bool = False) -> list[DataSample]:
        return [self.predict(item.numpy(), bbox_thr, nms_thr, img_path=item.path, output_heatmaps=output_heatmaps)
                for item in batch]

    def pred_to_json(self, pred: DataSample, item: InputItem) -> list[dict[str, Any]]:
        """The image's persons: MMPose's dicts (:func:`~visioncraft.apis.pose.split_instances`)."""
        return split_instances(pred.get('pred_instances'))

    def nothing_drawn(self, pred: DataSample, *, kpt_thr: float = 0.3, **_: Any) -> tuple[str, float | None] | None:
        inst = pred.get('pred_instances')
        if inst is None or len(inst) == 0 or inst.get('keypoint_scores') is None:
            return None  # no person: nothing predicted, so nothing is missing from the drawing
        scores = np.asarray(to_numpy(inst.keypoint_scores), np.float64)
        if scores.size == 0 or float(scores.max()) >= kpt_thr:
            return None
        n = len(inst)
        return (f'{n} {"person" if n == 1 else "persons"} found, but no keypoint scores >= kpt_thr={kpt_thr:g}: '
                'no keypoint is drawn', float(scores.max()))

    # -- inputs -------------------------------------------------------------------------------------------
    @staticmethod
    def input_kind(inputs: Any) -> str:
        """``'webcam'``, ``'video'``, ``'folder'``, ``'glob'``, ``'url'``, ``'image'`` (a path) or ``'images'``
        (arrays, a list): :func:`visioncraft.apis.inputs.input_kind`."""
        return input_kind(inputs)

    def image_items(self, inputs: Any) -> list[tuple[Any, str]]:
        """(image source, output name) for image-like inputs (a file, a folder, a glob, a URL, arrays or a list),
        in the order :meth:`__call__` runs them; FileNotFoundError for a missing one
        (:func:`visioncraft.apis.inputs.image_items`)."""
        return image_items(inputs, self.who, self.array_name)

    # -- running ------------------------------------------------------------------------------------------
    def __call__(self, inputs: Any, *, bbox_thr: float = 0.3, nms_thr: float = 0.3, kpt_thr: float = 0.3,
                 out_dir: str | os.PathLike | None = None, show: bool = False, wait_time: float = 0.0,
                 draw_bbox: bool = False, draw_heatmap: bool = False, show_kpt_idx: bool = False,
                 skeleton_style: str = 'mmpose', return_vis: bool = False, batch_size: int = 1,
                 pred_out_dir: str | os.PathLike | None = None, vis_out_dir: str | os.PathLike | None = None,
                 max_frames: int | None = None, return_datasamples: bool = False,
                 print_result: bool = False) -> Iterator[dict[str, list]]:
        """Run on ``inputs`` and yield results ``batch_size`` inputs (or frames) at a time.

        Args:
            inputs: an image file, a folder of images, a glob pattern, an ``http(s)://`` image URL, a video file
                (by extension: .mp4, .avi...), ``'webcam'`` (camera 0) or a camera index, an H x W x 3 uint8 BGR
                array, or a list of image files / URLs / arrays.
            bbox_thr, nms_thr: person boxes scoring below ``bbox_thr`` are dropped, then NMS at IoU ``nms_thr``.
            kpt_thr: keypoints scoring below it are not drawn (all are returned); an image whose persons have no
                keypoint that high is logged as one line with the best keypoint score.
            out_dir: writes ``out_dir/predictions/<name>.json`` (the image's list of persons; for a video one
                file with ``[{'frame_id': i, 'instances': [...]}, ...]``) and ``out_dir/visualizations/<name>``
                (the drawing, named as the input: ``<stem>.jpg`` / ``.png``...; a video's drawn frames as
                ``<video name>``); ``pred_out_dir`` / ``vis_out_dir`` override the two folders.
            show: show each drawing in a window (needs a display; q / Esc stops a video or the webcam).
            draw_bbox, draw_heatmap, show_kpt_idx, skeleton_style: drawing options (see PoseLocalVisualizer).
            return_vis: put the drawings (H x W x 3 uint8 RGB) in the results.
            max_frames: stop a video or the webcam after this many frames.
            return_datasamples: the predictions are the merged :class:`DataSample` s, not dicts.
            print_result: print each image's persons.

        Yields:
            ``{'predictions': [...], 'visualization': [...]}`` (see the class docstring).
        """
        self.visualizer._check_style(skeleton_style)
        pred_dir, vis_dir = self.output_dirs(out_dir)
        pred_dir = pred_dir if pred_out_dir is None else Path(pred_out_dir)
        vis_dir = vis_dir if vis_out_dir is None else Path(vis_out_dir)
        yield from self.iterate(inputs, batch_size=batch_size, pred_out_dir=pred_dir, vis_out_dir=vis_dir,
                                return_vis=return_vis, return_datasamples=return_datasamples,
                                print_result=print_result, show=show, wait_time=wait_time, max_frames=max_frames,
                                visualize_kwargs=dict(kpt_thr=kpt_thr, draw_bbox=draw_bbox, draw_heatmap=draw_heatmap,
                                                      show_kpt_idx=show_kpt_idx, skeleton_style=skeleton_style),
                                forward_kwargs=dict(bbox_thr=bbox_thr, nms_thr=nms_thr,
                                                    output_heatmaps=draw_heatmap))
