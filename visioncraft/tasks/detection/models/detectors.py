"""Detectors' shared wiring (backbone -> neck) and the single-stage detectors: backbone -> neck -> dense head."""
from __future__ import annotations

import torch
from torch import nn

from visioncraft.models.assembly import assemble
from visioncraft.models.base import BaseModel, build_submodule
from visioncraft.registry import MODELS
from visioncraft.structures import DataSample

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
