"""RetinaHead: dense per-anchor classification and box regression on every pyramid level.

The head is three swappable parts: ``forward`` (the convolutions), ``loss`` (assigner + codec + loss
modules from the config) and ``predict`` (decode, threshold, top-k, NMS, rescale).
"""
from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

from visioncraft.registry import MODELS, TASK_UTILS
from visioncraft.structures import InstanceData

from .assigners import AssignResult
from .box_ops import anchors_inside, clip_boxes, nms_and_rescale
from .rpn_head import image_shapes

__all__ = ['RetinaHead']

_DEFAULT_ANCHORS = dict(type='AnchorGenerator', octave_base_scale=4, scales_per_octave=3, ratios=[0.5, 1.0, 2.0],
                        strides=[8, 16, 32, 64, 128])
_DEFAULT_TEST = dict(score_thr=0.05, nms_pre=1000, nms=dict(type='nms', iou_threshold=0.5), max_per_img=100)
_DEFAULT_TRAIN = dict(assigner=dict(type='MaxIoUAssigner', pos_iou_thr=0.5, neg_iou_thr=0.4, min_pos_iou=0.0),
                      allowed_border=-1)


def _flatten_levels(maps: Sequence[torch.Tensor], last: int) -> torch.Tensor:
    """Per-level N x (A*last) x H x W maps -> N x sum(H*W*A) x last, ordered (level, y, x, anchor)."""
    return torch.cat([m.permute(0, 2, 3, 1).reshape(m.shape[0], -1, last) for m in maps], dim=1)


def _ignored_boxes(sample) -> torch.Tensor | None:
    """The sample's ignored gt boxes (``ignored_instances.bboxes``, e.g. COCO crowd boxes), None when none."""
    if 'ignored_instances' not in sample:
        return None
    boxes = getattr(sample.ignored_instances, 'bboxes', None)
    return boxes if boxes is not None and len(boxes) else None


