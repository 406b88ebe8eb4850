"""Word images cut from a text-detection dataset: :class:`TextDetCropDataset` (on the fly) and
:func:`crop_textdet_to_recog` (written to disk with a recognition label file;
``tools/dataset_converters/textrecog/crop_textdet.py``).

Any text-detection dataset of :mod:`visioncraft.tasks.textdet.datasets` works (ICDAR 2015 gt files, MMOCR
textdet JSON, PaddleOCR label files): their raw entries carry, per instance, ``polygon`` (flat, absolute
pixels), ``ignore`` and ``text``. Each crop is :func:`visioncraft.tasks.textrecog.utils.crop_text_region`.
"""
from __future__ import annotations

import json
import os
import os.path as osp
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from visioncraft.data import BaseDataset
from visioncraft.fileio.image import imread
from visioncraft.data.transforms import Compose
from visioncraft.registry import DATASETS

from ..utils import crop_text_region, expand_text_quad, text_quad
from .lmdb_dataset import _COLOR_TYPES, DecodesImagesMixin

__all__ = ['TextDetCropDataset', 'crop_textdet_to_recog']

_IGNORE_TEXTS = ('###',)


@DATASETS.register_module()
class TextDetCropDataset(DecodesImagesMixin, BaseDataset):
    """One recognition sample per word of a text-detection dataset, cut out of its image on the fly.

    A word is kept when it is not do-not-care (``ignore`` False), its text is not empty and not ``'###'``.
    Its image is the perspective-rectified crop of its polygon (a quad: perspective warp in the quad's own
    point order; any other polygon: its minimum-area rectangle; tall crops rotated, as PaddleOCR's
    ``get_rotate_crop_image``; see :func:`~visioncraft.tasks.textrecog.utils.crop_text_region`).

    Args:
        dataset: a text-detection dataset config (``dict(type='ICDAR2015Dataset', ...)``) or object; only its
            raw entries (``get_data_info``) are used, never its pipeline. Build it with ``test_mode=True`` so
            that it filters no images.
        img_color_type: how the scene image is read (``'color'``, ``'grayscale'``, ``'unchanged'``); a pipeline
            starting with ``LoadImageFromFile`` uses that transform's ``color_type`` instead (the step is
            replaced by the crop).
        rotate_tall, tall_ratio, interpolation: passed to ``crop_text_region``.
        min_size: words whose quad is shorter than this (pixels, either side) are left out.
        margin: grow each word's quad by this share of its height on every side before cutting
            (:func:`~visioncraft.tasks.textrecog.utils.expand_text_quad`); a ``(lo, hi)`` pair draws it uniformly
            per sample (training: robust to detector boxes a little looser or tighter than the ground truth).
            ``visioncraft ocr --crop-margin`` grows detected boxes the same way.
        metainfo, indices, serialize_data, pipeline, test_mode, lazy_init, max_refetch: see
            :class:`~visioncraft.data.BaseDataset`.

    Entries (``get_data_info``): ``dict(img_path=<the scene image>, instances=[dict(text)], polygon=<flat
    list, scene pixels>, instance_idx=<index in the scene's instances>, src_idx=<index in the detection
    dataset>, sample_idx)``; ``__getitem__`` adds ``img`` (the crop, H x W x 3 BGR uint8 by default),
    ``img_shape`` and ``ori_shape`` before the pipeline.
    """

    def __init__(self, dataset: Mapping | BaseDataset, img_color_type: str = 'color', rotate_tall: bool = True,
                 tall_ratio: float = 1.5, interpolation: str = 'cubic', min_size: float = 1.0,
                 margin: float | Sequence[float] = 0.0, metainfo: dict | None = None, indices: int | Sequence[int] | None = None,
                 serialize_data: bool = True, pipeline: Sequence[dict | Callable] | Compose = (),
                 test_mode: bool = False, lazy_init: bool = False, max_refetch: int = 1000) -> None:
        if img_color_type not in _COLOR_TYPES:
            raise ValueError(f'TextDetCropDataset: img_color_type must be one of {_COLOR_TYPES}, got '
                             f'{img_color_type!r}')
        self.dataset = DATASETS.build(dataset, key_path='dataset') if isinstance(dataset, Mapping) else dataset
        if not callable(getattr(self.dataset, 'get_data_info', None)):
            raise TypeError(f'TextDetCropDataset: dataset must be a text-detection dataset (config), got '
                            f'{type(self.dataset).__name__}')
        self.img_color_type = img_color_type
        self.crop_args = dict(rotate_tall=bool(rotate_tall), tall_ratio=float(tall_ratio),
                              interpolation=interpolation)
        self.min_size = float(min_size)
        lo, hi = (float(margin), float(margin)) if isinstance(margin, (int, float)) else (float(v) for v in margin)
        if not 0 <= lo <= hi:
            raise ValueError(f'TextDetCropDataset: margin must be >= 0, or a (lo, hi) pair with 0 <= lo <= hi; got '
                             f'{margin!r}')
        self.margin = (lo, hi)
        super().__init__(metainfo=metainfo, indices=indices, serialize_data=serialize_data, pipeline=pipeline,
                         test_mode=test_mode, lazy_init=lazy_init, max_refetch=max_refetch)

    def load_data_list(self) -> list[dict]:
        """One entry per kept word, scene by scene, in the detection dataset's order."""
        data_list = []
        for i in range(len(self.dataset)):
            info = self.dataset.get_data_info(i)
            for k, inst in enumerate(info.get('instances') or []):
                text = inst.get('text')
                if inst.get('ignore') or not isinstance(text, str) or not text or text in _IGNORE_TEXTS:
                    continue
                poly = inst.get('polygon')
                if poly is None:
                    raise KeyError(f'TextDetCropDataset: {info.get("img_path")}, instance {k} has no "polygon" '
                                   f'(keys: {sorted(inst)}); the detection dataset must give polygons')
                quad = text_quad(poly).astype(np.float64)
                sides = np.linalg.norm(quad - np.roll(quad, -1, axis=0), axis=1)
                if max(sides[0], sides[2]) < self.min_size or max(sides[1], sides[3]) < self.min_size:
                    continue
                data_list.append(dict(img_path=info['img_path'], instances=[dict(text=text)],
                                      polygon=[float(v) for v in poly], instance_idx=k, src_idx=i))
        return data_list

    sample_name = 'word crop'

    def _source(self) -> str:
        """Named in messages (an empty dataset): the text-detection dataset the crops come from."""
        inner = getattr(self.dataset, '_source', None)
        return f'the words of {type(self.dataset).__name__}' + (f' ({inner()})' if callable(inner) else '')

    def _load_image(self, info: dict, color_type: str) -> np.ndarray | None:
        import cv2
        flag = {'color': cv2.IMREAD_COLOR, 'grayscale': cv2.IMREAD_GRAYSCALE,
                'unchanged': cv2.IMREAD_UNCHANGED}[color_type]
        img = imread(info['img_path'], flag)
        if img is None:
            return None
        lo, hi = self.margin
        m = lo if lo == hi else float(np.random.uniform(lo, hi))
        region = expand_text_quad(info['polygon'], m).reshape(-1) if m else info['polygon']
        return crop_text_region(img, region, **self.crop_args)

    def _image_error(self, info: dict) -> str:
        path = info['img_path']
        return f'{path} ' + ('does not exist' if not osp.exists(path) else 'is not a readable image')


