"""Shared losses (registered in MODELS): focal, L1, smooth L1, cross-entropy, IoU family."""
from .basic import FocalLoss, L1Loss, SmoothL1Loss, weighted_reduce
from .cross_entropy import CrossEntropyLoss
from .iou import BoundedIoULoss, CIoULoss, DIoULoss, GIoULoss, IoULoss, aligned_box_iou

__all__ = ['FocalLoss', 'L1Loss', 'SmoothL1Loss', 'weighted_reduce']
__all__ += ['CrossEntropyLoss']
__all__ += ['IoULoss', 'GIoULoss', 'DIoULoss', 'CIoULoss', 'BoundedIoULoss', 'aligned_box_iou']