@MODELS.register_module()
class RetinaHead(nn.Module):
    """RetinaNet head (Lin et al., 2017): two towers of ``stacked_convs`` 3x3 conv + ReLU, then a 3x3 conv to
    ``A * num_classes`` logits (sigmoid, no background class) and one to ``A * 4`` box deltas.

    Args:
        num_classes: object classes (no background).
        in_channels: channels of every input level (filled from the neck by the detector when None).
        feat_channels: channels inside the towers.
        stacked_convs: convs per tower.
        prior_prob: initial foreground probability (the logits' bias is ``-log((1 - p) / p)``).
        anchor_generator, bbox_coder: TASK_UTILS configs (AnchorGenerator, DeltaXYWHBBoxCoder).
        loss_cls, loss_bbox: MODELS configs (FocalLoss, L1Loss / SmoothL1Loss); both are normalised by the
            number of positive anchors in the batch (at least 1).
        reg_decoded_bbox: apply ``loss_bbox`` to the decoded boxes and the gt boxes (xyxy pixels) instead of
            deltas (for the IoU-family losses, e.g. ``GIoULoss``).
        train_cfg: ``dict(assigner=dict(type='MaxIoUAssigner', ...))``; a sample's ``ignored_instances.bboxes``
            (crowd boxes) reach the assigner as ``gt_bboxes_ignore`` (used when ``ignore_iof_thr > 0``).
            ``allowed_border`` >= 0: anchors further than that outside the image (``img_shape``) are not
            assigned and get no loss; -1 (default): all anchors.
        test_cfg: ``score_thr`` (keep scores above it), ``nms_pre`` (top-k per level before NMS),
            ``nms=dict(iou_threshold=...)`` (class-wise), ``max_per_img``. Default 0.05 / 1000 / 0.5 / 100
            ``min_bbox_size``: when >= 0, drop boxes not wider and taller than it (MMDetection's configs: 0,
            the boxes the clipping to the image makes empty; default -1: none dropped)
            (torchvision keeps up to 300 per image).
        init_cfg: accepted for config compatibility; the init is always normal(std=0.01) weights, zero bias
            and the prior-probability bias on the classifier (as torchvision and the paper).

    Forward: a sequence of N x in_channels x H_i x W_i maps -> (cls_scores, bbox_preds): lists of
    N x (A * num_classes) x H_i x W_i logits and N x (A * 4) x H_i x W_i deltas, channel index
    ``a * num_classes + c`` / ``a * 4 + k``.
    """

    def __init__(self, num_classes: int, in_channels: int | None = None, feat_channels: int = 256,
                 stacked_convs: int = 4, prior_prob: float = 0.01, anchor_generator: dict | None = None,
                 bbox_coder: dict | None = None, loss_cls: dict | None = None, loss_bbox: dict | None = None,
                 train_cfg: dict | None = None, test_cfg: dict | None = None, init_cfg: dict | None = None,
                 reg_decoded_bbox: bool = False) -> None:
        super().__init__()
        if in_channels is None:
            raise ValueError('RetinaHead needs in_channels (the detector fills it from the neck)')
        self.num_classes = int(num_classes)
        self.reg_decoded_bbox = bool(reg_decoded_bbox)
        self.anchor_generator = TASK_UTILS.build(anchor_generator or _DEFAULT_ANCHORS, key_path='anchor_generator')
        self.bbox_coder = TASK_UTILS.build(bbox_coder or dict(type='DeltaXYWHBBoxCoder'), key_path='bbox_coder')
        self.loss_cls = MODELS.build(loss_cls or dict(type='FocalLoss', gamma=2.0, alpha=0.25), key_path='loss_cls')
        self.loss_bbox = MODELS.build(loss_bbox or dict(type='L1Loss'), key_path='loss_bbox')
        self.train_cfg = dict(_DEFAULT_TRAIN, **(train_cfg or {}))
        if not isinstance(self.train_cfg['allowed_border'], (int, float)):
            raise ValueError(f"train_cfg.allowed_border must be a number (pixels; -1: all anchors), got "
                             f"{self.train_cfg['allowed_border']!r}")
        self.test_cfg = dict(_DEFAULT_TEST, **(test_cfg or {}))
        self.assigner = TASK_UTILS.build(self.train_cfg['assigner'], key_path='train_cfg.assigner')
        a = self.anchor_generator.num_base_anchors
        self.num_anchors = a

        def tower() -> nn.ModuleList:
            return nn.ModuleList(nn.Conv2d(in_channels if i == 0 else feat_channels, feat_channels, 3, padding=1)
                                 for i in range(stacked_convs))
        self.cls_convs, self.reg_convs = tower(), tower()
        c = feat_channels if stacked_convs else in_channels
        self.retina_cls = nn.Conv2d(c, a * self.num_classes, 3, padding=1)
        self.retina_reg = nn.Conv2d(c, a * 4, 3, padding=1)
        self.relu = nn.ReLU(inplace=True)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.normal_(m.weight, std=0.01)
                nn.init.zeros_(m.bias)
        nn.init.constant_(self.retina_cls.bias, -math.log((1 - prior_prob) / prior_prob))

    # -- forward ----------------------------------------------------------------------------------
    def forward(self, feats: Sequence[torch.Tensor]) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        cls_scores, bbox_preds = [], []
        for x in feats:
            c, r = x, x
            for conv in self.cls_convs:
                c = self.relu(conv(c))
            for conv in self.reg_convs:
                r = self.relu(conv(r))
            cls_scores.append(self.retina_cls(c))
            bbox_preds.append(self.retina_reg(r))
        return cls_scores, bbox_preds

    def _anchors(self, maps: Sequence[torch.Tensor]) -> list[torch.Tensor]:
        return self.anchor_generator.grid_priors([m.shape[-2:] for m in maps], device=maps[0].device,
                                                 dtype=maps[0].dtype)

    # -- loss -------------------------------------------------------------------------------------
    def loss(self, feats: Sequence[torch.Tensor], data_samples: Sequence) -> dict[str, torch.Tensor]:
        """``dict(loss_cls, loss_bbox)`` for data samples with ``gt_instances`` (bboxes xyxy pixels of the
        network input, labels int64 in 0..num_classes-1)."""
        return self.loss_by_feat(*self(feats), data_samples)

    def loss_by_feat(self, cls_scores: Sequence[torch.Tensor], bbox_preds: Sequence[torch.Tensor],
                     data_samples: Sequence) -> dict[str, torch.Tensor]:
        anchors = torch.cat(self._anchors(cls_scores))
        cls_flat = _flatten_levels(cls_scores, self.num_classes)
        reg_flat = _flatten_levels(bbox_preds, 4)
        border = float(self.train_cfg['allowed_border'])
        if border >= 0:  # no img_shape in the metainfo: the padded input's size
            stride = self.anchor_generator.strides[0]
            shapes = image_shapes(data_samples, [v * stride for v in cls_scores[0].shape[-2:]])
        labels, valid, pos_deltas, pos_preds = [], [], [], []
        for i, sample in enumerate(data_samples):
            gt = sample.gt_instances
            gt_boxes = gt.bboxes.to(anchors)
            gt_labels = gt.labels.to(anchors.device).long()
            # anchors too far outside the image are not assigned: ignored, no loss
            kept = None if border < 0 else torch.nonzero(anchors_inside(anchors, shapes[i], border)).flatten()
            candidates = anchors if kept is None else anchors[kept]
            ignored = _ignored_boxes(sample)
            if ignored is None:  # keeps assigners without a gt_bboxes_ignore argument working
                result: AssignResult = self.assigner.assign(candidates, gt_boxes)
            else:
                result = self.assigner.assign(candidates, gt_boxes, gt_bboxes_ignore=ignored.to(anchors))
            gt_inds = result.gt_inds
            if kept is not None:
                gt_inds = gt_inds.new_full((anchors.shape[0],), AssignResult.IGNORE).index_copy(0, kept, gt_inds)
            pos = gt_inds >= 0
            target = torch.full((anchors.shape[0],), self.num_classes, dtype=torch.long, device=anchors.device)
            target[pos] = gt_labels[gt_inds[pos]]
            labels.append(target)
            valid.append(gt_inds != AssignResult.IGNORE)
            pred = reg_flat[i][pos]
            if self.reg_decoded_bbox:
                pred = self.bbox_coder.decode(anchors[pos], pred)
                pos_deltas.append(gt_boxes[gt_inds[pos]])
            else:
                pos_deltas.append(self.bbox_coder.encode(anchors[pos], gt_boxes[gt_inds[pos]]))
            pos_preds.append(pred)
        labels_t, valid_t = torch.stack(labels), torch.stack(valid)
        num_pos = max(float((labels_t < self.num_classes).sum()), 1.0)
        loss_cls = self.loss_cls(cls_flat[valid_t], labels_t[valid_t], avg_factor=num_pos)
        loss_bbox = self.loss_bbox(torch.cat(pos_preds), torch.cat(pos_deltas), avg_factor=num_pos)
        return dict(loss_cls=loss_cls, loss_bbox=loss_bbox)

    # -- predict ----------------------------------------------------------------------------------
    def predict(self, feats: Sequence[torch.Tensor], data_samples: Sequence,
                rescale: bool = True) -> list[InstanceData]:
        """Detections per image: ``InstanceData(bboxes float32 K x 4 xyxy, scores float32 K, labels int64 K)``,
        in ORIGINAL image pixels when ``rescale`` (divided by metainfo ``scale_factor`` (w, h), clipped to
        ``ori_shape``), else in pixels of the network input (clipped to ``img_shape``)."""
        return self.predict_by_feat(*self(feats), data_samples, rescale=rescale)

    def predict_by_feat(self, cls_scores: Sequence[torch.Tensor], bbox_preds: Sequence[torch.Tensor],
                        data_samples: Sequence, rescale: bool = True) -> list[InstanceData]:
        cfg = self.test_cfg
        score_thr, nms_pre = float(cfg['score_thr']), int(cfg['nms_pre'])
        iou_thr = float(cfg['nms'].get('iou_threshold', 0.5)) if isinstance(cfg['nms'], dict) else float(cfg['nms'])
        max_per_img = int(cfg['max_per_img'])
        anchors = self._anchors(cls_scores)
        results = []
        for i, sample in enumerate(data_samples):
            meta = sample.metainfo if hasattr(sample, 'metainfo') else dict(sample)
            img_shape = meta.get('img_shape') or meta.get('batch_input_shape') or cls_scores[0].shape[-2:]
            boxes, scores, labels = [], [], []
            for cls_map, reg_map, lvl_anchors in zip(cls_scores, bbox_preds, anchors):
                logits = cls_map[i].permute(1, 2, 0).reshape(-1, self.num_classes)
                deltas = reg_map[i].permute(1, 2, 0).reshape(-1, 4)
                lvl_scores = torch.sigmoid(logits).flatten()
                keep = torch.where(lvl_scores > score_thr)[0]
                lvl_scores, order = lvl_scores[keep].topk(min(nms_pre, keep.numel()))
                keep = keep[order]
                anchor_idx = torch.div(keep, self.num_classes, rounding_mode='floor')
                lvl_boxes = self.bbox_coder.decode(lvl_anchors[anchor_idx], deltas[anchor_idx])
                boxes.append(clip_boxes(lvl_boxes, img_shape))
                scores.append(lvl_scores)
                labels.append(keep % self.num_classes)
            results.append(nms_and_rescale(torch.cat(boxes), torch.cat(scores), torch.cat(labels), iou_thr,
                                           max_per_img, meta if rescale else None,
                                           min_bbox_size=float(cfg.get('min_bbox_size', -1))))
        return results
