"""Detection metrics: COCO-style (``CocoMetric``) and Pascal VOC-style (``VOCMetric``)."""
from .coco_metric import CocoMetric
from .voc_metric import VOCMetric

__all__ = ['CocoMetric', 'VOCMetric']
