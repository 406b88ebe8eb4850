"""Text-detection datasets: ICDAR 2015 text files, MMOCR 1.x textdet JSON, PaddleOCR label files.

All three give entries ``dict(img_path, height, width, instances=[...])`` where each instance holds
``polygon`` (list of floats ``[x0, y0, x1, y1, ...]``, absolute pixels, >= 3 points, any number of points as in
Total-Text), ``bbox`` (xyxy, the polygon's bounding box), ``bbox_label`` (0: text), ``ignore`` (bool: ICDAR's
``###`` / do-not-care) and ``text`` (str). ``height`` / ``width`` are None when the source does not give them
(ICDAR 2015, PaddleOCR): LoadImageFromFile sets the shapes.
"""
from __future__ import annotations

import json
import os
import re
import os.path as osp
from collections.abc import Sequence

import numpy as np

from visioncraft.data import BaseDataset
from visioncraft.data.base_dataset import _join
from visioncraft.data.loading import IMG_EXTENSIONS
from visioncraft.data.label_files import check_label_files, iter_label_files
from visioncraft.data.validation import number_problem, numbers_problem, short
from visioncraft.errors import AnnotationError, InvalidAnnotationError, read_text_lines
from visioncraft.registry import DATASETS

__all__ = ['ICDAR2015Dataset', 'OCRDataset', 'TextDetDataset', 'PaddleOCRDetDataset', 'make_instance',
           'read_icdar2015_gt', 'read_paddle_label_file', 'IGNORE_TEXT', 'ocr_json_task']

#: the transcription that marks a do-not-care region (ICDAR, PaddleOCR)
IGNORE_TEXT = '###'
_IMG_EXTS = IMG_EXTENSIONS + ('.gif',)  # some scene-text benchmarks hold GIFs


def make_instance(polygon: Sequence[float], text: str, ignore: bool, where: str, numbers_only: bool = False) -> dict:
    """One raw instance from a flat polygon; ``where`` (reader, file and line) names a bad record in the error:
    a polygon that is not numbers (``numbers_only``: JSON numbers, not strings or booleans; otherwise anything
    ``float()`` reads, as in a text file), fewer than 3 points, an odd length, a NaN or an infinity."""
    problem = numbers_only and numbers_problem('polygon', polygon)
    if problem:
        raise InvalidAnnotationError(f'{where}: {problem}')
    try:
        poly = [float(v) for v in polygon]
    except (TypeError, ValueError):
        raise InvalidAnnotationError(f'{where}: polygon {short(polygon)} is not a list of numbers') from None
    if len(poly) < 6 or len(poly) % 2:
        raise InvalidAnnotationError(f'{where}: polygon has {len(poly)} coordinates; need an even number >= 6 '
                                     '(at least 3 points x, y)')
    if not np.all(np.isfinite(poly)):
        raise InvalidAnnotationError(f'{where}: polygon {short(poly)} has a non-finite number')
    xs, ys = poly[0::2], poly[1::2]
    return dict(polygon=poly, bbox=[min(xs), min(ys), max(xs), max(ys)], bbox_label=0, ignore=bool(ignore),
                text=str(text))


def read_icdar2015_gt(path: str, owner: str = '') -> list[dict]:
    """Instances of one ICDAR 2015 ``gt_img_N.txt``: lines ``x1,y1,...,x4,y4,transcription`` (UTF-8, a BOM is
    accepted; the transcription may hold commas; ``###`` marks do-not-care). More than 4 points
    (``x1,y1,...,xk,yk,text``) are accepted: every leading field that parses as a number is a coordinate.
    Errors name ``owner`` (the dataset class, when given), the file and the line."""
    lead = f'{owner}: ' if owner else ''
    instances = []
    for lineno, line in enumerate(read_text_lines(path, f'{lead}ICDAR 2015 ground-truth file'), 1):
        line = line.strip().lstrip('\ufeff')
        if not line:
            continue
        parts = line.split(',')
        n = 0
        while n < len(parts) - 1:
            try:
                float(parts[n])
            except ValueError:
                break
            n += 1
        n -= n % 2
        if n < 8:
            raise AnnotationError(f'{lead}{path}, line {lineno}: expected "x1,y1,x2,y2,x3,y3,x4,y4,transcription", '
                                  f'got {line!r}')
        text = ','.join(parts[n:])
        instances.append(make_instance(parts[:n], text, text == IGNORE_TEXT, f'{lead}{path}, line {lineno}'))
    return instances


