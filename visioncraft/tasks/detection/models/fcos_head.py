"""FCOS (Tian et al., "FCOS: Fully Convolutional One-Stage Object Detection", 2019): an anchor-free dense head
and its detector.

Every feature-map cell has one point (from :class:`MlvlPointGenerator`); the head predicts, per point, class
logits, the distances (left, top, right, bottom) from the point to the box sides, and a centerness logit.

The head is three swappable parts: ``forward`` (the convolutions), ``loss`` (targets + loss modules from the
config) and ``predict`` (score, threshold, top-k, decode, NMS, rescale).
"""
from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn

from visioncraft.models.layers.deform_conv import ModulatedDeformConv2d
from visioncraft.registry import MODELS, TASK_UTILS
from visioncraft.structures import InstanceData

from .box_ops import clip_boxes, nms_and_rescale

__all__ = ['FCOSHead', 'MMDetFCOSHead', 'Scale']

INF = 1e8
_STRIDES = (8, 16, 32, 64, 128)
_REGRESS_RANGES = ((-1, 64), (64, 128), (128, 256), (256, 512), (512, INF))
_DEFAULT_TEST = dict(score_thr=0.05, nms_pre=1000, nms=dict(type='nms', iou_threshold=0.5), max_per_img=100,
                     score_mode='product')
_SCORE_MODES = ('product', 'sqrt')


