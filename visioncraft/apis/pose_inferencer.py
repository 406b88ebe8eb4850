"""MMPose's inferencer: a person detector and a top-down pose model over images, folders, videos and a webcam.

:class:`PoseInferencer` chains :func:`~visioncraft.apis.init_detector` / :func:`~visioncraft.apis.inference_detector`
and :func:`~visioncraft.apis.init_model` / :func:`~visioncraft.apis.inference_topdown` (:mod:`.pose`), and writes
MMPose-style JSON predictions and drawn pictures (:mod:`.writers`).

This module is where detection and pose meet (``apis/`` may use both tasks; a task package never imports another).
"""
from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from visioncraft.fileio.image import read_image
from visioncraft.structures import DataSample, InstanceData
from visioncraft.tasks.pose.visualization import PoseLocalVisualizer

from .detection import inference_detector, init_detector
from .display import FrameWindow, has_display
from .inputs import image_items, input_kind
from .model_aliases import resolve_pose2d
from .pose import inference_topdown, init_model, merge_data_samples, split_instances
from .video import VideoIOError, open_video, open_video_writer, read_frames
from .writers import write_json, write_picture

__all__ = ['PoseInferencer']


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
        config = resolve_pose2d(pose2d, pose2d_weights)
        if pose2d_weights is not None and not str(pose2d_weights).startswith(('http://', 'https://')) \
                and not Path(pose2d_weights).is_file():
            raise FileNotFoundError(f'PoseInferencer: pose2d_weights: checkpoint file not found: {pose2d_weights}')
        self.pose_model = init_model(config, None if pose2d_weights is None else str(pose2d_weights), device=device)
        self.det_model = None
        if det_model is not None:
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
        a list): :func:`visioncraft.apis.inputs.input_kind`."""
        return input_kind(inputs)

    def image_items(self, inputs: Any) -> list[tuple[Any, str]]:
        """(image source, output name) for image-like inputs (a file, a folder, arrays or a list), in the order
        :meth:`__call__` runs them; FileNotFoundError for a missing one
        (:func:`visioncraft.apis.inputs.image_items`)."""
        return image_items(inputs, 'PoseInferencer')

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
                        write_json(Path(pred_out_dir) / f'{Path(name).stem}.json', persons)
                    if vis_out_dir is not None:
                        write_picture(Path(vis_out_dir) / name, drawn, 'PoseInferencer')
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
                write_json(Path(pred_out_dir) / f'{Path(name).stem}.json', frames_out)

    # -- showing ------------------------------------------------------------------------------------------
    def _show(self, drawn_rgb: np.ndarray, wait_time: float) -> bool:
        if self._window is None:
            self._window = FrameWindow('pose', wait_time)
        return self._window.show(np.ascontiguousarray(drawn_rgb[..., ::-1]))

    def _close_window(self) -> None:
        if self._window is not None:
            self._window.close()
            self._window = None
