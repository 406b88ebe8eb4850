"""TopdownAffine: cut the (padded, jittered) person box out of the image at the model's input size."""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from visioncraft.data.transforms import BaseTransform
from visioncraft.registry import TRANSFORMS

from .warp import get_udp_warp_matrix, get_warp_matrix, transform_points

__all__ = ['TopdownAffine', 'fix_aspect_ratio']


def fix_aspect_ratio(bbox_scale: np.ndarray, aspect_ratio: float) -> np.ndarray:
    """Grow each (w, h) in ``bbox_scale`` (N, 2) along one side until ``w / h == aspect_ratio``."""
    scale = np.asarray(bbox_scale, dtype=np.float32).reshape(-1, 2)
    w, h = scale[:, :1], scale[:, 1:]
    return np.where(w > h * aspect_ratio, np.hstack([w, w / aspect_ratio]),
                    np.hstack([h * aspect_ratio, h])).astype(np.float32)


@TRANSFORMS.register_module()
class TopdownAffine(BaseTransform):
    """Warp the box ``bbox_center`` / ``bbox_scale`` (rotated by ``bbox_rotation`` when present) to
    ``input_size``.

    Args:
        input_size: model input (w, h).
        use_udp: use the UDP matrix (:func:`get_udp_warp_matrix`) instead of :func:`get_warp_matrix`; pair it
            with the UDPHeatmap codec.

    Reads ``img``, ``bbox_center`` (1, 2), ``bbox_scale`` (1, 2), ``bbox_rotation`` (1,) degrees (optional),
    ``keypoints`` (1, K, 2) (optional). Writes ``bbox_scale`` (widened or heightened to the input's aspect
    ratio), ``img`` (input h x w x 3, bilinear, zero border), ``img_shape`` (h, w) of the input,
    ``input_size`` (w, h), ``input_center`` np.float32 (2,), ``input_scale`` np.float32 (2,) (the box that
    was warped, in image pixels), ``transformed_keypoints`` np.float32 (1, K, 2) in input pixels (``keypoints``
    stay in image pixels). A prediction in input pixels maps back to the image with
    ``p / input_size * input_scale + input_center - 0.5 * input_scale`` (rotation 0).
    """

    def __init__(self, input_size: Sequence[int], use_udp: bool = False) -> None:
        if len(input_size) != 2 or not all(int(v) == v and v > 0 for v in input_size):
            raise ValueError(f'TopdownAffine: input_size must be (w, h) positive integers, got {input_size!r}')
        self.input_size = (int(input_size[0]), int(input_size[1]))
        self.use_udp = use_udp

    def transform(self, results: dict) -> dict:
        import cv2
        w, h = self.input_size
        if 'bbox_center' not in results or 'bbox_scale' not in results:
            raise KeyError('TopdownAffine: the sample has no bbox_center / bbox_scale; put GetBBoxCenterScale '
                           'before it')
        scale = fix_aspect_ratio(results['bbox_scale'], w / h)
        centers = np.asarray(results['bbox_center'], dtype=np.float32).reshape(-1, 2)
        if centers.shape[0] != 1:
            raise ValueError(f'TopdownAffine: one instance per sample (top-down), got bbox_center of shape '
                             f'{centers.shape}')
        results['bbox_scale'] = scale
        center, box = centers[0], scale[0]
        rot = float(np.asarray(results['bbox_rotation']).reshape(-1)[0]) if 'bbox_rotation' in results else 0.0
        make = get_udp_warp_matrix if self.use_udp else get_warp_matrix
        mat = make(center, box, rot, output_size=(w, h))
        results['img'] = cv2.warpAffine(results['img'], mat, (w, h), flags=cv2.INTER_LINEAR)
        results['img_shape'] = (h, w)
        if results.get('keypoints') is not None:
            results['transformed_keypoints'] = transform_points(np.asarray(results['keypoints'])[..., :2], mat)
        results['input_size'] = (w, h)
        results['input_center'] = center.astype(np.float32)
        results['input_scale'] = box.astype(np.float32)
        results['input_udp'] = bool(self.use_udp)  # how the estimator maps keypoints back (input_to_image_coords)
        return results
