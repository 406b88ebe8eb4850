"""Detection datasets: COCO-style JSON (Cityscapes converted to it included) and Pascal VOC devkits."""
from .coco import CocoDataset
from .voc import VOCDataset
from .cityscapes import CityscapesDataset
from . import det_shapes as _det_shapes  # noqa: E402,F401  (registers DetShapesDataset)

__all__ = ['CityscapesDataset', 'CocoDataset', 'VOCDataset']
