"""Dictionary: the characters a recogniser can read, and their indices.

Index layout (MMOCR's): the characters in file order ``0 .. n-1``, then the special tokens that are switched on,
in this order: start / end (one shared ``<BOS/EOS>`` token with ``same_start_end``, else ``<BOS>`` then ``<EOS>``),
``<PAD>`` (``with_padding``), ``<UKN>`` (``with_unknown``). ``len(dictionary)`` counts them all.

Unknown characters in a label never crash training: with ``with_unknown`` they map to the unknown token, else
they are dropped; either way they are counted (:attr:`Dictionary.num_unknown`, per character in
:attr:`Dictionary.unknown_counter`) and the first one is logged, so a training log shows a dictionary that
does not fit the data.
"""
from __future__ import annotations

import collections
import io
import logging
import os
import os.path as osp
from collections.abc import Iterable

from visioncraft.errors import AnnotationError
from visioncraft.registry import TASK_UTILS

__all__ = ['Dictionary', 'BUILTIN_DICTS', 'builtin_dict_path', 'read_dict_file']

#: built-in dictionaries: name -> (file in ./dicts, number of characters)
BUILTIN_DICTS = {
    'lower_english_digits': ('lower_english_digits.txt', 36),   # 0-9 a-z
    'english_digits_symbols': ('english_digits_symbols.txt', 90),  # 0-9 a-z A-Z and 28 ASCII symbols (MMOCR's)
    'ppocr_keys_v1': ('ppocr_keys_v1.txt', 6623),  # PP-OCR's Chinese + English list (from the v4 rec model's metadata)
}
_CASES = ('keep', 'lower', 'upper')


def builtin_dict_path(name: str) -> str:
    """Path of a built-in dictionary file (shipped inside the package, one character per line)."""
    if name not in BUILTIN_DICTS:
        raise ValueError(f'Dictionary: unknown builtin {name!r}; choose one of {sorted(BUILTIN_DICTS)}')
    return osp.join(osp.dirname(osp.abspath(__file__)), 'dicts', BUILTIN_DICTS[name][0])


def _builtin_for_missing(path: str) -> str | None:
    """The built-in dictionary that stands in for a missing ``dict_file`` named like it (MMOCR configs point at
    ``{{ fileDirname }}/../../../dicts/lower_english_digits.txt`` in an MMOCR checkout; the built-ins hold the same
    characters in the same order), with a warning; None when no built-in has that file name."""
    name = osp.basename(path)
    for builtin, (file_name, _) in BUILTIN_DICTS.items():
        if file_name == name:
            logging.getLogger('visioncraft').warning(
                f'Dictionary: dict_file {path!r} does not exist; using the built-in {builtin!r} (the same characters '
                f'as MMOCR\'s dicts/{name})')
            return builtin
    return None


def read_dict_file(path: str | os.PathLike) -> list[str]:
    """Characters of a dictionary file: UTF-8 (a BOM is accepted), exactly one character (code point) per line,
    ``\\n`` or ``\\r\\n`` line ends; a line holding one space is the space character. An empty line, a line with
    more than one character or a repeated character is an error naming the file and the line."""
    path = os.fspath(path)
    if not osp.isfile(path):
        raise FileNotFoundError(f'Dictionary: dict_file {path!r} does not exist')
    chars: list[str] = []
    seen: dict[str, int] = {}
    try:
        with open(path, 'rb') as f:
            text = f.read().decode('utf-8-sig')
    except UnicodeDecodeError as exc:
        raise AnnotationError(f'Dictionary: dict_file {path}: not UTF-8 text (byte {exc.start}: {exc.reason})') \
            from None
    for lineno, line in enumerate(io.StringIO(text, newline=''), 1):
        ch = line[:-2] if line.endswith('\r\n') else line.rstrip('\n')
        if ch == '':
            raise AnnotationError(f'{path}, line {lineno}: empty line (a dictionary file holds exactly one '
                                  'character per line; a space is written as a line with one space)')
        if len(ch) != 1:
            raise AnnotationError(f'{path}, line {lineno}: expected one character, got {len(ch)} ({ch!r})')
        if ch in seen:
            raise AnnotationError(f'{path}, line {lineno}: character {ch!r} repeats line {seen[ch]}')
        seen[ch] = lineno
        chars.append(ch)
    if not chars:
        raise AnnotationError(f'{path}: the dictionary file is empty')
    return chars


