"""Text-detection datasets (ICDAR 2015, MMOCR JSON, PaddleOCR label files) and format converters."""
from .convert import icdar2015_to_mmocr, mmocr_to_paddle, paddle_to_mmocr  # noqa: F401
from .textdet_datasets import (ICDAR2015Dataset, OCRDataset, PaddleOCRDetDataset, TextDetDataset,  # noqa: F401
                               make_instance, read_icdar2015_gt, read_paddle_label_file)
from .synth_dataset import SynthTextDetDataset  # noqa: F401,E402
from .mmocr_concat import MMOCRConcatDataset  # noqa: F401,E402  (MMOCR 1.x ConcatDataset(pipeline=...))
