"""``DetTTAModel``: merge a detector's predictions over test-time views (flips and scales).

Each view's ``pred_instances`` are in the original image's pixels (the detectors rescale them); a flipped view's
boxes (and masks) are flipped back with the view's ``flip_direction`` and ``ori_shape``, all views' instances are
concatenated and reduced by class-wise NMS (``tta_cfg.nms``), keeping the ``tta_cfg.max_per_img`` best. The keys
are MMDetection's (``tta_model = dict(type='DetTTAModel', tta_cfg=dict(nms=dict(type='nms', iou_threshold=0.5),
max_per_img=100))``), so upstream configs' ``tta_model`` works unchanged.
"""
from __future__ import annotations

import torch
from torchvision.ops import batched_nms

from visioncraft.models.tta import BaseTTAModel
from visioncraft.registry import MODELS
from visioncraft.structures import InstanceData

__all__ = ['DetTTAModel', 'unflip_boxes']


def unflip_boxes(boxes: torch.Tensor, direction: str, shape: tuple[int, int]) -> torch.Tensor:
    """``boxes`` (N x 4 xyxy, pixels of an image of ``shape`` = (h, w)) flipped back by ``direction``."""
    h, w = shape
    out = boxes.clone()
    if direction in ('horizontal', 'diagonal'):
        out[:, 0], out[:, 2] = w - boxes[:, 2], w - boxes[:, 0]
    if direction in ('vertical', 'diagonal'):
        out[:, 1], out[:, 3] = h - boxes[:, 3], h - boxes[:, 1]
    if direction not in ('horizontal', 'vertical', 'diagonal'):
        raise ValueError(f'DetTTAModel: unknown flip_direction {direction!r}')
    return out


def _unflip_masks(masks: torch.Tensor, direction: str) -> torch.Tensor:
    dims = {'horizontal': (-1,), 'vertical': (-2,), 'diagonal': (-2, -1)}[direction]
    return masks.flip(dims)


@MODELS.register_module()
class DetTTAModel(BaseTTAModel):
    """Merges detection predictions over views.

    Args:
        module: the detector.
        tta_cfg: ``nms=dict(type='nms', iou_threshold=0.5)`` (class-wise NMS over the views' instances) and
            ``max_per_img`` (how many to keep, best scores first; default 100).
    """

    def __init__(self, *, module, tta_cfg: dict | None = None) -> None:
        super().__init__(module=module)
        cfg = dict(tta_cfg or {})
        nms = dict(cfg.pop('nms', None) or dict(type='nms', iou_threshold=0.5))
        self.max_per_img = int(cfg.pop('max_per_img', 100))
        if cfg:
            raise ValueError(f'DetTTAModel: tta_cfg has unknown key(s) {sorted(cfg)}; it takes nms and max_per_img')
        kind = nms.pop('type', 'nms')
        if kind != 'nms':
            raise ValueError(f"DetTTAModel: tta_cfg.nms.type={kind!r} is not supported; use 'nms'")
        self.iou_threshold = float(nms.pop('iou_threshold', 0.5))
        if nms:
            raise ValueError(f'DetTTAModel: tta_cfg.nms has unknown key(s) {sorted(nms)}; it takes type and '
                             'iou_threshold')

    def merge_preds(self, views: list) -> object:
        parts, base = [], None
        for sample in views:
            pred = sample.pred_instances
            direction = sample.get('flip_direction') if sample.get('flip', False) else None
            if direction is not None and len(pred):
                fields = dict(pred.items())
                fields['bboxes'] = unflip_boxes(pred.bboxes, direction, tuple(sample.get('ori_shape')))
                if 'masks' in fields and isinstance(fields['masks'], torch.Tensor):
                    fields['masks'] = _unflip_masks(fields['masks'], direction)
                pred = pred.new(**fields)
            parts.append(pred)
            if base is None and direction is None:
                base = sample
        base = base if base is not None else views[0]
        merged = InstanceData.cat(parts)
        if len(merged):
            keep = batched_nms(merged.bboxes.float(), merged.scores.float(), merged.labels, self.iou_threshold)
            merged = merged[keep[:self.max_per_img]]
        out = base.clone()
        out.pred_instances = merged
        if out.get('flip') is not None:
            out.set_metainfo(dict(flip=False, flip_direction=None))
        return out
