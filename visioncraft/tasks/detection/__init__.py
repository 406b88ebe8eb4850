"""Object detection and instance segmentation: datasets (COCO, VOC), transforms, models and metrics."""
from . import datasets  # noqa: F401
from . import evaluation  # noqa: F401
from . import models  # noqa: F401
from . import transforms  # noqa: F401
from . import visualization  # noqa: F401
