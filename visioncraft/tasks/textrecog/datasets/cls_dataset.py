"""Text-direction classification data: PaddleOCR's ``cls`` label files (``image_path<TAB>label``, label one of
``label_list``, ``0`` / ``180`` for PP-OCR's classifier)."""
from __future__ import annotations

import os.path as osp
from collections.abc import Sequence

from visioncraft.data import BaseDataset
from visioncraft.data.label_files import check_label_files, iter_label_files
from visioncraft.errors import AnnotationError
from visioncraft.registry import DATASETS

from .recog_datasets import read_paddle_rec_label_file

__all__ = ['PaddleOCRClsDataset']


@DATASETS.register_module()
class PaddleOCRClsDataset(BaseDataset):
    """PaddleOCR ``SimpleDataSet`` for the text-direction classifier: ``data_dir`` plus ``label_file_list`` of
    label files with lines ``image_path<TAB>label``. Each entry is ``dict(img_path, gt_label)``, ``gt_label`` the
    index of the label in ``label_list`` (PaddleOCR's ``ClsLabelEncode``); ``PackInputs`` makes it the sample's
    ``gt_label`` tensor. A label that is not in ``label_list`` is an error naming the file and the label.
    ``ratio_list`` as :class:`PaddleOCRRecDataset`.
    """

    METAINFO: dict = dict()
    sample_name = 'text-line crop'

    def __init__(self, data_dir: str = '', label_file_list: Sequence[str] | str = (),
                 label_list: Sequence[str] = ('0', '180'), ratio_list: Sequence[float] | float | None = None,
                 delimiter: str = '\t', **kwargs) -> None:
        files, ratios = check_label_files('PaddleOCRClsDataset', label_file_list, ratio_list)
        if not delimiter:
            raise ValueError('PaddleOCRClsDataset: delimiter must not be empty')
        self.label_list = [str(lb) for lb in label_list]
        if len(self.label_list) < 2 or len(set(self.label_list)) != len(self.label_list):
            raise ValueError(f'PaddleOCRClsDataset: label_list needs at least two distinct labels, got {label_list!r}')
        self.data_dir, self.delimiter = data_dir, delimiter
        self.label_file_list, self.ratio_list = files, ratios
        kwargs.setdefault('metainfo', dict(classes=tuple(self.label_list)))
        super().__init__(**kwargs)

    def load_data_list(self) -> list[dict]:
        data_dir = osp.join(self.data_root, self.data_dir) if self.data_root else self.data_dir
        index = {lb: i for i, lb in enumerate(self.label_list)}

        def read(path: str) -> list[tuple[str, int]]:
            entries = []
            for img, label in read_paddle_rec_label_file(path, self.delimiter, type(self).__name__):
                if label.strip() not in index:
                    raise AnnotationError(f'PaddleOCRClsDataset: {path}: image {img!r} has the label {label!r}, '
                                          f'which is not in label_list {self.label_list}')
                entries.append((img, index[label.strip()]))
            return entries

        entries = iter_label_files('PaddleOCRClsDataset', self.data_root, self.label_file_list, self.ratio_list, read)
        return [dict(img_path=osp.join(data_dir, img), gt_label=label) for img, label in entries]
