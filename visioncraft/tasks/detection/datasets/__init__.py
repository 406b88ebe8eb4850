"""Detection datasets: COCO-style JSON and Pascal VOC devkits."""
from .coco import CocoDataset
from .voc import VOCDataset

__all__ = ['CocoDataset', 'VOCDataset']
