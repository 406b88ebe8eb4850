"""Convert detection datasets to COCO instances JSON: Pascal VOC devkits, Cityscapes ``gtFine`` polygons, and
plain image folders (images only, for inference without ground truth).

Every writer produces ``{'images', 'annotations', 'categories'}`` with image and annotation ids counting from 1
in a fixed (sorted) order, so the same input always gives the same file. Boxes are ``[x, y, w, h]`` in the
continuous pixel frame of :class:`~visioncraft.tasks.detection.datasets.CocoDataset` (pixel ``(i, j)`` covers
``[j, j+1) x [i, i+1)``). The command lines of ``tools/dataset_converters/`` are in
:mod:`visioncraft.cli.converters`.
"""
from __future__ import annotations

import json
import multiprocessing
import os
import os.path as osp
import xml.etree.ElementTree as ET
from pathlib import Path

from visioncraft.data.loading import IMG_EXTENSIONS as _IMAGE_FILES
from visioncraft.errors import AnnotationError, ImageReadError, read_json, read_text_lines

from .datasets.voc import VOC_CLASSES

__all__ = ['VOC_SPLITS', 'CITYSCAPES_CLASSES', 'convert_voc', 'voc_split_to_coco', 'convert_cityscapes',
           'cityscapes_split_to_coco', 'images_to_coco', 'convert_image_folder']

#: splits converted per VOC year, when the devkit has their ``ImageSets/Main/<split>.txt``
VOC_SPLITS = {'2007': ('train', 'val', 'trainval', 'test'), '2012': ('train', 'val', 'trainval', 'test')}

#: the 8 Cityscapes classes with instances, and their official Cityscapes label ids (used as category ids)
CITYSCAPES_CLASSES = {'person': 24, 'rider': 25, 'car': 26, 'truck': 27, 'bus': 28, 'train': 31,
                      'motorcycle': 32, 'bicycle': 33}

IMG_EXTENSIONS = _IMAGE_FILES + ('.ppm', '.pgm')  # images2coco also takes Netpbm files


def _dump(obj: dict, path: str | os.PathLike) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f'.{path.name}.tmp-{os.getpid()}')
    tmp.write_text(json.dumps(obj))
    os.replace(tmp, path)
    return path


def _image_size(path: str | os.PathLike) -> tuple[int, int]:
    from PIL import Image
    try:
        with Image.open(path) as im:  # reads the header only
            return im.size
    except FileNotFoundError:
        raise FileNotFoundError(f'image {path} does not exist') from None
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:  # PIL's errors for a bad file
        raise ImageReadError(f'{path} is not a readable image ({exc})') from None


def _polygon_area(flat: list[float]) -> float:
    xs, ys = flat[0::2], flat[1::2]
    n = len(xs)
    return abs(sum(xs[i] * ys[(i + 1) % n] - xs[(i + 1) % n] * ys[i] for i in range(n))) / 2.0


# ----------------------------------------------------------------------------------------------- Pascal VOC


def _parse_voc_xml(xml_path: str, img_path: str) -> tuple[int, int, list[dict]]:
    try:
        root = ET.parse(xml_path).getroot()
    except FileNotFoundError:
        raise FileNotFoundError(f'VOC annotation {xml_path} does not exist') from None
    except ET.ParseError as exc:
        raise AnnotationError(f'cannot parse {xml_path}: {exc}') from None
    size = root.find('size')
    try:
        width = int(float(size.findtext('width') or 0)) if size is not None else 0
        height = int(float(size.findtext('height') or 0)) if size is not None else 0
    except (ValueError, OverflowError):
        raise AnnotationError(f'{xml_path}: <size> <width> / <height> must be numbers, got '
                              f'{size.findtext("width")!r} / {size.findtext("height")!r}') from None
    if not width or not height:
        width, height = _image_size(img_path)
    objects = []
    for obj in root.findall('object'):
        name = (obj.findtext('name') or '').strip()
        if name not in VOC_CLASSES:
            raise AnnotationError(f'{xml_path}: object class {name!r} is not one of the 20 VOC classes')
        box = obj.find('bndbox')
        try:
            xmin, ymin, xmax, ymax = (float(box.findtext(k)) for k in ('xmin', 'ymin', 'xmax', 'ymax'))
        except (AttributeError, TypeError, ValueError):
            raise AnnotationError(f'{xml_path}: object {name!r} has a missing, incomplete or non-numeric <bndbox>') \
                from None
        try:
            difficult = int(float(obj.findtext('difficult') or 0))
        except (ValueError, OverflowError):
            raise AnnotationError(f'{xml_path}: object {name!r}: <difficult> must be 0 or 1, got '
                                  f'{obj.findtext("difficult")!r}') from None
        objects.append(dict(name=name, box=(xmin, ymin, xmax, ymax), difficult=difficult))
    return width, height, objects


