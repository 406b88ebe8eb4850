"""TextDetDataPreprocessor: MMOCR 1.x's name for the text detectors' batch preprocessor."""
from __future__ import annotations

from collections.abc import Sequence

from visioncraft.models.data_preprocessor import ImgDataPreprocessor
from visioncraft.registry import MODELS

__all__ = ['TextDetDataPreprocessor']


@MODELS.register_module()
class TextDetDataPreprocessor(ImgDataPreprocessor):
    """:class:`~visioncraft.models.ImgDataPreprocessor` under MMOCR's name and arguments: a list of C x H x W
    uint8 BGR images becomes one float N x C x H' x W' batch (``bgr_to_rgb``, ``(x - mean) / std``, padded at the
    bottom / right with ``pad_value`` to the largest H, W rounded up to ``pad_size_divisor``). Polygons are not
    moved by padding. Each sample gets ``batch_input_shape`` / ``pad_shape``.

    ``batch_augments`` (MMOCR's hook for batch-level augmentations) is accepted only as None: no MMOCR text
    detection config uses one, and none is implemented here.
    """

    def __init__(self, mean: Sequence[float] | None = None, std: Sequence[float] | None = None,
                 pad_size_divisor: int = 1, pad_value: float = 0.0, bgr_to_rgb: bool = False,
                 rgb_to_bgr: bool = False, batch_augments: list | None = None, non_blocking: bool = False) -> None:
        if batch_augments:
            raise ValueError(f'TextDetDataPreprocessor: batch_augments={batch_augments!r} is not supported (no '
                             'batch augmentation for text detection is implemented); remove the key or set it to '
                             'None and augment in the data pipeline')
        super().__init__(mean=mean, std=std, bgr_to_rgb=bgr_to_rgb, rgb_to_bgr=rgb_to_bgr,
                         pad_size_divisor=pad_size_divisor, pad_value=pad_value, non_blocking=non_blocking)
