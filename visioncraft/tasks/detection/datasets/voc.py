"""Pascal VOC devkit dataset (``ImageSets/Main/*.txt`` + ``Annotations/*.xml`` + ``JPEGImages/*.jpg``)."""
from __future__ import annotations

import math
import os.path as osp
import re
import xml.etree.ElementTree as ET

from visioncraft.data.validation import RecordFaults
from visioncraft.errors import AnnotationError, InvalidAnnotationError, read_text_lines
from visioncraft.registry import DATASETS

from .base_det import BaseDetDataset, make_palette

__all__ = ['VOCDataset', 'VOC_CLASSES']

VOC_CLASSES = ('aeroplane', 'bicycle', 'bird', 'boat', 'bottle', 'bus', 'car', 'cat', 'chair', 'cow',
               'diningtable', 'dog', 'horse', 'motorbike', 'person', 'pottedplant', 'sheep', 'sofa', 'train',
               'tvmonitor')


@DATASETS.register_module()
class VOCDataset(BaseDetDataset):
    """A Pascal VOC split.

    Args:
        ann_file: the split's id list, e.g. ``'VOC2007/ImageSets/Main/trainval.txt'`` (joined to
            ``data_root``); one image id per line.
        data_prefix: ``dict(sub_data_root='VOC2007/')``: the year's folder (joined to ``data_root``), holding
            ``Annotations/<id>.xml`` and ``JPEGImages/<id>.jpg``.
        metainfo: ``dict(classes=(...))`` keeps those classes only, labelled 0..C-1 in the order given.
        filter_cfg: ``dict(filter_empty_gt=True, min_size=32)``: see :class:`BaseDetDataset`; also
            ``bbox_min_size=N`` (training only): objects whose box is under N pixels wide or high get
            ``ignore_flag=1``, as difficult ones do.
        img_subdir, ann_subdir, img_suffix: folder and suffix overrides for VOC-like layouts.
        skip_invalid: an object whose ``<bndbox>`` is not finite numbers (``nan``, ``inf``) or has
            ``xmax < xmin`` / ``ymax < ymin`` is an error naming the XML file, the object and the field (False,
            the default), or is skipped (True; one warning line gives the count and the first reasons).
        **kwargs: the rest of :class:`~visioncraft.data.BaseDataset`'s arguments.

    Each entry is ``dict(img_path, img_id (str), xml_path, height, width, instances=[...])``; the size comes
    from the XML's ``<size>`` (or from the image header when missing or zero). VOC's 1-based inclusive
    ``xmin..xmax`` pixel indices become continuous 0-based ``[xmin - 1, ymin - 1, xmax, ymax]``; objects marked
    ``difficult`` get ``ignore_flag=1``. ``year`` is the 4-digit year found in ``sub_data_root`` (or None).
    """

    METAINFO = dict(classes=VOC_CLASSES, palette=make_palette(len(VOC_CLASSES)))

    FILTER_KEYS = ('filter_empty_gt', 'min_size', 'bbox_min_size')

    def __init__(self, *args, data_prefix: dict | None = None, img_subdir: str = 'JPEGImages',
                 ann_subdir: str = 'Annotations', img_suffix: str = '.jpg', skip_invalid: bool = False,
                 **kwargs) -> None:
        self.skip_invalid = bool(skip_invalid)
        self.num_invalid_skipped = 0
        prefix = dict(sub_data_root='') if data_prefix is None else dict(data_prefix)
        unknown = set(prefix) - {'sub_data_root'}
        if unknown:
            raise KeyError(f'VOCDataset: unknown data_prefix key(s) {sorted(unknown)}; use '
                           "data_prefix=dict(sub_data_root='VOC2007/')")
        self.img_subdir, self.ann_subdir, self.img_suffix = img_subdir, ann_subdir, img_suffix
        found = re.search(r'(?:19|20)\d\d', prefix['sub_data_root'] or '')
        self.year = int(found.group(0)) if found else None
        super().__init__(*args, data_prefix=prefix, **kwargs)

    def load_data_list(self) -> list[dict]:
        if not self.ann_file:
            raise ValueError('VOCDataset: no ann_file given (an ImageSets/Main/*.txt split file)')
        img_ids = [line.split()[0] for line in read_text_lines(self.ann_file, 'VOCDataset: split file')
                   if line.strip()]
        root = self.data_prefix.get('sub_data_root', '')
        label_of = {name: i for i, name in enumerate(self._metainfo['classes'])}
        data_list = []
        faults = RecordFaults('VOCDataset', skip_invalid=self.skip_invalid)  # records name their XML file
        for img_id in img_ids:
            xml_path = osp.join(root, self.ann_subdir, f'{img_id}.xml')
            info = dict(img_path=osp.join(root, self.img_subdir, f'{img_id}{self.img_suffix}'), img_id=img_id,
                        xml_path=xml_path)
            data_list.append(self._parse_xml(info, label_of, faults))
        self.num_invalid_skipped = faults.count
        faults.warn()
        return data_list

    def _parse_xml(self, info: dict, label_of: dict[str, int], faults: RecordFaults | None = None) -> dict:
        xml_path = info['xml_path']
        faults = faults or RecordFaults('VOCDataset', skip_invalid=self.skip_invalid)
        try:
            root = ET.parse(xml_path).getroot()
        except FileNotFoundError:
            raise FileNotFoundError(f'VOCDataset: annotation {xml_path} of image {info["img_id"]} (listed in '
                                    f'{self.ann_file}) does not exist') from None
        except ET.ParseError as exc:  # its message gives the line and column
            raise AnnotationError(f'VOCDataset: cannot parse {xml_path}: {exc}') from None
        size = root.find('size')
        try:
            width = int(float(size.findtext('width', 0))) if size is not None else 0
            height = int(float(size.findtext('height', 0))) if size is not None else 0
        except (TypeError, ValueError, OverflowError):
            raise InvalidAnnotationError(f'VOCDataset: {xml_path}: <size> width / height '
                                         f'{size.findtext("width")!r} / {size.findtext("height")!r} are not '
                                         'integers') from None
        if width < 0 or height < 0:
            raise InvalidAnnotationError(f'VOCDataset: {xml_path}: <size> width / height {width} / {height} must '
                                         'be > 0')
        if not width or not height:
            from PIL import Image
            with Image.open(info['img_path']) as im:
                width, height = im.size
        info.update(width=width, height=height)
        instances = []
        # filter_cfg.bbox_min_size (training only): a box narrower or lower than it is kept but ignored
        min_box = None if self.test_mode or not self.filter_cfg else self.filter_cfg.get('bbox_min_size')
        for k, obj in enumerate(root.findall('object')):
            name = (obj.findtext('name') or '').strip()
            if name not in label_of:
                continue
            box = obj.find('bndbox')
            if box is None:
                raise AnnotationError(f'VOCDataset: an object {name!r} in {xml_path} has no <bndbox>')
            try:
                xmin, ymin, xmax, ymax = (float(box.findtext(c)) for c in ('xmin', 'ymin', 'xmax', 'ymax'))
            except (TypeError, ValueError):
                raise AnnotationError(f'VOCDataset: an object {name!r} in {xml_path} has an incomplete or '
                                      'non-numeric <bndbox>') from None
            coords = [xmin, ymin, xmax, ymax]
            problem = None
            if not all(map(math.isfinite, coords)):  # float() reads 'nan' and 'inf'
                problem = f'bndbox [xmin, ymin, xmax, ymax] = {coords} has a non-finite number'
            elif xmax < xmin or ymax < ymin:
                problem = f'bndbox [xmin, ymin, xmax, ymax] = {coords} has a negative size'
            if problem:
                faults.fault(f'{xml_path}: object {k} ({name})', problem, kind='object')
                continue
            try:
                difficult = int(float(obj.findtext('difficult') or 0))
            except (ValueError, OverflowError):
                raise InvalidAnnotationError(f'VOCDataset: {xml_path}: object {k} ({name}): <difficult> '
                                             f'{obj.findtext("difficult")!r} is not 0 or 1') from None
            bbox = [xmin - 1, ymin - 1, xmax, ymax]
            small = min_box is not None and (bbox[2] - bbox[0] < min_box or bbox[3] - bbox[1] < min_box)
            instances.append(dict(bbox=bbox, bbox_label=label_of[name], ignore_flag=1 if difficult or small else 0))
        info['instances'] = instances
        return info
