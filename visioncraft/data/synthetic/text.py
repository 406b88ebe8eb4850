"""Synthetic scene text: words rendered, rotated and perspective-warped on textured, noisy backgrounds.

A task-free generator shared by text detection (this module's :func:`generate_text_det` writes ICDAR 2015,
MMOCR 1.x and PaddleOCR labels) and text recognition (which can crop :func:`render_text_image`'s quads).

Geometry. Each word is drawn by Pillow on its own canvas; the *ink box* is the tight axis-aligned box of
every canvas pixel the glyphs touched (any non-zero coverage), taken as the pixel areas, i.e. from
``x_min - 0.5`` to ``x_max + 0.5`` in pixel-centre coordinates. The canvas is warped into the image by one
homography (perspective jitter, rotation, translation) and the word's quad is that homography applied to the
four ink-box corners: the exact image of the text's tight box (not a box around the warped ink, which would
be looser). Coordinates are absolute pixels with pixel centres at integers (OpenCV's convention), listed
clockwise in image coordinates (y down) starting at the text's top-left corner: top-left, top-right,
bottom-right, bottom-left. Files store them rounded to integers (ICDAR 2015 style; at most 0.5 px off).

Words never overlap: each quad, grown by a 3-pixel margin, must not touch an earlier one. About
``ignore_ratio`` of the words are drawn small and faint and labelled ``###`` (do-not-care, as ICDAR 2015).

Fonts: the one Pillow ships (``ImageFont.load_default(size=N)``, FreeType) and, when present, the DejaVu
TrueType files under ``/usr/share/fonts`` (``fonts='auto'``); ``fonts='default'`` uses Pillow's only. The
fonts used are part of the recorded settings, so a machine with other fonts regenerates the data.
"""
from __future__ import annotations

import functools
import glob
import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from . import generated, materialize

__all__ = ['WORDS', 'IGNORE_TEXT', 'available_fonts', 'render_text_image', 'generate_text_det',
           'write_icdar2015_gt']

IGNORE_TEXT = '###'
_FORMAT_VERSION = 1
_DEFAULT_FONT = 'pillow-default'
_MARGIN = 3  # pixels kept free around every quad

#: the built-in vocabulary (ASCII, no spaces or commas: one word per ICDAR line)
WORDS = tuple("""
EXIT OPEN CLOSED SALE COFFEE HOTEL PARKING STOP BANK CAFE PIZZA TAXI MARKET STATION CITY PHARMACY BAKERY
STREET ROAD NORTH SOUTH EAST WEST CENTRE MUSEUM LIBRARY POLICE HOSPITAL SCHOOL PARK GARDEN BRIDGE TOWER
HOUSE MUSIC BOOKS FASHION SHOES DENTAL CLINIC OFFICE BUS TRAIN METRO AIRPORT TICKETS ENTRANCE PUSH PULL
FRESH FOOD BAR GRILL NOODLE SUSHI TEA JUICE BEER WINE SHOP STORE MALL PLAZA SQUARE AVENUE LANE DRIVE
Welcome Hello Thanks Please Open Daily Menu Coffee Bakery Station Market Garden Service Express Delivery
Special Offer Discount Free Wifi Water Power Energy Mobile Phone Camera Digital Studio Design Beauty Salon
Hair Nails Spa Fitness Gym Yoga Dance Cinema Theatre Concert Festival Gallery Art Craft Vintage Retro
Classic Modern Royal Golden Silver Green Blue Red Orange Purple Lucky Happy Sunny Star Moon River Ocean
Lake Hill Valley Forest Island Harbour Bay Port Village Town Central Grand Little Big New Old First Last
open sale menu coffee tea fresh daily hours today night morning free cash card only exit push pull
information reception toilet lift stairs floor level room hall gate door window please thanks welcome
2024 1998 24h 7-11 No.5 A1 B12 C3 100% 50% $9 $25 4G 5G 3D 360 99 007 24/7 PM AM Tel Fax Ext Rd St Ave
Co Ltd Inc Dr Mr Ms Fr Sat Sun Mon Tue Wed Thu Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec &Co A-Z
""".split())