def voc_split_to_coco(devkit: str | os.PathLike, years: list[str], split: str) -> dict:
    """The COCO dict of ``split`` over ``years`` (several years concatenate, e.g. VOC07+12 trainval).

    ``file_name`` is relative to ``devkit`` (``'VOC2007/JPEGImages/000005.jpg'``). VOC's 1-based inclusive
    ``xmin..xmax`` become ``[xmin - 1, ymin - 1, xmax - xmin + 1, ymax - ymin + 1]`` (the frame
    :class:`VOCDataset` uses). Objects marked ``difficult`` get ``iscrowd=1``, so COCO-style evaluation ignores
    them and :class:`CocoDataset` gives them ``ignore_flag=1``. No ``segmentation`` is written (VOC's
    detection annotations have none). Categories are the 20 VOC classes, ids 1..20.
    """
    devkit = str(devkit)
    images, anns = [], []
    for year in years:
        sub = osp.join(devkit, f'VOC{year}')
        split_file = osp.join(sub, 'ImageSets', 'Main', f'{split}.txt')
        if not osp.isfile(split_file):
            raise FileNotFoundError(f'VOC split file {split_file} does not exist')
        with open(split_file, encoding='utf-8') as f:
            ids = [line.split()[0] for line in f if line.strip()]
        for voc_id in ids:
            file_name = f'VOC{year}/JPEGImages/{voc_id}.jpg'
            width, height, objects = _parse_voc_xml(osp.join(sub, 'Annotations', f'{voc_id}.xml'),
                                                    osp.join(devkit, file_name))
            img_id = len(images) + 1
            images.append(dict(id=img_id, file_name=file_name, width=width, height=height))
            for obj in objects:
                xmin, ymin, xmax, ymax = obj['box']
                w, h = xmax - xmin + 1, ymax - ymin + 1
                anns.append(dict(id=len(anns) + 1, image_id=img_id, category_id=VOC_CLASSES.index(obj['name']) + 1,
                                 bbox=[xmin - 1, ymin - 1, w, h], area=w * h, iscrowd=1 if obj['difficult'] else 0))
    cats = [dict(id=i + 1, name=name, supercategory='none') for i, name in enumerate(VOC_CLASSES)]
    return dict(images=images, annotations=anns, categories=cats)


def convert_voc(devkit: str | os.PathLike, out_dir: str | os.PathLike | None = None) -> list[Path]:
    """Convert every split of every year found under ``devkit`` (``VOC2007/``, ``VOC2012/``).

    Writes ``voc07_<split>.json`` / ``voc12_<split>.json`` for each split whose list file exists (train, val,
    trainval, test), plus ``voc0712_trainval.json`` when both years have trainval. Returns the written paths.
    """
    devkit = Path(devkit)
    out_dir = Path(out_dir) if out_dir is not None else devkit
    years = [y for y in VOC_SPLITS if (devkit / f'VOC{y}').is_dir()]
    if not years:
        raise FileNotFoundError(f'{devkit} holds neither VOC2007/ nor VOC2012/; give the VOCdevkit folder')
    jobs = []
    for year in years:
        for split in VOC_SPLITS[year]:
            if (devkit / f'VOC{year}' / 'ImageSets' / 'Main' / f'{split}.txt').is_file():
                jobs.append(([year], split, f'voc{year[2:]}_{split}.json'))
    if all((devkit / f'VOC{y}' / 'ImageSets' / 'Main' / 'trainval.txt').is_file() for y in VOC_SPLITS):
        jobs.append((list(VOC_SPLITS), 'trainval', 'voc0712_trainval.json'))
    written = []
    for ys, split, name in jobs:
        coco = voc_split_to_coco(devkit, ys, split)
        written.append(_dump(coco, out_dir / name))
        print(f'{name}: {len(coco["images"])} images, {len(coco["annotations"])} boxes')
    return written


