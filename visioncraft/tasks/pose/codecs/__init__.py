"""Keypoint codecs: encode training targets from keypoints, decode predictions back to keypoints.

Registered in ``KEYPOINT_CODECS``: :class:`MSRAHeatmap` (with DARK as ``unbiased=True``), :class:`UDPHeatmap`,
:class:`SimCCLabel`. Flip helpers for training-time flips and flip test are in :mod:`.flip`.
"""
from .base import BaseKeypointCodec
from .flip import flip_coordinates, flip_heatmaps, flip_keypoints_np, flip_vectors
from .msra_heatmap import MSRAHeatmap
from .simcc_label import SimCCLabel
from .udp_heatmap import UDPHeatmap

__all__ = ['BaseKeypointCodec', 'MSRAHeatmap', 'SimCCLabel', 'UDPHeatmap', 'flip_coordinates', 'flip_heatmaps',
           'flip_keypoints_np', 'flip_vectors']