def available_fonts(fonts: str = 'auto') -> list[str]:
    """Font names the generator draws from: ``'pillow-default'`` plus, for ``fonts='auto'``, the paths of
    the DejaVu TrueType files under ``/usr/share/fonts`` (sorted; none needed)."""
    if fonts not in ('auto', 'default'):
        raise ValueError(f"synthetic text: fonts must be 'auto' or 'default', got {fonts!r}")
    names = [_DEFAULT_FONT]
    if fonts == 'auto':
        names += sorted(p for p in glob.glob('/usr/share/fonts/**/DejaVu*.ttf', recursive=True)
                        if 'Math' not in os.path.basename(p) and 'ExtraLight' not in os.path.basename(p))
    return names


@functools.lru_cache(maxsize=512)
def _font(name: str, size: int):
    from PIL import ImageFont
    if name == _DEFAULT_FONT:
        return ImageFont.load_default(size=size)
    return ImageFont.truetype(name, size=size)


def _render_word(word: str, font_name: str, size: int) -> tuple[np.ndarray, np.ndarray]:
    """(coverage mask h x w uint8, ink box corners 4 x 2 float64 TL, TR, BR, BL in pixel-centre coords)."""
    from PIL import Image, ImageDraw
    font = _font(font_name, size)
    left, top, right, bottom = font.getbbox(word)
    pad = 3
    canvas = Image.new('L', (int(right - left) + 2 * pad, int(bottom - top) + 2 * pad), 0)
    ImageDraw.Draw(canvas).text((pad - left, pad - top), word, fill=255, font=font)
    mask = np.asarray(canvas)
    cols, rows = np.flatnonzero(mask.any(0)), np.flatnonzero(mask.any(1))
    if not len(cols):
        raise ValueError(f'synthetic text: font {font_name!r} drew no ink for {word!r} at size {size}')
    x0, x1, y0, y1 = cols[0] - 0.5, cols[-1] + 0.5, rows[0] - 0.5, rows[-1] + 0.5
    return mask, np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], dtype=np.float64)


def _apply(h: np.ndarray, pts: np.ndarray) -> np.ndarray:
    p = np.c_[pts, np.ones(len(pts))] @ h.T
    return p[:, :2] / p[:, 2:3]


def _background(rng: np.random.Generator, height: int, width: int) -> np.ndarray:
    """float32 H x W x 3 textured background (smooth colour field, gradient, clutter shapes)."""
    import cv2
    base = rng.uniform(0, 255, size=3).astype(np.float32)
    g = int(rng.integers(2, 8))
    low = rng.standard_normal((g, g, 3)).astype(np.float32) * np.float32(rng.uniform(15, 55))
    img = base + cv2.resize(low, (width, height), interpolation=cv2.INTER_CUBIC)
    ang = rng.uniform(0, 2 * np.pi)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    ramp = (np.cos(ang) * xx / width + np.sin(ang) * yy / height) * np.float32(rng.uniform(-50, 50))
    img = img + ramp[..., None]
    for _ in range(int(rng.integers(2, 9))):  # clutter: lines, boxes, circles (text-free distractors)
        col = tuple(float(c) for c in rng.uniform(0, 255, size=3))
        kind = int(rng.integers(3))
        p = (int(rng.integers(width)), int(rng.integers(height)))
        q = (int(rng.integers(width)), int(rng.integers(height)))
        if kind == 0:
            cv2.line(img, p, q, col, int(rng.integers(1, 4)), cv2.LINE_AA)
        elif kind == 1:
            cv2.rectangle(img, p, q, col, int(rng.choice([-1, 1, 2])))
        else:
            cv2.circle(img, p, int(rng.integers(4, max(5, min(height, width) // 4))), col,
                       int(rng.choice([-1, 1, 2])), cv2.LINE_AA)
    return img


def _homography(rng: np.random.Generator, w: int, h: int, strong: bool) -> np.ndarray:
    """Perspective jitter then rotation about the origin (3 x 3), for a w x h canvas."""
    import cv2
    src = np.array([[0, 0], [w, 0], [w, h], [0, h]], dtype=np.float32)
    jit = 0.25 * h if strong else 0.1 * h
    dst = src + rng.uniform(-jit, jit, size=(4, 2)).astype(np.float32)
    persp = cv2.getPerspectiveTransform(src, dst).astype(np.float64)
    deg = rng.uniform(-60, 60) if rng.random() < 0.15 else rng.uniform(-25, 25)
    c, s = np.cos(np.deg2rad(deg)), np.sin(np.deg2rad(deg))
    return np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]]) @ persp


