"""Dense-detection utilities (registered in TASK_UTILS): anchors, points, the box codec, the assigner.

All boxes are float ``xyxy`` in absolute pixels of the network input (the resized, padded image).
"""
from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torchvision.ops import batched_nms, box_iou

from visioncraft.registry import TASK_UTILS
from visioncraft.structures import InstanceData

__all__ = ['AnchorGenerator', 'MlvlPointGenerator', 'DeltaXYWHBBoxCoder', 'MaxIoUAssigner', 'AssignResult',
           'box_iof', 'nms_and_rescale', 'TorchvisionAnchorGenerator', 'TorchvisionPointGenerator']


@TASK_UTILS.register_module()
class AnchorGenerator:
    """Anchors of every feature level: ``len(ratios) * len(sizes)`` per cell, ratio-major.

    The sizes (side of the square anchor of each scale) of level ``i`` are, in order of precedence:
    ``sizes[i]``; else ``base_sizes[i] * scales``; else ``strides[i] * octave_base_scale *
    2 ** (k / scales_per_octave)`` for ``k = 0..scales_per_octave - 1`` (RetinaNet: 4 * stride * {1, 2^(1/3),
    2^(2/3)}). A ratio is height / width: the anchor of size ``s`` and ratio ``r`` is ``s / sqrt(r)`` wide and
    ``s * sqrt(r)`` high.

    Args:
        strides: stride of every level (pixels per cell), e.g. ``[8, 16, 32, 64, 128]``.
        ratios: aspect ratios (h / w).
        octave_base_scale, scales_per_octave: see above.
        scales: explicit scales (multiplied by ``base_sizes``, default the strides).
        base_sizes: per-level base size (default the strides).
        sizes: explicit per-level sizes, e.g. torchvision RetinaNet's
            ``[(32, 40, 50), (64, 80, 101), (128, 161, 203), (256, 322, 406), (512, 645, 812)]``.
        center_offset: anchor centres are at ``(x + center_offset) * stride`` for cell ``x`` (0 as
            torchvision and MMDetection).
        round_base_anchors: round the zero-centred anchors to integers, as torchvision does.
    """

    def __init__(self, strides: Sequence[int], ratios: Sequence[float] = (0.5, 1.0, 2.0),
                 octave_base_scale: float | None = None, scales_per_octave: int | None = None,
                 scales: Sequence[float] | None = None, base_sizes: Sequence[float] | None = None,
                 sizes: Sequence[Sequence[float]] | None = None, center_offset: float = 0.0,
                 round_base_anchors: bool = False) -> None:
        self.strides = [int(s[0]) if isinstance(s, (list, tuple)) else int(s) for s in strides]
        self.ratios = [float(r) for r in ratios]
        if sizes is not None:
            if len(sizes) != len(self.strides):
                raise ValueError(f'AnchorGenerator: sizes has {len(sizes)} levels, strides {len(self.strides)}')
            level_sizes = [[float(s) for s in lvl] for lvl in sizes]
        else:
            if scales is not None and octave_base_scale is not None:
                raise ValueError('AnchorGenerator: give scales or octave_base_scale/scales_per_octave, not both')
            if scales is None:
                if octave_base_scale is None or scales_per_octave is None:
                    raise ValueError('AnchorGenerator needs sizes, scales, or octave_base_scale and scales_per_octave')
                scales = [octave_base_scale * 2 ** (k / scales_per_octave) for k in range(scales_per_octave)]
            base = self.strides if base_sizes is None else list(base_sizes)
            if len(base) != len(self.strides):
                raise ValueError(f'AnchorGenerator: base_sizes has {len(base)} levels, strides {len(self.strides)}')
            level_sizes = [[b * s for s in scales] for b in base]
        if len({len(lvl) for lvl in level_sizes}) != 1:
            raise ValueError('AnchorGenerator: every level needs the same number of sizes')
        self.sizes = level_sizes
        self.center_offset = float(center_offset)
        self.round_base_anchors = bool(round_base_anchors)
        self.base_anchors = [self._base_anchors(lvl) for lvl in level_sizes]

    @property
    def num_levels(self) -> int:
        return len(self.strides)

    @property
    def num_base_anchors(self) -> int:
        """Anchors per feature-map cell (the same on every level)."""
        return len(self.ratios) * len(self.sizes[0])

    def _base_anchors(self, sizes: list[float]) -> torch.Tensor:
        """Zero-centred anchors (A x 4, xyxy, float32), ratio-major then size."""
        scales = torch.as_tensor(sizes, dtype=torch.float32)
        ratios = torch.as_tensor(self.ratios, dtype=torch.float32)
        h_ratios = torch.sqrt(ratios)
        w_ratios = 1 / h_ratios
        ws = (w_ratios[:, None] * scales[None, :]).view(-1)
        hs = (h_ratios[:, None] * scales[None, :]).view(-1)
        base = torch.stack([-ws, -hs, ws, hs], dim=1) / 2
        return base.round() if self.round_base_anchors else base

    def grid_priors(self, featmap_sizes: Sequence[Sequence[int]], device: torch.device | str = 'cpu',
                    dtype: torch.dtype = torch.float32) -> list[torch.Tensor]:
        """Anchors of every level: a list of (H_i * W_i * A) x 4 tensors, ordered (y, x, anchor)."""
        if len(featmap_sizes) != self.num_levels:
            raise ValueError(f'AnchorGenerator has {self.num_levels} levels (strides {self.strides}) but got '
                             f'{len(featmap_sizes)} feature maps')
        out = []
        for (h, w), (sy, sx), base in zip(featmap_sizes, self.level_strides(featmap_sizes), self.base_anchors):
            xx, yy = _grid(h, w, sy, sx, self.center_offset, device, dtype)
            shifts = torch.stack([xx, yy, xx, yy], dim=1)
            out.append((shifts.view(-1, 1, 4) + base.to(device=device, dtype=dtype).view(1, -1, 4)).reshape(-1, 4))
        return out

    def level_strides(self, featmap_sizes: Sequence[Sequence[int]]) -> list[tuple[int, int]]:
        """The spacing ``(stride_y, stride_x)`` of every level's anchors: the nominal strides."""
        return [(s, s) for s in self.strides]


