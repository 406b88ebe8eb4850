"""The one flip rule of docs/data_contract.md: every coordinate stays on its pixel, and left / right parts swap
on a mirror (horizontal or vertical) but not on the diagonal flip (a 180 degree rotation). Checked on the shared
RandomFlip (continuous coordinates: ``gt_bboxes``, ``gt_polygons``, ``gt_keypoints``) and on the pose RandomFlip
(pixel indices: ``bbox``, ``bbox_center``, ``keypoints``), by painting the pixels the coordinates point at and
reading them back after the flip."""
from __future__ import annotations

import numpy as np
import pytest

from visioncraft.data.geometric import flip_swaps_sides, mirror_coords
from visioncraft.data.loading import RandomFlip
from visioncraft.tasks.pose.transforms.common import PoseRandomFlip

W, H = 13, 9  # odd and even-free sizes: an off-by-one lands on another pixel
# three keypoints at distinct pixels (column, row); 0 and 2 are a left / right pair, 1 sits on the middle line
PIXELS = [(2, 1), (6, 4), (11, 7)]
FLIP_INDICES = [2, 1, 0]
DIRECTIONS = ('horizontal', 'vertical', 'diagonal')


def _painted() -> np.ndarray:
    img = np.zeros((H, W, 3), dtype=np.uint8)
    for k, (x, y) in enumerate(PIXELS):
        img[y, x] = (k + 1) * 60
    return img


def _value_at(img: np.ndarray, x: float, y: float) -> int:
    return int(img[int(y), int(x), 0])


def _expected_order(direction: str) -> list[int]:
    return FLIP_INDICES if flip_swaps_sides(direction) else [0, 1, 2]


@pytest.mark.parametrize('direction', DIRECTIONS)
def test_shared_flip_keeps_continuous_coordinates_on_their_pixels(direction):
    centres = np.array([[[x + 0.5, y + 0.5, 2.0] for x, y in PIXELS]], dtype=np.float32)  # pixel centres
    res = dict(img=_painted(), img_shape=(H, W), gt_keypoints=centres, flip_indices=FLIP_INDICES,
               gt_keypoints_visible=np.array([[1.0, 2.0, 3.0]], dtype=np.float32),
               gt_bboxes=np.array([[2, 1, 3, 2]], dtype=np.float32))  # exactly pixel (2, 1)
    out = RandomFlip(prob=1.0, direction=direction)(res)
    kpts = out['gt_keypoints'][0]
    order = _expected_order(direction)
    for k in range(3):
        # keypoint k is now the one that was keypoint order[k]; it still points at that keypoint's pixel
        assert _value_at(out['img'], kpts[k, 0], kpts[k, 1]) == (order[k] + 1) * 60, (direction, k)
    np.testing.assert_array_equal(out['gt_keypoints_visible'][0], np.array([1.0, 2.0, 3.0])[order])
    x1, y1, x2, y2 = out['gt_bboxes'][0]
    assert (x2 - x1, y2 - y1) == (1, 1)  # still one pixel wide and high, and on the painted pixel
    assert _value_at(out['img'], x1, y1) == 60


@pytest.mark.parametrize('direction', DIRECTIONS)
def test_pose_flip_keeps_pixel_indices_on_their_pixels(direction):
    kpts = np.array([[list(p) for p in PIXELS]], dtype=np.float32)  # pixel indices: centre of column x is x
    res = dict(img=_painted(), img_shape=(H, W), keypoints=kpts, flip_indices=FLIP_INDICES,
               keypoints_visible=np.array([[1.0, 2.0, 3.0]], dtype=np.float32),
               bbox=np.array([[2, 1, 11, 7]], dtype=np.float32), bbox_center=np.array([[6, 4]], dtype=np.float32))
    out = PoseRandomFlip(prob=1.0, direction=direction)(res)
    order = _expected_order(direction)
    for k in range(3):
        x, y = out['keypoints'][0, k]
        assert _value_at(out['img'], x, y) == (order[k] + 1) * 60, (direction, k)
    np.testing.assert_array_equal(out['keypoints_visible'][0], np.array([1.0, 2.0, 3.0])[order])
    # two of the box's corners were keypoints 0 and 2's pixels: they still are
    x1, y1, x2, y2 = out['bbox'][0]
    corners = {_value_at(out['img'], x, y) for x in (x1, x2) for y in (y1, y2)}
    assert corners == {0, 60, 180}
    assert _value_at(out['img'], *out['bbox_center'][0]) == 120


def test_the_two_representations_agree_on_the_same_point():
    # a pixel index p and its continuous centre p + 0.5 stay half a pixel apart after the flip
    p = np.array([0.0, 3.0, 12.0])
    np.testing.assert_array_equal(mirror_coords(p + 0.5, W), mirror_coords(p, W, pixel_index=True) + 0.5)
    with pytest.raises(ValueError, match="'sideways'"):
        flip_swaps_sides('sideways')
