"""Run an exported detector (RetinaNet, FCOS, Faster R-CNN, Mask R-CNN) with no config and no checkpoint.

Interface (what ``visioncraft predict`` and the detection inferencer call)::

    predictor = DetPredictor(model_dir, backend='onnxruntime' | 'torchscript', device='cpu')
    sample = predictor(img_bgr)              # img_bgr: H x W x 3 uint8 BGR numpy array -> DataSample
    samples = predictor([img1, img2])        # a list: one padded batch -> a list of DataSample
    predictor.dataset_meta                   # {'classes': [name, ...], 'palette': [[r, g, b], ...]}

``sample.pred_instances`` is what :func:`visioncraft.apis.inference_detector` gives for the checkpoint:
``bboxes`` float32 K x 4 xyxy in ORIGINAL image pixels, ``scores`` float32 K, ``labels`` int64 K (indices into
``dataset_meta['classes']``) and, for Mask R-CNN, ``masks`` bool K x H x W at the original image size; sorted
as the model sorts them (by score). Its metainfo is the test pipeline's (``ori_shape``, ``img_shape``,
``scale_factor`` (w, h), ``pad_shape``, ``batch_input_shape``). Tensors are on ``device``.

How (see :mod:`.detection` for what the graphs hold): the preprocessing is the stored test pipeline (built from
the transform registry) and the stored ``DetDataPreprocessor``; the graphs run on onnxruntime or TorchScript;
the post-processing is the model's own head code, built from ``inference.json``'s ``postprocess`` with the learned
layers one channel wide (never run): ``predict_by_feat`` of the RetinaHead / FCOSHead / RPNHead, and
``StandardRoIHead.predict`` (RoIAlign, class-specific boxes, NMS, mask pasting) whose box and mask heads' forward
is the ``roi_bbox`` / ``roi_mask`` graph. So the checkpoint and the export cannot drift apart.
"""
from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from ..apis.inputs import list_images
from ..apis.writers import write_json
from ..errors import AnnotationError, ImageReadError, check_device
from ..fileio.image import imread, unreadable_image_reason
from ..registry import MODELS
from ..structures import DataSample
from ..tasks.detection.datasets.base_det import make_palette
from ..tasks.detection.evaluation.coco_metric import encode_masks
from ..tasks.detection.visualization import show_result
from .artifacts import INFERENCE_JSON
from .predictor import BACKENDS, _Runtime, build_preprocessing, load_inference_settings

__all__ = ['DetPredictor', 'predict_to_folder', 'LAYERLESS']

#: per post-processing head type: the arguments that make its learned layers one channel wide. The predictor
#: builds the model's head classes for their post-processing methods; the graphs run the real layers.
LAYERLESS: dict[str, dict[str, Any]] = {
    'RetinaHead': dict(in_channels=1, feat_channels=1, stacked_convs=0),
    'FCOSHead': dict(in_channels=1, feat_channels=1, stacked_convs=0, norm_cfg=None),
    'RPNHead': dict(in_channels=1, feat_channels=1),
    'Shared2FCBBoxHead': dict(in_channels=1, roi_feat_size=1, fc_out_channels=1),
    'FCNMaskHead': dict(in_channels=1, num_convs=0, conv_out_channels=1),
}


