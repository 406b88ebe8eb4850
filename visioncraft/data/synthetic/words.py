"""Synthetic word images for text recognition: one word per image, rendered by Pillow on a coloured, textured
background, slightly rotated and sheared, blurred and noisy.

Texts: a word of the built-in vocabulary (:data:`visioncraft.data.synthetic.text.WORDS`, the words of the
text-detection scenes, limited to ``charset``) in lower, upper or its own case, or a random lower-case string of
``charset`` letters and digits (1 to ``max_len``; see :func:`random_text`). The label is the text as rendered
(case kept); a lower-case dictionary (``Dictionary(case='lower')``) reads it case-folded.

Fonts: Pillow's own (``ImageFont.load_default(size=N)``) and, with ``fonts='auto'``, the DejaVu TrueType files
under /usr/share/fonts when present (see :func:`visioncraft.data.synthetic.text.available_fonts`); the fonts
used are part of the recorded settings, so a machine with other fonts regenerates the data.
"""
from __future__ import annotations

import functools
import json
import os
import string
from pathlib import Path
from typing import Any

import numpy as np

from . import generated, materialize
from .text import WORDS, available_fonts

__all__ = ['DEFAULT_CHARSET', 'generate_text_recog', 'random_text', 'render_word_image']

_FORMAT_VERSION = 2
#: characters of the default texts: digits and English letters (either case)
DEFAULT_CHARSET = string.digits + string.ascii_letters


@functools.lru_cache(maxsize=256)
def _font(name: str, size: int):
    from PIL import ImageFont
    if name == 'pillow-default':
        return ImageFont.load_default(size=size)
    return ImageFont.truetype(name, size=size)


def random_text(rng: np.random.Generator, charset: str = DEFAULT_CHARSET, max_len: int = 10,
                word_ratio: float = 0.6) -> str:
    """A vocabulary word in a random case (lower, upper or its own; probability ``word_ratio``), else a random
    string of 1 to ``max_len`` lower-case letters and digits of ``charset`` (``charset`` itself when it has
    none). Random strings stay lower case: an upper-case random string has no context to tell ``O`` from ``0`` or
    ``I`` from ``l`` in many fonts, which would make labels no model can learn."""
    words = _vocabulary(charset)
    if words and rng.random() < word_ratio:
        text = words[int(rng.integers(len(words)))]
        case = rng.random()
        folded = text.lower() if case < 0.4 else text.upper() if case < 0.65 else text
        return folded if all(c in charset for c in folded) else text
    pool = sorted(c for c in set(charset) if not c.isupper()) or sorted(set(charset))
    return ''.join(pool[int(i)] for i in rng.integers(len(pool), size=int(rng.integers(1, max_len + 1))))


@functools.lru_cache(maxsize=8)
def _vocabulary(charset: str) -> tuple[str, ...]:
    return tuple(w for w in WORDS if all(c in charset for c in w))