# ------------------------------------------------------------------------------------------------ Cityscapes


def _cityscapes_image(task: tuple[str, str, str]) -> dict:
    """Read one ``*_gtFine_polygons.json``: the image entry and its annotations (ids not assigned yet)."""
    file_name, img_path, poly_path = task
    if not osp.exists(poly_path):
        raise FileNotFoundError(f'Cityscapes polygons {poly_path} (for image {img_path}) do not exist')
    gt = read_json(poly_path, 'Cityscapes polygons')
    try:
        width, height = int(gt['imgWidth']), int(gt['imgHeight'])
    except (KeyError, TypeError, ValueError):
        raise AnnotationError(f'{poly_path}: expected a JSON object with integer "imgWidth" and "imgHeight"') \
            from None
    objects = gt.get('objects', [])
    if not isinstance(objects, list):
        raise AnnotationError(f'{poly_path}: "objects" must be a list, got {type(objects).__name__}')
    anns = []
    for k, obj in enumerate(objects):
        if not isinstance(obj, dict):
            raise AnnotationError(f'{poly_path}: object {k} must be a JSON object, got {obj!r:.80}')
        label = obj.get('label')
        # '<class>group' labels cover crowds without instance ids: left out, as in the instance benchmark
        if label not in CITYSCAPES_CLASSES or obj.get('deleted'):
            continue
        pts = obj.get('polygon') or []
        if len(pts) < 3:
            continue
        # Cityscapes vertices are pixel indices; pixel i's centre is at i + 0.5 in the continuous frame.
        try:
            xs = [float(p[0]) + 0.5 for p in pts]
            ys = [float(p[1]) + 0.5 for p in pts]
        except (TypeError, ValueError, IndexError, KeyError):
            raise AnnotationError(f'{poly_path}: object {k} ({label}): "polygon" must be [[x, y], ...], got '
                                  f'{pts!r:.80}') from None
        x1, y1 = max(min(xs), 0.0), max(min(ys), 0.0)
        x2, y2 = min(max(xs), float(width)), min(max(ys), float(height))
        if x2 <= x1 or y2 <= y1:
            continue
        flat = [v for xy in zip(xs, ys) for v in xy]
        anns.append(dict(category_id=CITYSCAPES_CLASSES[label], bbox=[x1, y1, x2 - x1, y2 - y1],
                         area=_polygon_area(flat), iscrowd=0, segmentation=[flat]))
    return dict(image=dict(file_name=file_name, width=width, height=height), anns=anns)