class _Graph(_Runtime):
    """One graph of the export with all its outputs: ``graph(x)`` -> tuple of float32 tensors on ``device``.
    A zero-length batch (no RoIs) is answered with empty outputs of the graph's shapes, without running it."""

    def __init__(self, model_dir: Path, files: dict, backend: str, device: torch.device,
                 num_threads: int | None) -> None:
        super().__init__(model_dir, dict(files=files), backend, device, num_threads)
        self._empty: tuple[torch.Tensor, ...] | None = None

    def __call__(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        if x.shape[0] == 0:
            if self._empty is None:  # the per-row shapes of the outputs, from a one-row run
                self._empty = tuple(o[:0] for o in self._run(x.new_zeros((1, *x.shape[1:]))))
            return self._empty
        return self._run(x)

    def _run(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        if self.backend == 'onnxruntime':
            outs = self.session.run(None, {self.input_name: x.detach().float().cpu().numpy()})
            return tuple(torch.from_numpy(o).to(self.device) for o in outs)
        with torch.no_grad():
            outs = self.module(x.to(self.device))
        return tuple(o.float() for o in ((outs,) if isinstance(outs, torch.Tensor) else outs))


def _post_head(settings: dict, key: str) -> nn.Module:
    """The head of ``settings`` (inference.json ``postprocess.<key>``) built for its post-processing methods."""
    cfg = dict(settings)
    kind = str(cfg.get('type', ''))
    if kind not in LAYERLESS:
        raise AnnotationError(f'{INFERENCE_JSON} postprocess.{key}: type {kind!r} has no exported post-processing '
                              f'(known: {", ".join(LAYERLESS)})')
    cfg.update(LAYERLESS[kind])
    return MODELS.build(cfg, key_path=f'{INFERENCE_JSON} postprocess.{key}').eval()


def _graph_forward(graph: _Graph, single: bool) -> Callable[[torch.Tensor], Any]:
    def forward(x: torch.Tensor):
        outs = graph(x)
        return outs[0] if single else outs
    return forward


class DetPredictor:
    """Object detection (and instance segmentation) with an exported detector.

    Args:
        model_dir: a directory written by :func:`visioncraft.export.export_model` for a detector (``task``
            ``'detection'``).
        backend: ``'onnxruntime'`` (``*.onnx``) or ``'torchscript'`` (``*.pt``).
        device: ``'cpu'`` or ``'cuda[:N]'`` (onnxruntime uses its CUDA provider when it has one); the
            post-processing runs there too.
        num_threads: onnxruntime's intra-op threads (default: onnxruntime's choice).

    ``predictor(img)`` -> :class:`DataSample`, ``predictor([img, ...])`` -> list (see the module docstring).
    """

    def __init__(self, model_dir: str | os.PathLike, backend: str = 'onnxruntime', device: str = 'cpu', *,
                 num_threads: int | None = None) -> None:
        if backend not in BACKENDS:
            raise ValueError(f'unknown backend {backend!r}; choose one of {", ".join(BACKENDS)}')
        self.model_dir = Path(model_dir)
        self.info = load_inference_settings(self.model_dir)
        where = self.model_dir / INFERENCE_JSON
        if self.info.get('task') != 'detection':
            raise ValueError(f'{where}: task is {self.info.get("task", "textdet")!r}, DetPredictor needs a '
                             'detector export')
        self.backend, self.device = backend, check_device(device)
        self.runtime = _Graph(self.model_dir, self.info.get('files') or {}, backend, self.device, num_threads)
        self.pipeline_cfg, self.pipeline, self.data_preprocessor = build_preprocessing(self.info['preprocess'],
                                                                                       self.device)
        meta = dict(self.info.get('dataset_meta') or {})
        classes = list(meta.get('classes') or [])
        self.dataset_meta = dict(classes=classes, palette=[tuple(c) for c in meta.get('palette')
                                                           or make_palette(len(classes))])
        self.groups = list(self.info.get('output_groups') or [])
        post = self.info['postprocess']
        self.kind = post.get('type')
        if self.kind == 'SingleStageDetector':
            self.bbox_head = _post_head(post['bbox_head'], 'bbox_head').to(self.device)
        elif self.kind == 'TwoStageDetector':
            self.rpn_head = _post_head(post['rpn_head'], 'rpn_head').to(self.device)
            self.roi_head = self._roi_head(dict(post['roi_head']), num_threads).to(self.device)
        else:
            raise AnnotationError(f'{where}: postprocess.type must be SingleStageDetector or TwoStageDetector, '
                                  f'got {self.kind!r}')

    def _roi_head(self, cfg: dict, num_threads: int | None) -> nn.Module:
        """The stored StandardRoIHead with the ``roi_bbox`` (and ``roi_mask``) graphs as its heads' forward."""
        graphs = self.info.get('graphs') or {}
        for key, name, single in (('bbox_head', 'roi_bbox', False), ('mask_head', 'roi_mask', True)):
            if cfg.get(key) is None:
                continue
            if name not in graphs:
                raise AnnotationError(f'{self.model_dir / INFERENCE_JSON}: graphs has no {name!r} (export again)')
            head = _post_head(cfg[key], f'roi_head.{key}')
            head.forward = _graph_forward(_Graph(self.model_dir, graphs[name], self.backend, self.device,
                                                 num_threads), single)
            cfg[key] = head
        return MODELS.build(cfg, key_path=f'{INFERENCE_JSON} postprocess.roi_head')

    # ------------------------------------------------------------------ steps
    def preprocess(self, imgs: Sequence[np.ndarray]) -> tuple[torch.Tensor, list[DataSample]]:
        """The N x 3 x H x W float32 batch (normalised, padded) of BGR images and their data samples (metainfo)."""
        packed = []
        for i, img in enumerate(imgs):
            if not isinstance(img, np.ndarray) or img.ndim not in (2, 3) or img.size == 0:
                raise TypeError(f'DetPredictor: image {i} must be a non-empty H x W x 3 BGR numpy array, got '
                                f'{type(img).__name__} {getattr(img, "shape", "")}')
            out = self.pipeline(dict(img=img, img_id=i))
            if out is None:
                raise RuntimeError(f'DetPredictor: the preprocessing pipeline dropped image {i}')
            packed.append(out)
        data = self.data_preprocessor(dict(inputs=[p['inputs'] for p in packed],
                                           data_samples=[p['data_samples'] for p in packed]))
        return data['inputs'], list(data['data_samples'])

    def forward(self, batch: torch.Tensor) -> dict[str, list[torch.Tensor]]:
        """The main graph's outputs by group (``cls`` / ``reg`` / ``ctr`` or ``feat`` / ``rpn_cls`` / ``rpn_reg``),
        each a list over the pyramid levels."""
        outs = self.runtime(batch)
        names = self.info.get('outputs') or []
        if len(names) != len(outs):
            raise AnnotationError(f'{self.model_dir / INFERENCE_JSON}: {len(names)} outputs listed, the graph '
                                  f'gives {len(outs)}')
        groups: dict[str, list[torch.Tensor]] = {g: [] for g in self.groups}
        for name, t in zip(names, outs):
            groups[name.rsplit('_', 1)[0]].append(t)
        return groups

    def postprocess(self, groups: dict[str, list[torch.Tensor]], samples: list[DataSample]) -> list[DataSample]:
        """The detections of every sample, as the detector's ``predict`` makes them (``rescale=True``)."""
        if self.kind == 'SingleStageDetector':
            results = self.bbox_head.predict_by_feat(*(groups[g] for g in self.groups), samples, rescale=True)
        else:
            proposals = self.rpn_head.predict_by_feat(groups['rpn_cls'], groups['rpn_reg'], samples)
            results = self.roi_head.predict(groups['feat'], proposals, samples, rescale=True)
        for sample, pred in zip(samples, results):
            sample.pred_instances = pred
        return samples

    def predict(self, imgs: Sequence[np.ndarray]) -> list[DataSample]:
        if not len(imgs):
            return []
        batch, samples = self.preprocess(list(imgs))
        with torch.no_grad():
            return self.postprocess(self.forward(batch), samples)

    def __call__(self, imgs):
        if isinstance(imgs, np.ndarray):
            return self.predict([imgs])[0]
        return self.predict(list(imgs))


def _read(path: Path) -> np.ndarray:
    img = imread(path)
    if img is None:
        raise ImageReadError(f'could not read image {path}: it {unreadable_image_reason(path)}')
    return img


def detection_json(sample: DataSample) -> dict[str, Any]:
    """MMDetection's per-image prediction JSON: ``labels``, ``scores``, ``bboxes`` (xyxy, original pixels) and,
    with masks, ``masks`` (COCO RLEs)."""
    pred = sample.pred_instances
    out = dict(labels=pred.labels.cpu().tolist(), scores=pred.scores.cpu().tolist(),
               bboxes=pred.bboxes.cpu().tolist())
    if 'masks' in pred:
        out['masks'] = encode_masks(pred.masks.cpu().numpy().astype(bool))
    return out


def predict_to_folder(predictor: DetPredictor, inputs: str | Path, out_dir: str | Path, *, draw: bool = True,
                      score_thr: float = 0.3, echo: Callable[[str], Any] = print) -> dict[str, DataSample]:
    """Detect in every image of ``inputs`` (a file or a folder) and write MMDetection's layout to ``out_dir``:
    ``preds/<stem>.json`` (:func:`detection_json`: every prediction) and, with ``draw``, ``vis/<name>`` (the
    predictions scoring at least ``score_thr`` drawn with their class names). Returns ``{file name: DataSample}``."""
    files = list_images(inputs)
    out = Path(out_dir)
    classes = predictor.dataset_meta.get('classes') or None
    results: dict[str, DataSample] = {}
    total, stems = 0.0, set()
    for f in files:
        img = _read(f)
        t0 = time.perf_counter()
        sample = predictor(img)
        total += time.perf_counter() - t0
        results[f.name] = sample
        stem = f.stem if f.stem not in stems else f'{f.stem}{f.suffix.replace(".", "_")}'
        stems.add(stem)
        write_json(out / 'preds' / f'{stem}.json', detection_json(sample))
        if draw:
            show_result(np.ascontiguousarray(img[..., ::-1]), sample, out_file=out / 'vis' / f'{stem}{f.suffix}',
                        score_thr=score_thr, classes=classes)
        n = len(sample.pred_instances)
        shown = int((sample.pred_instances.scores >= score_thr).sum())
        echo(f'{f}: {n} detections ({shown} scoring >= {score_thr})')
    echo(f'{len(files)} images in {total:.2f} s (model + pre/post-processing); results in {out / "preds"}')
    return results
