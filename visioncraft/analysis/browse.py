"""Pictures of what a config's data pipeline feeds the model, with the ground truth drawn
(``tools/analysis_tools/browse_dataset.py``): for every task, by the task's own visualizer.

* ``--mode transformed`` (the default): the pipeline's output as the model gets it before its data preprocessor
  (so not normalised; a float image that was normalised in the pipeline is un-normalised with the model's
  ``data_preprocessor`` mean / std), in the frame of that image: resized, flipped, cropped, padded.
* ``--mode original``: the image as read, with the annotations as loaded (only the pipeline's ``Load*`` steps and
  its packing step run).

What is drawn: detection boxes, masks and class names (:class:`DetLocalVisualizer`, green); text-detection
polygons (:class:`TextDetLocalVisualizer`; do-not-care ones grey); the word of a text-recognition sample as the
caption under it (:class:`TextRecogLocalVisualizer`); pose keypoints and the skeleton (:class:`PoseLocalVisualizer`;
in ``transformed`` mode the keypoints in the model's input crop, ``transformed_keypoints``). A picture has the
size of the image drawn, except text recognition's, which adds its caption strip (and enlarges words under 64
pixels high). Each goes to ``OUTPUT_DIR/<image name>.jpg`` (``<image name>_<index>.jpg`` when a name repeats:
the people of one image, a repeated dataset).
"""
from __future__ import annotations

import argparse
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import ArgumentParser, UserError
from .inputs import add_cfg_options, build_dataset, config_scope, dataset_config, output_name, read_config

__all__ = ['build_parser', 'main', 'run', 'browse_pipeline', 'packed_image', 'draw_packed_sample']


def build_parser(prog: str = 'tools/analysis_tools/browse_dataset.py') -> argparse.ArgumentParser:
    p = ArgumentParser(prog=prog, description='Draw the samples the data pipeline of a config feeds the model, '
                                              'with their ground truth.')
    p.add_argument('config', help='config file')
    p.add_argument('--output-dir', default=None, help='write one picture per sample here (<image name>.jpg)')
    p.add_argument('--not-show', action='store_true',
                   help='do not show the pictures in a window (the default where there is no display)')
    p.add_argument('--show-interval', type=float, default=2.0, help='seconds each shown picture stays')
    p.add_argument('--max-samples', type=int, default=None, help='stop after this many samples (default: all)')
    p.add_argument('--phase', choices=['train', 'val', 'test'], default='train',
                   help='the dataloader whose dataset and pipeline are drawn (default: train)')
    p.add_argument('--mode', choices=['original', 'transformed'], default='transformed',
                   help='transformed: after the whole pipeline (default); original: as loaded, before the '
                        'transforms')
    add_cfg_options(p)
    return p


def main(argv: Sequence[str] | None = None, prog: str = 'tools/analysis_tools/browse_dataset.py') -> list[Path]:
    return run(build_parser(prog).parse_args(argv))


# -- the pipeline -------------------------------------------------------------------------------------------------
def _type_name(step: Any) -> str:
    name = step.get('type') if isinstance(step, dict) else type(step).__name__
    name = name if isinstance(name, str) else getattr(name, '__name__', '')
    return name.rsplit('.', 1)[-1]


def browse_pipeline(pipeline: Sequence[Any], mode: str) -> list[Any]:
    """The pipeline to draw from: ``transformed`` keeps it up to its packing step (what comes after, such as
    ``GenerateDBTargets``, only adds training targets), asking ``PackPoseInputs`` to pack the keypoints in the
    model's input frame too; ``original`` keeps only the ``Load*`` steps (and ``KeypointConverter``) and the packing
    step."""
    steps = list(pipeline)
    packs = [i for i, s in enumerate(steps) if _type_name(s).startswith('Pack')]
    if packs:
        steps = steps[:packs[-1] + 1]
    if mode == 'original':  # KeypointConverter: a combined pose dataset's keypoints in the shared layout
        steps = [s for s in steps if _type_name(s).startswith(('Load', 'Pack')) or _type_name(s) == 'KeypointConverter']
    out = []
    for s in steps:
        if isinstance(s, dict) and _type_name(s) == 'PackPoseInputs':
            s = dict(s, pack_transformed=True)
        out.append(s)
    return out


def _edit_pipelines(ds_cfg: Any, mode: str) -> Any:
    """``ds_cfg`` with every ``pipeline`` list in it (wrappers' inner datasets included) made by
    :func:`browse_pipeline`."""
    if isinstance(ds_cfg, dict):
        return {k: (browse_pipeline(v, mode) if k == 'pipeline' and isinstance(v, (list, tuple))
                    else _edit_pipelines(v, mode)) for k, v in ds_cfg.items()}
    if isinstance(ds_cfg, (list, tuple)):
        return type(ds_cfg)(_edit_pipelines(v, mode) for v in ds_cfg)
    return ds_cfg


