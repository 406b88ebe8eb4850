"""What the inferencers write: JSON files (:func:`write_json`, :func:`jsonable`, :func:`write_ocr_results`) and
pictures (:func:`write_picture`, :func:`draw_ocr`)."""
from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from visioncraft.data.loading import IMG_EXTENSIONS
from visioncraft.fileio.checkpoint import atomic_write_text
from visioncraft.visualization import draw_polygons

__all__ = ['jsonable', 'write_json', 'write_picture', 'write_ocr_results', 'draw_ocr']


def jsonable(value: Any) -> Any:
    """``value`` with numpy arrays / scalars and tuples turned into lists and numbers (for ``json.dumps``)."""
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


def write_json(path: str | Path, obj: Any) -> None:
    """``json.dumps(obj)`` and a newline to ``path`` (its folder made first)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj) + '\n')


def write_picture(path: str | Path, drawn_rgb: np.ndarray, who: str) -> None:
    """Write a drawing (H x W x 3 uint8 RGB) to ``path`` (its folder made first; a name without an image extension
    gets ``.jpg``); an OSError naming ``who`` when OpenCV cannot write it."""
    import cv2
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix.lower() not in IMG_EXTENSIONS:
        path = path.with_suffix('.jpg')
    if not cv2.imwrite(str(path), np.ascontiguousarray(drawn_rgb[..., ::-1])):
        raise OSError(f'{who}: could not write {path}')


def write_ocr_results(loaded: Sequence[tuple[np.ndarray, str | None]], results: Sequence[list[dict]], out_dir,
                      draw: bool = True) -> list[Path]:
    """Write OCR results (:class:`~visioncraft.apis.OCRInferencer`'s region dicts, one list per image) to
    ``out_dir``: ``<name>.json`` (``{"img_path", "height", "width", "results": [...]}``) and, with ``draw``,
    ``<name>_ocr.jpg`` (:func:`draw_ocr`) per image (``<name>``: the file's stem, ``img_<i>`` for arrays; a repeated
    name gets ``_<i>``). Returns the JSON paths."""
    import cv2
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    seen: set[str] = set()
    paths = []
    for i, ((img, path), res) in enumerate(zip(loaded, results)):
        name = Path(path).stem if path else f'img_{i}'
        if name in seen:
            name = f'{name}_{i}'
        seen.add(name)
        doc = dict(img_path=path, height=int(img.shape[0]), width=int(img.shape[1]), results=res)
        atomic_write_text(out / f'{name}.json', json.dumps(doc, indent=1, ensure_ascii=False) + '\n')
        paths.append(out / f'{name}.json')
        if draw:
            cv2.imwrite(str(out / f'{name}_ocr.jpg'), draw_ocr(img, res))
    return paths


def draw_ocr(img: np.ndarray, results: Sequence[dict]) -> np.ndarray:
    """The image with the polygons (green) next to a white panel with the same polygons and the texts written
    in them (PaddleOCR's layout). H x 2W x 3 uint8 BGR. OpenCV's Hershey fonts draw ASCII only: other characters
    are shown as ``?``."""
    import cv2
    left = img.copy()
    right = np.full_like(img, 255)
    for r in results:
        pts = np.round(np.asarray(r['polygon'], np.float64).reshape(-1, 2)).astype(np.int32)
        draw_polygons(left, [pts], (0, 200, 0), 2)
        draw_polygons(right, [pts], (0, 160, 0), 1)
        text = ''.join(c if 32 <= ord(c) < 127 else '?' for c in r.get('text', ''))
        if not text:
            continue
        x0, y0 = pts.min(0)
        x1, y1 = pts.max(0)
        height = max(8, int(y1 - y0))
        (tw, th), _ = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, 1.0, 1)
        scale = max(0.3, min(height * 0.7 / max(th, 1), max(1, int(x1 - x0)) / max(tw, 1)))
        cv2.putText(right, text, (int(x0), int(y0 + (y1 - y0) / 2 + th * scale / 2)), cv2.FONT_HERSHEY_SIMPLEX,
                    scale, (0, 0, 0), 1, cv2.LINE_AA)
    return np.hstack([left, right])
