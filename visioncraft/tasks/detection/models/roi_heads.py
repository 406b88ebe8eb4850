"""The RoI side of two-stage detectors: RoI feature extraction, the box head, the mask head, and the
``StandardRoIHead`` that samples proposals for training and turns them into detections at test time.

Conventions: boxes are float ``xyxy`` in absolute pixels of the network input unless said otherwise; a
batch of RoIs is an ``R x 5`` float tensor ``(batch_index, x1, y1, x2, y2)``. Class scores have
``num_classes + 1`` columns with the background LAST (index ``num_classes``), as MMDetection.
"""
from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn
from torchvision.ops import batched_nms, roi_align

from visioncraft.models.base import build_submodule
from visioncraft.registry import MODELS, TASK_UTILS
from visioncraft.structures import InstanceData

from .rpn_head import image_shapes, nms_iou
from .box_ops import clip_boxes

__all__ = ['SingleRoIExtractor', 'Shared2FCBBoxHead', 'FCNMaskHead', 'StandardRoIHead', 'bbox2roi',
           'paste_masks', 'paste_masks_grid_sample', 'mask_targets']


def bbox2roi(boxes: Sequence[torch.Tensor]) -> torch.Tensor:
    """Per-image K_i x 4 boxes -> sum(K_i) x 5 RoIs ``(batch_index, x1, y1, x2, y2)``."""
    rois = [torch.cat([b.new_full((b.shape[0], 1), float(i)), b[:, :4]], dim=1) for i, b in enumerate(boxes)]
    return torch.cat(rois) if rois else torch.zeros((0, 5))


@MODELS.register_module()
class SingleRoIExtractor(nn.Module):
    """RoIAlign every RoI on one pyramid level chosen by its size (one ``roi_align`` call per level for the
    whole batch).

    Level of a RoI of scale ``s = sqrt(w * h)`` (``L = len(featmap_strides)`` levels):

    * default (MMDetection): ``floor(log2(s / finest_scale + 1e-6))`` clamped to ``0..L-1``
      (``finest_scale=56``: s < 112 -> level 0, < 224 -> 1, < 448 -> 2, else 3);
    * ``canonical_scale`` given (torchvision's ``LevelMapper``, 224 / level 4, needed for parity with it):
      ``floor(canonical_level + log2(s / canonical_scale) + 1e-6)`` clamped to ``k_min..k_max``, minus
      ``k_min``, where ``k = log2(stride)`` of the first / last level.

    Args:
        roi_layer: ``dict(type='RoIAlign', output_size=7, sampling_ratio=0, aligned=True)``;
            ``sampling_ratio`` <= 0 is adaptive; ``aligned=False`` is torchvision's MultiScaleRoIAlign.
        out_channels: channels of the features (checked against the input).
        featmap_strides: stride of each level used (the first ``len(featmap_strides)`` feature maps).
        finest_scale, canonical_scale, canonical_level: see above.

    Forward: ``feats`` (N x C x H_l x W_l per level), ``rois`` R x 5 -> float R x C x S x S.
    """

    def __init__(self, roi_layer: dict | None = None, out_channels: int = 256,
                 featmap_strides: Sequence[int] = (4, 8, 16, 32), finest_scale: float = 56,
                 canonical_scale: float | None = None, canonical_level: int = 4, init_cfg: dict | None = None) -> None:
        super().__init__()
        layer = {**dict(type='RoIAlign', output_size=7, sampling_ratio=0, aligned=True), **(roi_layer or {})}
        if layer.pop('type') not in ('RoIAlign', 'mmcv.RoIAlign'):
            raise ValueError(f"SingleRoIExtractor.roi_layer.type must be 'RoIAlign', got {roi_layer!r}")
        size = layer.pop('output_size')
        self.output_size = (int(size), int(size)) if isinstance(size, (int, float)) else tuple(int(s) for s in size)
        self.sampling_ratio = int(layer.pop('sampling_ratio'))
        self.aligned = bool(layer.pop('aligned'))
        layer.pop('pool_mode', None)
        if layer:
            raise ValueError(f'SingleRoIExtractor.roi_layer: unknown keys {sorted(layer)}')
        self.out_channels = int(out_channels)
        self.featmap_strides = [int(s) for s in featmap_strides]
        self.finest_scale = float(finest_scale)
        self.canonical_scale = None if canonical_scale is None else float(canonical_scale)
        self.canonical_level = int(canonical_level)

    @property
    def num_levels(self) -> int:
        return len(self.featmap_strides)

    def map_roi_levels(self, rois: torch.Tensor) -> torch.Tensor:
        """int64 R: the level (0-based index into ``featmap_strides``) of every RoI (R x 5)."""
        scale = torch.sqrt((rois[:, 3] - rois[:, 1]) * (rois[:, 4] - rois[:, 2]))
        if self.canonical_scale is None:
            lvls = torch.floor(torch.log2(scale / self.finest_scale + 1e-6))
            return lvls.clamp(min=0, max=self.num_levels - 1).long()
        k_min = int(round(math.log2(self.featmap_strides[0])))
        k_max = int(round(math.log2(self.featmap_strides[-1])))
        lvls = torch.floor(self.canonical_level + torch.log2(scale / self.canonical_scale)
                           + torch.tensor(1e-6, dtype=scale.dtype))
        return (lvls.clamp(min=k_min, max=k_max) - k_min).long()

    def forward(self, feats: Sequence[torch.Tensor], rois: torch.Tensor) -> torch.Tensor:
        if len(feats) < self.num_levels:
            raise ValueError(f'SingleRoIExtractor: {self.num_levels} featmap_strides but {len(feats)} feature maps')
        c = feats[0].shape[1]
        if c != self.out_channels:
            raise ValueError(f'SingleRoIExtractor: out_channels={self.out_channels} but the features have {c}')
        out = feats[0].new_zeros((rois.shape[0], c, *self.output_size))
        if rois.shape[0] == 0:
            return out
        lvls = self.map_roi_levels(rois)
        rois = rois.to(feats[0].dtype)
        for lvl in range(self.num_levels):
            idx = torch.nonzero(lvls == lvl).flatten()
            if idx.numel():
                out[idx] = roi_align(feats[lvl], rois[idx], self.output_size, 1.0 / self.featmap_strides[lvl],
                                     self.sampling_ratio, self.aligned)
        return out


