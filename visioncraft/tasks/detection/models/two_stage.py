"""Two-stage detectors: backbone -> neck -> RPN head (proposals) -> RoI head (boxes, masks)."""
from __future__ import annotations

import warnings
from types import SimpleNamespace

import torch
from torch import nn

from visioncraft.models.base import build_submodule
from visioncraft.registry import MODELS
from visioncraft.structures import InstanceData

from .detectors import BaseDetector
from .rpn_head import RPNHead

__all__ = ['TwoStageDetector', 'FasterRCNN', 'MaskRCNN']

_TRAIN_KEYS = ('rpn', 'rpn_proposal', 'rcnn')
_TEST_KEYS = ('rpn', 'rcnn')
# MMDetection keys that only have one meaning here: accepted with their default value, an error otherwise.
_DEFAULT_ONLY = dict(allowed_border=-1, pos_weight=-1, debug=False)


def _stage_cfg(cfg: dict | None, key: str, allowed: tuple[str, ...]) -> dict:
    cfg = dict(cfg or {})
    unknown = sorted(set(cfg) - set(allowed))
    if unknown:
        raise ValueError(f'{key} has unknown keys {unknown}; a two-stage detector reads {list(allowed)}')
    for stage, sub in cfg.items():
        if sub is None:
            continue
        sub = dict(sub)
        for k, default in _DEFAULT_ONLY.items():
            if k == 'allowed_border' and stage == 'rpn':
                continue  # the RPN head reads it (anchors outside the image get no loss)
            if k in sub and sub.pop(k) != default:
                raise NotImplementedError(f'{key}.{stage}.{k}: only {default!r} is implemented')
        cfg[stage] = sub
    return cfg


def _fill(cfg, **values):
    """``cfg`` (a dict config) with ``values`` set where it has no value; a module passes through."""
    if not isinstance(cfg, dict):
        return cfg
    cfg = dict(cfg)
    for k, v in values.items():
        if cfg.get(k) is None and v is not None:
            cfg[k] = v
    return cfg


def _is_dense_rpn(cfg) -> bool:
    """True when the ``rpn_head`` config names a one-stage head (anything but an RPNHead)."""
    if not isinstance(cfg, dict):
        return not isinstance(cfg, RPNHead)
    cls = MODELS.get(cfg.get('type', 'RPNHead'), key_path='rpn_head.type')
    return not (isinstance(cls, type) and issubclass(cls, RPNHead))


def _dense_rpn_cfg(cfg: dict, train_cfg: dict | None, test_cfg: dict | None) -> dict:
    """A one-stage head's config for proposing boxes: one class (another ``num_classes`` is set to 1 with a
    warning, as MMDetection does), ``test_cfg.rpn`` as its test settings with no score threshold unless given."""
    cfg = dict(cfg)
    if cfg.get('num_classes', 1) != 1:
        warnings.warn(f"rpn_head ({cfg.get('type')}): num_classes={cfg['num_classes']} set to 1 (it proposes boxes)")
    cfg['num_classes'] = 1
    if train_cfg is not None and cfg.get('train_cfg') is None:
        cfg['train_cfg'] = train_cfg
    if cfg.get('test_cfg') is None:
        cfg['test_cfg'] = dict(dict(score_thr=0.0), **(test_cfg or {}))
    return cfg


