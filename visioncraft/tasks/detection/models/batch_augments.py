"""Batch augmentations: transforms of a whole stacked batch, run by ``DetDataPreprocessor(batch_augments=[...])``
during training after the images are normalised and stacked (MMDetection's LSJ recipes).

``BatchFixedSizePad(size=(h, w))`` pads the batch on the bottom and right to at least ``size`` (never crops), so
every batch of a large-scale-jitter run has the same shape; the data samples' ``batch_input_shape`` and
``pad_shape`` follow, and ``pad_mask=True`` pads the ground-truth masks to match.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from visioncraft.registry import MODELS

__all__ = ['BatchFixedSizePad']


@MODELS.register_module()
class BatchFixedSizePad(nn.Module):
    """Pad a stacked batch (B x C x H x W) to at least ``size`` = (h, w) on the bottom and right.

    Args:
        size: the (h, w) to reach.
        img_pad_value: the value of the padded pixels (of the normalised images).
        pad_mask: pad ``gt_instances.masks`` (Bitmap / Polygon masks) to the new shape too.
        mask_pad_value: the value of the padded mask pixels.
        pad_seg, seg_pad_value: MMDetection's semantic-segmentation maps, which VisionCraft has not: ``pad_seg=True``
            is an error.
    """

    def __init__(self, size: tuple[int, int], img_pad_value: float = 0, pad_mask: bool = False,
                 mask_pad_value: int = 0, pad_seg: bool = False, seg_pad_value: int = 255) -> None:
        super().__init__()
        if len(size) != 2 or min(size) <= 0:
            raise ValueError(f'BatchFixedSizePad: size must be (h, w) of positive ints, got {size!r}')
        if pad_seg:
            raise ValueError('BatchFixedSizePad: pad_seg=True pads semantic-segmentation maps (gt_sem_seg), which '
                             'VisionCraft has no models for; remove pad_seg')
        self.size = (int(size[0]), int(size[1]))
        self.img_pad_value, self.pad_mask, self.mask_pad_value = img_pad_value, pad_mask, mask_pad_value
        self.seg_pad_value = seg_pad_value

    def forward(self, inputs: torch.Tensor, data_samples: list | None = None) -> tuple[torch.Tensor, list | None]:
        src_h, src_w = inputs.shape[-2:]
        dst_h, dst_w = max(src_h, self.size[0]), max(src_w, self.size[1])
        if (dst_h, dst_w) == (src_h, src_w):
            return inputs, data_samples
        inputs = F.pad(inputs, (0, dst_w - src_w, 0, dst_h - src_h), mode='constant', value=self.img_pad_value)
        for sample in data_samples or []:
            sample.set_metainfo(dict(batch_input_shape=(dst_h, dst_w), pad_shape=(dst_h, dst_w)))
            if self.pad_mask and 'gt_instances' in sample and 'masks' in sample.gt_instances:
                sample.gt_instances.masks = sample.gt_instances.masks.pad((dst_h, dst_w), pad_val=self.mask_pad_value)
        return inputs, data_samples
