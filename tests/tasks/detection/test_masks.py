"""BitmapMasks / PolygonMasks: indexing, geometry, measures, conversions, and agreement between the two."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from visioncraft.structures import (BitmapMasks, InstanceData, PolygonMasks, bitmap_to_polygons,
                                    polygons_to_bitmap, rle_to_bitmap)

H, W = 20, 30
# Two rectangles: [2, 3, 10, 8] and [12, 5, 28, 19] (xyxy)
RECTS = [(2, 3, 10, 8), (12, 5, 28, 19)]


def rect_poly(x1, y1, x2, y2):
    return np.array([x1, y1, x2, y1, x2, y2, x1, y2], dtype=np.float64)


def make_bitmap() -> BitmapMasks:
    m = np.zeros((len(RECTS), H, W), dtype=np.uint8)
    for i, (x1, y1, x2, y2) in enumerate(RECTS):
        m[i, y1:y2, x1:x2] = 1
    return BitmapMasks(m, H, W)


def make_polygons() -> PolygonMasks:
    return PolygonMasks([[rect_poly(*r)] for r in RECTS], H, W)


@pytest.mark.parametrize('make', [make_bitmap, make_polygons])
def test_len_shape_index(make):
    masks = make()
    assert len(masks) == 2 and (masks.height, masks.width) == (H, W)
    assert len(masks[1]) == 1  # an int keeps the instance axis
    np.testing.assert_array_equal(masks[1].get_bboxes(), [RECTS[1]])
    np.testing.assert_array_equal(masks[-1].get_bboxes(), [RECTS[1]])
    assert len(masks[0:1]) == 1
    np.testing.assert_array_equal(masks[np.array([False, True])].get_bboxes(), [RECTS[1]])
    np.testing.assert_array_equal(masks[[1, 0]].get_bboxes(), [RECTS[1], RECTS[0]])
    np.testing.assert_array_equal(masks[torch.tensor([1])].get_bboxes(), [RECTS[1]])
    assert len(masks[np.zeros(0, dtype=np.int64)]) == 0
    with pytest.raises(IndexError):
        masks[2]
    with pytest.raises(IndexError):
        masks[np.array([True])]


@pytest.mark.parametrize('make', [make_bitmap, make_polygons])
def test_areas_and_boxes(make):
    masks = make()
    np.testing.assert_allclose(masks.areas, [8 * 5, 16 * 14])
    boxes = masks.get_bboxes()
    assert boxes.dtype == np.float32 and boxes.shape == (2, 4)
    np.testing.assert_array_equal(boxes, RECTS)


def test_polygon_to_bitmap_matches_and_conversions():
    poly, bit = make_polygons(), make_bitmap()
    np.testing.assert_array_equal(poly.to_ndarray(), bit.to_ndarray())
    conv = poly.to_bitmap()
    assert isinstance(conv, BitmapMasks) and conv.masks.dtype == np.uint8
    t = bit.to_tensor(dtype=torch.bool, device='cpu')
    assert t.dtype == torch.bool and t.shape == (2, H, W) and int(t.sum()) == 40 + 224
    assert poly.to_tensor(torch.float32).dtype == torch.float32
    # the array returned is a copy
    arr = bit.to_ndarray()
    arr[:] = 0
    assert bit.masks.sum() == 264


@pytest.mark.parametrize('direction', ['horizontal', 'vertical', 'diagonal'])
def test_flip_agrees_between_representations(direction):
    bit, poly = make_bitmap().flip(direction), make_polygons().flip(direction)
    np.testing.assert_array_equal(bit.get_bboxes(), poly.get_bboxes())
    np.testing.assert_array_equal(bit.to_ndarray(), poly.to_ndarray())
    if direction == 'horizontal':
        np.testing.assert_array_equal(bit.get_bboxes()[0], [W - 10, 3, W - 2, 8])
    with pytest.raises(ValueError):
        make_bitmap().flip('sideways')


def test_resize_and_rescale():
    bit, poly = make_bitmap().resize((40, 60)), make_polygons().resize((40, 60))
    assert (bit.height, bit.width) == (40, 60) and (poly.height, poly.width) == (40, 60)
    np.testing.assert_array_equal(bit.get_bboxes(), np.array(RECTS) * 2)
    np.testing.assert_array_equal(poly.get_bboxes(), np.array(RECTS) * 2)
    np.testing.assert_array_equal(bit.to_ndarray(), poly.to_ndarray())
    # keep-ratio rescale to a (w, h) bound: 20x30 into (long <= 100, short <= 45) -> factor 2.25
    r = make_polygons().rescale((45, 100))
    assert (r.height, r.width) == (45, 68)
    r = make_bitmap().rescale((30, 45))  # factor min(45 / 30, 30 / 20) = 1.5
    assert (r.height, r.width) == (30, 45)
    assert make_bitmap().rescale(0.5).masks.shape == (2, 10, 15)


def test_crop_and_pad():
    box = [5, 4, 20, 15]
    bit, poly = make_bitmap().crop(box), make_polygons().crop(box)
    assert (bit.height, bit.width) == (11, 15) and (poly.height, poly.width) == (11, 15)
    expected = [[0, 0, 5, 4], [7, 1, 15, 11]]
    np.testing.assert_array_equal(bit.get_bboxes(), expected)
    np.testing.assert_array_equal(poly.get_bboxes(), expected)
    np.testing.assert_array_equal(bit.to_ndarray(), poly.to_ndarray())
    # an instance entirely outside the crop: empty in both
    out = make_polygons().crop([0, 0, 1, 1])
    assert len(out) == 2 and out.areas.tolist() == [0.0, 0.0]
    assert make_bitmap().crop([0, 0, 1, 1]).areas.tolist() == [0.0, 0.0]
    # a triangle clipped exactly (Sutherland-Hodgman), not just its vertices clamped
    tri = PolygonMasks([[np.array([0, 0, 20, 0, 0, 20], dtype=float)]], 20, 20).crop([0, 0, 10, 10])
    assert tri.areas[0] == pytest.approx(100.0)
    padded = make_bitmap().pad((25, 32))
    assert padded.masks.shape == (2, 25, 32) and padded.masks[:, 20:].sum() == 0
    np.testing.assert_array_equal(padded.get_bboxes(), RECTS)
    assert (make_polygons().pad((25, 32)).height, make_polygons().pad((25, 32)).width) == (25, 32)
    with pytest.raises(ValueError):
        make_bitmap().pad((10, 10))


def test_cat_and_empty():
    bit = BitmapMasks.cat([make_bitmap(), make_bitmap()[0]])
    assert len(bit) == 3
    poly = PolygonMasks.cat([make_polygons(), make_polygons()[1]])
    np.testing.assert_array_equal(poly.get_bboxes()[2], RECTS[1])
    with pytest.raises(ValueError):
        BitmapMasks.cat([make_bitmap(), make_bitmap().pad((25, 30))])
    empty = BitmapMasks([], H, W)
    assert len(empty) == 0 and empty.get_bboxes().shape == (0, 4) and empty.resize((4, 5)).masks.shape == (0, 4, 5)
    assert PolygonMasks([], H, W).to_ndarray().shape == (0, H, W)
    with pytest.raises(ValueError):
        BitmapMasks(np.zeros((2, 3, 4)), 5, 5)


def test_masks_inside_instance_data():
    inst = InstanceData(labels=torch.tensor([0, 1]), masks=make_polygons())
    picked = inst[inst.labels == 1]
    assert isinstance(picked.masks, PolygonMasks) and len(picked.masks) == 1
    np.testing.assert_array_equal(picked.masks.get_bboxes(), [RECTS[1]])
    both = InstanceData.cat([inst, inst[0]])
    assert len(both.masks) == 3


def test_rle_and_polygon_helpers():
    from pycocotools import mask as mask_utils
    m = np.zeros((H, W), dtype=np.uint8)
    m[4:9, 6:15] = 1
    rle = mask_utils.encode(np.asfortranarray(m))
    np.testing.assert_array_equal(rle_to_bitmap(rle), m)
    rle_str = dict(rle, counts=rle['counts'].decode('ascii'))
    np.testing.assert_array_equal(rle_to_bitmap(rle_str, H, W), m)
    np.testing.assert_array_equal(polygons_to_bitmap([rect_poly(6, 4, 15, 9)], H, W), m)
    assert polygons_to_bitmap([[1, 2, 3, 4]], H, W).sum() == 0  # fewer than 3 points
    polys = bitmap_to_polygons(m)
    assert len(polys) == 1
    back = polygons_to_bitmap(polys, H, W)
    assert abs(int(back.sum()) - int(m.sum())) <= m.shape[0] + m.shape[1]  # traced along pixel centres
