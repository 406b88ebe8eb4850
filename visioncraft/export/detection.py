"""Detector export: RetinaNet and FCOS (single-stage), Faster R-CNN and Mask R-CNN (two-stage).

The graphs hold every learned layer; the predictor (:mod:`.det_predictor`) holds everything whose shape depends
on the data, and runs the model's own code for it:

* ``model.pt`` / ``model.onnx`` (input ``input``: float32 N x 3 x H x W, preprocessed as ``inference.json``
  says; batch, height and width dynamic):

  - single-stage: backbone -> neck -> head. Outputs per pyramid level ``i``: ``cls_<i>`` (N x A*C x H_i x W_i
    class logits), ``reg_<i>`` (N x A*4 x H_i x W_i box deltas; FCOS: N x 4 x H_i x W_i distances l, t, r, b
    in input pixels) and for FCOS ``ctr_<i>`` (N x 1 x H_i x W_i centerness logits): what ``bbox_head(feats)``
    returns, level by level.
  - two-stage: backbone -> neck -> RPN head. Outputs ``feat_<i>`` (N x C x H_i x W_i, the FPN levels the RoI
    extractors read), ``rpn_cls_<i>`` (N x A x H_i x W_i objectness logits), ``rpn_reg_<i>`` (N x A*4 x H_i x W_i
    deltas), for every RPN level.

* two-stage only, ``roi_bbox.pt`` / ``.onnx``: input ``roi_feats`` float32 R x C x S x S (RoIAlign output) ->
  ``cls_score`` R x (num_classes + 1) logits (background last), ``bbox_pred`` R x (num_classes * 4) deltas
  (R dynamic); Mask R-CNN also ``roi_mask.pt`` / ``.onnx``: ``roi_feats`` R x C x S' x S' -> ``mask_pred``
  R x num_classes x 2S' x 2S' mask logits.

* the predictor: anchors / points, decoding, score threshold, top-k, NMS, proposals, RoIAlign and its level
  assignment, class-specific box selection, mask pasting into the original image and rescaling. It builds the
  heads' post-processing from ``inference.json`` (``postprocess``: the heads' types, classes, prior generators,
  box coders and ``test_cfg``) and calls the very methods the checkpoint path calls (``predict_by_feat`` of the
  dense / RPN head, ``StandardRoIHead.predict`` with the two RoI graphs as its box and mask heads' forward).

Why this split: the post-processing has data-dependent sizes (how many scores pass the threshold, ``min(nms_pre,
candidates)``, what NMS keeps, which RoIs fall on which level, the per-image split of the RoIs) that the heads read
as Python numbers, so a trace would freeze them at the example's values; in a graph it would have to be a second,
trace-friendly implementation (fixed-size padding, ONNX NonMaxSuppression per class) kept equal to the first.
(ONNX Runtime's RoiAlign and NonMaxSuppression themselves agree with torchvision's -- checked on 300 random RoIs
and boxes, bit for bit -- the obstacle is the code around them.) Kept in the predictor, the post-processing is the
eager code on the graphs' outputs, so an exported model agrees with its checkpoint to float precision (see
docs/export.md, tests/export/test_export_detection.py), and the graphs are plain convolution / linear networks
that any ONNX runtime runs.
"""
from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from ..registry import EXPORTERS
from ..tasks.detection.datasets.base_det import make_palette
from ..tasks.detection.models import (BaseDetector, DetDataPreprocessor, FCNMaskHead, FCOSHead, RetinaHead,
                                      RPNHead, Shared2FCBBoxHead, SingleRoIExtractor, SingleStageDetector,
                                      StandardRoIHead, TwoStageDetector)
from .artifacts import MODEL_FILES
from .core import (Exporter, data_preprocessor_settings, export_onnx, export_torchscript, inference_pipeline,
                   outputs_match, plain)

__all__ = ['SingleStageDetExporter', 'TwoStageDetExporter', 'DET_TASK', 'ROI_GRAPHS']

