"""LoadAnnotations: turn a sample's raw ``instances`` into ``gt_*`` arrays and mask structures."""
from __future__ import annotations

import numpy as np

from visioncraft.data import BaseTransform
from visioncraft.registry import TRANSFORMS
from visioncraft.structures import (BitmapMasks, PolygonMasks, bitmap_to_polygons, polygons_to_bitmap,
                                    rle_to_bitmap)

__all__ = ['LoadAnnotations']


def _valid_polygons(mask) -> list[np.ndarray]:
    polys = [np.asarray(p, dtype=np.float64).reshape(-1) for p in mask]
    return [p for p in polys if len(p) >= 6 and len(p) % 2 == 0]


@TRANSFORMS.register_module()
class LoadAnnotations(BaseTransform):
    """Read ``results['instances']`` (see the data contract) into arrays.

    Args:
        with_bbox: add ``gt_bboxes`` (float32 N x 4, xyxy pixels) and ``gt_ignore_flags`` (bool N).
        with_label: add ``gt_bboxes_labels`` (int64 N).
        with_mask: add ``gt_masks`` from each instance's ``mask`` (COCO polygons ``[[x0, y0, ...], ...]`` or
            an RLE dict, compressed or not).
        poly2mask: rasterize into :class:`BitmapMasks` (True) or keep :class:`PolygonMasks` (False; RLE masks
            are then traced into polygons with OpenCV).

    Masks are made at ``ori_shape`` (or the entry's ``height`` x ``width`` when no image was loaded yet), so
    this transform goes before any geometric one. An instance whose mask has no usable polygon (all parts
    shorter than 3 points) gets an empty mask and ``ignore_flag`` 1.
    """

    def __init__(self, with_bbox: bool = True, with_label: bool = True, with_mask: bool = False,
                 poly2mask: bool = True) -> None:
        self.with_bbox = with_bbox
        self.with_label = with_label
        self.with_mask = with_mask
        self.poly2mask = poly2mask

    def transform(self, results: dict) -> dict:
        instances = results.get('instances')
        if instances is None:
            raise KeyError(f'LoadAnnotations: sample {results.get("img_path", results.get("sample_idx", "?"))} '
                           'has no "instances" key; is the dataset a detection dataset?')
        ignore = np.array([bool(inst.get('ignore_flag', 0)) for inst in instances], dtype=np.bool_)
        if self.with_mask:
            results['gt_masks'] = self._load_masks(results, instances, ignore)
        if self.with_bbox:
            results['gt_bboxes'] = np.array([inst['bbox'] for inst in instances],
                                            dtype=np.float32).reshape(-1, 4)
            results['gt_ignore_flags'] = ignore
        if self.with_label:
            results['gt_bboxes_labels'] = np.array([inst['bbox_label'] for inst in instances], dtype=np.int64)
        return results

    def _load_masks(self, results: dict, instances: list[dict], ignore: np.ndarray) -> BitmapMasks | PolygonMasks:
        if 'ori_shape' in results:
            h, w = (int(v) for v in results['ori_shape'][:2])
        elif 'height' in results and 'width' in results:
            h, w = int(results['height']), int(results['width'])
        else:
            raise KeyError('LoadAnnotations(with_mask=True) needs ori_shape (run LoadImageFromFile first) or the '
                           'entry\'s height and width')
        bitmaps, polygons = [], []
        for i, inst in enumerate(instances):
            if 'mask' not in inst:
                raise KeyError(f'LoadAnnotations(with_mask=True): instance {i} of {results.get("img_path")} has '
                               'no "mask"; the dataset has no masks, so set with_mask=False')
            mask = inst['mask']
            if isinstance(mask, dict):
                if self.poly2mask:
                    bitmaps.append(rle_to_bitmap(mask, h, w))
                    continue
                polys = bitmap_to_polygons(rle_to_bitmap(mask, h, w))
            else:
                polys = _valid_polygons(mask)
            if not polys:
                ignore[i] = True
                polys = [np.zeros(6)]
            if self.poly2mask:
                bitmaps.append(polygons_to_bitmap(polys, h, w))
            else:
                polygons.append(polys)
        if self.poly2mask:
            arr = np.stack(bitmaps) if bitmaps else np.zeros((0, h, w), dtype=np.uint8)
            return BitmapMasks(arr, h, w)
        return PolygonMasks(polygons, h, w)