def read_paddle_label_file(path: str, owner: str = '') -> list[tuple[str, list[dict]]]:
    """``(image path as written, instances)`` per line of a PaddleOCR detection label file: lines
    ``path\\t[{"transcription": "...", "points": [[x, y], ...]}, ...]`` (points JSON numbers). Errors name ``owner``
    (the dataset class, when given), the file, the line and the annotation."""
    lead = f'{owner}: ' if owner else ''
    out = []
    for lineno, line in enumerate(read_text_lines(path, f'{lead}PaddleOCR label file'), 1):
        line = line.rstrip('\r\n')
        if not line.strip():
            continue
        where = f'{lead}{path}, line {lineno}'
        if '\t' not in line:
            raise AnnotationError(f'{where}: expected "image_path<TAB>json list", found no tab in {line[:80]!r}')
        img, label = line.split('\t', 1)
        if not img.strip():
            raise AnnotationError(f'{where}: the image path (before the tab) is empty')
        try:
            anns = json.loads(label)
        except ValueError as exc:
            raise AnnotationError(f'{where}: the label is not valid JSON ({exc})') from None
        if not isinstance(anns, list):
            raise AnnotationError(f'{where}: the label must be a JSON list of {{"transcription", "points"}}, got '
                                  f'{type(anns).__name__}')
        instances = []
        for k, ann in enumerate(anns):
            if not isinstance(ann, dict) or 'points' not in ann:
                raise AnnotationError(f'{where}: annotation {k} has no "points" key: {ann!r}')
            pts = np.asarray(ann['points'], dtype=object)
            if pts.ndim != 2 or pts.shape[1] != 2:
                raise AnnotationError(f'{where}: annotation {k} points must be [[x, y], ...], got {ann["points"]!r}')
            text = str(ann.get('transcription', ''))
            ignore = bool(ann.get('difficult', False)) or text in (IGNORE_TEXT, '*')
            instances.append(make_instance(pts.reshape(-1).tolist(), text, ignore, f'{where}, annotation {k}',
                                           numbers_only=True))
        out.append((img, instances))
    return out


class _TextDetBase(BaseDataset):
    METAINFO = dict(classes=('text',))
    sample_name = 'image'

    def filter_data(self, data_list: list[dict]) -> list[dict]:
        """``filter_cfg=dict(filter_empty_gt=True)`` drops images without any non-ignored instance (training);
        ``min_size`` drops images whose known width or height is smaller. Never filters in test mode."""
        if self.test_mode or not self.filter_cfg:
            return data_list
        empty = self.filter_cfg.get('filter_empty_gt', False)
        min_size = self.filter_cfg.get('min_size', 0)
        out = []
        for info in data_list:
            if empty and not any(not inst['ignore'] for inst in info['instances']):
                continue
            if min_size and info.get('width') and min(info['width'], info['height']) < min_size:
                continue
            out.append(info)
        return out


@DATASETS.register_module()
class ICDAR2015Dataset(_TextDetBase):
    """ICDAR 2015 Incidental Scene Text: ``data_prefix=dict(img_path='imgs/', ann_path='annotations/')``; every
    image ``img_N.jpg`` has ``gt_img_N.txt`` in the annotation folder (see :func:`read_icdar2015_gt`).

    ``ann_file`` is not used. A missing gt file raises an error naming it.
    """

    def __init__(self, *args, data_prefix: dict | None = None, **kwargs) -> None:
        prefix = dict(img_path='imgs/', ann_path='annotations/') if data_prefix is None else dict(data_prefix)
        for key in ('img_path', 'ann_path'):
            if key not in prefix:
                raise ValueError(f"ICDAR2015Dataset: data_prefix needs {key!r} (got {prefix})")
        super().__init__(*args, data_prefix=prefix, **kwargs)

    def load_data_list(self) -> list[dict]:
        img_dir, ann_dir = self.data_prefix['img_path'], self.data_prefix['ann_path']
        if not osp.isdir(img_dir):
            raise FileNotFoundError(f'ICDAR2015Dataset: image folder {img_dir!r} (data_prefix img_path) does not '
                                    'exist')
        names = sorted(n for n in os.listdir(img_dir) if n.lower().endswith(_IMG_EXTS))
        data_list = []
        for name in names:
            gt = osp.join(ann_dir, f'gt_{osp.splitext(name)[0]}.txt')
            if not osp.exists(gt):
                raise FileNotFoundError(f'ICDAR2015Dataset: ground-truth file {gt} for image {name} does not exist')
            data_list.append(dict(img_path=osp.join(img_dir, name), height=None, width=None,
                                  instances=read_icdar2015_gt(gt, type(self).__name__)))
        return data_list


def ocr_json_task(path: str) -> str | None:
    """The task an MMOCR 1.x annotation file is for ('textdet', 'textrecog', ...): its ``metainfo.task_name``
    (looked for in the first 64 KiB, where MMOCR's converters write it, before the whole file is read), else
    guessed from the first instance (``polygon``: textdet; only ``text``: textrecog). None when the file is not
    a readable JSON file (the dataset's own loading then reports the problem)."""
    if not isinstance(path, str) or not path.endswith('.json') or not osp.isfile(path):
        return None
    with open(path, encoding='utf-8', errors='replace') as f:  # a byte that is not UTF-8: read_json names it
        head = f.read(65536)
    found = re.search(r'"task_name"\s*:\s*"(\w+)"', head)
    if found:
        return found.group(1)
    try:
        with open(path, encoding='utf-8') as f:
            data = json.load(f)
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict):
        return None
    task = (data.get('metainfo') or {}).get('task_name') if isinstance(data.get('metainfo'), dict) else None
    if task:
        return str(task)
    for entry in data.get('data_list') or []:
        for inst in (entry.get('instances') or []) if isinstance(entry, dict) else []:
            if isinstance(inst, dict):
                return 'textdet' if 'polygon' in inst else ('textrecog' if 'text' in inst else None)
    return None


