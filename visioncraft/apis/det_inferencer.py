"""MMDetection 3.x's ``DetInferencer``: a detector (boxes, and masks for instance segmentation) over images, folders,
URLs, videos and cameras, on :class:`~visioncraft.apis.base_inferencer.BaseInferencer`.

Outputs, as MMDetection writes them: ``out_dir/preds/<image stem>.json`` with ``labels`` (ints), ``scores``,
``bboxes`` (xyxy, original-image pixels) and, for instance segmentation, ``masks`` (COCO RLEs: ``size`` [h, w] and
``counts`` as a string), every prediction the model made (``pred_score_thr`` only decides what is drawn); the drawing
is ``out_dir/vis/<image name>``. A video gives ``out_dir/preds/<video stem>.json`` (``[{'frame_id': i, 'labels', ...},
...]``) and the drawn video ``out_dir/vis/<video name>``.
"""
from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from visioncraft.data.collate import pseudo_collate
from visioncraft.errors import mark_user_error
from visioncraft.structures import DataSample, InstanceData, to_numpy
from visioncraft.tasks.detection.datasets.base_det import make_palette
from visioncraft.tasks.detection.visualization import DetLocalVisualizer

from .base_inferencer import BaseInferencer, InputItem
from .detection import init_detector
from .inference_pipeline import build_inference_pipeline
from .model_aliases import resolve_det_weights
from .model_loading import is_exported_dir, load_exported

__all__ = ['DetInferencer', 'PALETTES', 'EXPORTED_DET_TASKS']

#: ``palette`` names: ``'none'`` draws every prediction in the toolbox's red (as ``test.py --show-dir``); the others
#: give each class its own colour (:func:`~visioncraft.tasks.detection.datasets.base_det.make_palette`)
PALETTES = ('none', 'random', 'coco', 'voc', 'citys')
#: the ``task`` values (in an export's ``inference.json``) of exported detectors
EXPORTED_DET_TASKS = ('detection',)


