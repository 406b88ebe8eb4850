"""Detection datasets: COCO-style JSON and Pascal VOC devkits."""
from .coco import CocoDataset
from .voc import VOCDataset
from . import det_shapes as _det_shapes  # noqa: E402,F401  (registers DetShapesDataset)

__all__ = ['CocoDataset', 'VOCDataset']