def _background(rng: np.random.Generator, h: int, w: int) -> np.ndarray:
    """float32 h x w x 3: a colour, a linear gradient, a smooth random field and a few thin lines."""
    import cv2
    img = np.empty((h, w, 3), np.float32)
    img[:] = rng.uniform(0, 255, size=3)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    ang = rng.uniform(0, 2 * np.pi)
    img += ((np.cos(ang) * xx / w + np.sin(ang) * yy / h) * np.float32(rng.uniform(-40, 40)))[..., None]
    g = rng.standard_normal((3, max(2, w // 16), 3)).astype(np.float32) * np.float32(rng.uniform(0, 25))
    img += cv2.resize(g, (w, h), interpolation=cv2.INTER_CUBIC)
    for _ in range(int(rng.integers(0, 3))):
        col = tuple(float(c) for c in rng.uniform(0, 255, size=3))
        p = (int(rng.integers(w)), int(rng.integers(h)))
        q = (int(rng.integers(w)), int(rng.integers(h)))
        cv2.line(img, p, q, col, 1, cv2.LINE_AA)
    return img


def render_word_image(rng: np.random.Generator, text: str, fonts: list[str], *, size_range: tuple[int, int] = (18, 30),
                      max_angle: float = 3.0) -> np.ndarray:
    """One word image, H x W x 3 uint8 BGR, the text filling the height with a few pixels of margin (H about
    the font size plus margins, W following the text)."""
    import cv2
    from PIL import Image, ImageDraw
    font = _font(fonts[int(rng.integers(len(fonts)))], int(rng.integers(size_range[0], size_range[1] + 1)))
    left, top, right, bottom = font.getbbox(text)
    tw, th = max(1, int(right - left)), max(1, int(bottom - top))
    mx, my = int(rng.integers(2, 9)), int(rng.integers(2, 7))
    canvas = Image.new('L', (tw + 2 * mx, th + 2 * my), 0)
    ImageDraw.Draw(canvas).text((mx - left, my - top), text, fill=255, font=font)
    mask = np.asarray(canvas, dtype=np.float32) / 255.0
    h, w = mask.shape
    # slight rotation and shear about the centre, same canvas (the margins absorb it)
    angle, shear = rng.uniform(-max_angle, max_angle), rng.uniform(-0.15, 0.15)
    rot = cv2.getRotationMatrix2D((w / 2, h / 2), angle, 1.0)
    rot[0, 1] += shear
    rot[0, 2] -= shear * h / 2
    mask = cv2.warpAffine(mask, rot, (w, h), flags=cv2.INTER_LINEAR, borderValue=0)
    img = _background(rng, h, w)
    mean = img.reshape(-1, 3).mean(0)
    colour = rng.uniform(0, 255, size=3)
    luma = np.array([0.114, 0.587, 0.299])  # BGR weights: readable in grey too
    for _ in range(10):  # keep the word readable against the background
        if np.abs(colour - mean).sum() > 150 and abs(float((colour - mean) @ luma)) > 60:
            break
        colour = rng.uniform(0, 255, size=3)
    else:
        colour = np.full(3, 0.0 if float(mean @ luma) > 127 else 255.0)
    alpha = (mask * np.float32(rng.uniform(0.8, 1.0)))[..., None]
    img = img * (1 - alpha) + alpha * colour.astype(np.float32)
    sigma = rng.uniform(0, 1.0)
    if sigma > 0.4:
        img = cv2.GaussianBlur(img, (0, 0), sigma)
    img += rng.standard_normal(img.shape, dtype=np.float32) * np.float32(rng.uniform(1, 8))
    return np.clip(np.rint(img), 0, 255).astype(np.uint8)


def generate_text_recog(root: str | os.PathLike, num_train: int = 5000, num_val: int = 500, seed: int = 0, *,
                        charset: str = DEFAULT_CHARSET, max_len: int = 10, word_ratio: float = 0.6,
                        size_range: tuple[int, int] = (18, 30), fonts: str = 'auto') -> Path:
    """Write a synthetic text-recognition dataset under ``root`` and return ``root``.

    Layout (``split`` is ``train`` / ``val``, N counts from 1)::

        imgs/{split}/word_N.jpg     H x W BGR JPEG (quality 95), one word each
        textrecog_{split}.json      MMOCR 1.x: {"metainfo", "data_list": [{"img_path", "instances": [{"text"}]}]}
        {split}_label.txt           PaddleOCR: "imgs/{split}/word_N.jpg\\ttext"

    Paths are relative to ``root``. The same arguments (and fonts) give the same bytes; a folder made with
    other settings is regenerated; concurrent callers are safe (see ``materialize``). Texts use only ``charset``
    (see :func:`random_text`); fonts are drawn at sizes in ``size_range``.
    """
    if num_train < 0 or num_val < 0:
        raise ValueError(f'generate_text_recog: num_train / num_val must be >= 0, got {num_train} / {num_val}')
    if not charset or max_len < 1:
        raise ValueError(f'generate_text_recog: need a non-empty charset and max_len >= 1, got {charset!r}, {max_len}')
    if not 0 <= word_ratio <= 1:
        raise ValueError(f'generate_text_recog: word_ratio must be in [0, 1], got {word_ratio}')
    if len(size_range) != 2 or not 8 <= size_range[0] <= size_range[1]:
        raise ValueError(f'generate_text_recog: size_range must be (lo, hi) with 8 <= lo <= hi, got {size_range}')
    font_list = available_fonts(fonts)
    settings: dict[str, Any] = {
        'version': _FORMAT_VERSION, 'num_train': int(num_train), 'num_val': int(num_val), 'seed': int(seed),
        'charset': charset, 'max_len': int(max_len), 'word_ratio': float(word_ratio),
        'size_range': [int(v) for v in size_range], 'fonts': [os.path.basename(f) for f in font_list]}

    def stored(folder: Path) -> dict | None:
        try:
            if not (folder / 'textrecog_val.json').is_file():
                return None
            return json.loads((folder / 'textrecog_train.json').read_text())['metainfo'].get('generated_with')
        except (OSError, ValueError, KeyError):
            return None

    def write(tmp: Path) -> None:
        import cv2
        for split, n, offset in (('train', num_train, 0), ('val', num_val, 1_000_000)):
            (tmp / 'imgs' / split).mkdir(parents=True)
            data_list, paddle_lines = [], []
            for i in generated(range(1, n + 1)):
                rng = np.random.default_rng([seed, offset + i])
                text = random_text(rng, charset, max_len, word_ratio)
                img = render_word_image(rng, text, font_list, size_range=tuple(size_range))
                rel = f'imgs/{split}/word_{i}.jpg'
                ok, buf = cv2.imencode('.jpg', img, [cv2.IMWRITE_JPEG_QUALITY, 95])
                if not ok:
                    raise RuntimeError(f'generate_text_recog: could not encode {rel}')
                (tmp / rel).write_bytes(buf.tobytes())
                data_list.append({'img_path': rel, 'instances': [{'text': text}]})
                paddle_lines.append(f'{rel}\t{text}\n')
            meta = {'dataset_type': 'TextRecogDataset', 'task_name': 'textrecog', 'generated_with': settings}
            (tmp / f'textrecog_{split}.json').write_text(json.dumps({'metainfo': meta, 'data_list': data_list}))
            (tmp / f'{split}_label.txt').write_text(''.join(paddle_lines), encoding='utf-8')

    return materialize(root, settings, stored, write)