#: ``task`` of a detector export in inference.json
DET_TASK = 'detection'
#: the RoI graphs of a two-stage export: name -> (input name, output names)
ROI_GRAPHS = {'roi_bbox': ('roi_feats', ('cls_score', 'bbox_pred')), 'roi_mask': ('roi_feats', ('mask_pred',))}
# the dense heads a single-stage export handles, and the names of their output groups (one tensor per level each)
_DENSE_HEADS = {RetinaHead: ('cls', 'reg'), FCOSHead: ('cls', 'reg', 'ctr')}


class _Traceable(nn.Module):
    """Base of the main graphs: :meth:`features` is the detector's ``extract_feat`` (backbone -> neck) made safe
    for the TorchScript-based ONNX exporter."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def features(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """``model.extract_feat(x)``: backbone, then neck (the FPN takes its out-of-place path while traced)."""
        feats = tuple(self.model.backbone(x))
        return feats if self.model.neck is None else tuple(self.model.neck(feats))


class _DenseGraph(_Traceable):
    """backbone -> neck -> dense head, the head's per-level outputs flattened group by group:
    ``(cls_0 .. cls_L-1, reg_0 .. reg_L-1[, ctr_0 .. ctr_L-1])``."""

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        outs = self.model.bbox_head(self.features(x))
        return tuple(t for group in outs for t in group)


class _RPNGraph(_Traceable):
    """backbone -> neck -> RPN head: ``(feat_0 .. feat_F-1, rpn_cls_0 .. rpn_cls_L-1, rpn_reg_0 .. rpn_reg_L-1)``,
    the first ``num_feats`` pyramid levels (those the RoI extractors read) and the RPN's per-level outputs."""

    def __init__(self, model: nn.Module, num_feats: int) -> None:
        super().__init__(model)
        self.num_feats = int(num_feats)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        feats = self.features(x)
        cls_scores, bbox_preds = self.model.rpn_head(feats)
        return (*feats[:self.num_feats], *cls_scores, *bbox_preds)


def _sub_config(cfg, *keys: str) -> dict:
    """``cfg.model[keys[0]][keys[1]]...`` as a plain dict ({} where the config has none)."""
    node: Any = cfg.get('model') if hasattr(cfg, 'get') else None
    for k in keys:
        node = node.get(k) if isinstance(node, dict) else None
    return plain(dict(node)) if isinstance(node, dict) else {}


def _given(cfg: dict, *names: str) -> dict[str, Any]:
    """The entries of ``cfg`` among ``names`` that are set (a missing one is the head's default, as in the model)."""
    return {n: cfg[n] for n in names if cfg.get(n) is not None}


def _roi_extractor_settings(extractor: SingleRoIExtractor) -> dict[str, Any]:
    """Every setting of a built :class:`SingleRoIExtractor`, as the config that rebuilds it."""
    return dict(type=type(extractor).__name__,
                roi_layer=dict(type='RoIAlign', output_size=list(extractor.output_size),
                               sampling_ratio=extractor.sampling_ratio, aligned=extractor.aligned),
                out_channels=extractor.out_channels, featmap_strides=list(extractor.featmap_strides),
                finest_scale=extractor.finest_scale, canonical_scale=extractor.canonical_scale,
                canonical_level=extractor.canonical_level)


def det_preprocessor_settings(model: nn.Module) -> dict[str, Any]:
    """The detector's data preprocessor as a config dict: :func:`~.core.data_preprocessor_settings` for an
    ImgDataPreprocessor, and the same settings for a :class:`DetDataPreprocessor` (whose forward only adds
    ``img_shape`` to the samples that lack it)."""
    pre = model.data_preprocessor
    if type(pre) is not DetDataPreprocessor:
        return data_preprocessor_settings(model)
    out = dict(type='DetDataPreprocessor', mean=None, std=None, bgr_to_rgb=bool(pre.swap_channels),
               pad_size_divisor=int(pre.pad_size_divisor), pad_value=float(pre.pad_value))
    if pre._normalize:
        out['mean'] = [float(v) for v in pre.mean.flatten()]
        out['std'] = [float(v) for v in pre.std.flatten()]
    return out


