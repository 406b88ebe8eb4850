"""Synthetic shape detection: a small COCO-format detection / instance segmentation set, generated on first use.

``generate_det_shapes(root)`` writes::

    root/annotations/instances_train.json   root/train/00000.png ...
    root/annotations/instances_val.json     root/val/00000.png ...

Each picture holds a few filled circles, squares, triangles and stars in random colours, sizes and rotations
on a textured, noisy background. Objects never touch (their boxes are at least one pixel apart), so each
polygon is also the exact visible outline of its object. Every annotation has ``bbox`` (``[x, y, w, h]``,
continuous pixels: pixel ``(i, j)`` covers ``[j, j+1) x [i, i+1)``), ``area`` (the polygon's area),
``iscrowd=0`` and a polygon ``segmentation`` (a circle is a 24-gon). Category ids start at 1, in
``DET_SHAPE_CLASSES`` order. Image ``file_name`` is relative to ``root`` (``'train/00000.png'``), so the
dataset needs no image prefix. The same settings always give the same bytes.

The dataset class that generates on first use and reads the files is
:class:`visioncraft.tasks.detection.datasets.det_shapes.DetShapesDataset`.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from . import generated, materialize

__all__ = ['DET_SHAPE_CLASSES', 'shape_polygon', 'generate_det_shapes']

DET_SHAPE_CLASSES = ('circle', 'square', 'triangle', 'star')

_SPLIT_OFFSET = {'train': 0, 'val': 1_000_000}
_SUBPIXEL_SHIFT = 4  # cv2.fillPoly works on coordinates * 2**shift: 1/16-pixel precision


def shape_polygon(name: str, cx: float, cy: float, size: float, angle: float) -> np.ndarray:
    """The outline of shape ``name`` as a Kx2 float64 array of (x, y) vertices, continuous pixel frame.

    ``size`` is the diameter of the circle the shape is inscribed in; ``angle`` (radians) rotates it about
    its centre ``(cx, cy)``.
    """
    r = size / 2.0
    if name == 'circle':
        k, radii, phase = 24, np.full(24, r), 0.0
    elif name == 'square':
        k, radii, phase = 4, np.full(4, r), np.pi / 4
    elif name == 'triangle':
        k, radii, phase = 3, np.full(3, r), -np.pi / 2
    elif name == 'star':
        k, radii, phase = 10, np.where(np.arange(10) % 2 == 0, r, 0.45 * r), -np.pi / 2
    else:
        raise ValueError(f'shape_polygon: unknown shape {name!r}; known: {DET_SHAPE_CLASSES}')
    t = phase + angle + 2 * np.pi * np.arange(k) / k
    return np.stack([cx + radii * np.cos(t), cy + radii * np.sin(t)], axis=1)


def _polygon_area(poly: np.ndarray) -> float:
    x, y = poly[:, 0], poly[:, 1]
    return float(abs(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))) / 2.0)


def _background(rng: np.random.Generator, w: int, h: int) -> tuple[np.ndarray, np.ndarray]:
    """An HxWx3 float32 textured background (base colour + tilted gradient + smooth blobs) and its base colour."""
    import cv2
    base = rng.uniform(30, 225, size=3)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    theta = rng.uniform(0, 2 * np.pi)
    ramp = (np.cos(theta) * xx / w + np.sin(theta) * yy / h)[..., None] * rng.uniform(-40, 40, size=3)
    blobs = cv2.resize(rng.normal(0, 22, size=(6, 6, 3)).astype(np.float32), (w, h),
                       interpolation=cv2.INTER_CUBIC)
    return (base + ramp + blobs).astype(np.float32), base


def _draw_image(rng: np.random.Generator, w: int, h: int, max_objects: int,
                object_size: tuple[int, int]) -> tuple[np.ndarray, list[tuple[int, np.ndarray]]]:
    """One HxWx3 uint8 BGR picture and its objects ``[(class index, Kx2 polygon), ...]``."""
    import cv2
    img, base = _background(rng, w, h)
    lo, hi = object_size
    hi = min(hi, w - 2, h - 2)
    lo = min(lo, hi)
    want = int(rng.integers(1, max_objects + 1))
    boxes: list[tuple[float, float, float, float]] = []
    objects: list[tuple[int, np.ndarray]] = []
    for _ in range(want * 20):  # rejection sampling; an object that finds no free spot is left out
        if len(objects) == want:
            break
        label = int(rng.integers(len(DET_SHAPE_CLASSES)))
        size = float(rng.uniform(lo, hi))
        angle = float(rng.uniform(0, 2 * np.pi))
        unit = shape_polygon(DET_SHAPE_CLASSES[label], 0.0, 0.0, size, angle)
        (x0, y0), (x1, y1) = unit.min(0), unit.max(0)
        cx = float(rng.uniform(-x0 + 0.5, w - x1 - 0.5))
        cy = float(rng.uniform(-y0 + 0.5, h - y1 - 0.5))
        box = (cx + x0, cy + y0, cx + x1, cy + y1)
        if any(box[0] < b[2] + 1 and b[0] < box[2] + 1 and box[1] < b[3] + 1 and b[1] < box[3] + 1
               for b in boxes):
            continue
        color = rng.uniform(0, 256, size=3)
        while np.abs(color - base).sum() < 150:  # keep the shape visible against the background
            color = rng.uniform(0, 256, size=3)
        poly = unit + (cx, cy)
        # cv2 puts pixel (i, j)'s centre at (j, i); in the continuous frame it is at (j + 0.5, i + 0.5).
        pts = np.round((poly - 0.5) * (1 << _SUBPIXEL_SHIFT)).astype(np.int32)
        cv2.fillPoly(img, [pts], tuple(float(c) for c in color), cv2.LINE_AA, shift=_SUBPIXEL_SHIFT)
        boxes.append(box)
        objects.append((label, poly))
    img += rng.normal(0, 8, size=img.shape).astype(np.float32)
    return np.clip(img, 0, 255).astype(np.uint8), objects


def _write_split(tmp: Path, split: str, n: int, settings: dict) -> None:
    import cv2
    w, h = settings['image_size']
    (tmp / split).mkdir(parents=True)
    images, anns = [], []
    for i in generated(range(n)):
        rng = np.random.default_rng([settings['seed'], _SPLIT_OFFSET[split] + i])
        img, objects = _draw_image(rng, w, h, settings['max_objects'], tuple(settings['object_size']))
        file_name = f'{split}/{i:05d}.png'
        cv2.imwrite(str(tmp / file_name), img)
        images.append(dict(id=i + 1, file_name=file_name, width=w, height=h))
        for label, poly in objects:
            x1, y1 = np.maximum(poly.min(0), 0.0)
            x2, y2 = np.minimum(poly.max(0), (w, h))
            bbox = [round(float(v), 2) for v in (x1, y1, x2 - x1, y2 - y1)]
            anns.append(dict(id=len(anns) + 1, image_id=i + 1, category_id=label + 1, bbox=bbox,
                             area=round(_polygon_area(poly), 2), iscrowd=0,
                             segmentation=[[round(float(v), 2) for v in poly.reshape(-1)]]))
    cats = [dict(id=i + 1, name=name, supercategory='shape') for i, name in enumerate(DET_SHAPE_CLASSES)]
    info = dict(description='VisionCraft synthetic shapes (detection)', generated_with=settings)
    (tmp / 'annotations' / f'instances_{split}.json').write_text(
        json.dumps(dict(info=info, images=images, annotations=anns, categories=cats)))


def _stored_settings(root: Path) -> dict | None:
    try:
        return json.loads((root / 'annotations' / 'instances_train.json').read_text())['info']['generated_with']
    except (OSError, ValueError, KeyError, TypeError):
        return None


def generate_det_shapes(root: str | os.PathLike, *, num_train: int = 2000, num_val: int = 200,
                        image_size: tuple[int, int] = (128, 128), max_objects: int = 6,
                        object_size: tuple[int, int] = (12, 48), seed: int = 0) -> Path:
    """Write the dataset under ``root`` (see the module docstring) and return ``root``.

    Args:
        num_train / num_val: images per split.
        image_size: ``(w, h)`` of every image, pixels.
        max_objects: each image gets 1..max_objects objects (fewer when no free spot is found).
        object_size: ``(min, max)`` diameter of an object's circumscribed circle, pixels.
        seed: image ``i`` of a split is drawn from ``numpy.random.default_rng([seed, split offset + i])``.

    A no-op when ``root`` holds a dataset made with the same settings; one made with other settings is
    replaced. Safe with concurrent callers: each writes a private temporary folder and renames it into
    place; the first rename wins.
    """
    root = Path(root)
    settings = dict(num_train=int(num_train), num_val=int(num_val), image_size=[int(v) for v in image_size],
                    max_objects=int(max_objects), object_size=[int(v) for v in object_size], seed=int(seed))
    if len(settings['image_size']) != 2 or min(settings['image_size']) < 16:
        raise ValueError(f'generate_det_shapes: image_size must be (w, h) with both >= 16, got {image_size}')
    if max_objects < 1 or not 4 <= object_size[0] <= object_size[1]:
        raise ValueError(f'generate_det_shapes: need max_objects >= 1 and 4 <= min <= max object_size, got '
                         f'max_objects={max_objects}, object_size={object_size}')

    def write(tmp: Path) -> None:
        (tmp / 'annotations').mkdir(parents=True)
        for split in ('train', 'val'):
            _write_split(tmp, split, settings[f'num_{split}'], settings)

    return materialize(root, settings, _stored_settings, write)