@TASK_UTILS.register_module()
class Dictionary:
    """Characters and special tokens of a text recogniser (MMOCR's ``Dictionary`` arguments, plus built-ins and
    case folding).

    Args:
        dict_file: a file with one character per line (any language, UTF-8; see :func:`read_dict_file`).
        builtin: instead of ``dict_file``, ``'lower_english_digits'`` (36: 0-9 a-z) or
            ``'english_digits_symbols'`` (90: 0-9 a-z A-Z and 28 ASCII symbols, MMOCR's english_digits_symbols).
            The files are in ``visioncraft/tasks/textrecog/codecs/dicts/`` and can also be given as ``dict_file``.
        with_start / with_end: add ``start_token`` / ``end_token`` (attention decoders).
        same_start_end: one token ``start_end_token`` for both (needs ``with_start`` and ``with_end``).
        with_padding: add ``padding_token`` (MMOCR's CTC models use it as the CTC blank).
        with_unknown: add ``unknown_token``; unknown label characters map to it instead of being dropped.
        case: ``'keep'``, ``'lower'`` or ``'upper'``: labels are case-folded before lookup (a 36-character
            dictionary with ``case='lower'`` reads ``'Hello'`` as ``'hello'``).
        extra_chars: characters appended after the file's (PaddleOCR's ``use_space_char``: ``' '``).

    Attributes: ``dict`` (list of all tokens, index order), ``num_classes`` (== ``len(self)``), ``start_idx``,
    ``end_idx``, ``start_end_idx``, ``padding_idx``, ``unknown_idx`` (None when off), ``num_unknown`` (unknown
    characters met by :meth:`str2idx` so far) and ``unknown_counter`` (``collections.Counter`` of them).
    """

    def __init__(self, dict_file: str | os.PathLike | None = None, builtin: str | None = None, *,
                 with_start: bool = False, with_end: bool = False, same_start_end: bool = False,
                 with_padding: bool = False, with_unknown: bool = False, start_token: str = '<BOS>',
                 end_token: str = '<EOS>', start_end_token: str = '<BOS/EOS>', padding_token: str = '<PAD>',
                 unknown_token: str | None = '<UKN>', case: str = 'keep', extra_chars: str = '') -> None:
        if (dict_file is None) == (builtin is None):
            raise ValueError(f'Dictionary: give exactly one of dict_file and builtin (got dict_file={dict_file!r}, '
                             f'builtin={builtin!r}); built-ins: {sorted(BUILTIN_DICTS)}')
        if case not in _CASES:
            raise ValueError(f'Dictionary: case must be one of {_CASES}, got {case!r}')
        if same_start_end and not (with_start and with_end):
            raise ValueError('Dictionary: same_start_end=True needs with_start=True and with_end=True')
        if dict_file is not None and not osp.isfile(os.fspath(dict_file)):
            builtin = _builtin_for_missing(os.fspath(dict_file))
            dict_file = None if builtin is not None else dict_file
        self.dict_file = os.fspath(dict_file) if dict_file is not None else builtin_dict_path(builtin)
        self.builtin = builtin
        self.case = case
        self.chars: list[str] = read_dict_file(self.dict_file)
        for ch in extra_chars:  # PaddleOCR's use_space_char appends ' ' after the file's characters
            if ch in self.chars:
                raise ValueError(f'Dictionary: extra character {ch!r} is already in {self.dict_file}')
            self.chars.append(ch)
        tokens = list(self.chars)

        def add(token: str, what: str) -> int:
            if token in tokens:
                raise ValueError(f'Dictionary: {what} {token!r} is already in {self.dict_file}; choose another '
                                 'token string')
            tokens.append(token)
            return len(tokens) - 1

        self.start_idx = self.end_idx = self.start_end_idx = None
        if same_start_end:
            self.start_end_idx = self.start_idx = self.end_idx = add(start_end_token, 'start_end_token')
        else:
            if with_start:
                self.start_idx = add(start_token, 'start_token')
            if with_end:
                self.end_idx = add(end_token, 'end_token')
        self.padding_idx = add(padding_token, 'padding_token') if with_padding else None
        # MMOCR: with_unknown=True and unknown_token=None drops unknown characters instead of mapping them
        self.unknown_idx = add(unknown_token, 'unknown_token') if with_unknown and unknown_token is not None \
            else None
        self.with_start, self.with_end, self.same_start_end = with_start, with_end, same_start_end
        self.with_padding, self.with_unknown = with_padding, with_unknown
        self.unknown_token = unknown_token
        self._dict = tokens
        self._char2idx = {c: i for i, c in enumerate(self.chars)}
        self.special_indices = frozenset(i for i in (self.start_idx, self.end_idx, self.padding_idx) if i is not None)
        self.num_unknown = 0
        self.unknown_counter: collections.Counter[str] = collections.Counter()
        if case != 'keep':
            unreachable = [c for c in self.chars if self._fold(c) != c]
            if unreachable:
                logging.getLogger('visioncraft').warning(
                    f'Dictionary {self.dict_file}: case={case!r} folds every label, so {len(unreachable)} '
                    f'characters of the file can never be targets (e.g. {unreachable[:5]})')

    # -- sizes and tokens ------------------------------------------------------------------------
    @property
    def dict(self) -> list[str]:
        """All tokens in index order (characters, then the special tokens)."""
        return list(self._dict)

    @property
    def num_classes(self) -> int:
        return len(self._dict)

    def __len__(self) -> int:
        return len(self._dict)

    def __contains__(self, char: object) -> bool:
        return char in self._char2idx

    def __repr__(self) -> str:
        return (f'Dictionary({self.dict_file!r}, {len(self.chars)} characters, {len(self)} tokens, '
                f'case={self.case!r})')

    def _fold(self, text: str) -> str:
        return text.lower() if self.case == 'lower' else text.upper() if self.case == 'upper' else text

    def char2idx(self, char: str) -> int | None:
        """Index of one (case-folded) character; None when it is not in the dictionary."""
        return self._char2idx.get(self._fold(char))

    # -- conversion ------------------------------------------------------------------------------
    def str2idx(self, text: str) -> list[int]:
        """Indices of the characters of ``text`` (after case folding). An unknown character maps to
        ``unknown_idx`` (``with_unknown``) or is dropped, and is counted in ``num_unknown`` / ``unknown_counter``."""
        if not isinstance(text, str):
            raise TypeError(f'Dictionary.str2idx expects a str, got {type(text).__name__} ({text!r})')
        out = []
        for ch in self._fold(text):
            idx = self._char2idx.get(ch)
            if idx is None:
                if self.num_unknown == 0:
                    logging.getLogger('visioncraft').warning(
                        f'Dictionary {osp.basename(self.dict_file)}: character {ch!r} (U+{ord(ch):04X}) of label '
                        f'{text!r} is not in the dictionary; it is '
                        f'{"mapped to " + repr(self.unknown_token) if self.unknown_idx is not None else "dropped"} '
                        'and counted '
                        '(num_unknown_chars in the training log). Further ones are only counted.')
                self.num_unknown += 1
                self.unknown_counter[ch] += 1
                if self.unknown_idx is not None:
                    out.append(self.unknown_idx)
                continue
            out.append(idx)
        return out

    def idx2str(self, indices: Iterable[int]) -> str:
        """Join the tokens of ``indices`` (special tokens appear as their token strings)."""
        out = []
        n = len(self._dict)
        for i in indices:
            i = int(i)
            if not 0 <= i < n:
                raise IndexError(f'Dictionary.idx2str: index {i} is out of range for {n} tokens ({self.dict_file})')
            out.append(self._dict[i])
        return ''.join(out)

    def reset_unknown(self) -> None:
        """Zero ``num_unknown`` and ``unknown_counter``."""
        self.num_unknown = 0
        self.unknown_counter.clear()
