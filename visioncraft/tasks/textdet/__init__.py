"""Text detection (DBNet; MMOCR and PaddleOCR workflows): datasets, transforms, models, metrics, visualizer."""
from . import datasets  # noqa: F401
from . import evaluation  # noqa: F401
from . import transforms  # noqa: F401
from . import visualization  # noqa: F401
from . import codecs  # noqa: F401
from . import models  # noqa: F401
from . import paddleocr_config  # noqa: F401  (registers the PaddleOCR 'det' config translator)
