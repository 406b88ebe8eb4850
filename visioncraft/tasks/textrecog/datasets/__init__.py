"""Text recognition datasets."""
from .recog_datasets import PaddleOCRRecDataset, TextRecogDataset, read_paddle_rec_label_file  # noqa: F401,E402
from .synth_dataset import SynthTextRecogDataset  # noqa: F401,E402
from .lmdb_dataset import RecogLMDBDataset, read_recog_labels, write_recog_lmdb  # noqa: F401,E402
from .crop_dataset import TextDetCropDataset, crop_textdet_to_recog  # noqa: F401,E402
from .cls_dataset import PaddleOCRClsDataset  # noqa: F401,E402
