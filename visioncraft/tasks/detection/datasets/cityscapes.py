"""Cityscapes instances, converted to COCO format (``tools/dataset_converters/cityscapes.py``)."""
from __future__ import annotations

from visioncraft.registry import DATASETS

from .coco import CocoDataset

__all__ = ['CityscapesDataset', 'CITYSCAPES_PALETTE']

#: the 8 instance classes in the order of the converted annotations, with the colours of Cityscapes' label table
CITYSCAPES_PALETTE = {'person': (220, 20, 60), 'rider': (255, 0, 0), 'car': (0, 0, 142), 'truck': (0, 0, 70),
                      'bus': (0, 60, 100), 'train': (0, 80, 100), 'motorcycle': (0, 0, 230),
                      'bicycle': (119, 11, 32)}


@DATASETS.register_module()
class CityscapesDataset(CocoDataset):
    """:class:`CocoDataset` with Cityscapes' 8 instance classes as the default ``metainfo``; with
    ``filter_cfg.filter_empty_gt`` an image is also dropped when every instance it has is ignored (crowd), as
    MMDetection's Cityscapes recipes expect."""

    METAINFO = {'classes': tuple(CITYSCAPES_PALETTE), 'palette': list(CITYSCAPES_PALETTE.values())}

    def filter_data(self, data_list: list[dict]) -> list[dict]:
        kept = super().filter_data(data_list)
        if self.test_mode or not self.filter_cfg or not self.filter_cfg.get('filter_empty_gt', False):
            return kept
        return [info for info in kept if not all(inst.get('ignore_flag', 0) for inst in info['instances'])]
