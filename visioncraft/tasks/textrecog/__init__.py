"""Text recognition (CRNN, SVTR-style; MMOCR and PaddleOCR workflows): dictionaries, codecs, datasets,
transforms, models, metrics, visualizer."""
from . import codecs  # noqa: F401
from . import datasets  # noqa: F401
from . import evaluation  # noqa: F401
from . import transforms  # noqa: F401
from . import models  # noqa: F401
from . import visualization  # noqa: F401
from . import paddleocr_config  # noqa: F401  (registers the PaddleOCR 'rec' config translator)
from . import paddleocr_cls_config  # noqa: F401  (registers the PaddleOCR 'cls' config translator)