class _DetExporter(Exporter):
    """What the detector exporters share: the example input, the preprocessing, the class names, and a check
    that the graphs give the eager outputs at a second input size (a traced shape-dependent branch, e.g. an FPN
    upsampling that only fits some sizes, would not)."""

    task = DET_TASK
    input_names = ('input',)

    def __init__(self, model: nn.Module, cfg) -> None:
        super().__init__(model, cfg)
        self.preprocessor = det_preprocessor_settings(model)
        self.graph_files: dict[str, dict[str, str]] = {}

    def _example(self, extra: int = 0) -> torch.Tensor:
        """A random preprocessed batch: 1 x 3 x H x W, H and W multiples of ``pad_size_divisor`` near 96 x 128
        (``extra`` divisors more: the second size of the size check)."""
        d = max(1, int(self.preprocessor['pad_size_divisor']))
        gen = torch.Generator().manual_seed(extra)
        h = (max(2, -(-96 // d)) + extra) * d
        w = (max(3, -(-128 // d)) + 2 * extra) * d
        return torch.randn(1, 3, h, w, generator=gen)

    def example_input(self) -> torch.Tensor:
        return self._example()

    def _level_axes(self, names: list[str]) -> dict[str, dict[int, str]]:
        axes = {'input': {0: 'batch', 2: 'height', 3: 'width'}}
        for name in names:
            lvl = name.rsplit('_', 1)[-1]
            axes[name] = {0: 'batch', 2: f'height_{lvl}', 3: f'width_{lvl}'}
        return axes

    def dataset_meta(self) -> dict[str, Any]:
        meta = dict(getattr(self.model, 'dataset_meta', None) or {})
        classes = [str(c) for c in meta.get('classes') or ()]
        palette = meta.get('palette')
        if not palette or len(palette) != len(classes):
            palette = make_palette(len(classes))
        return dict(classes=classes, palette=[[int(v) for v in c] for c in palette])

    def _common_settings(self) -> dict[str, Any]:
        return dict(preprocess=dict(pipeline=inference_pipeline(self.cfg), data_preprocessor=self.preprocessor),
                    dataset_meta=self.dataset_meta(), output_groups=self.output_groups,
                    graphs=self.graph_files)

    def _check_other_size(self, out: Path) -> None:
        """The written main graphs on a second, larger input against the eager graph (:func:`~.core.outputs_match`):
        the trace recorded sizes as symbols, not as the example's numbers."""
        example = self._example(extra=1)
        graph = self.graph().eval()
        with torch.no_grad():
            want = [t.numpy() for t in graph(example)]
        for fmt in self.formats:
            try:
                outs = self._run_written(fmt, out, example)
                bad = [(name, a, b) for name, a, b in zip(self.output_names, outs, want) if not outputs_match(a, b)]
                if bad:
                    name, a, b = bad[0]
                    diff = f'shape {a.shape}' if a.shape != b.shape else f'max abs diff {np.abs(a - b).max():.3g}'
                    raise ValueError(f'{name} differs ({diff})')
            except Exception as exc:  # a wrong value or a failing reshape: the graph only fits the example's size
                raise RuntimeError(
                    f'export: the {fmt} graph does not reproduce the model on a {tuple(example.shape)} input ({exc}) '
                    f'though it did on the {tuple(self.example_input().shape)} example: the trace froze a '
                    "size-dependent branch. Use a pad_size_divisor that is a multiple of the backbone's largest "
                    'stride') from exc

    @staticmethod
    def _run_written(fmt: str, out: Path, example: torch.Tensor) -> list[np.ndarray]:
        if fmt == 'onnx':
            import onnxruntime as ort  # deferred: optional, only needed to check an ONNX export
            sess = ort.InferenceSession(str(out / MODEL_FILES['onnx']), providers=['CPUExecutionProvider'])
            return sess.run(None, {'input': example.numpy()})
        with warnings.catch_warnings():  # torch 2.14 marks torch.jit as deprecated; the format still loads
            warnings.simplefilter('ignore', FutureWarning)
            module = torch.jit.load(str(out / MODEL_FILES['torchscript']))
        with torch.no_grad():
            return [t.numpy() for t in module(example)]

    def _export_graph(self, name: str, graph: nn.Module, example: torch.Tensor, input_name: str,
                      output_names: tuple[str, ...], out: Path) -> list[Path]:
        """Write one extra graph ``<name>.pt`` / ``<name>.onnx`` (dynamic first axis), as the formats ask."""
        written, files = [], {}
        axes = {n: {0: 'rois'} for n in (input_name, *output_names)}
        if 'torchscript' in self.formats:
            export_torchscript(graph, example, out / f'{name}.pt')
            files['torchscript'] = f'{name}.pt'
            written.append(out / f'{name}.pt')
        if 'onnx' in self.formats:
            export_onnx(graph, example, out / f'{name}.onnx', input_names=(input_name,), output_names=output_names,
                        dynamic_axes=axes, opset=self.opset)
            files['onnx'] = f'{name}.onnx'
            written.append(out / f'{name}.onnx')
        self.graph_files[name] = dict(files, input=input_name, outputs=list(output_names))
        return written


@EXPORTERS.register_module()
class SingleStageDetExporter(_DetExporter):
    """RetinaNet and FCOS: a :class:`SingleStageDetector` whose ``bbox_head`` is a :class:`RetinaHead` or an
    :class:`FCOSHead`. One graph (backbone -> neck -> head); decoding and NMS in the predictor."""

    @classmethod
    def matches(cls, model: nn.Module) -> bool:
        return isinstance(model, SingleStageDetector) and type(getattr(model, 'bbox_head', None)) in _DENSE_HEADS \
            and type(model).extract_feat is BaseDetector.extract_feat

    def __init__(self, model: nn.Module, cfg) -> None:
        super().__init__(model, cfg)
        head = model.bbox_head
        self.output_groups = list(_DENSE_HEADS[type(head)])
        levels = len(head.strides) if isinstance(head, FCOSHead) else head.anchor_generator.num_levels
        self.output_names = tuple(f'{g}_{i}' for g in self.output_groups for i in range(levels))
        self.dynamic_axes = self._level_axes(list(self.output_names))

    def graph(self) -> nn.Module:
        return _DenseGraph(self.model)

    def write_extra(self, out: Path) -> list[Path]:
        self._check_other_size(out)
        return []

    def inference_settings(self) -> dict[str, Any]:
        head = self.model.bbox_head
        given = _sub_config(self.cfg, 'bbox_head')
        settings = dict(type=type(head).__name__, num_classes=head.num_classes, test_cfg=plain(head.test_cfg))
        if isinstance(head, FCOSHead):
            settings.update(strides=list(head.strides), regress_ranges=[list(r) for r in head.regress_ranges],
                            **_given(given, 'prior_generator'))
        else:
            settings.update(_given(given, 'anchor_generator', 'bbox_coder'))
        return dict(self._common_settings(), postprocess=dict(type='SingleStageDetector', bbox_head=settings))


@EXPORTERS.register_module()
class TwoStageDetExporter(_DetExporter):
    """Faster R-CNN and Mask R-CNN: a :class:`TwoStageDetector` with an :class:`RPNHead` and a
    :class:`StandardRoIHead` (:class:`SingleRoIExtractor`, :class:`Shared2FCBBoxHead`, optionally
    :class:`FCNMaskHead`). Three graphs: backbone -> neck -> RPN (``model``), the box head on pooled RoI features
    (``roi_bbox``), the mask head on pooled RoI features (``roi_mask``); proposals, RoIAlign, NMS and mask
    pasting in the predictor."""

    @classmethod
    def matches(cls, model: nn.Module) -> bool:
        roi = getattr(model, 'roi_head', None)
        if not isinstance(model, TwoStageDetector) or type(getattr(model, 'rpn_head', None)) is not RPNHead \
                or type(roi) is not StandardRoIHead or type(model).extract_feat is not BaseDetector.extract_feat:
            return False
        extractors = [roi.bbox_roi_extractor] + ([roi.mask_roi_extractor] if roi.mask_roi_extractor is not None else [])
        return type(roi.bbox_head) is Shared2FCBBoxHead and all(type(e) is SingleRoIExtractor for e in extractors) \
            and (roi.mask_head is None or type(roi.mask_head) is FCNMaskHead)

    def __init__(self, model: nn.Module, cfg) -> None:
        super().__init__(model, cfg)
        roi = model.roi_head
        self.num_feats = max(e.num_levels for e in self._extractors())
        levels = model.rpn_head.anchor_generator.num_levels
        self.output_groups = ['feat', 'rpn_cls', 'rpn_reg']
        self.output_names = tuple([f'feat_{i}' for i in range(self.num_feats)]
                                  + [f'{g}_{i}' for g in ('rpn_cls', 'rpn_reg') for i in range(levels)])
        self.dynamic_axes = self._level_axes(list(self.output_names))
        self.with_mask = roi.with_mask

    def _extractors(self) -> list[SingleRoIExtractor]:
        roi = self.model.roi_head
        return [roi.bbox_roi_extractor] + ([roi.mask_roi_extractor] if roi.mask_roi_extractor is not None else [])

    def graph(self) -> nn.Module:
        return _RPNGraph(self.model, self.num_feats)

    def _roi_example(self, extractor: SingleRoIExtractor, seed: int) -> torch.Tensor:
        gen = torch.Generator().manual_seed(seed)
        return torch.randn(3, extractor.out_channels, *extractor.output_size, generator=gen)

    def write_extra(self, out: Path) -> list[Path]:
        self._check_other_size(out)
        roi = self.model.roi_head
        name, (inp, outs) = 'roi_bbox', ROI_GRAPHS['roi_bbox']
        written = self._export_graph(name, roi.bbox_head, self._roi_example(roi.bbox_roi_extractor, 1), inp, outs,
                                     out)
        if self.with_mask:
            extractor = roi.bbox_roi_extractor if roi.share_roi_extractor else roi.mask_roi_extractor
            name, (inp, outs) = 'roi_mask', ROI_GRAPHS['roi_mask']
            written += self._export_graph(name, roi.mask_head, self._roi_example(extractor, 2), inp, outs, out)
        return written

    def inference_settings(self) -> dict[str, Any]:
        rpn, roi = self.model.rpn_head, self.model.roi_head
        rpn_given = _sub_config(self.cfg, 'rpn_head')
        box_given = _sub_config(self.cfg, 'roi_head', 'bbox_head')
        roi_settings = dict(type=type(roi).__name__, share_roi_extractor=roi.share_roi_extractor,
                            test_cfg=plain(roi.test_cfg),
                            bbox_roi_extractor=_roi_extractor_settings(roi.bbox_roi_extractor),
                            bbox_head=dict(type=type(roi.bbox_head).__name__, num_classes=roi.bbox_head.num_classes,
                                           reg_class_agnostic=roi.bbox_head.reg_class_agnostic,
                                           **_given(box_given, 'bbox_coder')))
        if roi.with_mask:
            roi_settings['mask_head'] = dict(type=type(roi.mask_head).__name__, num_classes=roi.mask_head.num_classes,
                                             class_agnostic=roi.mask_head.class_agnostic)
            if roi.mask_roi_extractor is not None:
                roi_settings['mask_roi_extractor'] = _roi_extractor_settings(roi.mask_roi_extractor)
        rpn_settings = dict(type=type(rpn).__name__, test_cfg=plain(rpn.test_cfg),
                            **_given(rpn_given, 'anchor_generator', 'bbox_coder'))
        return dict(self._common_settings(),
                    postprocess=dict(type='TwoStageDetector', rpn_head=rpn_settings, roi_head=roi_settings))