def _crop_name(img_path: str, base: str, k: int, ext: str) -> str:
    rel = osp.relpath(img_path, base) if base else img_path
    if rel.startswith('..') or osp.isabs(rel):
        rel = osp.basename(img_path)
    stem = osp.splitext(rel)[0].replace(os.sep, '_').replace('/', '_')
    return f'{stem}_{k}{ext}'


def crop_textdet_to_recog(dataset: Mapping | BaseDataset, out_dir: str, *, label_format: str = 'mmocr',
                          out_label: str | None = None, img_dir: str = 'imgs', ext: str = '.jpg',
                          base_dir: str = '', rotate_tall: bool = True, min_size: float = 1.0,
                          log: Callable[[str], Any] | None = None) -> int:
    """Write every kept word of a text-detection dataset (see :class:`TextDetCropDataset`) as an image file
    under ``out_dir/img_dir`` and a recognition label file; returns the number of crops.

    Args:
        dataset: the text-detection dataset (config or object).
        out_dir: output folder.
        label_format: ``'mmocr'`` (MMOCR 1.x textrecog JSON, default ``out_dir/textrecog.json``) or
            ``'paddle'`` (``path<TAB>text`` lines, default ``out_dir/rec_gt.txt``); image paths in the label
            are relative to ``out_dir``.
        out_label: the label file's path instead of the default.
        img_dir: sub-folder of ``out_dir`` for the crops.
        ext: ``'.jpg'`` (quality 95) or ``'.png'``.
        base_dir: crops are named ``<scene path relative to base_dir, '/' -> '_', no extension>_<instance>``
            (``imgs_train_img_1_0.jpg``); scenes outside it use their file name.
        rotate_tall, min_size: see :class:`TextDetCropDataset`.
        log: called with one summary line.
    """
    import cv2
    if label_format not in ('mmocr', 'paddle'):
        raise ValueError(f"crop_textdet_to_recog: label_format must be 'mmocr' or 'paddle', got {label_format!r}")
    if ext not in ('.jpg', '.png'):
        raise ValueError(f"crop_textdet_to_recog: ext must be '.jpg' or '.png', got {ext!r}")
    crops = TextDetCropDataset(dataset, rotate_tall=rotate_tall, min_size=min_size, serialize_data=False,
                               test_mode=True)
    os.makedirs(osp.join(out_dir, img_dir), exist_ok=True)
    params = [cv2.IMWRITE_JPEG_QUALITY, 95] if ext == '.jpg' else []
    entries, seen, scene, scene_path = [], set(), None, None
    for i in range(len(crops)):
        info = crops.get_data_info(i)
        if info['img_path'] != scene_path:  # crops come scene by scene: read each scene once
            scene_path = info['img_path']
            scene = imread(scene_path, cv2.IMREAD_COLOR)
            if scene is None:
                raise OSError(f'crop_textdet_to_recog: {crops._image_error(info)}')
        crop = crop_text_region(scene, info['polygon'], **crops.crop_args)
        rel = osp.join(img_dir, _crop_name(scene_path, base_dir, info['instance_idx'], ext)).replace(os.sep, '/')
        if rel in seen:
            raise ValueError(f'crop_textdet_to_recog: two crops would both be named {rel!r}; pass base_dir (the '
                             'folder the scene paths are relative to)')
        seen.add(rel)
        ok, buf = cv2.imencode(ext, crop, params)
        if not ok:
            raise OSError(f'crop_textdet_to_recog: could not encode the crop {rel}')
        with open(osp.join(out_dir, rel), 'wb') as f:
            f.write(buf.tobytes())
        text = info['instances'][0]['text']
        if label_format == 'paddle' and ('\t' in text or '\n' in text or '\r' in text):
            raise ValueError(f'crop_textdet_to_recog: {scene_path}, instance {info["instance_idx"]}: the text '
                             f'{text!r} holds a tab or newline, which a PaddleOCR label line cannot carry')
        entries.append((rel, text))
    if label_format == 'mmocr':
        out_label = out_label or osp.join(out_dir, 'textrecog.json')
        meta = dict(dataset_type='TextRecogDataset', task_name='textrecog')
        body = json.dumps(dict(metainfo=meta, data_list=[dict(img_path=p, instances=[dict(text=t)])
                                                         for p, t in entries]), ensure_ascii=False)
    else:
        out_label = out_label or osp.join(out_dir, 'rec_gt.txt')
        body = ''.join(f'{p}\t{t}\n' for p, t in entries)
    os.makedirs(osp.dirname(osp.abspath(out_label)), exist_ok=True)
    with open(out_label, 'w', encoding='utf-8') as f:
        f.write(body)
    if log:
        log(f'{len(entries)} crops from {len(crops.dataset)} images -> {osp.join(out_dir, img_dir)}, labels '
            f'{out_label}')
    return len(entries)