# -- drawing ------------------------------------------------------------------------------------------------------
def packed_image(inputs: Any, preprocessor: dict | None = None) -> np.ndarray:
    """The packed ``inputs`` (C x H x W, BGR as the pipeline loads images, or grey; a tensor or an array) as an
    H x W x 3 uint8 RGB image. A float image that was normalised in the pipeline (it has negative values) is
    un-normalised with ``preprocessor``'s ``mean`` / ``std`` (given in RGB order when it has ``bgr_to_rgb``)."""
    from ..structures import to_numpy  # deferred: structures load torch (the tools parse their flags first)
    arr = to_numpy(inputs)
    arr = arr[..., None] if arr.ndim == 2 else arr.transpose(1, 2, 0)
    arr = arr[..., :3]
    if arr.shape[-1] == 1:
        arr = np.repeat(arr, 3, axis=-1)
    if arr.dtype != np.uint8:
        arr = arr.astype(np.float64)
        pre = preprocessor or {}
        mean, std = pre.get('mean'), pre.get('std')
        if arr.min() < 0 and mean is not None and std is not None:
            mean = np.asarray(mean, np.float64).reshape(-1)
            std = np.asarray(std, np.float64).reshape(-1)
            if pre.get('bgr_to_rgb', False):
                mean, std = mean[::-1], std[::-1]
            if len(mean) in (1, 3) and len(std) in (1, 3):
                arr = arr * std + mean
        arr = np.clip(np.rint(arr), 0, 255).astype(np.uint8)
    return np.ascontiguousarray(arr[..., ::-1])  # BGR -> RGB


def _sample_kind(sample: Any) -> str:
    if sample is None:
        return 'none'
    if sample.get('gt_text') is not None:
        return 'textrecog'
    gt = sample.get('gt_instances')
    if gt is not None:
        if gt.get('polygons') is not None:
            return 'textdet'
        if gt.get('keypoints') is not None or gt.get('transformed_keypoints') is not None:
            return 'pose'
        if gt.get('bboxes') is not None:
            return 'detection'
    return 'other'


class _Drawers:
    """One visualizer per kind of sample, made on first use; the dataset's metainfo gives class names, colours
    and the skeleton."""

    def __init__(self, metainfo: dict) -> None:
        self.metainfo = metainfo
        self._made: dict[str, Any] = {}

    def get(self, kind: str, image_hw: tuple[int, int]):
        # deferred (here and below): the task visualizers load torch; the tools parse their flags first
        if kind not in self._made:
            if kind == 'detection':
                from ..tasks.detection.visualization import DetLocalVisualizer  # deferred, see above
                vis = DetLocalVisualizer(name='browse_dataset', min_draw_size=0)
            elif kind == 'textdet':
                from ..tasks.textdet.visualization import TextDetLocalVisualizer  # deferred, see above
                vis = TextDetLocalVisualizer(name='browse_dataset', min_draw_size=0)
            elif kind == 'textrecog':
                from ..tasks.textrecog.visualization import TextRecogLocalVisualizer  # deferred, see above
                vis = TextRecogLocalVisualizer(name='browse_dataset')
            elif kind == 'pose':
                from ..tasks.pose.visualization import PoseLocalVisualizer  # deferred, see above
                vis = PoseLocalVisualizer(name='browse_dataset', radius=2, line_width=1)
            else:
                from ..visualization import Visualizer  # deferred, see above
                vis = Visualizer(name='browse_dataset')
            vis.dataset_meta = dict(self.metainfo)
            self._made[kind] = vis
        vis = self._made[kind]
        side = max(image_hw)
        if kind == 'detection':
            vis.line_width = max(2, round(side / 320))
        elif kind == 'textdet':
            vis.line_width = max(2, round(side / 400))
        elif kind == 'pose':
            vis.radius = max(2, round(side / 100))
            vis.line_width = max(1, round(side / 200))
        return vis


