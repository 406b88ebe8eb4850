"""Text-recognition readers: parse errors and bad records are ONE line naming the reader, the file and the line (or
data_list entry); a filter that removes every word image is an error naming it."""
from __future__ import annotations

import json

import pytest

import visioncraft  # noqa: F401  (fills the registries)
from visioncraft.data.validation import check_not_empty
from visioncraft.errors import AnnotationError, EmptyDatasetError, user_error_message
from visioncraft.registry import DATASETS


def test_paddle_label_file_not_utf8_names_reader_file_and_line(tmp_path):
    path = tmp_path / 'rec.txt'
    path.write_bytes('a.png\tok\nb.png\tcafé\n'.encode() + b'c.png\tcaf\xe9\n')
    with pytest.raises(AnnotationError) as err:
        DATASETS.build(dict(type='PaddleOCRRecDataset', label_file_list=[str(path)]))
    line = user_error_message(err.value)
    assert line.startswith(f'error: PaddleOCRRecDataset: label file {path}, line 3: not UTF-8 text'), line


def test_paddle_bad_line_names_the_reader(tmp_path):
    path = tmp_path / 'rec.txt'
    path.write_text('a.png\tok\nno_tab\n', encoding='utf-8')
    with pytest.raises(AnnotationError, match=rf'^PaddleOCRRecDataset: {path}, line 2: expected'):
        DATASETS.build(dict(type='PaddleOCRRecDataset', label_file_list=[str(path)]))


@pytest.mark.parametrize('text, words', [
    (b'{"data_list": [\n  {"img_path": "a.png", "instances": [{"text": "x"}]},\n]}', r'line 3 column 1: invalid JSON'),
    (b'{"data_list": [\n{"img_path": "a.png", "instances": [{"text": "caf\xe9"}]}]}', r'line 2: not UTF-8 text'),
])
def test_mmocr_json_parse_errors_name_file_line_and_column(tmp_path, text, words):
    path = tmp_path / 'rec.json'
    path.write_bytes(text)
    with pytest.raises(AnnotationError, match=rf'rec\.json, {words}'):
        DATASETS.build(dict(type='TextRecogDataset', ann_file=str(path)))


def test_entry_that_is_not_an_object_names_reader_and_file(tmp_path):
    path = tmp_path / 'rec.json'
    path.write_text(json.dumps(dict(data_list=[5])))
    with pytest.raises(AnnotationError, match=rf'^TextRecogDataset: {path}: a data_list entry is 5, not an object'):
        DATASETS.build(dict(type='TextRecogDataset', ann_file=str(path)))


def test_filter_that_removes_every_word_is_named(tmp_path):
    path = tmp_path / 'rec.txt'
    path.write_text('a.png\t\nb.png\tthis text is too long\n', encoding='utf-8')
    ds = DATASETS.build(dict(type='PaddleOCRRecDataset', label_file_list=[str(path)],
                             filter_cfg=dict(filter_empty_gt=True, max_text_len=5)))
    assert len(ds) == 0
    with pytest.raises(EmptyDatasetError) as err:
        check_not_empty(ds, 'train_dataloader')
    assert str(err.value) == (f'train_dataloader.dataset: PaddleOCRRecDataset: {path}: filter_cfg=dict(filter_empty_gt'
                              '=True, max_text_len=5) removed all 2 word images, so there is nothing to train on')
