"""RPNHead: the region proposal network of Faster R-CNN (Ren et al., 2015) on every pyramid level.

Three swappable parts, as the dense heads: ``forward`` (the convolutions), ``loss`` (assigner + sampler +
codec + loss modules) and ``predict`` (proposals: per-level top-k, decode, clip, drop small boxes, NMS per
level, top ``max_per_img``).
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn
from torchvision.ops import batched_nms

from visioncraft.registry import MODELS, TASK_UTILS
from visioncraft.structures import InstanceData

from .assigners import AssignResult
from .box_ops import anchors_inside

__all__ = ['RPNHead', 'image_shapes']

_DEFAULT_ANCHORS = dict(type='AnchorGenerator', scales=[8], ratios=[0.5, 1.0, 2.0], strides=[4, 8, 16, 32, 64])
_DEFAULT_TRAIN = dict(
    assigner=dict(type='MaxIoUAssigner', pos_iou_thr=0.7, neg_iou_thr=0.3, min_pos_iou=0.3, match_low_quality=True),
    sampler=dict(type='RandomSampler', num=256, pos_fraction=0.5, neg_pos_ub=-1, add_gt_as_proposals=False),
    allowed_border=-1)
# torchvision's fasterrcnn_resnet50_fpn: 2000 / 2000 proposals in training, 1000 / 1000 at test time.
_DEFAULT_TRAIN_PROPOSAL = dict(nms_pre=2000, max_per_img=2000, nms=dict(type='nms', iou_threshold=0.7),
                               min_bbox_size=0)
_DEFAULT_TEST = dict(nms_pre=1000, max_per_img=1000, nms=dict(type='nms', iou_threshold=0.7), min_bbox_size=0)


def nms_iou(cfg: dict, key: str) -> float:
    """The IoU threshold of an MMDet-style ``nms=dict(type='nms', iou_threshold=...)`` (or a bare number)."""
    nms = cfg.get('nms')
    if isinstance(nms, (int, float)):
        return float(nms)
    if not isinstance(nms, dict) or nms.get('type', 'nms') != 'nms' or 'iou_threshold' not in nms:
        raise ValueError(f"{key}.nms must be dict(type='nms', iou_threshold=...), got {nms!r}")
    return float(nms['iou_threshold'])


def image_shapes(data_samples: Sequence, default: Sequence[int]) -> list[tuple[int, int]]:
    """``img_shape`` (h, w) of every data sample (else ``batch_input_shape``, else ``default``)."""
    out = []
    for s in data_samples:
        meta = s.metainfo if hasattr(s, 'metainfo') else dict(s)
        shape = meta.get('img_shape') or meta.get('batch_input_shape') or default
        out.append((int(shape[0]), int(shape[1])))
    return out


@MODELS.register_module()
class RPNHead(nn.Module):
    """Region proposal head: a shared 3x3 conv + ReLU, then a 1x1 conv to ``A`` objectness logits (sigmoid)
    and a 1x1 conv to ``A * 4`` box deltas, on every level.

    Args:
        in_channels: channels of every input level (filled from the neck by the detector when None).
        feat_channels: channels of the shared conv.
        num_classes: must be 1 (class-agnostic objectness), as MMDetection's configs give it.
        anchor_generator, bbox_coder: TASK_UTILS configs (default MMDet's: scales [8], ratios 0.5/1/2,
            strides 4..64, i.e. sizes 32..512; target_stds 1).
        loss_cls: MODELS config of a sigmoid classification loss called as ``loss(logits M x 1, labels M,
            avg_factor)`` with label 0 = object, 1 = background (MMDet's ``CrossEntropyLoss(use_sigmoid=True)``).
        loss_bbox: MODELS config (``L1Loss``; torchvision uses ``SmoothL1Loss(beta=1/9)``).
            Both losses are averaged over the sampled anchors of the batch.
        reg_decoded_bbox: apply ``loss_bbox`` to the decoded boxes and the gt boxes (xyxy pixels) instead of
            deltas (for the IoU-family losses).
        train_cfg: ``assigner`` (MaxIoUAssigner 0.7 / 0.3), ``sampler`` (RandomSampler 256 / 0.5) and
            ``allowed_border``: when >= 0, only the anchors within that many pixels outside the image
            (``img_shape``) are assigned and sampled, the others get no loss (MMDetection's C4 / DC5 configs
            use 0); -1 (the default): all anchors.
        train_proposal_cfg, test_cfg: proposal settings (MMDet's ``rpn_proposal`` / ``test_cfg.rpn``):
            ``nms_pre`` (top-k per level by objectness), ``nms=dict(type='nms', iou_threshold)`` (per
            level, per image), ``min_bbox_size`` (keep boxes wider and taller than it), ``max_per_img``.
            Defaults: torchvision's 2000 / 2000 (train) and 1000 / 1000 (test), IoU 0.7, 0.
        init_cfg: accepted for config compatibility; convs are normal(std=0.01), bias 0 (as both peers).

    Forward: sequence of N x in_channels x H_i x W_i maps -> (cls_scores, bbox_preds): lists of
    N x A x H_i x W_i objectness logits and N x (A * 4) x H_i x W_i deltas (channel ``a * 4 + k``).
    """

    def __init__(self, in_channels: int | None = None, feat_channels: int = 256, num_classes: int = 1,
                 anchor_generator: dict | None = None, bbox_coder: dict | None = None, loss_cls: dict | None = None,
                 loss_bbox: dict | None = None, train_cfg: dict | None = None,
                 train_proposal_cfg: dict | None = None, test_cfg: dict | None = None,
                 init_cfg: dict | None = None, reg_decoded_bbox: bool = False) -> None:
        super().__init__()
        if in_channels is None:
            raise ValueError('RPNHead needs in_channels (the detector fills it from the neck)')
        self.reg_decoded_bbox = bool(reg_decoded_bbox)
        if num_classes != 1:
            raise ValueError(f'RPNHead: num_classes must be 1 (class-agnostic objectness), got {num_classes}')
        self.anchor_generator = TASK_UTILS.build(anchor_generator or _DEFAULT_ANCHORS, key_path='anchor_generator')
        self.bbox_coder = TASK_UTILS.build(bbox_coder or dict(type='DeltaXYWHBBoxCoder'), key_path='bbox_coder')
        self.loss_cls = MODELS.build(loss_cls or dict(type='CrossEntropyLoss', use_sigmoid=True),
                                     key_path='rpn_head.loss_cls')
        self.loss_bbox = MODELS.build(loss_bbox or dict(type='L1Loss'), key_path='rpn_head.loss_bbox')
        self.train_cfg = dict(_DEFAULT_TRAIN, **(train_cfg or {}))
        if not isinstance(self.train_cfg['allowed_border'], (int, float)):
            raise ValueError(f"train_cfg.rpn.allowed_border must be a number (pixels; -1: all anchors), got "
                             f"{self.train_cfg['allowed_border']!r}")
        self.train_proposal_cfg = dict(_DEFAULT_TRAIN_PROPOSAL, **(train_proposal_cfg or {}))
        self.test_cfg = dict(_DEFAULT_TEST, **(test_cfg or {}))
        self.assigner = TASK_UTILS.build(self.train_cfg['assigner'], key_path='train_cfg.rpn.assigner')
        self.sampler = TASK_UTILS.build(self.train_cfg['sampler'], key_path='train_cfg.rpn.sampler')
        a = self.anchor_generator.num_base_anchors
        self.num_anchors = a
        self.rpn_conv = nn.Conv2d(in_channels, feat_channels, 3, padding=1)
        self.rpn_cls = nn.Conv2d(feat_channels, a, 1)
        self.rpn_reg = nn.Conv2d(feat_channels, a * 4, 1)
        self.relu = nn.ReLU(inplace=True)
        for m in (self.rpn_conv, self.rpn_cls, self.rpn_reg):
            nn.init.normal_(m.weight, std=0.01)
            nn.init.zeros_(m.bias)

    # -- forward ----------------------------------------------------------------------------------
    def forward(self, feats: Sequence[torch.Tensor]) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        cls_scores, bbox_preds = [], []
        for x in feats:
            t = self.relu(self.rpn_conv(x))
            cls_scores.append(self.rpn_cls(t))
            bbox_preds.append(self.rpn_reg(t))
        return cls_scores, bbox_preds

    def _anchors(self, maps: Sequence[torch.Tensor]) -> list[torch.Tensor]:
        """Anchors of the maps' sizes; the last ones are kept, as training asks twice (loss, proposals)."""
        key = (tuple(tuple(m.shape[-2:]) for m in maps), maps[0].device, maps[0].dtype)
        if getattr(self, '_anchor_cache', (None,))[0] != key:
            self._anchor_cache = (key, self.anchor_generator.grid_priors([k for k in key[0]], device=key[1],
                                                                         dtype=key[2]))
        return self._anchor_cache[1]

    # -- loss -------------------------------------------------------------------------------------
    def loss(self, feats: Sequence[torch.Tensor], data_samples: Sequence) -> dict[str, torch.Tensor]:
        """``dict(loss_rpn_cls, loss_rpn_bbox)`` for data samples with ``gt_instances.bboxes`` (xyxy pixels of
        the network input)."""
        return self.loss_by_feat(*self(feats), data_samples)

    def loss_and_predict(self, feats: Sequence[torch.Tensor], data_samples: Sequence
                         ) -> tuple[dict[str, torch.Tensor], list[InstanceData]]:
        """The losses and the (detached) training proposals, from one forward pass."""
        cls_scores, bbox_preds = self(feats)
        losses = self.loss_by_feat(cls_scores, bbox_preds, data_samples)
        proposals = self.predict_by_feat([c.detach() for c in cls_scores], [b.detach() for b in bbox_preds],
                                         data_samples, cfg=self.train_proposal_cfg)
        return losses, proposals

    def loss_by_feat(self, cls_scores: Sequence[torch.Tensor], bbox_preds: Sequence[torch.Tensor],
                     data_samples: Sequence) -> dict[str, torch.Tensor]:
        anchors = torch.cat(self._anchors(cls_scores))
        n = cls_scores[0].shape[0]
        cls_flat = torch.cat([c.permute(0, 2, 3, 1).reshape(n, -1) for c in cls_scores], dim=1)
        reg_flat = torch.cat([r.permute(0, 2, 3, 1).reshape(n, -1, 4) for r in bbox_preds], dim=1)
        border = float(self.train_cfg['allowed_border'])
        if border >= 0:  # no img_shape in the metainfo: the padded input's size
            stride = self.anchor_generator.strides[0]
            shapes = image_shapes(data_samples, [v * stride for v in cls_scores[0].shape[-2:]])
        logits, labels, pos_preds, pos_targets = [], [], [], []
        for i, sample in enumerate(data_samples):
            gt_boxes = sample.gt_instances.bboxes.to(anchors)
            # anchors too far outside the image are neither assigned nor sampled (no loss at all)
            kept = None if border < 0 else torch.nonzero(anchors_inside(anchors, shapes[i], border)).flatten()
            candidates = anchors if kept is None else anchors[kept]
            result: AssignResult = self.assigner.assign(candidates, gt_boxes)
            sampled = self.sampler.sample(result, candidates, gt_boxes)
            pos_inds, neg_inds = sampled.pos_inds, sampled.neg_inds
            if kept is not None:  # back to indices into all anchors
                pos_inds, neg_inds = kept[pos_inds], kept[neg_inds]
            inds = torch.cat([pos_inds, neg_inds])
            logits.append(cls_flat[i, inds])
            lab = torch.ones_like(inds)  # 1 = background, 0 = object (MMDet's one-class convention)
            lab[:len(pos_inds)] = 0
            labels.append(lab)
            pred = reg_flat[i, pos_inds]
            if self.reg_decoded_bbox:
                pred = self.bbox_coder.decode(sampled.pos_priors, pred)
                pos_targets.append(sampled.pos_gt_bboxes)
            else:
                pos_targets.append(self.bbox_coder.encode(sampled.pos_priors, sampled.pos_gt_bboxes))
            pos_preds.append(pred)
        logits_t = torch.cat(logits)
        num_samples = max(logits_t.numel(), 1)
        loss_cls = self.loss_cls(logits_t[:, None], torch.cat(labels), avg_factor=num_samples)
        loss_bbox = self.loss_bbox(torch.cat(pos_preds), torch.cat(pos_targets), avg_factor=num_samples)
        return dict(loss_rpn_cls=loss_cls, loss_rpn_bbox=loss_bbox)

    # -- proposals --------------------------------------------------------------------------------
    def predict(self, feats: Sequence[torch.Tensor], data_samples: Sequence) -> list[InstanceData]:
        """Test-time proposals per image: ``InstanceData(bboxes float K x 4 xyxy in network-input pixels,
        clipped to ``img_shape``; scores float K (sigmoid objectness), descending; level_ids int64 K)``."""
        return self.predict_by_feat(*self(feats), data_samples, cfg=self.test_cfg)

    def predict_by_feat(self, cls_scores: Sequence[torch.Tensor], bbox_preds: Sequence[torch.Tensor],
                        data_samples: Sequence, cfg: dict | None = None) -> list[InstanceData]:
        cfg = self.test_cfg if cfg is None else cfg
        nms_pre, max_per_img = int(cfg['nms_pre']), int(cfg['max_per_img'])
        iou_thr = nms_iou(cfg, 'rpn proposal cfg')
        min_size = float(cfg.get('min_bbox_size', 0) or 0)
        n = cls_scores[0].shape[0]
        anchors = self._anchors(cls_scores)
        # per level, for the whole batch at once: top-k logits, their anchors and deltas, decoded
        logits, boxes, levels = [], [], []
        for lvl, (cls_map, reg_map, lvl_anchors) in enumerate(zip(cls_scores, bbox_preds, anchors)):
            obj = cls_map.permute(0, 2, 3, 1).reshape(n, -1)
            k = min(nms_pre, obj.shape[1]) if nms_pre > 0 else obj.shape[1]
            top, idx = obj.topk(k, dim=1)
            deltas = reg_map.permute(0, 2, 3, 1).reshape(n, -1, 4)
            deltas = torch.gather(deltas, 1, idx[..., None].expand(-1, -1, 4))
            boxes.append(self.bbox_coder.decode(lvl_anchors[idx.reshape(-1)], deltas.reshape(-1, 4)).view(n, k, 4))
            logits.append(top)
            levels.append(torch.full((k,), lvl, dtype=torch.long, device=obj.device))
        boxes_t, scores_t, levels_t = torch.cat(boxes, 1), torch.cat(logits, 1).sigmoid(), torch.cat(levels)
        # clip every image's boxes to its own img_shape (h, w), in one op
        shapes = boxes_t.new_tensor(image_shapes(data_samples, cls_scores[0].shape[-2:]))  # N x 2
        upper = shapes[:, [1, 0, 1, 0]][:, None, :]
        boxes_t = torch.minimum(boxes_t.clamp(min=0), upper)
        wh = boxes_t[..., 2:] - boxes_t[..., :2]
        valid = (wh > min_size).all(dim=-1)  # N x K
        results = []
        for i in range(n):  # NMS per image, levels kept apart (torchvision's batched_nms by level)
            keep = torch.nonzero(valid[i]).flatten()
            b, s, lv = boxes_t[i, keep], scores_t[i, keep], levels_t[keep]
            keep = batched_nms(b, s, lv, iou_thr)[:max_per_img]
            results.append(InstanceData(bboxes=b[keep], scores=s[keep], level_ids=lv[keep]))
        return results