def render_text_image(rng: np.random.Generator, size: tuple[int, int], fonts: list[str], *,
                      max_words: int = 8, ignore_ratio: float = 0.1, return_masks: bool = False
                      ) -> tuple[np.ndarray, list[dict]]:
    """One picture: ``(img H x W x 3 uint8 BGR, instances)``.

    Each instance is ``dict(polygon=float64 array [x0, y0, ..., x3, y3] (the warped ink box, clockwise from
    the text's top-left, absolute pixels, pixel centres at integers), text=str (the word, or ``'###'``),
    ignore=bool)``; with ``return_masks`` also ``mask`` (H x W uint8, the word's coverage before blending).
    Up to ``max_words`` words are tried; a word that finds no free place in 12 tries is dropped.
    """
    import cv2
    height, width = size
    img = _background(rng, height, width)
    occupied = np.zeros((height, width), np.uint8)
    instances = []
    lo, hi = max(10, height // 24), max(12, height // 7)
    for _ in range(int(rng.integers(2, max_words + 1))):
        word = str(WORDS[int(rng.integers(len(WORDS)))])
        case = rng.random()
        word = word.lower() if case < 0.15 else word.upper() if case < 0.3 else word
        ignore = bool(rng.random() < ignore_ratio)
        font_size = int(rng.integers(7, 12)) if ignore else int(rng.integers(lo, hi + 1))
        mask, ink = _render_word(word, fonts[int(rng.integers(len(fonts)))], font_size)
        mh, mw = mask.shape
        hom = _homography(rng, mw, mh, strong=rng.random() < 0.2)
        corners = _apply(hom, np.array([[-0.5, -0.5], [mw - 0.5, -0.5], [mw - 0.5, mh - 0.5], [-0.5, mh - 0.5]]))
        lo_xy, hi_xy = corners.min(0), corners.max(0)
        room = np.array([width, height]) - 2 - (hi_xy - lo_xy)
        if (room <= 0).any():
            continue
        for _try in range(12):
            shift = rng.uniform(0, room) + 1 - lo_xy
            quad = _apply(hom, ink) + shift
            # the warped canvas's box, in whole pixels, holds every pixel the word can touch
            rx0, ry0 = np.floor(corners.min(0) + shift).astype(int)
            rx1, ry1 = np.ceil(corners.max(0) + shift).astype(int) + 1
            rx0, ry0, rx1, ry1 = max(rx0, 0), max(ry0, 0), min(rx1, width), min(ry1, height)
            fill = np.zeros((ry1 - ry0 + 2 * _MARGIN, rx1 - rx0 + 2 * _MARGIN), np.uint8)
            poly = np.round((quad - [rx0 - _MARGIN, ry0 - _MARGIN]) * 4).astype(np.int32)
            cv2.fillPoly(fill, [poly], 1, cv2.LINE_8, shift=2)
            cv2.polylines(fill, [poly], True, 1, 2 * _MARGIN + 1, cv2.LINE_8, shift=2)
            ox0, oy0 = rx0 - _MARGIN, ry0 - _MARGIN  # fill's origin; clip it to the image
            sx0, sy0 = max(-ox0, 0), max(-oy0, 0)
            ex, ey = min(fill.shape[1], width - ox0), min(fill.shape[0], height - oy0)
            fill = fill[sy0:ey, sx0:ex]
            region = occupied[oy0 + sy0:oy0 + ey, ox0 + sx0:ox0 + ex]
            if not (region & fill).any():
                region |= fill
                break
        else:
            continue
        to_roi = np.array([[1, 0, shift[0] - rx0], [0, 1, shift[1] - ry0], [0, 0, 1]]) @ hom
        cover = cv2.warpPerspective(mask, to_roi, (rx1 - rx0, ry1 - ry0), flags=cv2.INTER_LINEAR,
                                    borderMode=cv2.BORDER_CONSTANT, borderValue=0)
        roi = img[ry0:ry1, rx0:rx1]
        mean = roi.reshape(-1, 3).mean(0)
        colour = rng.uniform(0, 255, size=3)
        for _c in range(8):  # keep the word visible against what is under it
            if np.abs(colour - mean).sum() > 200:
                break
            colour = rng.uniform(0, 255, size=3)
        else:
            colour = np.where(mean > 127, 0.0, 255.0)
        opacity = rng.uniform(0.3, 0.55) if ignore else rng.uniform(0.85, 1.0)
        alpha = (cover.astype(np.float32) * np.float32(opacity / 255.0))[..., None]
        roi *= 1 - alpha
        roi += alpha * colour.astype(np.float32)
        inst = dict(polygon=quad.reshape(-1), text=IGNORE_TEXT if ignore else word, ignore=ignore)
        if return_masks:
            full = np.zeros((height, width), np.uint8)
            full[ry0:ry1, rx0:rx1] = cover
            inst['mask'] = full
        instances.append(inst)
    sigma = rng.uniform(0, 0.8)
    if sigma > 0.3:
        img = cv2.GaussianBlur(img, (0, 0), sigma)
    img += rng.standard_normal(img.shape, dtype=np.float32) * np.float32(rng.uniform(2, 9))
    return np.clip(np.rint(img), 0, 255).astype(np.uint8), instances


def _int_polygon(poly: np.ndarray) -> list[int]:
    return [int(v) for v in np.rint(poly)]


def write_icdar2015_gt(path: str | os.PathLike, instances: list[dict]) -> None:
    """``gt_img_N.txt``: one ``x1,y1,x2,y2,x3,y3,x4,y4,transcription`` line per instance (integers, UTF-8)."""
    lines = [','.join(str(v) for v in _int_polygon(inst['polygon'])) + f",{inst['text']}" for inst in instances]
    Path(path).write_text(''.join(line + '\n' for line in lines), encoding='utf-8')


def generate_text_det(root: str | os.PathLike, num_train: int = 1000, num_val: int = 100,
                      size: tuple[int, int] = (320, 320), seed: int = 0, *, max_words: int = 8,
                      ignore_ratio: float = 0.1, fonts: str = 'auto') -> Path:
    """Write a synthetic text-detection dataset under ``root`` and return ``root``.

    Layout (``split`` is ``train`` / ``val``; N counts from 1 as in ICDAR 2015)::

        imgs/{split}/img_N.jpg              H x W BGR JPEG (quality 95)
        annotations/{split}/gt_img_N.txt    ICDAR 2015 lines x1,y1,...,x4,y4,text ('###' = do-not-care)
        textdet_{split}.json                MMOCR 1.x: {"metainfo", "data_list": [{"img_path", "height", "width",
                                            "instances": [{"polygon", "bbox", "bbox_label", "ignore", "text"}]}]}
        {split}_label.txt                   PaddleOCR: "imgs/{split}/img_N.jpg\\t[{"transcription", "points"}]"

    Paths inside the labels are relative to ``root``; the three label formats hold the same integer quads
    (see the module docstring for what a quad is). The same arguments (and fonts) give the same bytes; a
    folder made with other settings is regenerated; concurrent callers are safe (see ``materialize``).
    ``size`` is (H, W). ``ICDAR2015Dataset(data_root=root, data_prefix=dict(img_path='imgs/train/',
    ann_path='annotations/train/'))`` or ``OCRDataset(data_root=root, ann_file='textdet_train.json')`` read it.
    """
    height, width = (int(v) for v in size)
    if height < 32 or width < 32:
        raise ValueError(f'generate_text_det: size (H, W) must be at least 32 x 32, got {size}')
    if num_train < 0 or num_val < 0:
        raise ValueError(f'generate_text_det: num_train / num_val must be >= 0, got {num_train} / {num_val}')
    if max_words < 2:
        raise ValueError(f'generate_text_det: max_words must be >= 2, got {max_words}')
    if not 0 <= ignore_ratio <= 1:
        raise ValueError(f'generate_text_det: ignore_ratio must be in [0, 1], got {ignore_ratio}')
    font_list = available_fonts(fonts)
    settings: dict[str, Any] = {
        'version': _FORMAT_VERSION, 'num_train': int(num_train), 'num_val': int(num_val), 'size': [height, width],
        'seed': int(seed), 'max_words': int(max_words), 'ignore_ratio': float(ignore_ratio),
        'fonts': [os.path.basename(f) for f in font_list]}

    def stored(folder: Path) -> dict | None:
        try:
            if not (folder / 'textdet_val.json').is_file():
                return None
            return json.loads((folder / 'textdet_train.json').read_text())['metainfo'].get('generated_with')
        except (OSError, ValueError, KeyError):
            return None

    def write(tmp: Path) -> None:
        import cv2
        for split, n, offset in (('train', num_train, 0), ('val', num_val, 1_000_000)):
            (tmp / 'imgs' / split).mkdir(parents=True)
            (tmp / 'annotations' / split).mkdir(parents=True)
            data_list, paddle_lines = [], []
            for i in generated(range(1, n + 1)):
                rng = np.random.default_rng([seed, offset + i])
                img, instances = render_text_image(rng, (height, width), font_list, max_words=max_words,
                                                   ignore_ratio=ignore_ratio)
                rel = f'imgs/{split}/img_{i}.jpg'
                ok, buf = cv2.imencode('.jpg', img, [cv2.IMWRITE_JPEG_QUALITY, 95])
                if not ok:
                    raise RuntimeError(f'generate_text_det: could not encode {rel}')
                (tmp / rel).write_bytes(buf.tobytes())
                write_icdar2015_gt(tmp / 'annotations' / split / f'gt_img_{i}.txt', instances)
                entries, paddle = [], []
                for inst in instances:
                    poly = _int_polygon(inst['polygon'])
                    xs, ys = poly[0::2], poly[1::2]
                    entries.append({'polygon': poly, 'bbox': [min(xs), min(ys), max(xs), max(ys)], 'bbox_label': 0,
                                    'ignore': inst['ignore'], 'text': inst['text']})
                    paddle.append({'transcription': inst['text'], 'points': [[x, y] for x, y in zip(xs, ys)]})
                data_list.append({'img_path': rel, 'height': height, 'width': width, 'instances': entries})
                paddle_lines.append(f'{rel}\t{json.dumps(paddle, ensure_ascii=False)}\n')
            meta = {'dataset_type': 'TextDetDataset', 'task_name': 'textdet',
                    'category': [{'id': 0, 'name': 'text'}], 'generated_with': settings}
            (tmp / f'textdet_{split}.json').write_text(json.dumps({'metainfo': meta, 'data_list': data_list}))
            (tmp / f'{split}_label.txt').write_text(''.join(paddle_lines), encoding='utf-8')

    return materialize(root, settings, stored, write)
