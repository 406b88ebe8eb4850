"""PackDetInputs: the last transform of a detection pipeline."""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from visioncraft.data import BaseTransform
from visioncraft.data.loading import pack_image
from visioncraft.registry import TRANSFORMS
from visioncraft.structures import InstanceData

__all__ = ['PackDetInputs']

#: results key -> InstanceData field
FIELD_MAP = dict(gt_bboxes='bboxes', gt_bboxes_labels='labels', gt_masks='masks')


@TRANSFORMS.register_module()
class PackDetInputs(BaseTransform):
    """Make ``dict(inputs=C x H x W tensor, data_samples=DataSample)`` from a transformed sample.

    ``inputs`` keeps the image's dtype (uint8 unless the pipeline made it float) and BGR channel order.
    ``gt_instances`` holds the instances whose ``gt_ignore_flags`` is False and ``ignored_instances`` the
    others (both always set, possibly empty): ``bboxes`` float32 N x 4 tensor (xyxy, pixels of the packed
    image), ``labels`` int64 N tensor, ``masks`` the mask structure (BitmapMasks / PolygonMasks).

    Args:
        meta_keys: keys copied into the data sample's metainfo when present in the sample.
    """

    def __init__(self, meta_keys: Sequence[str] = ('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor',
                                                   'flip', 'flip_direction', 'pad_shape', 'sample_idx')) -> None:
        self.meta_keys = tuple(meta_keys)

    def transform(self, results: dict) -> dict:
        inputs, sample = pack_image(results, self.meta_keys)
        present = [k for k in FIELD_MAP if results.get(k) is not None]
        n = len(results[present[0]]) if present else 0
        ignore = results.get('gt_ignore_flags')
        ignore = np.zeros(n, dtype=np.bool_) if ignore is None else np.asarray(ignore, dtype=np.bool_)
        if len(ignore) != n:
            raise ValueError(f'PackDetInputs: gt_ignore_flags has {len(ignore)} entries but there are {n} '
                             'instances')
        keep, drop = np.nonzero(~ignore)[0], np.nonzero(ignore)[0]
        gt, ignored = InstanceData(), InstanceData()
        for key in present:
            value = results[key]
            if key == 'gt_bboxes':
                value = torch.from_numpy(np.asarray(value, dtype=np.float32).reshape(-1, 4))
            elif key == 'gt_bboxes_labels':
                value = torch.from_numpy(np.asarray(value, dtype=np.int64).reshape(-1))
            name = FIELD_MAP[key]
            if len(value) != n:
                raise ValueError(f'PackDetInputs: {key} has {len(value)} entries but {present[0]} has {n}')
            setattr(gt, name, value[torch.from_numpy(keep)] if isinstance(value, torch.Tensor) else value[keep])
            setattr(ignored, name, value[torch.from_numpy(drop)] if isinstance(value, torch.Tensor) else value[drop])
        sample.gt_instances = gt
        sample.ignored_instances = ignored
        return dict(inputs=inputs, data_samples=sample)