def draw_packed_sample(image: np.ndarray, sample: Any, drawers: _Drawers, mode: str) -> np.ndarray:
    """Draw the ground truth of a packed ``sample`` on ``image`` (H x W x 3 uint8 RGB, the packed inputs) in the
    image's own frame; returns the picture (uint8 RGB)."""
    from ..structures import DataSample, InstanceData, to_numpy  # deferred: structures load torch
    hw = tuple(int(v) for v in image.shape[:2])
    kind = _sample_kind(sample)
    vis = drawers.get(kind, hw)
    frame = dict(ori_shape=hw, img_shape=hw)  # the drawing is in this image's pixels: nothing to map back
    if kind == 'detection':
        gt = sample.gt_instances
        fields = dict(bboxes=gt.bboxes)
        if gt.get('labels') is not None:
            fields['labels'] = gt.labels
        if gt.get('masks') is not None:
            fields['masks'] = gt.masks
        drawing = DataSample(metainfo=frame, gt_instances=InstanceData(**fields))
    elif kind == 'textdet':
        gt = sample.gt_instances
        fields = dict(polygons=list(gt.polygons))
        for key in ('ignored', 'texts'):
            if gt.get(key) is not None:
                fields[key] = gt.get(key)
        drawing = DataSample(metainfo=frame, gt_instances=InstanceData(**fields))
    elif kind == 'textrecog':
        drawing = DataSample(metainfo=frame, gt_text=sample.gt_text)
    elif kind == 'pose':
        gt = sample.gt_instances
        key = 'transformed_keypoints' if mode == 'transformed' and gt.get('transformed_keypoints') is not None \
            else 'keypoints'
        kpts = to_numpy(gt.get(key)).astype(np.float32)
        kpts = kpts.reshape(-1, *kpts.shape[-2:])
        vis_flags = gt.get('keypoints_visible')
        vis_flags = np.ones(kpts.shape[:2], np.float32) if vis_flags is None else \
            to_numpy(vis_flags).astype(np.float32).reshape(kpts.shape[:2])
        drawing = DataSample(metainfo=frame, gt_instances=InstanceData(keypoints=kpts, keypoints_visible=vis_flags))
    else:
        drawing = sample
    return vis.draw_sample(image, drawing, draw_gt=True, draw_pred=False)


# -- the tool -----------------------------------------------------------------------------------------------------
def run(args: argparse.Namespace) -> list[Path]:
    """Draw the samples as the parsed ``args`` say; returns the pictures written."""
    from ..apis.display import FrameWindow, has_display  # deferred: loads OpenCV (the tools parse first)
    from ..fileio.image import imwrite  # deferred: loads OpenCV (the tools parse first)
    if args.max_samples is not None and args.max_samples < 1:
        raise UserError(f'--max-samples must be a positive number, got {args.max_samples}')
    if args.show_interval < 0:
        raise UserError(f'--show-interval must be >= 0 seconds, got {args.show_interval}')
    show = not args.not_show and has_display()
    if not show and not args.output_dir:
        raise UserError('nothing to do: there is no display to show the pictures on (or --not-show was given); '
                        'give --output-dir DIR to write them')
    cfg = read_config(args.config, args.cfg_options)
    ds_cfg = _edit_pipelines(dataset_config(cfg, args.phase), args.mode)
    dataset = build_dataset(cfg, args.phase, ds_cfg)
    model = cfg.get('model')
    preprocessor = model.get('data_preprocessor') if isinstance(model, dict) or hasattr(model, 'get') else None
    preprocessor = preprocessor.to_dict() if hasattr(preprocessor, 'to_dict') else preprocessor
    drawers = _Drawers(dataset.metainfo)
    out_dir = Path(args.output_dir) if args.output_dir else None
    window = FrameWindow('browse_dataset', wait_time=args.show_interval) if show else None
    total = len(dataset) if args.max_samples is None else min(args.max_samples, len(dataset))
    written: list[Path] = []
    taken: set[str] = set()
    start = time.monotonic()
    with config_scope(cfg):
        for i in range(total):
            packed = dataset[i]
            if not isinstance(packed, dict) or 'inputs' not in packed:
                raise UserError(f'{args.config}: the {args.phase} pipeline gives {type(packed).__name__} samples, '
                                "not dict(inputs=..., data_samples=...): does it end with a Pack* step?")
            sample = packed.get('data_samples')
            image = packed_image(packed['inputs'], preprocessor if isinstance(preprocessor, dict) else None)
            picture = draw_packed_sample(image, sample, drawers, args.mode)
            img_path = None if sample is None else sample.metainfo.get('img_path')
            if out_dir is not None:
                path = out_dir / output_name(img_path, i, taken)
                imwrite(path, np.ascontiguousarray(picture[..., ::-1]), 'browse_dataset')
                written.append(path)
            if window is not None and not window.show(np.ascontiguousarray(picture[..., ::-1])):
                break  # q / Esc
    if window is not None:
        window.close()
    where = f' to {out_dir}' if out_dir is not None else ''
    print(f'browse_dataset: {total} {args.phase} samples ({args.mode}) drawn{where} in '
          f'{time.monotonic() - start:.1f} s')
    return written
