"""DetDataPreprocessor: normalise, pad and stack detection batches."""
from __future__ import annotations

from collections.abc import Sequence

import torch

from visioncraft.models.data_preprocessor import ImgDataPreprocessor
from visioncraft.registry import MODELS

__all__ = ['DetDataPreprocessor']


@MODELS.register_module()
class DetDataPreprocessor(ImgDataPreprocessor):
    """:class:`~visioncraft.models.ImgDataPreprocessor` with detection defaults.

    Images (list of C x H x W uint8 BGR tensors from ``PackDetInputs``) become one float N x 3 x H' x W'
    batch: channels swapped (``bgr_to_rgb``), ``(x - mean) / std``, zero-padded at the right and bottom to
    the largest H, W rounded up to ``pad_size_divisor`` (32 by default). Boxes are not moved by padding.
    Each data sample gets ``batch_input_shape`` and ``pad_shape`` = (H', W'), and ``img_shape`` = the
    image's own (h, w) if the pipeline did not set it.

    MMDetection 3.x's padding of the targets, in training only (as there):

    - ``pad_mask``: pad each sample's ``gt_instances.masks`` (Bitmap / PolygonMasks) at the bottom and right to
      the batch's (H', W') with ``mask_pad_value`` (Mask R-CNN configs set it; the mask targets, cropped inside
      the boxes, are the same either way).
    - ``pad_seg``: pad ``gt_sem_seg.sem_seg`` (a 1 x H x W or H x W tensor) likewise with ``seg_pad_value``
      (255, the ignored label).
    - ``boxtype2tensor``: boxes are plain tensors here already, so only True (MMDetection's default) is accepted.

    ``batch_augments``: configs of batch transforms (``BatchFixedSizePad`` of the LSJ recipes), each called as
    ``inputs, data_samples = aug(inputs, data_samples)`` on the stacked batch, in training only (as MMDetection).
    """

    def __init__(self, mean: Sequence[float] | None = None, std: Sequence[float] | None = None,
                 bgr_to_rgb: bool = False, rgb_to_bgr: bool = False, pad_size_divisor: int = 32,
                 pad_value: float = 0.0, non_blocking: bool = False, *, pad_mask: bool = False,
                 mask_pad_value: int = 0, pad_seg: bool = False, seg_pad_value: int = 255,
                 boxtype2tensor: bool = True, batch_augments: Sequence[dict] | None = None) -> None:
        super().__init__(mean=mean, std=std, bgr_to_rgb=bgr_to_rgb, rgb_to_bgr=rgb_to_bgr,
                         pad_size_divisor=pad_size_divisor, pad_value=pad_value, non_blocking=non_blocking)
        if not boxtype2tensor:
            raise ValueError('DetDataPreprocessor: boxtype2tensor=False keeps MMDetection box-type objects, which '
                             'VisionCraft does not have (its boxes are tensors); remove the key or set it to True')
        self.pad_mask = bool(pad_mask)
        self.mask_pad_value = int(mask_pad_value)
        self.pad_seg = bool(pad_seg)
        self.seg_pad_value = int(seg_pad_value)
        self.batch_augments = torch.nn.ModuleList(
            [MODELS.build(aug, key_path=f'data_preprocessor.batch_augments[{i}]') if isinstance(aug, dict) else aug
             for i, aug in enumerate(batch_augments or [])])

    def forward(self, data: dict, training: bool = False) -> dict:
        inputs = data['inputs']
        sizes = [tuple(i.shape[-2:]) for i in inputs]
        data = super().forward(data, training)
        samples = data.get('data_samples') or []
        for sample, size in zip(samples, sizes):
            if hasattr(sample, 'set_metainfo') and 'img_shape' not in sample.metainfo:
                sample.set_metainfo(dict(img_shape=size))
        if training and (self.pad_mask or self.pad_seg):
            batch_shape = tuple(data['inputs'].shape[-2:])
            for sample in samples:
                self._pad_targets(sample, batch_shape)
        if training and len(self.batch_augments):
            inputs, samples = data['inputs'], data.get('data_samples')
            for aug in self.batch_augments:
                inputs, samples = aug(inputs, samples)
            data = dict(data, inputs=inputs, data_samples=samples)
        return data

    def _pad_targets(self, sample, shape: tuple[int, int]) -> None:
        gt = getattr(sample, 'gt_instances', None)
        masks = getattr(gt, 'masks', None) if gt is not None else None
        if self.pad_mask and masks is not None and hasattr(masks, 'pad'):
            gt.masks = masks.pad(shape, pad_val=self.mask_pad_value)
        seg = getattr(sample, 'gt_sem_seg', None)
        sem = getattr(seg, 'sem_seg', None) if seg is not None else None
        if self.pad_seg and isinstance(sem, torch.Tensor):
            h, w = sem.shape[-2:]
            seg.sem_seg = torch.nn.functional.pad(sem, (0, shape[1] - w, 0, shape[0] - h), value=self.seg_pad_value)
