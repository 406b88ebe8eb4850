"""SynthTextDetDataset: the synthetic scene-text set (``visioncraft.data.synthetic.text``), generated on first use."""
from __future__ import annotations

from visioncraft.data.synthetic.text import generate_text_det
from visioncraft.registry import DATASETS

from .textdet_datasets import OCRDataset

__all__ = ['SynthTextDetDataset']


@DATASETS.register_module()
class SynthTextDetDataset(OCRDataset):
    """The synthetic text-detection pictures, generated under ``data_root`` on first use, read as MMOCR JSON.

    Samples are :class:`OCRDataset`'s: instances with ``polygon`` (flat ``[x0, y0, ...]`` absolute pixels,
    integer quads), ``bbox`` (xyxy), ``ignore`` (``'###'`` do-not-care) and ``text``.

    Args:
        data_root: folder of the data set (created if missing; regenerated when its stored settings differ).
        ann_file: ``'textdet_train.json'`` or ``'textdet_val.json'``.
        generate: generate (or regenerate) before loading; False only reads.
        num_train / num_val / size (H, W) / seed / max_words / ignore_ratio / fonts: generation settings, see
            :func:`visioncraft.data.synthetic.text.generate_text_det` (used only when generating).
        **kwargs: the rest of :class:`OCRDataset`'s arguments (pipeline, filter_cfg, test_mode, ...).
    """

    def __init__(self, data_root: str = 'data/textdet_synth', ann_file: str = 'textdet_train.json', *,
                 generate: bool = True, num_train: int = 1000, num_val: int = 100,
                 size: tuple[int, int] = (320, 320), seed: int = 0, max_words: int = 8,
                 ignore_ratio: float = 0.1, fonts: str = 'auto', **kwargs) -> None:
        if generate:
            generate_text_det(data_root, num_train=num_train, num_val=num_val, size=tuple(size), seed=seed,
                              max_words=max_words, ignore_ratio=ignore_ratio, fonts=fonts)
        super().__init__(ann_file=ann_file, data_root=data_root, **kwargs)
