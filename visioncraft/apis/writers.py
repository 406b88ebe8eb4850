"""How the inferencers write their outputs, one way for every task: JSON files (:func:`write_json`, with
:func:`jsonable` for numpy / torch values), pictures (:func:`write_picture`) and output names that do not collide
(:func:`unique_names`)."""
from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from visioncraft.data.loading import IMG_EXTENSIONS
from visioncraft.fileio.checkpoint import atomic_write_text

__all__ = ['jsonable', 'write_json', 'write_picture', 'unique_names']


def jsonable(value: Any) -> Any:
    """``value`` with numpy arrays / scalars, tensors and tuples turned into lists and numbers (for ``json.dumps``)."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, torch.Tensor):
        value = value.detach().cpu().numpy()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    return value


def write_json(path: str | Path, obj: Any) -> Path:
    """``json.dumps(obj)`` (UTF-8 text kept as it is) and a newline to ``path``, atomically (its folder made first).
    Returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(path, json.dumps(jsonable(obj), ensure_ascii=False) + '\n')
    return path


def write_picture(path: str | Path, drawn_rgb: np.ndarray, who: str) -> Path:
    """Write a drawing (H x W x 3 uint8 RGB) to ``path`` (its folder made first; a name without an image extension
    gets ``.jpg``); an OSError naming ``who`` when OpenCV cannot write it. Returns the path written."""
    import cv2
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix.lower() not in IMG_EXTENSIONS:
        path = path.with_suffix('.jpg')
    if not cv2.imwrite(str(path), np.ascontiguousarray(drawn_rgb[..., ::-1])):
        raise OSError(f'{who}: could not write {path}')
    return path


def unique_names(names: Sequence[str]) -> list[str]:
    """``names`` with each repeat of an earlier name's stem given ``_<index>`` (``a.jpg``, ``a_1.jpg``): two inputs
    with one file name (from two folders of a list) write two outputs, not one over the other."""
    seen: set[str] = set()
    out = []
    for i, name in enumerate(names):
        p = Path(name)
        if p.stem in seen:
            name = f'{p.stem}_{i}{p.suffix}'
        seen.add(Path(name).stem)
        out.append(name)
    return out