@DATASETS.register_module(name=['OCRDataset', 'TextDetDataset'])
class OCRDataset(_TextDetBase):
    """MMOCR 1.x text-detection JSON: ``{"metainfo": {...}, "data_list": [{"img_path", "height", "width",
    "instances": [{"polygon", "bbox", "bbox_label", "ignore", "text"?}]}]}``. ``data_prefix=dict(img_path=...)``
    is joined to each ``img_path``. ``bbox`` is recomputed from ``polygon`` when absent.

    MMOCR uses one ``OCRDataset`` for every task's JSON: ``OCRDataset(ann_file=<a textrecog JSON>)`` returns the
    registered reader :attr:`task_readers` names for the task :func:`ocr_json_task` finds (``'textrecog'``:
    ``TextRecogDataset``); the registry finds it, so this task never imports another.
    """

    #: the registered dataset type reading the same JSON layout for another task
    task_readers: dict[str, str] = {'textrecog': 'TextRecogDataset'}

    def __new__(cls, *args, **kwargs):
        if cls is OCRDataset:
            ann_file = kwargs.get('ann_file', args[0] if args else '')
            task = ocr_json_task(_join(kwargs.get('data_root') or '', ann_file or ''))
            name = OCRDataset.task_readers.get(task)
            if name is not None and name in DATASETS:
                # not an OCRDataset: Python does not call __init__ again
                return DATASETS.get(name)(*args, **kwargs)
        return super().__new__(cls)

    def parse_data_info(self, raw_data_info: dict) -> dict:
        if not isinstance(raw_data_info, dict):
            raise AnnotationError(f'{type(self).__name__}: {self.ann_file}: a data_list entry is '
                                  f'{short(raw_data_info)}, not an object')
        info = super().parse_data_info(raw_data_info)
        where = f'{type(self).__name__}: {self.ann_file}, data_list entry {raw_data_info.get("img_path", "?")!r}'
        if 'img_path' not in info:
            raise AnnotationError(f'{where}: no "img_path" key')
        if not isinstance(info.get('instances') or [], list):
            raise AnnotationError(f'{where}: "instances" {short(info["instances"])} is not a list')
        for key in ('height', 'width'):
            problem = info.get(key) is not None and number_problem(key, info[key], positive=True, integer=True)
            if problem:
                raise InvalidAnnotationError(f'{where}: {problem}')
        instances = []
        for k, inst in enumerate(info.get('instances') or []):
            if not isinstance(inst, dict) or 'polygon' not in inst:
                raise AnnotationError(f'{where}: instance {k} has no "polygon" key')
            out = make_instance(inst['polygon'], inst.get('text', ''), bool(inst.get('ignore', False)),
                                f'{where}, instance {k}', numbers_only=True)
            problem = (inst.get('bbox') is not None and numbers_problem('bbox', inst['bbox'], length=4,
                                                                        expected='4 ([x1, y1, x2, y2])')) \
                or number_problem('bbox_label', inst.get('bbox_label', 0), integer=True, non_negative=True)
            if problem:
                raise InvalidAnnotationError(f'{where}, instance {k}: {problem}')
            if inst.get('bbox') is not None:
                out['bbox'] = [float(v) for v in inst['bbox']]
            out['bbox_label'] = int(inst.get('bbox_label', 0))
            instances.append(out)
        info['instances'] = instances
        return info


#: MMOCR's other name for the same class (registered under both names)
TextDetDataset = OCRDataset


@DATASETS.register_module()
class PaddleOCRDetDataset(_TextDetBase):
    """PaddleOCR ``SimpleDataSet`` for detection: ``data_dir`` plus ``label_file_list`` of label files (see
    :func:`read_paddle_label_file`); ``ratio_list`` (one per file, in (0, 1]) keeps the first ``ratio`` share of
    each file's lines, deterministically. ``transcription == "###"`` marks do-not-care.
    """

    def __init__(self, data_dir: str = '', label_file_list: Sequence[str] | str = (),
                 ratio_list: Sequence[float] | float | None = None, **kwargs) -> None:
        files, ratios = check_label_files('PaddleOCRDetDataset', label_file_list, ratio_list)
        self.data_dir = data_dir
        self.label_file_list, self.ratio_list = files, ratios
        super().__init__(**kwargs)

    def load_data_list(self) -> list[dict]:
        data_dir = osp.join(self.data_root, self.data_dir) if self.data_root else self.data_dir
        entries = iter_label_files('PaddleOCRDetDataset', self.data_root, self.label_file_list, self.ratio_list,
                                   lambda path: read_paddle_label_file(path, type(self).__name__))
        data_list = [dict(img_path=osp.join(data_dir, img), height=None, width=None, instances=instances)
                     for img, instances in entries]
        return data_list
