"""Object detection and instance segmentation: datasets (COCO, VOC), transforms and metrics."""
from . import datasets  # noqa: F401
from . import evaluation  # noqa: F401
from . import transforms  # noqa: F401