class Scale(nn.Module):
    """A learnable scalar multiplier (FCOS's per-level regression scale), initialised to ``scale``."""

    def __init__(self, scale: float = 1.0) -> None:
        super().__init__()
        self.scale = nn.Parameter(torch.tensor(float(scale)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.scale


class _ConvBlock(nn.Module):
    """3x3 conv (a modulated deformable one, DCNv2, with ``deformable``) -> optional GroupNorm -> ReLU (one layer
    of a head tower)."""

    def __init__(self, in_channels: int, out_channels: int, norm_cfg: dict | None, bias: bool,
                 deformable: bool = False) -> None:
        super().__init__()
        if deformable:
            self.conv = ModulatedDeformConv2d(in_channels, out_channels, 3, padding=1, bias=bias)
        else:
            self.conv = nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=bias)
        self.norm = None
        if norm_cfg is not None:
            groups = int(norm_cfg.get('num_groups', 32))
            if out_channels % groups:
                raise ValueError(f'FCOSHead norm_cfg: GroupNorm num_groups={groups} does not divide '
                                 f'feat_channels={out_channels}')
            self.norm = nn.GroupNorm(groups, out_channels)
            if not norm_cfg.get('requires_grad', True):
                for p in self.norm.parameters():
                    p.requires_grad_(False)
        self.act = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv(x)
        if self.norm is not None:
            x = self.norm(x)
        return self.act(x)


def _is_offset_conv(head: nn.Module, conv: nn.Module) -> bool:
    """True for the offset / mask predictor of a deformable tower conv (it starts at zero: no offsets)."""
    return any(isinstance(m, ModulatedDeformConv2d) and m.conv_offset is conv for m in head.modules())


def centerness_target(ltrb: torch.Tensor) -> torch.Tensor:
    """FCOS centerness ``sqrt(min(l, r) / max(l, r) * min(t, b) / max(t, b))``: float K x 4 distances -> float K."""
    lr, tb = ltrb[:, 0::2], ltrb[:, 1::2]
    ratio = (lr.min(dim=-1).values / lr.max(dim=-1).values) * (tb.min(dim=-1).values / tb.max(dim=-1).values)
    return torch.sqrt(ratio)


@MODELS.register_module()
class FCOSHead(nn.Module):
    """FCOS head: two towers of ``stacked_convs`` 3x3 conv (+ GroupNorm) + ReLU; from the classification
    tower a 3x3 conv to ``num_classes`` logits (sigmoid, no background class), from the regression tower a
    3x3 conv to 4 distances and (``centerness_on_reg``) a 3x3 conv to one centerness logit.

    The defaults are FCOS's improved recipe (the paper's journal version, torchvision's ``fcos_resnet50_fpn``,
    MMDetection's "gn-head-center-normbbox-centeronreg-giou"): GroupNorm towers, centerness on the
    regression branch, centre sampling, stride-normalised distances, GIoU loss.

    Args:
        num_classes: object classes (no background).
        in_channels: channels of every input level (filled from the neck by the detector when None).
        feat_channels, stacked_convs: tower width and depth.
        strides: stride of every input level.
        regress_ranges: per level ``(lo, hi)``: a point of that level is positive for a gt box only when its
            largest distance to the box sides is within the range (the levels split objects by size).
        strict_regress_ranges: False: ``lo <= d <= hi`` (MMDetection); True: ``lo < d < hi`` (torchvision).
        center_sampling: a point is positive only within ``center_sample_radius * stride`` (a square, L-inf
            distance, strictly) of the gt box centre (and inside the box); without it anywhere inside the box.
        center_sample_radius: see above.
        norm_on_bbox: the regression branch predicts distances in strides: ``relu(scale * x) * stride``;
            otherwise in pixels, ``exp(scale * x)``.
        centerness_on_reg: centerness from the regression tower (else from the classification tower).
        use_scale: a learnable :class:`Scale` per level on the regression output (init 1).
        conv_bias: tower convs have a bias: ``'auto'`` = only without norm, or a bool.
        norm_cfg: ``dict(type='GN', num_groups=32, requires_grad=True)`` or None (no norm).
        prior_prob: initial foreground probability (classifier bias ``-log((1 - p) / p)``).
        prior_generator: TASK_UTILS config, default ``MlvlPointGenerator(strides, offset=0.5)`` (cell
            centres; torchvision's points are at ``offset=0.0``).
        loss_cls: ``FocalLoss``, normalised by the number of positive points (at least 1).
        loss_bbox: ``GIoULoss`` / ``IoULoss`` on the decoded boxes of the positive points.
        loss_centerness: ``CrossEntropyLoss(use_sigmoid=True)`` on the positive points' centerness
            logits vs. their centerness targets, normalised by the number of positives.
        centerness_weighted_bbox_loss: True: ``loss_bbox`` is weighted by the centerness targets and
            normalised by their sum (MMDetection); False: unweighted, normalised by the number of positives
            (torchvision).
        dcn_on_last_conv: the last conv of both towers is a modulated deformable conv (DCNv2,
            :class:`~visioncraft.models.layers.ModulatedDeformConv2d` over ``torchvision.ops.deform_conv2d``),
            MMDetection's flag; its offset / mask predictor starts at zero.
        train_cfg: unused (FCOS needs no assigner); accepted for config compatibility.
        test_cfg: ``score_thr``, ``nms_pre`` (top-k per level before NMS), ``nms=dict(iou_threshold=...)``
            (class-wise), ``max_per_img``, ``score_mode``: ``'product'`` (MMDetection: threshold and top-k
            on the class probability, final score = class probability * centerness) or ``'sqrt'``
            (torchvision: score = ``sqrt(class probability * centerness)``, thresholded and ranked).
            Default 0.05 / 1000 / 0.5 / 100 / 'product'. ``min_bbox_size``: when >= 0, drop boxes not wider
            and taller than it before the NMS (MMDetection's configs: 0; default -1: none dropped).
        init_cfg: accepted for config compatibility; the init is always normal(std=0.01) conv weights, zero
            biases and the prior-probability bias on the classifier.

    Forward: a sequence of N x in_channels x H_i x W_i maps -> (cls_scores, bbox_preds, centernesses): lists
    of N x num_classes x H_i x W_i logits, N x 4 x H_i x W_i distances (l, t, r, b) in input pixels (>= 0)
    and N x 1 x H_i x W_i centerness logits.
    """

    def __init__(self, num_classes: int, in_channels: int | None = None, feat_channels: int = 256,
                 stacked_convs: int = 4, strides: Sequence[int] = _STRIDES,
                 regress_ranges: Sequence[Sequence[float]] = _REGRESS_RANGES, strict_regress_ranges: bool = False,
                 center_sampling: bool = True, center_sample_radius: float = 1.5, norm_on_bbox: bool = True,
                 centerness_on_reg: bool = True, use_scale: bool = True, conv_bias: bool | str = 'auto',
                 norm_cfg: dict | None = dict(type='GN', num_groups=32, requires_grad=True),
                 prior_prob: float = 0.01, prior_generator: dict | None = None, loss_cls: dict | None = None,
                 loss_bbox: dict | None = None, loss_centerness: dict | None = None,
                 centerness_weighted_bbox_loss: bool = True, dcn_on_last_conv: bool = False,
                 train_cfg: dict | None = None, test_cfg: dict | None = None, init_cfg: dict | None = None) -> None:
        super().__init__()
        if in_channels is None:
            raise ValueError('FCOSHead needs in_channels (the detector fills it from the neck)')
        if dcn_on_last_conv and stacked_convs < 1:
            raise ValueError('FCOSHead: dcn_on_last_conv=True needs stacked_convs >= 1 (a tower conv to make '
                             'deformable)')
        self.dcn_on_last_conv = bool(dcn_on_last_conv)
        self.num_classes = int(num_classes)
        self.strides = [int(s) for s in strides]
        if len(regress_ranges) != len(self.strides):
            raise ValueError(f'FCOSHead: regress_ranges has {len(regress_ranges)} levels but strides '
                             f'{self.strides} has {len(self.strides)}')
        self.regress_ranges = [(float(lo), float(hi)) for lo, hi in regress_ranges]
        self.strict_regress_ranges = bool(strict_regress_ranges)
        self.center_sampling, self.center_sample_radius = bool(center_sampling), float(center_sample_radius)
        self.norm_on_bbox, self.centerness_on_reg = bool(norm_on_bbox), bool(centerness_on_reg)
        self.centerness_weighted_bbox_loss = bool(centerness_weighted_bbox_loss)
        if norm_cfg is not None and norm_cfg.get('type', 'GN') != 'GN':
            raise ValueError(f"FCOSHead norm_cfg type must be 'GN' (or norm_cfg=None), got {norm_cfg.get('type')!r}")
        if conv_bias == 'auto':
            conv_bias = norm_cfg is None
        elif not isinstance(conv_bias, bool):
            raise ValueError(f"FCOSHead conv_bias must be 'auto', True or False, got {conv_bias!r}")

        gen_cfg = dict(prior_generator or dict(type='MlvlPointGenerator', offset=0.5))
        gen_cfg.setdefault('strides', list(self.strides))
        self.prior_generator = TASK_UTILS.build(gen_cfg, key_path='prior_generator')
        if list(self.prior_generator.strides) != self.strides:
            raise ValueError(f'FCOSHead: prior_generator.strides={list(self.prior_generator.strides)} but '
                             f'strides={self.strides}')
        self.loss_cls = MODELS.build(loss_cls or dict(type='FocalLoss', gamma=2.0, alpha=0.25), key_path='loss_cls')
        self.loss_bbox = MODELS.build(loss_bbox or dict(type='GIoULoss'), key_path='loss_bbox')
        self.loss_centerness = MODELS.build(loss_centerness or dict(type='CrossEntropyLoss', use_sigmoid=True),
                                            key_path='loss_centerness')
        self.train_cfg = dict(train_cfg or {})
        self.test_cfg = dict(_DEFAULT_TEST, **(test_cfg or {}))
        if self.test_cfg['score_mode'] not in _SCORE_MODES:
            raise ValueError(f"FCOSHead test_cfg.score_mode must be one of {_SCORE_MODES}, "
                             f"got {self.test_cfg['score_mode']!r}")

        def tower() -> nn.ModuleList:
            return nn.ModuleList(_ConvBlock(in_channels if i == 0 else feat_channels, feat_channels, norm_cfg,
                                            conv_bias, deformable=self.dcn_on_last_conv and i == stacked_convs - 1)
                                 for i in range(stacked_convs))
        self.cls_convs, self.reg_convs = tower(), tower()
        c = feat_channels if stacked_convs else in_channels
        self.conv_cls = nn.Conv2d(c, self.num_classes, 3, padding=1)
        self.conv_reg = nn.Conv2d(c, 4, 3, padding=1)
        self.conv_centerness = nn.Conv2d(c, 1, 3, padding=1)
        self.scales = nn.ModuleList(Scale(1.0) for _ in self.strides) if use_scale else None
        for m in self.modules():
            if isinstance(m, ModulatedDeformConv2d):
                nn.init.normal_(m.weight, std=0.01)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Conv2d) and not _is_offset_conv(self, m):
                nn.init.normal_(m.weight, std=0.01)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
        nn.init.constant_(self.conv_cls.bias, -math.log((1 - prior_prob) / prior_prob))

    # -- forward ----------------------------------------------------------------------------------
    def forward(self, feats: Sequence[torch.Tensor]) -> tuple[list[torch.Tensor], list[torch.Tensor],
                                                              list[torch.Tensor]]:
        if len(feats) != len(self.strides):
            raise ValueError(f'FCOSHead has {len(self.strides)} levels (strides {self.strides}) but got '
                             f'{len(feats)} feature maps')
        cls_scores, bbox_preds, centernesses = [], [], []
        for lvl, (x, stride) in enumerate(zip(feats, self.strides)):
            c, r = x, x
            for block in self.cls_convs:
                c = block(c)
            for block in self.reg_convs:
                r = block(r)
            cls_scores.append(self.conv_cls(c))
            centernesses.append(self.conv_centerness(r if self.centerness_on_reg else c))
            reg = self.conv_reg(r)
            if self.scales is not None:
                reg = self.scales[lvl](reg)
            if self.norm_on_bbox:
                bbox_preds.append(reg.relu() * stride)
            else:
                bbox_preds.append(reg.float().exp())
        return cls_scores, bbox_preds, centernesses

    def _points(self, maps: Sequence[torch.Tensor]) -> list[torch.Tensor]:
        return self.prior_generator.grid_priors([m.shape[-2:] for m in maps], device=maps[0].device,
                                                dtype=maps[0].dtype)

    # -- targets ----------------------------------------------------------------------------------
    def get_targets(self, points: Sequence[torch.Tensor], gt_bboxes: torch.Tensor,
                    gt_labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Targets of one image.

        Args:
            points: per level (H_i * W_i) x 2 points ``(x, y)`` (input pixels).
            gt_bboxes: float G x 4 xyxy (input pixels); gt_labels: int64 G.

        Returns:
            ``labels`` int64 K (``num_classes`` = background) and ``gt_inds`` int64 K (the matched gt box,
            -1 for background), K = all points of all levels. A point is matched to the smallest-area gt box
            it lies strictly inside (or, with ``center_sampling``, inside its centre region) whose size
            suits the point's level (``regress_ranges``).
        """
        device = points[0].device
        pts = torch.cat(list(points))
        k = pts.shape[0]
        counts = [len(p) for p in points]
        strides = torch.cat([pts.new_full((n,), float(s)) for n, s in zip(counts, self.strides)])
        ranges = torch.cat([pts.new_tensor(r).expand(n, 2) for n, r in zip(counts, self.regress_ranges)])
        if gt_bboxes.numel() == 0:
            return (torch.full((k,), self.num_classes, dtype=torch.long, device=device),
                    torch.full((k,), -1, dtype=torch.long, device=device))
        boxes = gt_bboxes.to(pts)
        x, y = pts[:, 0:1], pts[:, 1:2]  # K x 1
        ltrb = torch.stack([x - boxes[:, 0], y - boxes[:, 1], boxes[:, 2] - x, boxes[:, 3] - y], dim=2)  # K x G x 4
        inside = ltrb.min(dim=2).values > 0
        if self.center_sampling:
            centres = (boxes[:, :2] + boxes[:, 2:]) / 2  # G x 2
            radius = (strides * self.center_sample_radius)[:, None]  # K x 1
            near = (pts[:, None, :] - centres[None]).abs().max(dim=2).values < radius
            inside = inside & near
        max_dist = ltrb.max(dim=2).values  # K x G
        lo, hi = ranges[:, 0:1], ranges[:, 1:2]
        if self.strict_regress_ranges:
            in_range = (max_dist > lo) & (max_dist < hi)
        else:
            in_range = (max_dist >= lo) & (max_dist <= hi)
        areas = ((boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1]))[None].expand(k, -1).clone()
        areas[~(inside & in_range)] = math.inf
        min_area, gt_inds = areas.min(dim=1)
        background = torch.isinf(min_area)
        gt_inds[background] = -1
        labels = gt_labels.to(device).long()[gt_inds.clamp(min=0)]
        labels[background] = self.num_classes
        return labels, gt_inds

    # -- loss -------------------------------------------------------------------------------------
    def loss(self, feats: Sequence[torch.Tensor], data_samples: Sequence) -> dict[str, torch.Tensor]:
        """``dict(loss_cls, loss_bbox, loss_centerness)`` for data samples with ``gt_instances`` (bboxes xyxy
        pixels of the network input, labels int64 in 0..num_classes-1)."""
        return self.loss_by_feat(*self(feats), data_samples)

    def loss_by_feat(self, cls_scores: Sequence[torch.Tensor], bbox_preds: Sequence[torch.Tensor],
                     centernesses: Sequence[torch.Tensor], data_samples: Sequence) -> dict[str, torch.Tensor]:
        points = self._points(cls_scores)
        all_points = torch.cat(points)
        n = cls_scores[0].shape[0]
        cls_flat = torch.cat([m.permute(0, 2, 3, 1).reshape(n, -1, self.num_classes) for m in cls_scores], 1)
        reg_flat = torch.cat([m.permute(0, 2, 3, 1).reshape(n, -1, 4) for m in bbox_preds], 1)
        ctr_flat = torch.cat([m.permute(0, 2, 3, 1).reshape(n, -1) for m in centernesses], 1)
        labels, pos_pred, pos_ctr, pos_gt, pos_pts = [], [], [], [], []
        for i, sample in enumerate(data_samples):
            gt = sample.gt_instances
            gt_boxes = gt.bboxes.to(all_points)
            lbl, gt_inds = self.get_targets(points, gt_boxes, gt.labels)
            pos = gt_inds >= 0
            labels.append(lbl)
            pos_pred.append(reg_flat[i][pos])
            pos_ctr.append(ctr_flat[i][pos])
            pos_gt.append(gt_boxes[gt_inds[pos]] if gt_boxes.numel() else gt_boxes.new_zeros(0, 4))
            pos_pts.append(all_points[pos])
        labels_t = torch.cat(labels)
        num_pos = max(float((labels_t < self.num_classes).sum()), 1.0)
        loss_cls = self.loss_cls(cls_flat.reshape(-1, self.num_classes), labels_t, avg_factor=num_pos)
        pred_d, ctr_logit = torch.cat(pos_pred).float(), torch.cat(pos_ctr)
        gt_boxes, pts = torch.cat(pos_gt).float(), torch.cat(pos_pts).float()
        pred_boxes = torch.cat([pts - pred_d[:, :2], pts + pred_d[:, 2:]], dim=1)
        target_ltrb = torch.cat([pts - gt_boxes[:, :2], gt_boxes[:, 2:] - pts], dim=1)
        ctr_target = centerness_target(target_ltrb) if len(pts) else target_ltrb.new_zeros(0)
        if self.centerness_weighted_bbox_loss:
            loss_bbox = self.loss_bbox(pred_boxes, gt_boxes, weight=ctr_target,
                                       avg_factor=max(float(ctr_target.sum()), 1e-6))
        else:
            loss_bbox = self.loss_bbox(pred_boxes, gt_boxes, avg_factor=num_pos)
        loss_centerness = self.loss_centerness(ctr_logit, ctr_target.to(ctr_logit.dtype), avg_factor=num_pos)
        return dict(loss_cls=loss_cls, loss_bbox=loss_bbox, loss_centerness=loss_centerness)

    # -- predict ----------------------------------------------------------------------------------
    def predict(self, feats: Sequence[torch.Tensor], data_samples: Sequence,
                rescale: bool = True) -> list[InstanceData]:
        """Detections per image: ``InstanceData(bboxes float32 K x 4 xyxy, scores float32 K, labels int64 K)``,
        in ORIGINAL image pixels when ``rescale`` (divided by metainfo ``scale_factor`` (w, h), clipped to
        ``ori_shape``), else in pixels of the network input (clipped to ``img_shape``)."""
        return self.predict_by_feat(*self(feats), data_samples, rescale=rescale)

    def predict_by_feat(self, cls_scores: Sequence[torch.Tensor], bbox_preds: Sequence[torch.Tensor],
                        centernesses: Sequence[torch.Tensor], data_samples: Sequence,
                        rescale: bool = True) -> list[InstanceData]:
        cfg = self.test_cfg
        score_thr, nms_pre, max_per_img = float(cfg['score_thr']), int(cfg['nms_pre']), int(cfg['max_per_img'])
        iou_thr = float(cfg['nms'].get('iou_threshold', 0.5)) if isinstance(cfg['nms'], dict) else float(cfg['nms'])
        use_sqrt = cfg['score_mode'] == 'sqrt'
        points = self._points(cls_scores)
        results = []
        for i, sample in enumerate(data_samples):
            meta = sample.metainfo if hasattr(sample, 'metainfo') else dict(sample)
            img_shape = meta.get('img_shape') or meta.get('batch_input_shape') or cls_scores[0].shape[-2:]
            boxes, scores, labels = [], [], []
            for cls_map, reg_map, ctr_map, lvl_points in zip(cls_scores, bbox_preds, centernesses, points):
                prob = torch.sigmoid(cls_map[i].permute(1, 2, 0).reshape(-1, self.num_classes))
                ctr = torch.sigmoid(ctr_map[i].permute(1, 2, 0).reshape(-1, 1))
                dist = reg_map[i].permute(1, 2, 0).reshape(-1, 4)
                lvl_scores = (torch.sqrt(prob * ctr) if use_sqrt else prob).flatten()
                keep = torch.where(lvl_scores > score_thr)[0]
                lvl_scores, order = lvl_scores[keep].topk(min(nms_pre, keep.numel()))
                keep = keep[order]
                point_idx = torch.div(keep, self.num_classes, rounding_mode='floor')
                if not use_sqrt:
                    lvl_scores = lvl_scores * ctr[point_idx, 0]
                p, d = lvl_points[point_idx].to(dist.dtype), dist[point_idx]
                lvl_boxes = torch.cat([p - d[:, :2], p + d[:, 2:]], dim=1)
                boxes.append(clip_boxes(lvl_boxes, img_shape))
                scores.append(lvl_scores)
                labels.append(keep % self.num_classes)
            results.append(nms_and_rescale(torch.cat(boxes), torch.cat(scores), torch.cat(labels), iou_thr,
                                           max_per_img, meta if rescale else None,
                                           min_bbox_size=float(cfg.get('min_bbox_size', -1))))
        return results


@MODELS.register_module(name='mmdet.FCOSHead')
class MMDetFCOSHead(FCOSHead):
    """``type='FCOSHead'`` under ``default_scope='mmdet'`` (an MMDetection 3.x config file): :class:`FCOSHead` with
    MMDetection's defaults, which are the FCOS paper's original head rather than the improved recipe: no centre
    sampling, distances in pixels (``norm_on_bbox=False``), centerness on the classification tower, ``IoULoss``,
    strides ``(4, 8, 16, 32, 64)``. A file that leaves these keys out (``faster-rcnn_r50_fpn_fcos-rpn``, the FCOS
    base) then means what it means in MMDetection; every given key is used as it is."""

    def __init__(self, num_classes: int, strides: Sequence[int] = (4, 8, 16, 32, 64), center_sampling: bool = False,
                 norm_on_bbox: bool = False, centerness_on_reg: bool = False, loss_bbox: dict | None = None,
                 **kwargs) -> None:
        super().__init__(num_classes, strides=strides, center_sampling=center_sampling, norm_on_bbox=norm_on_bbox,
                         centerness_on_reg=centerness_on_reg,
                         loss_bbox=loss_bbox or dict(type='IoULoss', loss_weight=1.0), **kwargs)