@TASK_UTILS.register_module()
class MlvlPointGenerator:
    """One point per feature-map cell on every level, for anchor-free heads (FCOS).

    The point of cell (x, y) on a level of stride ``s`` is ``((x + offset) * s, (y + offset) * s)``:
    ``offset=0.5`` puts it at the cell centre (MMDetection's FCOS), ``offset=0.0`` at the cell's top-left
    corner (torchvision's FCOS, whose one stride-sized anchor per cell is centred there).

    Args:
        strides: stride of every level, e.g. ``[8, 16, 32, 64, 128]``.
        offset: see above.
    """

    def __init__(self, strides: Sequence[int], offset: float = 0.5) -> None:
        self.strides = [int(s[0]) if isinstance(s, (list, tuple)) else int(s) for s in strides]
        if not self.strides or any(s <= 0 for s in self.strides):
            raise ValueError(f'MlvlPointGenerator: strides must be positive, got {list(strides)}')
        self.offset = float(offset)

    @property
    def num_levels(self) -> int:
        return len(self.strides)

    @property
    def num_base_priors(self) -> int:
        """Points per feature-map cell (always 1)."""
        return 1

    def grid_priors(self, featmap_sizes: Sequence[Sequence[int]], device: torch.device | str = 'cpu',
                    dtype: torch.dtype = torch.float32, with_stride: bool = False) -> list[torch.Tensor]:
        """Points of every level: a list of (H_i * W_i) x 2 tensors ``(x, y)`` in input pixels, ordered (y, x);
        with ``with_stride`` (H_i * W_i) x 3 ``(x, y, stride)``."""
        if len(featmap_sizes) != self.num_levels:
            raise ValueError(f'MlvlPointGenerator has {self.num_levels} levels (strides {self.strides}) but got '
                             f'{len(featmap_sizes)} feature maps')
        out = []
        for (h, w), (sy, sx), stride in zip(featmap_sizes, self.level_strides(featmap_sizes), self.strides):
            xx, yy = _grid(h, w, sy, sx, self.offset, device, dtype)
            cols = [xx, yy]
            if with_stride:  # the nominal stride (what distances are scaled by)
                cols.append(xx.new_full((xx.numel(),), float(stride)))
            out.append(torch.stack(cols, dim=1))
        return out

    def level_strides(self, featmap_sizes: Sequence[Sequence[int]]) -> list[tuple[int, int]]:
        """The spacing ``(stride_y, stride_x)`` of every level's points: the nominal strides."""
        return [(s, s) for s in self.strides]


def _grid(h: int, w: int, sy: int, sx: int, offset: float, device, dtype) -> tuple[torch.Tensor, torch.Tensor]:
    """x and y (each of length h * w, ordered (y, x)) of the cells of an h x w grid spaced (sy, sx) pixels,
    at ``(i + offset) * stride``; integer arithmetic up to the offset, so anchors are exact."""
    shift_x = torch.arange(0, int(w), device=device, dtype=torch.int32) * int(sx)
    shift_y = torch.arange(0, int(h), device=device, dtype=torch.int32) * int(sy)
    yy, xx = torch.meshgrid(shift_y, shift_x, indexing='ij')
    xx, yy = xx.reshape(-1).to(dtype), yy.reshape(-1).to(dtype)
    if offset:
        xx, yy = xx + offset * sx, yy + offset * sy
    return xx, yy


