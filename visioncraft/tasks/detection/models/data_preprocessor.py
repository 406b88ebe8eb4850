"""DetDataPreprocessor: normalise, pad and stack detection batches."""
from __future__ import annotations

from collections.abc import Sequence

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
    """

    def __init__(self, mean: Sequence[float] | None = None, std: Sequence[float] | None = None,
                 bgr_to_rgb: bool = False, rgb_to_bgr: bool = False, pad_size_divisor: int = 32,
                 pad_value: float = 0.0, non_blocking: bool = False) -> None:
        super().__init__(mean=mean, std=std, bgr_to_rgb=bgr_to_rgb, rgb_to_bgr=rgb_to_bgr,
                         pad_size_divisor=pad_size_divisor, pad_value=pad_value, non_blocking=non_blocking)

    def forward(self, data: dict, training: bool = False) -> dict:
        inputs = data['inputs']
        sizes = [tuple(i.shape[-2:]) for i in inputs]
        data = super().forward(data, training)
        for sample, size in zip(data.get('data_samples') or [], sizes):
            if hasattr(sample, 'set_metainfo') and 'img_shape' not in sample.metainfo:
                sample.set_metainfo(dict(img_shape=size))
        return data
