"""PackPoseInputs: the model's input tensor and a DataSample with the pose ground truth."""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from visioncraft.data.loading import pack_image
from visioncraft.data.transforms import BaseTransform
from visioncraft.registry import TRANSFORMS
from visioncraft.structures import InstanceData

__all__ = ['PackPoseInputs']

# sample key -> gt_instances field
_INSTANCE_KEYS = dict(bbox='bboxes', bbox_score='bbox_scores', bbox_center='bbox_centers',
                      bbox_scale='bbox_scales', keypoints='keypoints', keypoints_visible='keypoints_visible',
                      head_size='head_size')
# sample key -> gt_instance_labels field
_LABEL_KEYS = dict(keypoint_labels='keypoint_labels', keypoint_weights='keypoint_weights',
                   keypoint_x_labels='keypoint_x_labels', keypoint_y_labels='keypoint_y_labels',
                   keypoints_visible_weights='keypoints_visible_weights')


def _tensor(value) -> torch.Tensor:
    """A float32 tensor of an array, a list of arrays (stacked) or a tensor."""
    if isinstance(value, list):
        value = np.stack([np.asarray(v) for v in value])
    if isinstance(value, np.ndarray):
        value = np.ascontiguousarray(value)
    return torch.as_tensor(value).float()


@TRANSFORMS.register_module()
class PackPoseInputs(BaseTransform):
    """Make ``dict(inputs=uint8 C x H x W tensor (BGR, as loaded), data_samples=DataSample)``.

    The DataSample holds (each present key; float32 tensors):

    * ``gt_instances = InstanceData(bboxes (N, 4) xyxy image px, bbox_scores (N,), bbox_centers (N, 2),
      bbox_scales (N, 2), keypoints (N, K, 2) image px, keypoints_visible (N, K), head_size (N, 1))``
      (+ ``transformed_keypoints`` (N, K, 2) input px with ``pack_transformed=True``);
    * ``gt_instance_labels = InstanceData(keypoint_weights (N, K), keypoint_x_labels (N, K, Wx),
      keypoint_y_labels (N, K, Hy), keypoint_labels, keypoints_visible_weights (N, K))``;
    * ``gt_heatmaps`` float32 (K, H, W) when the codec made ``heatmaps`` (a list of tensors with
      ``multilevel`` targets);
    * metainfo: the ``meta_keys`` present in the sample.
    """

    def __init__(self, meta_keys: Sequence[str] = ('id', 'img_id', 'img_path', 'category_id', 'crowd_index',
                                                   'ori_shape', 'img_shape', 'input_size', 'input_center',
                                                   'input_scale', 'input_udp', 'flip', 'flip_direction',
                                                   'flip_indices',
                                                   'raw_ann_info', 'dataset_name'),
                 pack_transformed: bool = False) -> None:
        self.meta_keys = tuple(meta_keys)
        self.pack_transformed = pack_transformed

    def transform(self, results: dict) -> dict:
        if 'img' not in results:
            raise KeyError(f'PackPoseInputs: the sample has no img (keys: {sorted(results)})')
        inputs, sample = pack_image(results, self.meta_keys)
        gt = InstanceData()
        for key, field in _INSTANCE_KEYS.items():
            if results.get(key) is not None:
                gt.set_field(_tensor(results[key]), field)
        if self.pack_transformed and results.get('transformed_keypoints') is not None:
            gt.set_field(_tensor(results['transformed_keypoints']), 'transformed_keypoints')
        sample.gt_instances = gt
        labels = InstanceData()
        for key, field in _LABEL_KEYS.items():
            if results.get(key) is not None:
                labels.set_field(_tensor(results[key]), field)
        sample.gt_instance_labels = labels
        if results.get('heatmaps') is not None:
            hm = results['heatmaps']
            sample.gt_heatmaps = [_tensor(h) for h in hm] if isinstance(hm, list) else _tensor(hm)
        return dict(inputs=inputs, data_samples=sample)

    def __repr__(self) -> str:
        return f'PackPoseInputs(meta_keys={self.meta_keys}, pack_transformed={self.pack_transformed})'