class _PaletteVisualizer(DetLocalVisualizer):
    """:class:`DetLocalVisualizer` that draws each predicted class in its own colour (``class_colors[label]``)."""

    def __init__(self, class_colors: Sequence[Sequence[int]] | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.class_colors = None if class_colors is None else [tuple(int(c) for c in rgb) for rgb in class_colors]

    def _draw_instances(self, img, boxes, labels, scores, masks, color):
        if not self.class_colors or labels is None or color != self.pred_color:
            return super()._draw_instances(img, boxes, labels, scores, masks, color)
        labels = np.asarray(labels).reshape(-1)
        for label in np.unique(labels):
            idx = np.nonzero(labels == label)[0]
            super()._draw_instances(img, None if boxes is None else boxes[idx], labels[idx],
                                    None if scores is None else scores[idx], None if masks is None else masks[idx],
                                    self.class_colors[int(label) % len(self.class_colors)])
        return img


def _mask_array(masks: Any) -> np.ndarray:
    """K x H x W bool numpy masks from a tensor, an array or :class:`~visioncraft.structures.BitmapMasks`."""
    if hasattr(masks, 'to_ndarray'):
        masks = masks.to_ndarray()
    return np.asarray(to_numpy(masks)).astype(bool)


class DetInferencer(BaseInferencer):
    """Run a detector on images, folders, URLs, videos and cameras (MMDetection 3.x's ``DetInferencer``).

    Args:
        model: a detection config file, a detection model name of the index (``'retinanet_r50_fpn_1x_coco'``,
            ``'faster-rcnn'``; ``visioncraft models --task det``: its weights download on first use without
            ``weights``), another config name (:data:`~visioncraft.apis.model_aliases.DET_ALIASES`, or the name of a
            config of a ``DET_CONFIG_DIRS`` folder; needs ``weights``), or a directory written by
            ``visioncraft export`` for a detector (then ``weights`` must be None).
        weights: the checkpoint (path or http(s) URL); None with a config keeps random weights (with a warning).
        device: ``None`` / ``'auto'`` (CUDA when available, else the CPU), ``'cpu'``, ``'cuda[:N]'``.
        palette: colours of the drawn predictions, one of :data:`PALETTES`, or an RGB triple for all of them.
        show_progress: a progress bar on stderr.
        cfg_options: config overrides, as ``--cfg-options``.
        backend: ``'onnxruntime'`` or ``'torchscript'``, for an exported directory.

    ``inferencer(inputs, ...)`` returns ``{'predictions': [...], 'visualization': [...]}`` (see :meth:`__call__`).
    """

    who = 'DetInferencer'
    pred_subdir = 'preds'
    vis_subdir = 'vis'
    frame_doc_key = None

    def __init__(self, model: str | os.PathLike | None = None, weights: str | os.PathLike | None = None,
                 device: str | None = None, palette: str | Sequence[int] = 'none', show_progress: bool = True, *,
                 cfg_options: dict | None = None, backend: str = 'onnxruntime') -> None:
        super().__init__(device, show_progress)
        if model is None:
            raise mark_user_error(ValueError('DetInferencer: give model=CONFIG (a config file), a model name, or an '
                                             'exported model directory'))
        self._class_colors(palette, 0)  # a wrong palette fails before the model loads
        self.model = None
        self.predictor = None
        if is_exported_dir(model):
            if weights is not None:
                raise mark_user_error(ValueError(f'DetInferencer: weights={weights} given with the exported model '
                                                 f'directory {model}: an export holds its own weights'))
            self.predictor = load_exported(model, EXPORTED_DET_TASKS, 'detector', self.who, self.device, backend)
            info = getattr(self.predictor, 'info', None) or {}
            meta = getattr(self.predictor, 'dataset_meta', None) or info.get('dataset_meta') or {}
            self.dataset_meta = dict(meta) if meta else dict(classes=tuple(info.get('classes') or ()))
        else:
            if weights is not None and not str(weights).startswith(('http://', 'https://')) \
                    and not Path(weights).is_file():
                raise FileNotFoundError(f'DetInferencer: weights: checkpoint file not found: {weights}')
            # a name of the model index: its config, and its weights downloaded on first use when none are given
            config, weights = resolve_det_weights(model, weights)
            self.model = init_detector(config, weights, device=self.device, cfg_options=cfg_options)
            self.dataset_meta = dict(self.model.dataset_meta)
            self._pipeline = build_inference_pipeline(self.model.cfg, True, self.who)
        classes = tuple(self.dataset_meta.get('classes') or ())
        self.visualizer = _PaletteVisualizer(class_colors=self._class_colors(palette, len(classes)),
                                             name='det_inferencer', min_draw_size=0)
        if isinstance(palette, (tuple, list)):
            self.visualizer.pred_color = tuple(int(c) for c in palette)
        if classes:
            self.visualizer.dataset_meta = dict(classes=classes)

    @staticmethod
    def _class_colors(palette: str | Sequence[int], num_classes: int) -> list | None:
        if isinstance(palette, (tuple, list)):
            if len(palette) != 3 or not all(isinstance(c, (int, np.integer)) and 0 <= c <= 255 for c in palette):
                raise mark_user_error(ValueError(f'DetInferencer: palette must be one of {", ".join(PALETTES)} or an '
                                                 f'RGB triple of 0-255 ints, got {palette!r}'))
            return None
        if palette is None or palette == 'none':
            return None
        if palette not in PALETTES:
            raise mark_user_error(ValueError(f'DetInferencer: palette={palette!r}: expected one of '
                                             f'{", ".join(PALETTES)} or an RGB triple'))
        return make_palette(max(num_classes, 1))

    # -- the task's part ------------------------------------------------------------------------------------------
    def preprocess(self, item: InputItem) -> Any:
        """The config's test pipeline on the image (packed inputs), or the image itself for an exported model."""
        if self.predictor is not None:
            return item
        packed = self._pipeline(dict(img=item.numpy(), img_id=0))
        if packed is None:
            raise RuntimeError(f'DetInferencer: the test pipeline dropped {item.name}')
        return packed, item

    def forward(self, batch: list[Any]) -> list[DataSample]:
        """``model.test_step`` on the batch (or the exported predictor per image): one :class:`DataSample` per image
        with ``pred_instances`` (bboxes float32 K x 4 xyxy original pixels, scores float32 K, labels int64 K[, masks
        bool K x H x W]) and ``img_path`` in its metainfo."""
        if self.predictor is not None:
            out = [self._exported_sample(self.predictor(item.numpy())) for item in batch]
            items = batch
        else:
            with torch.no_grad():
                out = self.model.test_step(pseudo_collate([packed for packed, _ in batch]))
            items = [item for _, item in batch]
        for sample, item in zip(out, items):
            sample.set_metainfo(dict(img_path=item.path))
        return list(out)

    @staticmethod
    def _exported_sample(result: Any) -> DataSample:
        if isinstance(result, DataSample):
            return result
        if isinstance(result, InstanceData):
            return DataSample(pred_instances=result)
        raise TypeError(f'DetInferencer: the exported predictor returned a {type(result).__name__}; expected a '
                        'DataSample with pred_instances')

    def visualize(self, img: np.ndarray, pred: DataSample, *, draw_pred: bool = True,
                  pred_score_thr: float = 0.3) -> np.ndarray:
        """The predictions scoring ``>= pred_score_thr`` drawn on ``img`` (H x W x 3 uint8 BGR): H x W x 3 uint8
        RGB, the input's size."""
        return self.visualizer.draw_sample(np.ascontiguousarray(img[..., ::-1]), pred, draw_gt=False,
                                           draw_pred=draw_pred, pred_score_thr=pred_score_thr)

    def pred_to_json(self, pred: DataSample, item: InputItem) -> dict[str, Any]:
        """MMDetection's prediction dict: ``labels``, ``scores``, ``bboxes`` (and ``masks`` as COCO RLEs)."""
        if 'pred_instances' not in pred:
            return dict(labels=[], scores=[], bboxes=[])
        inst = pred.pred_instances
        doc: dict[str, Any] = dict(labels=[int(v) for v in to_numpy(inst.labels).reshape(-1)],
                                   scores=to_numpy(inst.scores).astype(np.float32).reshape(-1).tolist())
        if inst.get('bboxes') is not None:
            doc['bboxes'] = to_numpy(inst.bboxes).astype(np.float32).reshape(-1, 4).tolist()
        if inst.get('masks') is not None:
            # here, not at the top: pycocotools is optional, needed only for instance segmentation
            from visioncraft.tasks.detection.evaluation.coco_metric import encode_masks
            doc['masks'] = [dict(size=[int(s) for s in rle['size']], counts=rle['counts'])
                            for rle in encode_masks(_mask_array(inst.masks))]
        return doc

    def nothing_drawn(self, pred: DataSample, *, draw_pred: bool = True,
                      pred_score_thr: float = 0.3) -> tuple[str, float | None] | None:
        scores = to_numpy(pred.pred_instances.scores).reshape(-1) if 'pred_instances' in pred and \
            pred.pred_instances.get('scores') is not None else np.zeros(0)
        if len(scores) and float(scores.max()) >= pred_score_thr:
            return None
        if not len(scores):
            return 'no predictions at all', None
        return f'nothing scores >= pred_score_thr={pred_score_thr:g} ({len(scores)} predictions)', float(scores.max())

    # -- MMDetection's call -----------------------------------------------------------------------------------------
    def __call__(self, inputs: Any, batch_size: int = 1, return_vis: bool = False, show: bool = False,
                 wait_time: float = 0, no_save_vis: bool = False, draw_pred: bool = True, pred_score_thr: float = 0.3,
                 return_datasamples: bool = False, print_result: bool = False, no_save_pred: bool = True,
                 out_dir: str | os.PathLike = '', *, video_out: str | os.PathLike | None = None,
                 max_frames: int | None = None) -> dict[str, list]:
        """Detect objects in ``inputs``.

        Args:
            inputs: an image file, an H x W x 3 uint8 BGR array, a folder, a glob pattern, an ``http(s)://`` image
                URL, a list of those, a video file, ``'webcam'`` or a camera index.
            batch_size: images (frames) per forward pass.
            return_vis: put the drawings (H x W x 3 uint8 RGB) in ``'visualization'``.
            show / wait_time: show each drawing in a window for ``wait_time`` seconds (0: until a key); never
                without a display (a warning says so).
            no_save_vis / no_save_pred: do not write the drawings / the JSON files (MMDetection writes no JSON by
                default: ``no_save_pred=True``).
            draw_pred / pred_score_thr: draw the predictions scoring ``>= pred_score_thr``. An image where nothing
                reaches it is logged as one line with the best score.
            return_datasamples: ``'predictions'`` holds the :class:`DataSample` s instead of dicts.
            print_result: print each image's prediction dict.
            out_dir: ``out_dir/preds/`` and ``out_dir/vis/`` (``''``: nothing written).
            video_out: for a video or camera, where the drawn video goes (default ``out_dir/vis/<video name>``).
            max_frames: stop a video or camera after this many frames.

        Returns:
            ``{'predictions': [{'labels', 'scores', 'bboxes'[, 'masks']} per image or frame], 'visualization':
            [drawings] (empty without return_vis)}``.
        """
        return self.run_all(inputs, out_dir=out_dir, no_save_pred=no_save_pred, no_save_vis=no_save_vis,
                            batch_size=batch_size, video_out=video_out, return_vis=return_vis,
                            return_datasamples=return_datasamples, print_result=print_result, show=show,
                            wait_time=wait_time, max_frames=max_frames,
                            visualize_kwargs=dict(draw_pred=draw_pred, pred_score_thr=pred_score_thr))
