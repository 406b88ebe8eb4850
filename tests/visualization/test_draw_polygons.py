"""visualization.draw_polygons: the one polygon drawer (text-detection visualizer, OCR pictures, predict and the
PaddleOCR tools), pixel-equal to OpenCV's polylines on the rounded vertices."""
from __future__ import annotations

import cv2
import numpy as np
import torch

from visioncraft.visualization import draw_polygons


def test_same_pixels_as_polylines_on_rounded_vertices():
    polys = [np.array([3.4, 2.5, 30.6, 4.0, 28.0, 20.5, 2.0, 18.0]),
             torch.tensor([[40.0, 5.0], [60.0, 5.0], [50.0, 25.0]])]
    img = np.zeros((32, 64, 3), np.uint8)
    out = draw_polygons(img, polys, (0, 255, 0), 2)
    assert out is img  # in place
    want = np.zeros_like(img)
    for p in polys:
        xy = np.rint(np.asarray(p, np.float64).reshape(-1, 2)).astype(np.int32)
        cv2.polylines(want, [xy], True, (0, 255, 0), 2, cv2.LINE_8)
    assert np.array_equal(img, want) and img.any()


def test_scale_and_line_type():
    img = np.zeros((40, 40, 3), np.uint8)
    draw_polygons(img, [[1, 1, 9, 1, 9, 9]], (255, 0, 0), 1, scale=np.array([2.0, 3.0]), line_type=cv2.LINE_AA)
    want = np.zeros_like(img)
    cv2.polylines(want, [np.array([[2, 3], [18, 3], [18, 27]], np.int32)], True, (255, 0, 0), 1, cv2.LINE_AA)
    assert np.array_equal(img, want)
