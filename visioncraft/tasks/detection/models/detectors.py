"""Detectors' shared wiring (backbone -> neck) and the single-stage detectors: backbone -> neck -> dense head."""
from __future__ import annotations

import logging
import os
import sys

import numpy as np
import torch
from torch import nn

from visioncraft.fileio.image import imwrite, read_image
from visioncraft.models.assembly import assemble
from visioncraft.models.base import BaseModel, build_submodule
from visioncraft.registry import MODELS
from visioncraft.structures import DataSample, InstanceData, rle_to_bitmap

from ..visualization import DetLocalVisualizer

__all__ = ['BaseDetector', 'SingleStageDetector', 'RetinaNet', 'FCOS']


class BaseDetector(BaseModel):
    """The wiring every detector shares: ``backbone -> neck`` (channels and strides filled from the backbone),
    :meth:`extract_feat`, and the default data samples of ``mode='predict'`` without any.

    After ``__init__`` :attr:`feat_channels` / :attr:`feat_strides` describe the features the heads get
    (the neck's, else the backbone's; empty / None when the modules do not declare them).
    """

    def __init__(self, *, backbone: dict | nn.Module, neck: dict | nn.Module | None = None,
                 data_preprocessor: dict | nn.Module | None = None, init_cfg: dict | None = None) -> None:
        super().__init__(data_preprocessor=data_preprocessor or dict(type='DetDataPreprocessor'), init_cfg=init_cfg)
        parts = assemble(type(self).__name__, backbone=backbone, neck=neck)
        self.backbone, self.neck = parts.backbone, parts.neck
        self.feat_channels: list[int] = parts.features.channels
        self.feat_strides: list[int] | None = parts.features.strides

    def _check_anchor_strides(self, head: nn.Module, key: str) -> None:
        """An error when ``head.anchor_generator.strides`` differ from the feature strides."""
        anchor_strides = getattr(getattr(head, 'anchor_generator', None), 'strides', None)
        if anchor_strides is not None and self.feat_strides is not None \
                and list(anchor_strides) != list(self.feat_strides):
            raise ValueError(f'{key}.anchor_generator.strides={list(anchor_strides)} but the features have '
                             f'strides {list(self.feat_strides)}')

    def extract_feat(self, inputs: torch.Tensor) -> tuple[torch.Tensor, ...]:
        feats = self.backbone(inputs)
        return tuple(self.neck(feats)) if self.neck is not None else tuple(feats)

    @staticmethod
    def _check_mode(mode: str) -> None:
        if mode not in ('loss', 'predict', 'tensor'):
            raise ValueError(f"mode must be 'loss', 'predict' or 'tensor', got {mode!r}")

    @staticmethod
    def _default_samples(inputs: torch.Tensor, data_samples: list | None) -> list:
        """``data_samples``, or (when None) one per image with ``img_shape = ori_shape`` = the input size."""
        if data_samples is not None:
            return data_samples
        h, w = inputs.shape[-2:]
        return [DataSample(metainfo=dict(img_shape=(h, w), ori_shape=(h, w))) for _ in range(len(inputs))]

    def show_result(self, img, result, score_thr: float = 0.3, *, bbox_color=None, text_color=None, mask_color=None,
                    thickness: int | None = None, font_size: float | None = None, win_name: str = 'result',
                    show: bool | None = None, wait_time: float = 0, out_file=None):
        """Draw a detection result on its image: MMDetection 2.x's ``model.show_result``.

        Args:
            img: an image file, or an H x W x 3 uint8 BGR array (OpenCV's order, as ``cv2.imread`` gives).
            result: what :func:`visioncraft.apis.inference_detector` returns (a :class:`DataSample` with
                ``pred_instances``), the ``pred_instances`` themselves, or MMDetection 2.x's form: one
                ``(n, 5)`` array ``[x1, y1, x2, y2, score]`` (pixels of ``img``) per class, or the pair
                ``(those arrays, per-class lists of H x W masks)``.
            score_thr: predictions scoring below it are not drawn.
            bbox_color: colour of the boxes, labels and masks: a ``(B, G, R)`` tuple or a colour name
                (``'green'``); default red. ``text_color`` and ``mask_color`` are accepted for 2.x's
                signature; labels and masks take ``bbox_color`` here.
            thickness: box line width in pixels (default: from the image size).
            font_size: label height, roughly in pixels (default: from the image size).
            win_name, wait_time: the window's title, and seconds it stays (0: until a key).
            show: show a window. None (the default): show one when no ``out_file`` is given, as the 2.x
                guide's ``model.show_result(img, result)`` does. Without a display, a warning says so
                and nothing is shown.
            out_file: write the picture there (the extension picks the format); then no window.

        Returns:
            The drawing, H x W x 3 uint8 BGR, the size of ``img``; class names from ``self.dataset_meta``
            (set by ``init_detector``) when there are some, else the label numbers.
        """
        image = read_image(img, 'show_result')[0]  # a path or a BGR array; grey becomes BGR
        sample = _as_pred_sample(result)
        color = _bgr_to_rgb_color(bbox_color) if bbox_color is not None else None
        vis = DetLocalVisualizer(name='show_result', min_draw_size=0, line_width=thickness,
                                 font_scale=None if font_size is None else float(font_size) / 26.0,
                                 **({} if color is None else dict(pred_color=color)))
        classes = (getattr(self, 'dataset_meta', None) or {}).get('classes') or getattr(self, 'CLASSES', None)
        if classes:
            vis.dataset_meta = dict(classes=tuple(classes))
        drawn = np.ascontiguousarray(vis.draw_sample(image[..., ::-1], sample, draw_gt=False, draw_pred=True,
                                                     pred_score_thr=score_thr)[..., ::-1])
        if out_file is not None:
            imwrite(out_file, drawn, 'show_result')
            return drawn
        if show is False:
            return drawn
        no_display = sys.platform.startswith('linux') and not (os.environ.get('DISPLAY')
                                                              or os.environ.get('WAYLAND_DISPLAY'))
        if no_display:
            logging.getLogger('visioncraft').warning(
                'show_result: no display to show the picture on (DISPLAY is not set); pass out_file=... to write '
                'it, or use the returned array')
            return drawn
        import cv2
        try:
            cv2.imshow(win_name, drawn)
            cv2.waitKey(max(int(wait_time * 1000), 1) if wait_time > 0 else 0)
        except cv2.error as exc:
            logging.getLogger('visioncraft').warning(
                f'show_result: cannot open a window ({str(exc).strip()[:80]}); pass out_file=... to write the picture')
        return drawn


