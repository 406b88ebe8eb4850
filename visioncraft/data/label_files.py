"""PaddleOCR ``SimpleDataSet`` label-file lists: ``label_file_list`` + ``ratio_list``, shared by the detection and
recognition readers."""
from __future__ import annotations

import os.path as osp
from collections.abc import Callable, Iterator, Sequence
from typing import Any

__all__ = ['check_label_files', 'iter_label_files']


def check_label_files(owner: str, label_file_list: Sequence[str] | str,
                      ratio_list: Sequence[float] | float | None) -> tuple[list[str], list[float]]:
    """``(files, ratios)``: one ratio in (0, 1] per file (None: all 1; a number: the same for every file).
    Errors name ``owner`` (the dataset class) and the bad value."""
    files = [label_file_list] if isinstance(label_file_list, str) else list(label_file_list)
    if not files:
        raise ValueError(f'{owner}: label_file_list is empty')
    ratios = [1.0] * len(files) if ratio_list is None else (
        [float(ratio_list)] * len(files) if isinstance(ratio_list, (int, float)) else list(ratio_list))
    if len(ratios) != len(files) or any(not 0 < r <= 1 for r in ratios):
        raise ValueError(f'{owner}: ratio_list {ratio_list} must give one value in (0, 1] per '
                         f'label file ({len(files)} files)')
    return files, ratios


def iter_label_files(owner: str, data_root: str | None, files: Sequence[str], ratios: Sequence[float],
                     read: Callable[[str], list[Any]]) -> Iterator[Any]:
    """The entries ``read(path)`` returns for each label file (joined to ``data_root`` unless absolute), keeping
    the first ``ratio`` share of each file's entries (at least one), deterministically (PaddleOCR samples that
    share at random). A missing file is a FileNotFoundError naming it."""
    for file, ratio in zip(files, ratios):
        path = osp.join(data_root, file) if data_root and not osp.isabs(file) else file
        if not osp.exists(path):
            raise FileNotFoundError(f'{owner}: label file {path!r} (label_file_list) does not exist')
        entries = read(path)
        yield from (entries[:max(1, round(len(entries) * ratio))] if entries else entries)
