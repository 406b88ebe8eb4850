"""SynthTextRecogDataset: the synthetic word images (``visioncraft.data.synthetic.words``), generated on first use."""
from __future__ import annotations

from visioncraft.data.synthetic.words import DEFAULT_CHARSET, generate_text_recog
from visioncraft.registry import DATASETS

from .recog_datasets import TextRecogDataset

__all__ = ['SynthTextRecogDataset']


@DATASETS.register_module()
class SynthTextRecogDataset(TextRecogDataset):
    """The synthetic word images, generated under ``data_root`` on first use, read as MMOCR textrecog JSON
    (entries ``dict(img_path, instances=[dict(text)])``).

    Args:
        data_root: folder of the data set (created if missing; regenerated when its stored settings differ).
        ann_file: ``'textrecog_train.json'`` or ``'textrecog_val.json'``.
        generate: generate (or regenerate) before loading; False only reads.
        num_train / num_val / seed / charset / max_len / word_ratio / size_range / fonts: generation settings, see
            :func:`visioncraft.data.synthetic.words.generate_text_recog` (used only when generating).
        **kwargs: the rest of :class:`TextRecogDataset`'s arguments (pipeline, filter_cfg, test_mode, ...).
    """

    def __init__(self, data_root: str = 'data/textrecog_synth', ann_file: str = 'textrecog_train.json', *,
                 generate: bool = True, num_train: int = 5000, num_val: int = 500, seed: int = 0,
                 charset: str = DEFAULT_CHARSET, max_len: int = 10, word_ratio: float = 0.6,
                 size_range: tuple[int, int] = (18, 30), fonts: str = 'auto', **kwargs) -> None:
        if generate:
            generate_text_recog(data_root, num_train=num_train, num_val=num_val, seed=seed, charset=charset,
                                max_len=max_len, word_ratio=word_ratio, size_range=tuple(size_range), fonts=fonts)
        super().__init__(ann_file=ann_file, data_root=data_root, **kwargs)