def torchvision_level_strides(featmap_sizes: Sequence[Sequence[int]], first_stride: int) -> list[tuple[int, int]]:
    """torchvision's per-level ``(stride_y, stride_x)``: the padded input size (the first level's grid times
    its stride) floor-divided by each level's grid size, e.g. 800 // 13 = 61 for P6 of an 800-high input."""
    in_h, in_w = (int(featmap_sizes[0][0]) * first_stride, int(featmap_sizes[0][1]) * first_stride)
    return [(in_h // int(h), in_w // int(w)) for h, w in featmap_sizes]


@TASK_UTILS.register_module()
class TorchvisionAnchorGenerator(AnchorGenerator):
    """:class:`AnchorGenerator` placing each level's anchors as torchvision's ``AnchorGenerator`` does: at
    ``padded input size // grid size`` (per axis) instead of the nominal stride. The two differ on the levels
    whose grid is rounded up (P6 / P7 of an input not divisible by 64 / 128: 61 and 114 instead of 64 and 128
    for an 800-high input), and torchvision's weights were trained and evaluated with them. The input size
    is read from the first level (grid x ``strides[0]``: exact when the input is padded to a multiple of
    it). Same arguments and output as :class:`AnchorGenerator`."""

    def level_strides(self, featmap_sizes: Sequence[Sequence[int]]) -> list[tuple[int, int]]:
        return torchvision_level_strides(featmap_sizes, self.strides[0])


@TASK_UTILS.register_module()
class TorchvisionPointGenerator(MlvlPointGenerator):
    """:class:`MlvlPointGenerator` with torchvision FCOS's point positions: ``(x + offset) * stride_x`` with
    the per-axis stride ``padded input size // grid size`` (see :class:`TorchvisionAnchorGenerator`); the
    ``with_stride`` column stays the nominal stride (torchvision scales the distances by its nominal anchor
    size)."""

    def level_strides(self, featmap_sizes: Sequence[Sequence[int]]) -> list[tuple[int, int]]:
        return torchvision_level_strides(featmap_sizes, self.strides[0])


@TASK_UTILS.register_module()
class DeltaXYWHBBoxCoder:
    """The R-CNN box codec: ``dx = (gx - ax) / aw``, ``dy = (gy - ay) / ah``, ``dw = log(gw / aw)``,
    ``dh = log(gh / ah)`` (centres and sizes, widths = x2 - x1), then ``(d - target_means) / target_stds``.

    ``target_stds = (1, 1, 1, 1)`` is torchvision RetinaNet's ``BoxCoder(weights=(1, 1, 1, 1))``
    (its weights are 1 / stds). Decoding clamps ``dw``, ``dh`` from above at ``log(1 / wh_ratio_clip)``
    (log(1000 / 16), torchvision's ``bbox_xform_clip``).

    Args:
        target_means, target_stds: per-coordinate normalisation of the deltas.
        wh_ratio_clip: smallest ratio the decoder's clamp allows (see above).
    """

    def __init__(self, target_means: Sequence[float] = (0.0, 0.0, 0.0, 0.0),
                 target_stds: Sequence[float] = (1.0, 1.0, 1.0, 1.0), wh_ratio_clip: float = 16 / 1000,
                 clip_border: bool = True) -> None:
        if len(target_means) != 4 or len(target_stds) != 4:
            raise ValueError('DeltaXYWHBBoxCoder: target_means and target_stds need 4 values each')
        self.means = tuple(float(m) for m in target_means)
        self.stds = tuple(float(s) for s in target_stds)
        self.max_ratio = abs(math.log(wh_ratio_clip))
        self.clip_border = clip_border

    def encode(self, anchors: torch.Tensor, gt_bboxes: torch.Tensor) -> torch.Tensor:
        """K x 4 anchors and their K x 4 target boxes (xyxy) -> K x 4 normalised deltas."""
        aw = anchors[:, 2] - anchors[:, 0]
        ah = anchors[:, 3] - anchors[:, 1]
        ax = anchors[:, 0] + 0.5 * aw
        ay = anchors[:, 1] + 0.5 * ah
        gw = gt_bboxes[:, 2] - gt_bboxes[:, 0]
        gh = gt_bboxes[:, 3] - gt_bboxes[:, 1]
        gx = gt_bboxes[:, 0] + 0.5 * gw
        gy = gt_bboxes[:, 1] + 0.5 * gh
        deltas = torch.stack([(gx - ax) / aw, (gy - ay) / ah, torch.log(gw / aw), torch.log(gh / ah)], dim=1)
        means = deltas.new_tensor(self.means)
        stds = deltas.new_tensor(self.stds)
        return (deltas - means) / stds

    def decode(self, anchors: torch.Tensor, deltas: torch.Tensor,
               max_shape: Sequence[int] | None = None) -> torch.Tensor:
        """K x 4 anchors and K x 4 deltas -> K x 4 boxes (xyxy); clipped to ``max_shape`` (h, w) when given."""
        anchors = anchors.to(deltas.dtype)
        if self.means != (0.0, 0.0, 0.0, 0.0) or self.stds != (1.0, 1.0, 1.0, 1.0):
            deltas = deltas * deltas.new_tensor(self.stds) + deltas.new_tensor(self.means)
        aw = anchors[:, 2] - anchors[:, 0]
        ah = anchors[:, 3] - anchors[:, 1]
        ax = anchors[:, 0] + 0.5 * aw
        ay = anchors[:, 1] + 0.5 * ah
        dw = deltas[:, 2].clamp(max=self.max_ratio)
        dh = deltas[:, 3].clamp(max=self.max_ratio)
        cx = deltas[:, 0] * aw + ax
        cy = deltas[:, 1] * ah + ay
        half_w = 0.5 * (torch.exp(dw) * aw)
        half_h = 0.5 * (torch.exp(dh) * ah)
        boxes = torch.stack([cx - half_w, cy - half_h, cx + half_w, cy + half_h], dim=1)
        if max_shape is not None and self.clip_border:
            boxes = clip_boxes(boxes, max_shape)
        return boxes


def clip_boxes(boxes: torch.Tensor, shape: Sequence[int]) -> torch.Tensor:
    """Clamp xyxy ``boxes`` into an image of ``shape`` (h, w)."""
    h, w = int(shape[0]), int(shape[1])
    x = boxes[..., 0::2].clamp(min=0, max=w)
    y = boxes[..., 1::2].clamp(min=0, max=h)
    return torch.stack([x[..., 0], y[..., 0], x[..., 1], y[..., 1]], dim=-1)


class AssignResult:
    """Per-anchor assignment: ``gt_inds`` int64 K: ``>= 0`` index of the matched gt box (positive),
    ``-1`` negative (background), ``-2`` ignored (no classification loss); ``max_ious`` float K."""

    NEGATIVE = -1
    IGNORE = -2

    def __init__(self, gt_inds: torch.Tensor, max_ious: torch.Tensor) -> None:
        self.gt_inds, self.max_ious = gt_inds, max_ious

    @property
    def pos_mask(self) -> torch.Tensor:
        return self.gt_inds >= 0

    @property
    def num_pos(self) -> int:
        return int(self.pos_mask.sum())


@TASK_UTILS.register_module()
class MaxIoUAssigner:
    """Assign every anchor to the gt box it overlaps most (IoU), as torchvision's ``Matcher``.

    IoU >= ``pos_iou_thr``: positive; < ``neg_iou_thr``: negative; in between: ignored. With
    ``match_low_quality``, for every gt box the anchors of highest IoU with it (ties included; IoU must be
    > 0 and >= ``min_pos_iou``) become positive too, matched to *their own* best gt box (torchvision's
    ``allow_low_quality_matches``).

    Ignored gt regions (crowd boxes, ``data_sample.ignored_instances``): with ``ignore_iof_thr > 0`` and
    ``gt_bboxes_ignore`` given, an anchor that is not positive and whose intersection with some ignored box
    covers more than ``ignore_iof_thr`` of the anchor's own area (IoF) becomes ignored (-2: no loss), so the
    unlabelled objects in a crowd region are not trained as background. Unlike MMDetection's assigner,
    such an anchor can still be positive for a real gt box it matches.

    Args:
        pos_iou_thr, neg_iou_thr, min_pos_iou, match_low_quality: see above.
        ignore_iof_thr: IoF threshold for ignored regions; <= 0 (default -1) disables them.
    """

    def __init__(self, pos_iou_thr: float = 0.5, neg_iou_thr: float = 0.4, min_pos_iou: float = 0.0,
                 match_low_quality: bool = True, ignore_iof_thr: float = -1, gt_max_assign_all: bool = True) -> None:
        if not isinstance(neg_iou_thr, (int, float)):
            raise NotImplementedError('MaxIoUAssigner: neg_iou_thr must be a number (ranges are not supported)')
        if neg_iou_thr > pos_iou_thr:
            raise ValueError(f'MaxIoUAssigner: neg_iou_thr={neg_iou_thr} > pos_iou_thr={pos_iou_thr}')
        if ignore_iof_thr is not None and ignore_iof_thr > 1:
            raise ValueError(f'MaxIoUAssigner: ignore_iof_thr={ignore_iof_thr} > 1 would never ignore an anchor '
                             '(IoF is at most 1); use a value in (0, 1], or -1 to disable')
        if not gt_max_assign_all:
            raise NotImplementedError('MaxIoUAssigner: only gt_max_assign_all=True (all ties) is implemented')
        self.pos_iou_thr, self.neg_iou_thr = float(pos_iou_thr), float(neg_iou_thr)
        self.min_pos_iou, self.match_low_quality = float(min_pos_iou), bool(match_low_quality)
        self.ignore_iof_thr = -1.0 if ignore_iof_thr is None else float(ignore_iof_thr)

    def assign(self, anchors: torch.Tensor, gt_bboxes: torch.Tensor,
               gt_bboxes_ignore: torch.Tensor | None = None) -> AssignResult:
        """K x 4 anchors, G x 4 gt boxes, optional I x 4 ignored gt boxes (all xyxy) -> :class:`AssignResult`."""
        k = anchors.shape[0]
        if gt_bboxes.numel() == 0:
            gt_inds = torch.full((k,), AssignResult.NEGATIVE, dtype=torch.long, device=anchors.device)
            max_ious = anchors.new_zeros(k)
        else:
            ious = box_iou(gt_bboxes.to(anchors.dtype), anchors)  # G x K
            max_ious, best_gt = ious.max(dim=0)
            gt_inds = best_gt.clone()
            gt_inds[max_ious < self.neg_iou_thr] = AssignResult.NEGATIVE
            gt_inds[(max_ious >= self.neg_iou_thr) & (max_ious < self.pos_iou_thr)] = AssignResult.IGNORE
            if self.match_low_quality:
                best_per_gt = ious.max(dim=1).values  # G
                usable = (best_per_gt > 0) & (best_per_gt >= self.min_pos_iou)
                pairs = torch.nonzero((ious == best_per_gt[:, None]) & usable[:, None], as_tuple=True)
                gt_inds[pairs[1]] = best_gt[pairs[1]]
        if self.ignore_iof_thr > 0 and gt_bboxes_ignore is not None and gt_bboxes_ignore.numel() and k:
            iof = box_iof(anchors, gt_bboxes_ignore.to(anchors).reshape(-1, 4)).max(dim=1).values  # K
            gt_inds[(iof > self.ignore_iof_thr) & (gt_inds < 0)] = AssignResult.IGNORE
        return AssignResult(gt_inds, max_ious)


def box_iof(boxes: torch.Tensor, regions: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """Intersection over the area of ``boxes`` ("foreground"): K x 4 and R x 4 xyxy -> float K x R in [0, 1].

    A degenerate box (zero area) has IoF 0 with everything.
    """
    lt = torch.max(boxes[:, None, :2], regions[None, :, :2])
    rb = torch.min(boxes[:, None, 2:], regions[None, :, 2:])
    wh = (rb - lt).clamp(min=0)
    inter = wh[..., 0] * wh[..., 1]
    area = ((boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])).clamp(min=eps)
    return inter / area[:, None]


def nms_and_rescale(boxes: torch.Tensor, scores: torch.Tensor, labels: torch.Tensor, iou_thr: float,
                    max_per_img: int, meta: dict | None = None) -> InstanceData:
    """The end of a dense head's post-processing for one image: class-wise NMS of the K candidates (``boxes``
    K x 4 xyxy pixels of the network input, ``scores`` K, ``labels`` K), the best ``max_per_img`` kept and,
    with ``meta``, boxes mapped to the original image (divided by ``scale_factor`` (w, h), clipped to
    ``ori_shape``). Returns ``InstanceData(bboxes float32, scores float32, labels int64)``."""
    keep = batched_nms(boxes, scores, labels, iou_thr)[:max_per_img]
    boxes, scores, labels = boxes[keep], scores[keep], labels[keep]
    if meta is not None:
        sf = meta.get('scale_factor') or (1.0, 1.0)
        boxes = boxes / boxes.new_tensor([sf[0], sf[1], sf[0], sf[1]])
        if meta.get('ori_shape') is not None:
            boxes = clip_boxes(boxes, meta['ori_shape'])
    return InstanceData(bboxes=boxes.float(), scores=scores.float(), labels=labels.long())
