"""Text-recognition datasets: MMOCR 1.x textrecog JSON and PaddleOCR recognition label files.

Both give one entry per word image: ``dict(img_path=str, instances=[dict(text=str)])`` (the MMOCR 1.x textrecog
layout, see docs/data_contract.md). ``LoadOCRAnnotations(with_text=True)`` turns it into ``gt_texts`` and
``PackTextRecogInputs`` into the sample's ``gt_text``. A bad record raises an error naming the file and the
line (or data_list entry).
"""
from __future__ import annotations

import os.path as osp
from collections.abc import Sequence

from visioncraft.data import BaseDataset
from visioncraft.data.label_files import check_label_files, iter_label_files
from visioncraft.errors import AnnotationError, read_text_lines
from visioncraft.registry import DATASETS

__all__ = ['TextRecogDataset', 'PaddleOCRRecDataset', 'read_paddle_rec_label_file']


def read_paddle_rec_label_file(path: str, delimiter: str = '\t', owner: str = '') -> list[tuple[str, str]]:
    """``(image path as written, text)`` per line of a PaddleOCR recognition label file: ``path<TAB>text``
    (UTF-8, a BOM is accepted). The text is everything after the first delimiter (it may be empty, or hold
    spaces); blank lines are skipped. A line without the delimiter or without a path, or a byte that is not UTF-8,
    is an error naming ``owner`` (the dataset class, when given), the file and the line."""
    lead = f'{owner}: ' if owner else ''
    out = []
    for lineno, line in enumerate(read_text_lines(path, f'{lead}label file'), 1):
        line = line.rstrip('\r\n')
        if not line.strip():
            continue
        if delimiter not in line:
            raise AnnotationError(f'{lead}{path}, line {lineno}: expected "image_path{delimiter!r}text", found no '
                                  f'{delimiter!r} in {line[:80]!r}')
        img, text = line.split(delimiter, 1)
        if not img.strip():
            raise AnnotationError(f'{lead}{path}, line {lineno}: the image path (before the delimiter) is empty')
        out.append((img.strip(), text))
    return out


class _TextRecogBase(BaseDataset):
    METAINFO: dict = dict()
    sample_name = 'word image'

    def filter_data(self, data_list: list[dict]) -> list[dict]:
        """``filter_cfg=dict(filter_empty_gt=True)`` drops entries whose text is empty; ``max_text_len=N`` drops
        longer texts (a CTC model cannot emit more characters than it has frames). Never filters in test mode."""
        if self.test_mode or not self.filter_cfg:
            return data_list
        empty = self.filter_cfg.get('filter_empty_gt', False)
        max_len = self.filter_cfg.get('max_text_len')
        out = []
        for info in data_list:
            text = info['instances'][0]['text'] if info['instances'] else ''
            if (empty and not text) or (max_len is not None and len(text) > max_len):
                continue
            out.append(info)
        return out


@DATASETS.register_module()
class TextRecogDataset(_TextRecogBase):
    """MMOCR 1.x text-recognition JSON: ``{"metainfo": {...}, "data_list": [{"img_path": ..., "instances":
    [{"text": ...}]}]}``. ``data_prefix=dict(img_path=...)`` is joined to each ``img_path``.

    MMOCR's configs call it ``OCRDataset``, which works here too: ``OCRDataset`` reads a text-detection JSON
    itself and hands a text-recognition one (``metainfo.task_name == 'textrecog'``, or instances with ``text``
    only) to this class.
    """

    def parse_data_info(self, raw_data_info: dict) -> dict:
        if not isinstance(raw_data_info, dict):
            raise AnnotationError(f'{type(self).__name__}: {self.ann_file}: a data_list entry is '
                                  f'{raw_data_info!r:.80}, not an object')
        info = super().parse_data_info(raw_data_info)
        where = f'{type(self).__name__}: {self.ann_file}, data_list entry {raw_data_info.get("img_path", "?")!r}'
        if not isinstance(info.get('img_path'), str) or not info['img_path']:
            raise AnnotationError(f'{where}: no "img_path" key (a string)')
        instances = info.get('instances')
        if not isinstance(instances, list) or len(instances) != 1:
            raise AnnotationError(f'{where}: "instances" must be a list with one {{"text": ...}} (a word image has '
                                  f'one text), got {instances!r:.80}')
        inst = instances[0]
        if not isinstance(inst, dict) or not isinstance(inst.get('text'), str):
            raise AnnotationError(f'{where}: instance 0 has no "text" string: {inst!r:.80}')
        info['instances'] = [dict(text=inst['text'])]
        return info




@DATASETS.register_module()
class PaddleOCRRecDataset(_TextRecogBase):
    """PaddleOCR ``SimpleDataSet`` for recognition: ``data_dir`` plus ``label_file_list`` of label files with
    lines ``image_path<TAB>text`` (see :func:`read_paddle_rec_label_file`); image paths are joined to
    ``data_dir`` (itself joined to ``data_root`` when given). ``ratio_list`` (one per file, in (0, 1]) keeps the
    first ``ratio`` share of each file's lines, deterministically (PaddleOCR samples that share at random).
    """

    def __init__(self, data_dir: str = '', label_file_list: Sequence[str] | str = (),
                 ratio_list: Sequence[float] | float | None = None, delimiter: str = '\t', **kwargs) -> None:
        files, ratios = check_label_files('PaddleOCRRecDataset', label_file_list, ratio_list)
        if not delimiter:
            raise ValueError('PaddleOCRRecDataset: delimiter must not be empty')
        self.data_dir, self.delimiter = data_dir, delimiter
        self.label_file_list, self.ratio_list = files, ratios
        super().__init__(**kwargs)

    def load_data_list(self) -> list[dict]:
        data_dir = osp.join(self.data_root, self.data_dir) if self.data_root else self.data_dir
        entries = iter_label_files('PaddleOCRRecDataset', self.data_root, self.label_file_list, self.ratio_list,
                                   lambda path: read_paddle_rec_label_file(path, self.delimiter,
                                                                           type(self).__name__))
        data_list = [dict(img_path=osp.join(data_dir, img), instances=[dict(text=text)]) for img, text in entries]
        return data_list
