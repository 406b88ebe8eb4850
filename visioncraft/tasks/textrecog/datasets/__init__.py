"""Text recognition datasets."""
from .recog_datasets import PaddleOCRRecDataset, TextRecogDataset, read_paddle_rec_label_file  # noqa: F401,E402
from .synth_dataset import SynthTextRecogDataset  # noqa: F401,E402
from .lmdb_dataset import (RecogLMDBDataset, main_lmdb_converter, read_recog_labels,  # noqa: F401,E402
                           write_recog_lmdb)
from .crop_dataset import TextDetCropDataset, crop_textdet_to_recog, main_crop_textdet  # noqa: F401,E402
