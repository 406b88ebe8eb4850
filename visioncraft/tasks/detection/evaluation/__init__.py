"""Detection metrics: COCO-style (``CocoMetric``), Pascal VOC-style (``VOCMetric``) and the Cityscapes result files
(``CityscapesMetric``)."""
from .cityscapes_metric import CityscapesMetric
from .coco_metric import CocoMetric
from .voc_metric import VOCMetric

__all__ = ['CityscapesMetric', 'CocoMetric', 'VOCMetric']