@MODELS.register_module()
class Shared2FCBBoxHead(nn.Module):
    """Box head of Faster R-CNN's FPN variant: flatten, two shared FC + ReLU (``fc_out_channels``), then a
    linear classifier over ``num_classes + 1`` (softmax, background last) and a linear regressor of
    ``num_classes * 4`` class-specific deltas (``4`` with ``reg_class_agnostic``).

    Args:
        num_classes: object classes (no background).
        in_channels, roi_feat_size: the RoI features (C x S x S).
        fc_out_channels: width of the two FC layers.
        bbox_coder: TASK_UTILS config (DeltaXYWHBBoxCoder with target_stds [0.1, 0.1, 0.2, 0.2]).
        reg_class_agnostic: one box per RoI instead of one per class.
        loss_cls: softmax classification loss (``CrossEntropyLoss``), averaged over the sampled RoIs.
        loss_bbox: regression loss on the positives' deltas of their gt class (``L1Loss``), divided by the
            number of sampled RoIs (as both MMDetection and torchvision).
        reg_decoded_bbox: apply ``loss_bbox`` to boxes instead of deltas: the positives' predicted deltas are
            decoded against their RoIs (no clipping) and compared with the gt boxes (xyxy pixels), as the
            IoU-family losses need (``IoULoss``, ``GIoULoss``, ``DIoULoss``, ``CIoULoss``, ``BoundedIoULoss``).
        init_cfg: accepted for config compatibility; the init is MMDetection's: xavier-uniform shared FCs,
            normal(0.01) classifier, normal(0.001) regressor, zero biases.

    Forward: R x C x S x S -> (cls_score R x (num_classes + 1), bbox_pred R x (num_classes * 4)).
    """

    #: hidden FC layers before the classifier and regressor (``BBoxHead``, the C4 head, has none)
    num_shared_fcs = 2

    def __init__(self, num_classes: int = 80, in_channels: int = 256, roi_feat_size: int = 7,
                 fc_out_channels: int = 1024, bbox_coder: dict | None = None, reg_class_agnostic: bool = False,
                 loss_cls: dict | None = None, loss_bbox: dict | None = None, init_cfg: dict | None = None,
                 reg_decoded_bbox: bool = False) -> None:
        super().__init__()
        self.num_classes = int(num_classes)
        self.reg_class_agnostic = bool(reg_class_agnostic)
        self.reg_decoded_bbox = bool(reg_decoded_bbox)
        self.bbox_coder = TASK_UTILS.build(bbox_coder or dict(type='DeltaXYWHBBoxCoder',
                                                              target_stds=[0.1, 0.1, 0.2, 0.2]),
                                           key_path='roi_head.bbox_head.bbox_coder')
        self.loss_cls = MODELS.build(loss_cls or dict(type='CrossEntropyLoss', use_sigmoid=False),
                                     key_path='roi_head.bbox_head.loss_cls')
        self.loss_bbox = MODELS.build(loss_bbox or dict(type='L1Loss'), key_path='roi_head.bbox_head.loss_bbox')
        widths = [int(in_channels) * int(roi_feat_size) ** 2] + [int(fc_out_channels)] * self.num_shared_fcs
        self.shared_fcs = nn.ModuleList(nn.Linear(a, b) for a, b in zip(widths[:-1], widths[1:]))
        self.fc_cls = nn.Linear(widths[-1], self.num_classes + 1)
        self.fc_reg = nn.Linear(widths[-1], 4 if self.reg_class_agnostic else 4 * self.num_classes)
        self.relu = nn.ReLU(inplace=True)
        for fc in self.shared_fcs:
            nn.init.xavier_uniform_(fc.weight)
            nn.init.zeros_(fc.bias)
        nn.init.normal_(self.fc_cls.weight, std=0.01)
        nn.init.normal_(self.fc_reg.weight, std=0.001)
        nn.init.zeros_(self.fc_cls.bias)
        nn.init.zeros_(self.fc_reg.bias)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = x.flatten(1)
        for fc in self.shared_fcs:
            x = self.relu(fc(x))
        return self.fc_cls(x), self.fc_reg(x)

    def _class_deltas(self, bbox_pred: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """The K x 4 deltas of class ``labels`` (K) from K x (C * 4) predictions."""
        if self.reg_class_agnostic:
            return bbox_pred
        return bbox_pred.view(bbox_pred.shape[0], -1, 4)[torch.arange(len(labels), device=labels.device), labels]

    def regression_targets(self, pos_priors: torch.Tensor, pos_gt_bboxes: torch.Tensor) -> torch.Tensor:
        """What ``loss_bbox`` compares the positives' predictions with: P x 4 encoded deltas of ``pos_gt_bboxes``
        relative to ``pos_priors`` (both P x 4 xyxy), or, with ``reg_decoded_bbox``, the gt boxes themselves."""
        return pos_gt_bboxes if self.reg_decoded_bbox else self.bbox_coder.encode(pos_priors, pos_gt_bboxes)

    def loss(self, cls_score: torch.Tensor, bbox_pred: torch.Tensor, labels: torch.Tensor,
             pos_targets: torch.Tensor, pos_priors: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """``labels`` int64 R (``num_classes`` = background), positives first per image or anywhere;
        ``pos_targets`` P x 4 (:meth:`regression_targets`) of the positives in the order they appear in
        ``labels``; ``pos_priors`` their P x 4 RoIs (xyxy), needed with ``reg_decoded_bbox``."""
        r = max(cls_score.shape[0], 1)
        pos = torch.nonzero(labels < self.num_classes).flatten()
        loss_cls = self.loss_cls(cls_score, labels, avg_factor=r)
        pos_pred = self._class_deltas(bbox_pred[pos], labels[pos])
        if self.reg_decoded_bbox:
            if pos_priors is None or pos_priors.shape != pos_pred.shape:
                raise ValueError('Shared2FCBBoxHead(reg_decoded_bbox=True).loss needs pos_priors: the P x 4 RoIs '
                                 f'of the {len(pos)} positives, got '
                                 f'{None if pos_priors is None else tuple(pos_priors.shape)}')
            pos_pred = self.bbox_coder.decode(pos_priors, pos_pred)
        loss_bbox = self.loss_bbox(pos_pred, pos_targets, avg_factor=r)
        acc = (cls_score.argmax(dim=1) == labels).float().mean() * 100 if labels.numel() else cls_score.sum() * 0
        return dict(loss_cls=loss_cls, loss_bbox=loss_bbox, acc=acc.detach())

    def predict_by_feat(self, rois: torch.Tensor, cls_score: torch.Tensor, bbox_pred: torch.Tensor,
                        img_shapes: Sequence[tuple[int, int]], cfg: dict) -> list[InstanceData]:
        """Detections per image in network-input pixels: softmax scores, class-specific boxes decoded from
        the RoIs (``rois[:, 0]`` = image index, images in order) and clipped to ``img_shapes`` (h, w), scores
        above ``score_thr`` (and boxes at least ``min_bbox_size`` wide and tall when set), class-wise NMS,
        the best ``max_per_img``. Only the (RoI, class) pairs above the threshold are decoded."""
        score_thr, max_per_img = float(cfg['score_thr']), int(cfg['max_per_img'])
        iou_thr = nms_iou(cfg, 'test_cfg.rcnn')
        min_size = float(cfg.get('min_bbox_size', 0) or 0)
        c = self.num_classes
        scores = F.softmax(cls_score, dim=-1)[:, :c]  # R x C, background dropped
        deltas = bbox_pred.reshape(bbox_pred.shape[0], bbox_pred.shape[-1] // 4, 4)  # R x (C or 1) x 4, R may be 0
        counts = torch.bincount(rois[:, 0].long(), minlength=len(img_shapes)).tolist()
        results = []
        for i, (shape, s_img, d_img, r_img) in enumerate(zip(img_shapes, scores.split(counts), deltas.split(counts),
                                                             rois.split(counts))):
            flat = s_img.reshape(-1)
            keep = torch.nonzero(flat > score_thr).flatten()  # (RoI, class) pairs, RoI-major as torchvision
            roi_idx, labels = keep // c, keep % c
            d = d_img[roi_idx, 0 if self.reg_class_agnostic else labels]
            b = clip_boxes(self.bbox_coder.decode(r_img[roi_idx, 1:], d), shape)
            s = flat[keep]
            if min_size > 0:
                ok = ((b[:, 2:] - b[:, :2]) >= min_size).all(dim=1)
                b, s, labels = b[ok], s[ok], labels[ok]
            keep = batched_nms(b, s, labels, iou_thr)[:max_per_img]
            results.append(InstanceData(bboxes=b[keep], scores=s[keep], labels=labels[keep]))
        return results


@MODELS.register_module()
class FCNMaskHead(nn.Module):
    """Mask R-CNN's mask head: ``num_convs`` 3x3 conv + ReLU, a stride-2 2x2 transposed conv + ReLU, and a
    1x1 conv to ``num_classes`` mask logits (sigmoid per class; the gt / predicted class's channel is used).

    Args:
        num_classes: object classes (no background; ``class_agnostic`` gives one channel).
        num_convs, roi_feat_size, in_channels, conv_out_channels: the tower (14 x 14 RoIs -> 28 x 28).
        upsample_cfg: ``dict(type='deconv', scale_factor=2)`` (only this one).
        loss_mask: MODELS config of a per-pixel binary loss on logits, ``CrossEntropyLoss(use_mask=True)``,
            averaged over the pixels of the positive RoIs.
        init_cfg: accepted for config compatibility; convs are kaiming-normal (fan_out, ReLU), zero bias.

    Forward: R x in_channels x S x S -> R x num_classes x 2S x 2S logits.
    """

    def __init__(self, num_classes: int = 80, num_convs: int = 4, roi_feat_size: int = 14, in_channels: int = 256,
                 conv_kernel_size: int = 3, conv_out_channels: int = 256, class_agnostic: bool = False,
                 upsample_cfg: dict | None = None, loss_mask: dict | None = None,
                 init_cfg: dict | None = None) -> None:
        super().__init__()
        up = {**dict(type='deconv', scale_factor=2), **(upsample_cfg or {})}
        if up['type'] != 'deconv' or int(up['scale_factor']) != 2:
            raise NotImplementedError(f"FCNMaskHead.upsample_cfg: only dict(type='deconv', scale_factor=2), got {up}")
        self.num_classes, self.class_agnostic = int(num_classes), bool(class_agnostic)
        self.roi_feat_size = int(roi_feat_size)
        self.convs = nn.ModuleList(
            nn.Conv2d(in_channels if i == 0 else conv_out_channels, conv_out_channels, conv_kernel_size,
                      padding=conv_kernel_size // 2) for i in range(num_convs))
        c = conv_out_channels if num_convs else in_channels
        self.upsample = nn.ConvTranspose2d(c, conv_out_channels, 2, stride=2)
        self.conv_logits = nn.Conv2d(conv_out_channels, 1 if self.class_agnostic else self.num_classes, 1)
        self.relu = nn.ReLU(inplace=True)
        self.loss_mask = MODELS.build(loss_mask or dict(type='CrossEntropyLoss', use_mask=True),
                                      key_path='roi_head.mask_head.loss_mask')
        for m in self.modules():
            if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
                nn.init.kaiming_normal_(m.weight, mode='fan_out', nonlinearity='relu')
                nn.init.zeros_(m.bias)

    @property
    def mask_size(self) -> int:
        return 2 * self.roi_feat_size

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for conv in self.convs:
            x = self.relu(conv(x))
        return self.conv_logits(self.relu(self.upsample(x)))

    def class_logits(self, mask_pred: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """R x M x M: the channel of ``labels`` (R) of R x C x M x M logits."""
        if self.class_agnostic:
            return mask_pred[:, 0]
        return mask_pred[torch.arange(len(labels), device=labels.device), labels]

    def loss(self, mask_pred: torch.Tensor, labels: torch.Tensor, targets: torch.Tensor) -> dict[str, torch.Tensor]:
        """``dict(loss_mask)``: the loss of the gt class's channel against ``targets`` (float P x M x M, 0/1)."""
        if mask_pred.shape[0] == 0:
            return dict(loss_mask=mask_pred.sum() * 0)
        return dict(loss_mask=self.loss_mask(self.class_logits(mask_pred, labels), targets))


def mask_targets(gt_masks, gt_inds: torch.Tensor, boxes: torch.Tensor, size: int) -> torch.Tensor:
    """Binary mask targets of the RoIs of one image: each gt mask (``BitmapMasks`` / ``PolygonMasks`` of the
    network-input frame, or a G x H x W tensor) cropped to its RoI and resampled to ``size x size`` with
    RoIAlign (aligned, adaptive sampling), then thresholded at 0.5. One ``roi_align`` call for all RoIs.

    Args:
        gt_inds: int64 P, the gt index of every RoI. boxes: float P x 4 RoIs (xyxy pixels).
    Returns: float P x size x size of 0 / 1.
    """
    if boxes.shape[0] == 0:
        return boxes.new_zeros((0, size, size))
    if isinstance(gt_masks, torch.Tensor):
        masks = gt_masks
    elif hasattr(gt_masks, 'to_tensor'):
        masks = gt_masks.to_tensor(dtype=torch.float32, device=boxes.device)
    else:
        raise TypeError(f'gt_instances.masks must be BitmapMasks, PolygonMasks or a tensor, got {type(gt_masks)}')
    rois = torch.cat([gt_inds[:, None].to(boxes.dtype), boxes], dim=1)
    crops = roi_align(masks[:, None].to(boxes.dtype), rois, (size, size), 1.0, 0, True)[:, 0]
    return (crops >= 0.5).to(boxes.dtype)


def _interp_taps(lengths: torch.Tensor, src_size: int, out_size: int
                 ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """1-D bilinear resampling (``align_corners=False``, as ``F.interpolate``) of a ``src_size`` signal to
    ``lengths[r]`` samples, evaluated at ``0 .. out_size - 1``: the two source indices (int64 R x out_size)
    of every sample and their float32 weights, zero at or beyond ``lengths[r]``.

    The source position ``scale * (j + 0.5) - 0.5`` is rounded to float32 once, from an exact float64
    product, which is what PyTorch's CPU kernel computes with a fused multiply-add; the weights then equal
    its interpolation weights bit for bit.
    """
    pos = torch.arange(out_size, device=lengths.device)[None, :].expand(len(lengths), -1)
    inside = pos < lengths[:, None]
    # a true float32 division (``int / tensor`` multiplies by the reciprocal, one rounding more)
    scale = torch.full_like(lengths, src_size, dtype=torch.float32).div(lengths.to(torch.float32)).double()
    src = (scale[:, None] * (pos.double() + 0.5) - 0.5).float().clamp(min=0)
    i0 = src.floor().long().clamp(max=src_size - 1)
    i1 = (i0 + 1).clamp(max=src_size - 1)
    l1 = (src - i0.to(src.dtype)).clamp(0, 1)
    return i0, i1, (1 - l1) * inside, l1 * inside


def paste_masks(probs: torch.Tensor, boxes: torch.Tensor, shape: Sequence[int], threshold: float = 0.5,
                chunk_pixels: int = 1 << 22) -> torch.Tensor:
    """Paste R x M x M mask probabilities into an image of ``shape`` (h, w): bool R x h x w.

    Each mask is padded by one pixel (M + 2), its box widened by (M + 2) / M about the centre and
    truncated to integers (x0, y0, x1, y1), and the padded mask is bilinearly resized to the box's
    (y1 - y0 + 1) x (x1 - x0 + 1) pixels at (x0, y0) -- torchvision's ``paste_masks_in_image`` -- here
    batched instead of a loop over boxes: every mask of a chunk is resized on a patch as large as the
    chunk's largest box (separable: a matrix product over columns, a two-tap gather over rows), and the
    patches are written into the image with one indexed assignment; pixels ``>= threshold`` are set.
    Equal to torchvision's up to pixels whose value is within float32 rounding of the threshold.
    ``boxes``: float R x 4 xyxy in that image's pixels.
    """
    h, w = int(shape[0]), int(shape[1])
    r, m = probs.shape[0], probs.shape[-1]
    out = torch.zeros((r, h, w), dtype=torch.bool, device=probs.device)
    if r == 0:
        return out
    padded = F.pad(probs.float(), (1, 1, 1, 1))
    scale = (m + 2) / m
    half = (boxes[:, 2:] - boxes[:, :2]) * 0.5 * scale
    centre = (boxes[:, 2:] + boxes[:, :2]) * 0.5
    ibox = torch.cat([centre - half, centre + half], dim=1).to(torch.int64)
    size = (ibox[:, 2:] - ibox[:, :2] + 1).clamp(min=1)  # (w, h) of every resized mask
    max_w, max_h = (int(v) for v in size.max(dim=0).values)
    step = max(1, chunk_pixels // (max_w * max_h))
    for s in range(0, r, step):  # bounded memory: chunks of masks, not one box at a time
        e = min(s + step, r)
        pw, ph = (int(v) for v in size[s:e].max(dim=0).values)
        x0, x1, xl0, xl1 = _interp_taps(size[s:e, 0], m + 2, pw)  # n x pw
        y0, y1, yl0, yl1 = _interp_taps(size[s:e, 1], m + 2, ph)  # n x ph
        wx = padded.new_zeros((e - s, pw, m + 2))
        wx.scatter_add_(2, x0[..., None], xl0[..., None])
        wx.scatter_add_(2, x1[..., None], xl1[..., None])
        cols = torch.bmm(padded[s:e], wx.transpose(1, 2))  # n x (M+2) x pw: x first, as F.interpolate
        top = cols.gather(1, y0[..., None].expand(-1, -1, pw))
        bottom = cols.gather(1, y1[..., None].expand(-1, -1, pw))
        patch = yl0[..., None] * top + yl1[..., None] * bottom >= threshold  # n x ph x pw
        ys = ibox[s:e, 1, None] + torch.arange(ph, device=probs.device)  # image rows / columns of the patch
        xs = ibox[s:e, 0, None] + torch.arange(pw, device=probs.device)
        patch &= ((ys >= 0) & (ys < h))[:, :, None] & ((xs >= 0) & (xs < w))[:, None, :]
        n_i, y_i, x_i = torch.nonzero(patch, as_tuple=True)
        out[s + n_i, ys[n_i, y_i], xs[n_i, x_i]] = True
    return out


def paste_masks_grid_sample(probs: torch.Tensor, boxes: torch.Tensor, shape: Sequence[int],
                            threshold: float = 0.5) -> torch.Tensor:
    """Paste R x M x M mask probabilities into an image of ``shape`` (h, w): bool R x h x w, MMDetection's
    way: the M x M mask covers the float box exactly; every image pixel centre ``(x + 0.5, y + 0.5)`` is
    mapped to box-relative coordinates in [-1, 1] and sampled bilinearly (``F.grid_sample``,
    ``align_corners=False``, zero outside the mask), over the pixels from ``floor(x1) - 1`` to
    ``ceil(x2) + 1`` of each box (elsewhere 0, as MMDetection on the CPU); pixels ``>= threshold`` are set.
    ``boxes``: float R x 4 xyxy in that image's pixels.
    """
    h, w = int(shape[0]), int(shape[1])
    out = torch.zeros((probs.shape[0], h, w), dtype=torch.bool, device=probs.device)
    boxes = boxes.float()
    for r in range(probs.shape[0]):
        x1, y1, x2, y2 = boxes[r]
        c0, r0 = max(int(torch.floor(x1)) - 1, 0), max(int(torch.floor(y1)) - 1, 0)
        c1, r1 = min(int(torch.ceil(x2)) + 1, w), min(int(torch.ceil(y2)) + 1, h)
        if c1 <= c0 or r1 <= r0:
            continue
        # pixel centres relative to the box, scaled to the sampling grid's [-1, 1]; a zero-size side gives
        # inf, sampled at the mask's centre line instead
        gx = (torch.arange(c0, c1, device=probs.device, dtype=torch.float32) + 0.5 - x1) / (x2 - x1) * 2 - 1
        gy = (torch.arange(r0, r1, device=probs.device, dtype=torch.float32) + 0.5 - y1) / (y2 - y1) * 2 - 1
        gx = torch.where(torch.isinf(gx), torch.zeros_like(gx), gx)
        gy = torch.where(torch.isinf(gy), torch.zeros_like(gy), gy)
        grid = torch.stack([gx[None, :].expand(len(gy), -1), gy[:, None].expand(-1, len(gx))], dim=-1)
        val = F.grid_sample(probs[r][None, None].float(), grid[None], align_corners=False)[0, 0]
        out[r, r0:r1, c0:c1] = val >= threshold
    return out


#: ``test_cfg.mask_paste`` -> the function that pastes the masks into the image
_MASK_PASTE = {'grid_sample': paste_masks_grid_sample, 'torchvision': paste_masks}


@MODELS.register_module()
class StandardRoIHead(nn.Module):
    """The R-CNN stage: assign and sample proposals (training), pool RoI features, classify and refine
    boxes, and (with a mask head) predict instance masks.

    Args:
        bbox_roi_extractor, bbox_head: MODELS configs (SingleRoIExtractor 7 x 7, Shared2FCBBoxHead).
        mask_roi_extractor, mask_head: optional (SingleRoIExtractor 14 x 14, FCNMaskHead); with
            ``share_roi_extractor``, or a mask head without ``mask_roi_extractor`` (MMDetection's C4 configs),
            the box extractor serves the masks too, and in training the mask head reads the positives' box
            RoI features.
        shared_head: optional MODELS config (``ResLayer``, the C4 detectors' ResNet ``layer4``) run on the
            pooled RoI features before the box head and the mask head.
        train_cfg: ``assigner`` (MaxIoUAssigner 0.5 / 0.5, no low-quality matches), ``sampler``
            (RandomSampler 512 / 0.25 with the gt boxes added as proposals; ``OHEMSampler`` keeps the RoIs with
            the highest classification loss instead of a random draw).
        test_cfg: ``score_thr`` (0.05), ``nms=dict(type='nms', iou_threshold=0.5)``, ``max_per_img`` (100),
            optional ``min_bbox_size`` (torchvision drops boxes under 0.01 px), ``mask_thr_binary`` (0.5),
            ``mask_paste``: how a mask is pasted into the image, ``'grid_sample'`` (MMDetection's, the default:
            :func:`paste_masks_grid_sample`) or ``'torchvision'`` (:func:`paste_masks`).

    The mask targets have the mask head's output size (``train_cfg.rcnn.mask_size`` is accepted, not needed).
    """

    def __init__(self, bbox_roi_extractor: dict | nn.Module, bbox_head: dict | nn.Module,
                 mask_roi_extractor: dict | nn.Module | None = None, mask_head: dict | nn.Module | None = None,
                 share_roi_extractor: bool = False, train_cfg: dict | None = None, test_cfg: dict | None = None,
                 init_cfg: dict | None = None, shared_head: dict | nn.Module | None = None) -> None:
        super().__init__()
        self.bbox_roi_extractor = build_submodule(bbox_roi_extractor, 'roi_head.bbox_roi_extractor')
        self.shared_head = None if shared_head is None else build_submodule(shared_head, 'roi_head.shared_head')
        self.bbox_head = build_submodule(bbox_head, 'roi_head.bbox_head')
        self.mask_head = None if mask_head is None else build_submodule(mask_head, 'roi_head.mask_head')
        share_roi_extractor = share_roi_extractor or (self.mask_head is not None and mask_roi_extractor is None)
        if self.mask_head is not None and not share_roi_extractor:
            self.mask_roi_extractor = build_submodule(mask_roi_extractor, 'roi_head.mask_roi_extractor')
        else:
            self.mask_roi_extractor = None
        self.share_roi_extractor = bool(share_roi_extractor)
        train_cfg = dict(train_cfg or {})
        self.train_cfg = dict(
            assigner=train_cfg.get('assigner') or dict(type='MaxIoUAssigner', pos_iou_thr=0.5, neg_iou_thr=0.5,
                                                       min_pos_iou=0.5, match_low_quality=False),
            sampler=train_cfg.get('sampler') or dict(type='RandomSampler', num=512, pos_fraction=0.25,
                                                     neg_pos_ub=-1, add_gt_as_proposals=True))
        self.test_cfg = dict(dict(score_thr=0.05, nms=dict(type='nms', iou_threshold=0.5), max_per_img=100,
                                  mask_thr_binary=0.5, mask_paste='grid_sample'), **(test_cfg or {}))
        if self.test_cfg['mask_paste'] not in _MASK_PASTE:
            raise ValueError(f"test_cfg.rcnn.mask_paste must be one of {sorted(_MASK_PASTE)}, "
                             f"got {self.test_cfg['mask_paste']!r}")
        self.assigner = TASK_UTILS.build(self.train_cfg['assigner'], key_path='train_cfg.rcnn.assigner')
        self.sampler = TASK_UTILS.build(self.train_cfg['sampler'], key_path='train_cfg.rcnn.sampler')

    @property
    def with_mask(self) -> bool:
        return self.mask_head is not None

    def init_weights(self) -> None:
        """The children's ``init_weights`` (the shared head's pretrained weights)."""
        for m in self.children():
            if hasattr(m, 'init_weights'):
                m.init_weights()

    def _bbox_feats(self, feats: Sequence[torch.Tensor], rois: torch.Tensor) -> torch.Tensor:
        x = self.bbox_roi_extractor(feats, rois)
        return x if self.shared_head is None else self.shared_head(x)

    def _mask_feats(self, feats: Sequence[torch.Tensor], rois: torch.Tensor) -> torch.Tensor:
        extractor = self.bbox_roi_extractor if self.share_roi_extractor else self.mask_roi_extractor
        x = extractor(feats, rois)
        return x if self.shared_head is None else self.shared_head(x)

    def forward(self, feats: Sequence[torch.Tensor], proposals: Sequence[InstanceData]) -> tuple[torch.Tensor, ...]:
        """Raw outputs on the proposals of every image: (cls_score, bbox_pred) of all RoIs[, mask_pred of the
        first :attr:`tensor_mode_mask_rois` RoIs]. ``model(x, mode='tensor')`` runs this (get_flops.py counts
        it): the mask head on at most 100 RoIs, as MMDetection counts it, not on all 1000 test proposals."""
        rois = bbox2roi([p.bboxes for p in proposals])
        out = self.bbox_head(self._bbox_feats(feats, rois))
        if self.with_mask:
            mask_rois = rois[:self.tensor_mode_mask_rois]
            out = (*out, self.mask_head(self._mask_feats(feats, mask_rois)))
        return out

    #: RoIs the mask head runs on in :meth:`forward` (at test time it runs on the kept detections instead)
    tensor_mode_mask_rois = 100

    # -- loss -------------------------------------------------------------------------------------
    def _hard_mining_args(self, feats: Sequence[torch.Tensor], img: int) -> dict:
        """Extra arguments of a sampler that ranks RoIs by loss (``OHEMSampler``): ``loss_fn(boxes K x 4,
        labels K)`` = the box head's per-RoI ``loss_cls`` on image ``img``'s boxes, and the background label."""
        if not getattr(self.sampler, 'needs_loss_fn', False):
            return {}
        img_feats = [f[img:img + 1] for f in feats]

        def loss_fn(boxes: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
            cls_score, _ = self.bbox_head(self._bbox_feats(img_feats, bbox2roi([boxes])))
            return self.bbox_head.loss_cls(cls_score, labels, reduction_override='none')
        return dict(loss_fn=loss_fn, background_label=self.bbox_head.num_classes)

    def loss(self, feats: Sequence[torch.Tensor], proposals: Sequence[InstanceData],
             data_samples: Sequence) -> dict[str, torch.Tensor]:
        """``dict(loss_cls, loss_bbox, acc[, loss_mask])``; data samples need ``gt_instances`` (bboxes xyxy
        pixels of the network input, labels int64 0..num_classes-1, masks for Mask R-CNN)."""
        num_classes = self.bbox_head.num_classes
        samplings, labels, targets = [], [], []
        for i, (prop, sample) in enumerate(zip(proposals, data_samples)):
            gt = sample.gt_instances
            gt_boxes = gt.bboxes.to(prop.bboxes)
            gt_labels = gt.labels.to(prop.bboxes.device).long()
            priors = self.sampler.augment(prop.bboxes.detach(), gt_boxes)
            res = self.sampler.sample(self.assigner.assign(priors, gt_boxes), priors, gt_boxes, gt_labels,
                                      **self._hard_mining_args(feats, i))
            samplings.append(res)
            labels.append(torch.cat([res.pos_gt_labels, gt_labels.new_full((len(res.neg_inds),), num_classes)]))
            targets.append(self.bbox_head.regression_targets(res.pos_priors, res.pos_gt_bboxes))
        rois = bbox2roi([s.bboxes for s in samplings])
        bbox_feats = self._bbox_feats(feats, rois)
        cls_score, bbox_pred = self.bbox_head(bbox_feats)
        losses = self.bbox_head.loss(cls_score, bbox_pred, torch.cat(labels), torch.cat(targets),
                                     pos_priors=torch.cat([s.pos_priors for s in samplings]))
        if self.with_mask:
            if self.share_roi_extractor:  # the positives' rows (each image's sampled RoIs are positives first)
                starts = [0] + torch.tensor([len(s.bboxes) for s in samplings]).cumsum(0).tolist()
                pos = torch.cat([torch.arange(len(s.pos_inds)) + start for s, start in zip(samplings, starts)])
                mask_pred = self.mask_head(bbox_feats[pos.to(bbox_feats.device)])
            else:
                mask_pred = self.mask_head(self._mask_feats(feats, bbox2roi([s.pos_priors for s in samplings])))
            mask_t = torch.cat([mask_targets(sample.gt_instances.masks, s.pos_assigned_gt_inds, s.pos_priors,
                                             mask_pred.shape[-1])
                                for s, sample in zip(samplings, data_samples)])
            losses.update(self.mask_head.loss(mask_pred, torch.cat([s.pos_gt_labels for s in samplings]), mask_t))
        return losses

    # -- predict ----------------------------------------------------------------------------------
    def predict(self, feats: Sequence[torch.Tensor], proposals: Sequence[InstanceData], data_samples: Sequence,
                rescale: bool = True) -> list[InstanceData]:
        """Detections per image: ``InstanceData(bboxes float32 K x 4 xyxy, scores float32 K, labels int64 K
        [, masks bool K x H x W])``; with ``rescale`` boxes are in ORIGINAL image pixels (divided by
        metainfo ``scale_factor`` (w, h), clipped to ``ori_shape``) and masks at ``ori_shape``, else both in
        the network input's frame (``img_shape``)."""
        shapes = image_shapes(data_samples, feats[0].shape[-2:])
        rois = bbox2roi([p.bboxes for p in proposals])
        cls_score, bbox_pred = self.bbox_head(self._bbox_feats(feats, rois))
        dets = self.bbox_head.predict_by_feat(rois, cls_score, bbox_pred, shapes, self.test_cfg)
        if self.with_mask:
            det_rois = bbox2roi([d.bboxes for d in dets])
            mask_pred = self.mask_head(self._mask_feats(feats, det_rois))
            probs = self.mask_head.class_logits(mask_pred, torch.cat([d.labels for d in dets])).sigmoid()
            per_image = probs.split([len(d) for d in dets])
        results = []
        for i, (det, sample) in enumerate(zip(dets, data_samples)):
            meta = sample.metainfo if hasattr(sample, 'metainfo') else dict(sample)
            boxes, out_shape = det.bboxes, shapes[i]
            if rescale:  # x (1 / scale_factor), the reciprocal in double: ratios like 0.75 stay exact
                sf = meta.get('scale_factor') or (1.0, 1.0)
                boxes = boxes * boxes.new_tensor([1 / sf[0], 1 / sf[1], 1 / sf[0], 1 / sf[1]])
                if meta.get('ori_shape') is not None:
                    out_shape = tuple(int(v) for v in meta['ori_shape'][:2])
                    boxes = clip_boxes(boxes, out_shape)
            fields = dict(bboxes=boxes.float(), scores=det.scores.float(), labels=det.labels.long())
            if self.with_mask:
                paste = _MASK_PASTE[self.test_cfg['mask_paste']]
                fields['masks'] = paste(per_image[i], boxes, out_shape, float(self.test_cfg['mask_thr_binary']))
            results.append(InstanceData(**fields))
        return results
