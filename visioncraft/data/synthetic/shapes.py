"""Synthetic shape classification: the engine's own demo data, generated on first use.

``generate_shapes_classification(root)`` writes ``root/{train,val}/*.png`` and
``root/{train,val}.json`` (``{'metainfo': {'classes': [...]}, 'data_list': [{'img_path', 'gt_label'}]}``).
The pictures are filled circles, squares, triangles and crosses in random colours, sizes and positions
on noisy backgrounds; the same seed always gives the same files.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from ...registry import DATASETS
from ..base_dataset import BaseDataset
from . import generated, materialize

__all__ = ['SHAPE_CLASSES', 'draw_shape', 'generate_shapes_classification', 'ShapesClassificationDataset']

SHAPE_CLASSES = ('circle', 'square', 'triangle', 'cross')


def draw_shape(rng: np.random.Generator, label: int, size: int) -> np.ndarray:
    """One HxWx3 uint8 BGR picture of shape ``SHAPE_CLASSES[label]``."""
    import cv2
    bg = rng.integers(0, 256, size=3)
    img = np.clip(bg + rng.normal(0, 18, size=(size, size, 3)), 0, 255).astype(np.uint8)
    color = rng.integers(0, 256, size=3)
    while np.abs(color.astype(int) - bg.astype(int)).sum() < 150:  # keep the shape visible
        color = rng.integers(0, 256, size=3)
    col = tuple(int(c) for c in color)
    r = int(rng.integers(size // 5, size // 2 - 1))
    cx, cy = (int(rng.integers(r + 1, size - r - 1)) for _ in range(2))
    name = SHAPE_CLASSES[label]
    if name == 'circle':
        cv2.circle(img, (cx, cy), r, col, -1, cv2.LINE_AA)
    elif name == 'square':
        ang = rng.uniform(0, 90)
        box = cv2.boxPoints(((cx, cy), (1.5 * r, 1.5 * r), ang)).astype(np.int32)
        cv2.fillPoly(img, [box], col, cv2.LINE_AA)
    elif name == 'triangle':
        ang = rng.uniform(0, 2 * np.pi)
        pts = np.array([[cx + r * np.cos(ang + k * 2 * np.pi / 3), cy + r * np.sin(ang + k * 2 * np.pi / 3)]
                        for k in range(3)], dtype=np.int32)
        cv2.fillPoly(img, [pts], col, cv2.LINE_AA)
    else:
        t = max(r // 3, 1)
        cv2.rectangle(img, (cx - r, cy - t), (cx + r, cy + t), col, -1)
        cv2.rectangle(img, (cx - t, cy - r), (cx + t, cy + r), col, -1)
    return img


def generate_shapes_classification(root: str | os.PathLike, *, num_train: int = 4000, num_val: int = 400,
                                   size: int = 32, seed: int = 0) -> Path:
    """Write the dataset under ``root``: a no-op when it is there with the same settings, regenerated when
    it was made with others. Safe with concurrent callers: each writes a private temporary folder and
    renames it into place; the first rename wins."""
    settings = {'num_train': num_train, 'num_val': num_val, 'image_size': size, 'seed': seed}

    def stored(folder: Path) -> dict | None:
        try:
            return json.loads((folder / 'train.json').read_text()).get('metainfo', {}).get('generated_with') \
                if (folder / 'val.json').is_file() else None
        except (OSError, ValueError):
            return None

    def write(tmp: Path) -> None:
        import cv2
        for split, n, offset in (('train', num_train, 0), ('val', num_val, 1_000_000)):
            (tmp / split).mkdir(parents=True)
            items = []
            for i in generated(range(n)):
                rng = np.random.default_rng([seed, offset + i])
                label = i % len(SHAPE_CLASSES)
                name = f'{split}/{i:05d}.png'
                cv2.imwrite(str(tmp / name), draw_shape(rng, label, size))
                items.append({'img_path': name, 'gt_label': label})
            meta = {'classes': list(SHAPE_CLASSES), 'generated_with': settings}
            (tmp / f'{split}.json').write_text(json.dumps({'metainfo': meta, 'data_list': items}))

    return materialize(root, settings, stored, write)


@DATASETS.register_module()
class ShapesClassificationDataset(BaseDataset):
    """The synthetic shapes, generated under ``data_root`` on first use (``generate=True``).

    Args:
        data_root: folder of the dataset (created if missing).
        ann_file: ``'train.json'`` or ``'val.json'``.
        num_train / num_val / image_size / seed: generation settings (used only when generating).
    """

    METAINFO = dict(classes=SHAPE_CLASSES)

    def __init__(self, data_root: str = 'data/shapes_cls', ann_file: str = 'train.json', *, generate: bool = True,
                 num_train: int = 4000, num_val: int = 400, image_size: int = 32, seed: int = 0, **kwargs) -> None:
        if generate:
            generate_shapes_classification(data_root, num_train=num_train, num_val=num_val, size=image_size,
                                           seed=seed)
        kwargs.setdefault('data_prefix', dict(img_path=''))
        super().__init__(ann_file=ann_file, data_root=data_root, **kwargs)
