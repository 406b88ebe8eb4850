"""Dictionary: files (any language), the built-ins, special tokens, unknown characters (mapped or dropped, and
counted), case folding, and errors that name the file and line."""
from __future__ import annotations

import logging
import string

import pytest

import visioncraft  # noqa: F401
from visioncraft.registry import TASK_UTILS
from visioncraft.tasks.textrecog.codecs import BUILTIN_DICTS, Dictionary, builtin_dict_path


def _write(tmp_path, text, name='dict.txt'):
    p = tmp_path / name
    p.write_bytes(text.encode('utf-8'))
    return p


def test_builtins_have_the_documented_characters_and_load_by_name_or_path():
    low = Dictionary(builtin='lower_english_digits')
    assert low.chars == list(string.digits + string.ascii_lowercase) and len(low) == 36
    full = Dictionary(builtin='english_digits_symbols')
    assert len(full) == 90 and full.chars[:62] == list(string.digits + string.ascii_lowercase + string.ascii_uppercase)
    assert set(full.chars[62:]) == set('!"#$%&\'()*+,-./:;<=>?@[\\]_`~')
    assert {k: n for k, (_, n) in BUILTIN_DICTS.items()} == {'lower_english_digits': 36, 'english_digits_symbols': 90,
                                                              'ppocr_keys_v1': 6623}
    assert len(Dictionary(builtin='ppocr_keys_v1').chars) == 6623  # PP-OCR's list (the v4 rec model's metadata)
    by_path = Dictionary(dict_file=builtin_dict_path('english_digits_symbols'))
    assert by_path.chars == full.chars
    assert TASK_UTILS.build(dict(type='Dictionary', builtin='lower_english_digits')).chars == low.chars


def test_any_language_file_with_space_and_crlf(tmp_path):
    d = Dictionary(dict_file=_write(tmp_path, '\ufeff中\r\n文\r\n \r\né\n'))
    assert d.chars == ['中', '文', ' ', 'é']
    assert d.str2idx('文 中é') == [1, 2, 0, 3] and d.idx2str([3, 2, 0]) == 'é 中'


def test_special_tokens_follow_mmocr_order():
    d = Dictionary(builtin='lower_english_digits', with_start=True, with_end=True, with_padding=True,
                   with_unknown=True)
    assert (d.start_idx, d.end_idx, d.padding_idx, d.unknown_idx) == (36, 37, 38, 39) and len(d) == 40
    assert d.dict[36:] == ['<BOS>', '<EOS>', '<PAD>', '<UKN>']
    same = Dictionary(builtin='lower_english_digits', with_start=True, with_end=True, same_start_end=True)
    assert same.start_idx == same.end_idx == same.start_end_idx == 36 and same.dict[36] == '<BOS/EOS>'
    with pytest.raises(ValueError, match='same_start_end'):
        Dictionary(builtin='lower_english_digits', same_start_end=True)
    with pytest.raises(ValueError, match='already in'):
        Dictionary(builtin='english_digits_symbols', with_padding=True, padding_token='a')


def test_unknown_characters_are_mapped_or_dropped_and_counted(caplog):
    drop = Dictionary(builtin='lower_english_digits')
    with caplog.at_level(logging.WARNING, logger='visioncraft'):
        assert drop.str2idx('a!b?') == [10, 11]
        assert drop.str2idx('A') == []          # case kept: 'A' is unknown
    assert drop.num_unknown == 3 and drop.unknown_counter == {'!': 1, '?': 1, 'A': 1}
    assert sum("'!'" in r.getMessage() and 'dropped' in r.getMessage() for r in caplog.records) == 1  # logged once
    mapped = Dictionary(builtin='lower_english_digits', with_unknown=True, unknown_token='<UKN>')
    assert mapped.str2idx('a#') == [10, mapped.unknown_idx] and mapped.num_unknown == 1
    assert mapped.idx2str(mapped.str2idx('a#')) == 'a<UKN>'
    mapped.reset_unknown()
    assert mapped.num_unknown == 0 and not mapped.unknown_counter


def test_case_folding():
    lower = Dictionary(builtin='lower_english_digits', case='lower')
    assert lower.str2idx('HeLLo9') == Dictionary(builtin='lower_english_digits').str2idx('hello9')
    assert lower.num_unknown == 0
    upper = Dictionary(builtin='english_digits_symbols', case='upper')
    assert upper.idx2str(upper.str2idx('abC')) == 'ABC'
    with pytest.raises(ValueError, match='case must be'):
        Dictionary(builtin='lower_english_digits', case='title')


@pytest.mark.parametrize('content, line, what', [
    ('a\nb\n\nc\n', 3, 'empty line'),
    ('a\nbc\n', 2, 'expected one character'),
    ('a\nb\na\n', 3, "repeats line 1"),
])
def test_bad_files_name_the_file_and_line(tmp_path, content, line, what):
    p = _write(tmp_path, content)
    with pytest.raises(ValueError, match=f'{p}, line {line}: .*{what}'):
        Dictionary(dict_file=p)


def test_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match='exactly one of dict_file and builtin'):
        Dictionary()
    with pytest.raises(ValueError, match='unknown builtin'):
        Dictionary(builtin='klingon')
    with pytest.raises(FileNotFoundError, match='missing.txt'):
        Dictionary(dict_file=tmp_path / 'missing.txt')
    with pytest.raises(ValueError, match='empty'):
        Dictionary(dict_file=_write(tmp_path, ''))
    with pytest.raises(IndexError, match='index 36 is out of range'):
        Dictionary(builtin='lower_english_digits').idx2str([36])