@MODELS.register_module()
class SingleStageDetector(BaseDetector):
    """Wires ``backbone -> neck -> bbox_head``; the head owns the loss and the post-processing.

    Args:
        backbone: config or module returning a tuple of feature maps and declaring ``out_channels``.
        neck: config or module (optional); its ``in_channels`` default to the backbone's ``out_channels``
            (a mismatch is an error).
        bbox_head: config or module with ``loss(feats, data_samples)`` and ``predict(feats, data_samples)``;
            its ``in_channels`` default to the neck's, and ``train_cfg`` / ``test_cfg`` are passed to it.
        train_cfg, test_cfg: the head's training (assigner) and test (thresholds, NMS) settings.
        data_preprocessor: default ``DetDataPreprocessor`` (pads to a multiple of 32, no normalisation).
        init_cfg: unused (the backbone's own ``init_cfg`` loads pretrained weights in ``init_weights``).

    ``forward(inputs, data_samples, mode)``, ``inputs`` float N x 3 x H x W (preprocessed):

    * ``'loss'``: ``dict(loss_cls, loss_bbox)``; data samples need ``gt_instances`` (bboxes xyxy pixels of
      ``inputs``, labels int64).
    * ``'predict'``: the data samples with ``pred_instances = InstanceData(bboxes float32 K x 4 xyxy in
      ORIGINAL image pixels, scores float32 K, labels int64 K)``.
    * ``'tensor'``: the head's raw outputs (per-level classification logits and box deltas).
    """

    def __init__(self, *, backbone: dict | nn.Module, bbox_head: dict | nn.Module, neck: dict | nn.Module | None = None,
                 train_cfg: dict | None = None, test_cfg: dict | None = None,
                 data_preprocessor: dict | nn.Module | None = None, init_cfg: dict | None = None) -> None:
        super().__init__(backbone=backbone, neck=neck, data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        channels = self.feat_channels
        if isinstance(bbox_head, dict):
            bbox_head = dict(bbox_head)
            if train_cfg is not None:
                bbox_head.setdefault('train_cfg', train_cfg)
            if test_cfg is not None:
                bbox_head.setdefault('test_cfg', test_cfg)
        self.bbox_head = build_submodule(bbox_head, 'bbox_head', in_channels=channels[0] if channels else None)
        self._check_anchor_strides(self.bbox_head, 'bbox_head')

    def forward(self, inputs: torch.Tensor, data_samples: list | None = None, mode: str = 'tensor'):
        self._check_mode(mode)
        feats = self.extract_feat(inputs)
        if mode == 'tensor':
            return self.bbox_head(feats)
        if mode == 'loss':
            if not data_samples:
                raise ValueError(f"{type(self).__name__} mode='loss' needs data_samples with gt_instances")
            return self.bbox_head.loss(feats, data_samples)
        data_samples = self._default_samples(inputs, data_samples)
        results = self.bbox_head.predict(feats, data_samples, rescale=True)
        for sample, pred in zip(data_samples, results):
            sample.pred_instances = pred
        return data_samples


@MODELS.register_module()
class RetinaNet(SingleStageDetector):
    """RetinaNet (Lin et al., "Focal Loss for Dense Object Detection", 2017): a SingleStageDetector
    with a ResNet + FPN (P3-P7) and a :class:`RetinaHead`."""


@MODELS.register_module()
class FCOS(SingleStageDetector):
    """FCOS (Tian et al., 2019): a :class:`SingleStageDetector` with a backbone + FPN (P3-P7) and an
    :class:`FCOSHead`. ``mode='loss'`` returns ``dict(loss_cls, loss_bbox, loss_centerness)``; ``'tensor'``
    the head's (cls_scores, bbox_preds, centernesses)."""

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        head_strides = getattr(getattr(self.bbox_head, 'prior_generator', None), 'strides', None)
        feat_strides = getattr(self, 'feat_strides', None) or getattr(self.neck, 'strides', None)
        if head_strides is not None and feat_strides is not None and list(head_strides) != list(feat_strides):
            raise ValueError(f'bbox_head.strides={list(head_strides)} but the features have strides '
                             f'{list(feat_strides)}')


# -- show_result's inputs ------------------------------------------------------------------------------------------
#: MMCV's colour names, as (B, G, R)
_MMCV_COLORS = {'red': (0, 0, 255), 'green': (0, 255, 0), 'blue': (255, 0, 0), 'cyan': (255, 255, 0),
                'yellow': (0, 255, 255), 'magenta': (255, 0, 255), 'white': (255, 255, 255), 'black': (0, 0, 0)}


def _bgr_to_rgb_color(color) -> tuple[int, int, int]:
    """A 2.x colour (a (B, G, R) tuple or an MMCV colour name) as the visualizer's (R, G, B)."""
    if isinstance(color, str):
        if color not in _MMCV_COLORS:
            raise ValueError(f'show_result: unknown colour {color!r}; use a (B, G, R) tuple or one of '
                             f'{", ".join(_MMCV_COLORS)}')
        color = _MMCV_COLORS[color]
    b, g, r = (int(c) for c in color)
    return r, g, b


def _as_pred_sample(result) -> DataSample:
    """``result`` of show_result as a DataSample with ``pred_instances`` (see :meth:`BaseDetector.show_result`)."""
    if isinstance(result, DataSample):
        return result
    if isinstance(result, InstanceData):
        return DataSample(pred_instances=result)
    segm = None
    if isinstance(result, tuple) and len(result) == 2:
        result, segm = result
        if isinstance(segm, tuple):  # (masks, mask scores) of some 2.x heads
            segm = segm[0]
    if not isinstance(result, (list, tuple)):
        raise TypeError(f'show_result: result must be a DataSample (what inference_detector returns) or MMDetection '
                        f'2.x\'s list of per-class (n, 5) arrays, got {type(result).__name__}')
    per_class = [np.asarray(r, dtype=np.float32).reshape(-1, 5) for r in result]
    dets = np.concatenate(per_class) if per_class else np.zeros((0, 5), np.float32)
    labels = np.concatenate([np.full(len(r), i, np.int64) for i, r in enumerate(per_class)]) if per_class \
        else np.zeros(0, np.int64)
    pred = InstanceData(bboxes=torch.from_numpy(dets[:, :4].copy()), scores=torch.from_numpy(dets[:, 4].copy()),
                        labels=torch.from_numpy(labels))
    if segm is not None:
        masks = [rle_to_bitmap(m) if isinstance(m, dict) else np.asarray(m) for per in segm for m in per]
        if len(masks) != len(dets):
            raise ValueError(f'show_result: {len(masks)} masks for {len(dets)} boxes')
        if masks:
            pred.masks = torch.from_numpy(np.stack(masks).astype(bool))
    return DataSample(pred_instances=pred)