def cityscapes_split_to_coco(img_dir: str | os.PathLike, gt_dir: str | os.PathLike, nproc: int = 1) -> dict:
    """The COCO dict of one split: ``img_dir/<city>/<name>_leftImg8bit.png`` with
    ``gt_dir/<city>/<name>_gtFine_polygons.json``.

    ``file_name`` is ``'<city>/<name>_leftImg8bit.png'`` (relative to ``img_dir``). Instances of the 8 classes
    of :data:`CITYSCAPES_CLASSES` keep their whole polygon (occluded parts included), shifted by half a pixel
    into the continuous frame; the box is the polygon's extent clipped to the image. Crowd ('cargroup', ...)
    regions are left out. Images without instances are kept. ``nproc`` worker processes read the files; the
    result does not depend on it.
    """
    img_dir, gt_dir = Path(img_dir), Path(gt_dir)
    suffix = '_leftImg8bit.png'
    tasks = []
    for img_path in sorted(img_dir.glob(f'*/*{suffix}')):
        rel = img_path.relative_to(img_dir).as_posix()
        poly = gt_dir / (rel[:-len(suffix)] + '_gtFine_polygons.json')
        tasks.append((rel, str(img_path), str(poly)))
    if nproc > 1 and len(tasks) > 1:
        with multiprocessing.get_context().Pool(min(nproc, len(tasks))) as pool:
            parsed = pool.map(_cityscapes_image, tasks, chunksize=max(1, len(tasks) // (4 * nproc)))
    else:
        parsed = [_cityscapes_image(t) for t in tasks]
    images, anns = [], []
    for item in parsed:
        img_id = len(images) + 1
        images.append(dict(id=img_id, **item['image']))
        for ann in item['anns']:
            anns.append(dict(id=len(anns) + 1, image_id=img_id, **ann))
    cats = [dict(id=cat_id, name=name, supercategory='none') for name, cat_id in CITYSCAPES_CLASSES.items()]
    return dict(images=images, annotations=anns, categories=cats)


def convert_cityscapes(root: str | os.PathLike, out_dir: str | os.PathLike | None = None, *,
                       img_dir: str = 'leftImg8bit', gt_dir: str = 'gtFine', nproc: int = 1) -> list[Path]:
    """Write ``instancesonly_filtered_gtFine_<split>.json`` for each of train / val / test found under
    ``root/img_dir`` (default output folder: ``root/annotations``). Returns the written paths."""
    root = Path(root)
    out_dir = Path(out_dir) if out_dir is not None else root / 'annotations'
    splits = [s for s in ('train', 'val', 'test') if (root / img_dir / s).is_dir()]
    if not splits:
        raise FileNotFoundError(f'{root / img_dir} has none of the train/, val/, test/ folders')
    written = []
    for split in splits:
        coco = cityscapes_split_to_coco(root / img_dir / split, root / gt_dir / split, nproc=nproc)
        name = f'instancesonly_filtered_gtFine_{split}.json'
        written.append(_dump(coco, out_dir / name))
        print(f'{name}: {len(coco["images"])} images, {len(coco["annotations"])} instances')
    return written


# ------------------------------------------------------------------------------------------------ image folder


def images_to_coco(img_dir: str | os.PathLike, classes: list[str] | tuple[str, ...],
                   exclude_extensions: list[str] | tuple[str, ...] = ()) -> dict:
    """A COCO dict listing every image under ``img_dir`` (recursively, sorted), with the given categories
    (ids from 1) and no annotations. ``file_name`` is relative to ``img_dir``; sizes come from the image
    headers. Files whose name ends with one of ``exclude_extensions`` (case-insensitive) are left out."""
    img_dir = Path(img_dir)
    if not img_dir.is_dir():
        raise FileNotFoundError(f'image folder {img_dir} does not exist')
    excluded = tuple(e.lower() if e.startswith('.') else f'.{e.lower()}' for e in exclude_extensions)
    images = []
    for path in sorted(p for p in img_dir.rglob('*') if p.is_file()):
        name = path.name.lower()
        if not name.endswith(IMG_EXTENSIONS) or (excluded and name.endswith(excluded)):
            continue
        width, height = _image_size(path)
        images.append(dict(id=len(images) + 1, file_name=path.relative_to(img_dir).as_posix(), width=width,
                           height=height))
    cats = [dict(id=i + 1, name=name, supercategory='none') for i, name in enumerate(classes)]
    return dict(images=images, annotations=[], categories=cats)


def _read_classes(path: str | os.PathLike) -> list[str]:
    if os.path.isdir(path):
        raise IsADirectoryError(f'class list {path} is a folder, not a text file')
    classes = [line.strip() for line in read_text_lines(path, 'class list') if line.strip()]
    if not classes:
        raise AnnotationError(f'{path} lists no class (one class name a line)')
    if len(set(classes)) != len(classes):
        raise AnnotationError(f'{path} lists a class twice: {sorted({c for c in classes if classes.count(c) > 1})}')
    return classes


def convert_image_folder(img_dir: str | os.PathLike, classes_file: str | os.PathLike, out: str | os.PathLike,
                         exclude_extensions: list[str] | tuple[str, ...] = ()) -> Path:
    """Write :func:`images_to_coco` of ``img_dir`` to the JSON file ``out``, with the categories listed in the
    text file ``classes_file`` (one class name a line; blank lines skipped, a repeated name is an error), and
    print a summary line. Returns the written path."""
    coco = images_to_coco(img_dir, _read_classes(classes_file), exclude_extensions)
    path = _dump(coco, out)
    print(f'{out}: {len(coco["images"])} images, {len(coco["categories"])} categories')
    return path