@MODELS.register_module()
class TwoStageDetector(BaseDetector):
    """Wires ``backbone -> neck -> rpn_head -> roi_head`` (Faster / Mask R-CNN).

    Args:
        backbone, neck, data_preprocessor, init_cfg: as :class:`SingleStageDetector`.
        rpn_head: config or module (:class:`RPNHead`); its ``in_channels`` default to the neck's.
        roi_head: config or module (:class:`StandardRoIHead`); the extractors' ``out_channels`` and the
            heads' ``in_channels`` default to the neck's.
        train_cfg: MMDetection's ``dict(rpn=dict(assigner, sampler), rpn_proposal=dict(nms_pre, max_per_img,
            nms, min_bbox_size), rcnn=dict(assigner, sampler))``.
        test_cfg: ``dict(rpn=dict(nms_pre, max_per_img, nms, min_bbox_size), rcnn=dict(score_thr, nms,
            max_per_img[, mask_thr_binary]))``.

    ``forward(inputs, data_samples, mode)``, ``inputs`` float N x 3 x H x W (preprocessed):

    * ``'loss'``: ``dict(loss_rpn_cls, loss_rpn_bbox, loss_cls, loss_bbox, acc[, loss_mask])``; data samples
      need ``gt_instances`` (bboxes xyxy pixels of ``inputs``, labels int64[, masks]).
    * ``'predict'``: the data samples with ``pred_instances = InstanceData(bboxes float32 K x 4 xyxy in
      ORIGINAL image pixels, scores float32 K, labels int64 K[, masks bool K x H x W at ori_shape])``.
    * ``'tensor'``: ``((rpn objectness logits, rpn deltas), roi_head outputs on the test proposals)``.
    """

    def __init__(self, *, backbone: dict | nn.Module, rpn_head: dict | nn.Module, roi_head: dict | nn.Module,
                 neck: dict | nn.Module | None = None, train_cfg: dict | None = None, test_cfg: dict | None = None,
                 data_preprocessor: dict | nn.Module | None = None, init_cfg: dict | None = None) -> None:
        super().__init__(backbone=backbone, neck=neck, data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        train_cfg = _stage_cfg(train_cfg, 'train_cfg', _TRAIN_KEYS)
        test_cfg = _stage_cfg(test_cfg, 'test_cfg', _TEST_KEYS)
        c = self.feat_channels[0] if self.feat_channels else None
        if _is_dense_rpn(rpn_head):
            rpn_head = _dense_rpn_cfg(rpn_head, train_cfg.get('rpn'), test_cfg.get('rpn'))
        else:
            rpn_head = _fill(rpn_head, train_cfg=train_cfg.get('rpn'),
                             train_proposal_cfg=train_cfg.get('rpn_proposal'), test_cfg=test_cfg.get('rpn'))
        self.rpn_head = build_submodule(rpn_head, 'rpn_head', in_channels=c)
        #: a one-stage head (FCOSHead) proposing boxes: its losses get an ``rpn_`` prefix, its detections of the
        #: one class are the proposals (``train_cfg.rpn_proposal`` in training, ``test_cfg.rpn`` otherwise)
        self.dense_rpn = not isinstance(self.rpn_head, RPNHead)
        self._rpn_proposal_cfg = dict(train_cfg.get('rpn_proposal') or {})
        self._check_anchor_strides(self.rpn_head, 'rpn_head')
        if isinstance(roi_head, dict):
            roi_head = _fill(roi_head, train_cfg=train_cfg.get('rcnn'), test_cfg=test_cfg.get('rcnn'))
            for key, field in (('bbox_roi_extractor', 'out_channels'), ('bbox_head', 'in_channels'),
                               ('mask_roi_extractor', 'out_channels'), ('mask_head', 'in_channels')):
                if roi_head.get(key) is not None and not (field == 'in_channels' and roi_head.get('shared_head')):
                    roi_head[key] = _fill(roi_head[key], **{field: c})  # (a shared head sets the heads' inputs)
        self.roi_head = build_submodule(roi_head, 'roi_head')

    def forward(self, inputs: torch.Tensor, data_samples: list | None = None, mode: str = 'tensor'):
        self._check_mode(mode)
        feats = self.extract_feat(inputs)
        if mode == 'loss':
            if not data_samples:
                raise ValueError(f"{type(self).__name__} mode='loss' needs data_samples with gt_instances")
            if self.dense_rpn:
                losses, proposals = self._dense_rpn_loss_and_predict(feats, data_samples)
            else:
                losses, proposals = self.rpn_head.loss_and_predict(feats, data_samples)
            losses.update(self.roi_head.loss(feats, proposals, data_samples))
            return losses
        data_samples = self._default_samples(inputs, data_samples)
        if mode == 'tensor':
            rpn_outs = self.rpn_head(feats)
            if self.dense_rpn:
                with torch.no_grad():
                    proposals = self.rpn_head.predict_by_feat(*rpn_outs, data_samples, rescale=False)
            else:
                proposals = self.rpn_head.predict_by_feat(*rpn_outs, data_samples)
            return rpn_outs, self.roi_head(feats, proposals)
        if self.dense_rpn:
            proposals = self.rpn_head.predict(feats, data_samples, rescale=False)
        else:
            proposals = self.rpn_head.predict(feats, data_samples)
        results = self.roi_head.predict(feats, proposals, data_samples, rescale=True)
        for sample, pred in zip(data_samples, results):
            sample.pred_instances = pred
        return data_samples

    def _dense_rpn_loss_and_predict(self, feats, data_samples) -> tuple[dict, list[InstanceData]]:
        """A one-stage head as the RPN (MMDetection's ``faster-rcnn_r50_fpn_fcos-rpn``): its losses on the gt boxes
        as one class (``rpn_loss_cls``, ``rpn_loss_bbox``, ...), and its detections under
        ``train_cfg.rpn_proposal`` (network-input pixels, no gradient) as the proposals."""
        head = self.rpn_head
        outs = head(feats)
        one_class = [SimpleNamespace(gt_instances=InstanceData(
            bboxes=s.gt_instances.bboxes, labels=torch.zeros_like(s.gt_instances.labels))) for s in data_samples]
        losses = {(f'rpn_{k}' if 'loss' in k and 'rpn' not in k else k): v
                  for k, v in head.loss_by_feat(*outs, one_class).items()}
        test_cfg = head.test_cfg
        head.test_cfg = dict(test_cfg, **self._rpn_proposal_cfg)
        try:
            with torch.no_grad():
                proposals = head.predict_by_feat(*outs, data_samples, rescale=False)
        finally:
            head.test_cfg = test_cfg
        return losses, proposals


@MODELS.register_module()
class FasterRCNN(TwoStageDetector):
    """Faster R-CNN (Ren et al., 2015) with FPN (Lin et al., 2017): a TwoStageDetector with an
    :class:`RPNHead` and a :class:`StandardRoIHead` with a :class:`Shared2FCBBoxHead`."""


@MODELS.register_module()
class MaskRCNN(TwoStageDetector):
    """Mask R-CNN (He et al., 2017): Faster R-CNN whose :class:`StandardRoIHead` also has an
    :class:`FCNMaskHead`; ``pred_instances.masks`` are bool K x H x W at ``ori_shape``."""
