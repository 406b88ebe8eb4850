"""The synthetic detection shapes as a COCO dataset: :class:`DetShapesDataset` generates them under its
``data_root`` on first use (the generator, :func:`visioncraft.data.synthetic.det_shapes.generate_det_shapes`,
sits with the other synthetic sets in ``visioncraft/data/synthetic/``) and reads them as :class:`CocoDataset`.
"""
from __future__ import annotations

from visioncraft.data.synthetic.det_shapes import DET_SHAPE_CLASSES, generate_det_shapes
from visioncraft.registry import DATASETS
from visioncraft.tasks.detection.datasets.base_det import make_palette
from visioncraft.tasks.detection.datasets.coco import CocoDataset

__all__ = ['DetShapesDataset']


@DATASETS.register_module()
class DetShapesDataset(CocoDataset):
    """The synthetic detection shapes, generated under ``data_root`` on first use (``generate=True``).

    Args:
        data_root: folder of the dataset (created if missing).
        ann_file: ``'annotations/instances_train.json'`` or ``'annotations/instances_val.json'``.
        generate: generate (or regenerate, when the stored settings differ) before loading.
        num_train / num_val / image_size / max_objects / object_size / seed: generation settings, see
            :func:`generate_det_shapes` (used only when generating).
        **kwargs: the rest of :class:`CocoDataset`'s arguments (pipeline, filter_cfg, test_mode, ...).
    """

    METAINFO = dict(classes=DET_SHAPE_CLASSES, palette=make_palette(len(DET_SHAPE_CLASSES)))

    def __init__(self, data_root: str = 'data/det_shapes', ann_file: str = 'annotations/instances_train.json', *,
                 generate: bool = True, num_train: int = 2000, num_val: int = 200,
                 image_size: tuple[int, int] = (128, 128), max_objects: int = 6,
                 object_size: tuple[int, int] = (12, 48), seed: int = 0, **kwargs) -> None:
        if generate:
            generate_det_shapes(data_root, num_train=num_train, num_val=num_val, image_size=image_size,
                                max_objects=max_objects, object_size=object_size, seed=seed)
        super().__init__(ann_file=ann_file, data_root=data_root, **kwargs)
