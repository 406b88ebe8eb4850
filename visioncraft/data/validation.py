"""One validation pass over the records an annotation reader loads, shared by every dataset format.

Each dataset reader (detection ``CocoDataset`` / ``VOCDataset``, the pose COCO-style datasets and ``MpiiDataset``,
the text detection and recognition readers) runs its records through these checks when the dataset is built,
before the first training step:

* numbers are numbers (``int`` / ``float`` as JSON gives them; not strings, booleans or null) and finite (no NaN,
  no Infinity);
* sizes are > 0 (image width and height, MPII's scale), boxes have no negative size;
* polygons have an even number of coordinates and at least 3 points (6 numbers);
* ids exist (an annotation's ``image_id`` / ``category_id``) and are unique (image ids, annotation ids);
* keypoints are 3 * K numbers with visibility flags 0, 1 or 2.

A fault is ONE line naming the reader, the file, the record and the field, e.g.
``CocoDataset: data/x.json: annotation id 7 (image id 3): bbox [nan, 1, 2, 3] has a non-finite number``, raised as
:class:`~visioncraft.errors.InvalidAnnotationError` (the entry points print it as ``error: ...`` with exit
status 2). A reader built with ``skip_invalid=True`` skips such records instead and logs ONE warning line with the
count and the first few reasons (:class:`RecordFaults`).

A dataset left without samples (an empty file, or a ``filter_cfg`` / ``indices`` that removed everything) is an
:class:`~visioncraft.errors.EmptyDatasetError` naming the dataset, its annotation file and the filter
(:func:`check_not_empty`, called where a run builds its data loaders).

The checks are cheap: the numbers of every record of a field are checked at once with NumPy (a 50k-annotation
COCO file takes a small fraction of its JSON parsing time); the exact message is worked out only for the records
found faulty.
"""
from __future__ import annotations

import logging
import math
import re
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from itertools import chain, repeat
from typing import Any

import numpy as np

from visioncraft.errors import EmptyDatasetError, InvalidAnnotationError

__all__ = ['RecordFaults', 'short', 'number_problem', 'numbers_problem', 'polygon_problem', 'segmentation_problem',
           'keypoints_problem', 'screen_number_lists', 'screen_numbers', 'find_duplicates', 'check_coco',
           'check_not_empty', 'describe_empty', 'VISIBILITY_FLAGS']

#: the Python types JSON numbers load as
_NUMBER_TYPES = frozenset((int, float))
_FLAG_TYPES = frozenset((int, float, bool))
_ID_TYPES = frozenset((int, str))
#: COCO keypoint visibility: 0 not labelled, 1 labelled but hidden, 2 visible
VISIBILITY_FLAGS = (0, 1, 2)
#: the message's advice when the reader can skip faulty records
SKIP_HINT = 'fix the file, or pass skip_invalid=True to skip such records'


# -- one line per fault ---------------------------------------------------------------------------------------------
def short(value: Any, limit: int = 80) -> str:
    """``repr(value)`` cut to ``limit`` characters (a polygon of 2000 numbers stays on one readable line)."""
    text = repr(value)
    return text if len(text) <= limit else text[:limit - 4] + ' ...'


def _one_line(text: str) -> str:
    """``text`` with its line breaks (a value holding one) turned into spaces."""
    return re.sub(r'\s*[\r\n]+\s*', ' ', text)


class RecordFaults:
    """The faults found in one annotation source, and what to do with them.

    ``fault(record, problem)`` raises :class:`~visioncraft.errors.InvalidAnnotationError`
    ``'{owner}: {source}: {record}: {problem}'`` (one line; ``hint`` appended), or, with ``skip_invalid=True``,
    counts the record as skipped (the caller leaves it out) and keeps the first ``max_reasons`` reasons for the
    one warning :meth:`warn` logs.

    Args:
        owner: the reader (dataset class name) put in front of every message.
        source: the annotation file.
        skip_invalid: skip and count faulty records instead of raising.
        hint: advice appended to a raised message (None: none; default: how to skip).
        max_reasons: how many reasons the warning line quotes.
    """

    def __init__(self, owner: str, source: Any = '', *, skip_invalid: bool = False, hint: str | None = SKIP_HINT,
                 max_reasons: int = 3) -> None:
        self.owner = owner
        self.source = str(source) if source else ''
        self.skip_invalid = bool(skip_invalid)
        self.hint = hint
        self.max_reasons = int(max_reasons)
        self.count = 0
        self.kinds: Counter = Counter()
        self.reasons: list[str] = []

    @property
    def prefix(self) -> str:
        return f'{self.owner}: {self.source}' if self.source else self.owner

    def message(self, record: str, problem: str, sep: str = ': ') -> str:
        """The one-line message of a fault of ``record``."""
        text = _one_line(f'{self.prefix}: {record}{sep}{problem}')
        return f'{text}; {self.hint}' if self.hint else text

    def fault(self, record: str, problem: str, kind: str = 'annotation', sep: str = ': ') -> None:
        """Report that ``record`` (``'annotation id 7 (image id 3)'``, ``'line 12'``) has ``problem`` (``'bbox
        [nan, 1, 2, 3] has a non-finite number'``): raise, or count it as skipped (``kind``: what is skipped)."""
        if not self.skip_invalid:
            raise InvalidAnnotationError(self.message(record, problem, sep))
        self.count += 1
        self.kinds[kind] += 1
        if len(self.reasons) < self.max_reasons:
            self.reasons.append(_one_line(f'{record}{sep}{problem}'))

    def summary(self) -> str | None:
        """The warning line for the skipped records, or None when none was skipped."""
        if not self.count:
            return None
        if len(self.kinds) == 1:
            (kind, n), = self.kinds.items()
            what = f'{n} invalid {kind}(s)'
        else:
            what = f'{self.count} invalid records (' + ', '.join(f'{n} {k}(s)' for k, n in self.kinds.items()) + ')'
        more = f'; and {self.count - len(self.reasons)} more' if self.count > len(self.reasons) else ''
        return f'{self.prefix}: skipped {what} (skip_invalid=True): ' + '; '.join(self.reasons) + more

    def warn(self, logger: Any = None) -> None:
        """Log :meth:`summary` as one warning line (the ``visioncraft`` logger by default)."""
        line = self.summary()
        if line is None:
            return
        (logger or logging.getLogger('visioncraft')).warning(line)


# -- the checks of one value -----------------------------------------------------------------------------------------
def _kind(value: Any) -> str:
    """How a JSON value that should have been a number reads in a message."""
    if value is None:
        return 'null'
    if isinstance(value, bool):
        return f'the boolean {str(value).lower()}'
    if isinstance(value, str):
        return f'the string {short(value, 30)}'
    if isinstance(value, (list, tuple)):
        return 'a list'
    if isinstance(value, dict):
        return 'an object'
    return f'a {type(value).__name__}'


def _is_number(value: Any) -> bool:
    return type(value) in _NUMBER_TYPES or (isinstance(value, (int, float, np.number)) and not isinstance(
        value, (bool, np.bool_)))


def _finite(value: Any) -> bool:
    try:
        return math.isfinite(value)
    except OverflowError:  # an integer too large for a float (1e999 written as digits)
        return False


def number_problem(name: str, value: Any, *, positive: bool = False, non_negative: bool = False,
                   integer: bool = False, choices: Sequence[Any] | None = None) -> str | None:
    """What is wrong with ``value`` as the number ``name`` (``'width 0 must be > 0'``), or None."""
    if not _is_number(value):
        return f'{name} {short(value)} is {_kind(value)}, not a number'
    if not _finite(value):
        return f'{name} {short(value)} is not a finite number'
    if integer and value != int(value):
        return f'{name} {short(value)} is not an integer'
    if choices is not None and value not in choices:
        return f'{name} {short(value)} is not one of {", ".join(map(str, choices))}'
    if positive and value <= 0:
        return f'{name} {short(value)} must be > 0'
    if non_negative and value < 0:
        return f'{name} {short(value)} must be >= 0'
    return None


def numbers_problem(name: str, value: Any, *, length: int | None = None, multiple: int | None = None,
                    min_len: int | None = None, even: bool = False, expected: str | None = None) -> str | None:
    """What is wrong with ``value`` as the list of numbers ``name`` (``'bbox [nan, 1, 2, 3] has a non-finite
    number'``), or None. ``length``: exactly that many; ``multiple``: a multiple of it; ``min_len`` / ``even``: at
    least that many, an even count; ``expected`` words the expected count in the message."""
    if not isinstance(value, (list, tuple)):
        return f'{name} {short(value)} is {_kind(value)}, not a list of numbers'
    bad = next((v for v in value if not _is_number(v)), _NOTHING)
    if bad is not _NOTHING:
        return f'{name} {short(value)} holds {_kind(bad)}, not a number'
    n = len(value)
    if (length is not None and n != length) or (multiple and n % multiple) or (min_len is not None and n < min_len) \
            or (even and n % 2):
        want = expected or (f'{length}' if length is not None else f'a multiple of {multiple}' if multiple else
                            f'an even number >= {min_len}' if even and min_len else f'at least {min_len}'
                            if min_len is not None else 'an even number')
        return f'{name} {short(value)} has {n} numbers, expected {want}'
    if not all(map(_finite, value)):
        i = next(i for i, v in enumerate(value) if not _finite(v))
        at = f' ({short(value[i], 30)} at index {i})' if len(value) > 4 else ''
        return f'{name} {short(value)} has a non-finite number{at}'
    return None


_NOTHING = object()


def polygon_problem(name: str, value: Any) -> str | None:
    """What is wrong with the flat polygon ``[x0, y0, x1, y1, ...]`` ``name``: numbers, an even count, >= 3
    points, finite; or None."""
    return numbers_problem(name, value, min_len=6, even=True,
                           expected='an even number >= 6 (at least 3 points x, y)')


def segmentation_problem(name: str, value: Any) -> str | None:
    """What is wrong with a COCO ``segmentation``: a list of polygons or an RLE dict ``{size: [h, w], counts}``
    (``counts`` a string or a list of run lengths >= 0); or None. An empty list (no mask) is fine."""
    if isinstance(value, list):
        for i, poly in enumerate(value):
            problem = polygon_problem(f'{name} polygon {i}', poly)
            if problem:
                return problem
        return None
    if isinstance(value, dict):
        size, counts = value.get('size'), value.get('counts')
        if numbers_problem(f'{name} size', size, length=2) or not all(_is_number(v) and v > 0 and v == int(v)
                                                                     for v in size):
            return f'{name} RLE size {short(size)} is not [height, width] (two integers > 0)'
        if isinstance(counts, str):
            return None
        if numbers_problem(f'{name} counts', counts) or not all(v >= 0 and v == int(v) for v in counts):
            return f'{name} RLE counts {short(counts)} is neither a string nor a list of integers >= 0'
        return None
    return f'{name} {short(value)} is {_kind(value)}, neither a list of polygons nor an RLE dict'


def keypoints_problem(name: str, value: Any, num_keypoints: int | None = None, note: str = '') -> str | None:
    """What is wrong with the flat COCO keypoints ``[x, y, v] * K`` ``name``: numbers, 3 * ``num_keypoints`` of
    them (a multiple of 3 when None), finite, each ``v`` 0, 1 or 2; or None. ``note`` ends the words on a wrong
    count (``" of 'coco'; check the metainfo"``)."""
    problem = numbers_problem(name, value)
    if problem:
        return problem
    n = len(value)
    if (num_keypoints is not None and n != 3 * num_keypoints) or n % 3:
        want = f'3 * {num_keypoints} = {3 * num_keypoints}' if num_keypoints is not None else 'a multiple of 3'
        return f'{name} has {n} values, expected {want} (x, y, v per keypoint{note})'
    flags = value[2::3]
    bad = next((v for v in flags if v not in VISIBILITY_FLAGS), _NOTHING)
    if bad is not _NOTHING:
        k = list(flags).index(bad)
        return f'{name} visibility flag {short(bad)} of keypoint {k} is not 0, 1 or 2'
    return None


# -- many records at once --------------------------------------------------------------------------------------------
def _as_floats(flat: list) -> np.ndarray:
    try:
        return np.array(flat, dtype=np.float64)
    except OverflowError:  # an integer too large for a float: inf, which the finite check then flags
        return np.array([float(v) if _finite(v) else np.inf for v in flat], dtype=np.float64)


def screen_numbers(values: Sequence[Any]) -> np.ndarray:
    """Bool mask over ``values`` (scalars): True where a value is not a finite number. Vectorised."""
    n = len(values)
    suspect = np.zeros(n, dtype=bool)
    if not n:
        return suspect
    if not set(map(type, values)) <= _NUMBER_TYPES:
        suspect |= np.fromiter((type(v) not in _NUMBER_TYPES for v in values), bool, n)
        good = np.flatnonzero(~suspect)
        if len(good):
            suspect[good[~np.isfinite(_as_floats([values[i] for i in good]))]] = True
        return suspect
    return ~np.isfinite(_as_floats(list(values)))


def screen_number_lists(values: Sequence[Any], *, length: int | None = None, multiple: int | None = None,
                        min_len: int | None = None, even: bool = False,
                        visibility_every: int | None = None) -> np.ndarray:
    """Bool mask over ``values`` (each should be a list of finite numbers): True where a value is not a list, holds
    something other than a number, has the wrong count (``length`` / ``multiple`` / ``min_len`` / ``even``), a
    non-finite number, or (``visibility_every=3``: COCO keypoints) a visibility flag outside 0..2. Vectorised over
    all values at once; the exact message of a flagged value comes from :func:`numbers_problem` and friends."""
    n = len(values)
    suspect = np.zeros(n, dtype=bool)
    if not n:
        return suspect
    if set(map(type, values)) <= {list}:  # the usual case
        listed, seqs = np.arange(n), values
    else:
        is_list = np.fromiter((type(v) is list or type(v) is tuple for v in values), bool, n)
        suspect |= ~is_list
        listed = np.flatnonzero(is_list)
        seqs = [values[i] for i in listed]
    lens = np.fromiter(map(len, seqs), np.int64, len(seqs))
    bad_len = np.zeros(len(seqs), dtype=bool)
    if length is not None:
        bad_len |= lens != length
    if multiple:
        bad_len |= lens % multiple != 0
    if min_len is not None:
        bad_len |= lens < min_len
    if even:
        bad_len |= lens % 2 != 0
    flat = list(chain.from_iterable(seqs))
    owner = np.repeat(np.arange(len(seqs)), lens)
    bad = np.zeros(len(flat), dtype=bool)
    if flat and not set(map(type, flat)) <= _NUMBER_TYPES:
        bad |= np.fromiter((type(v) not in _NUMBER_TYPES for v in flat), bool, len(flat))
        arr = np.full(len(flat), 0.0)
        ok = np.flatnonzero(~bad)
        if len(ok):
            arr[ok] = _as_floats([flat[i] for i in ok])
    else:
        arr = _as_floats(flat)
    bad |= ~np.isfinite(arr)
    if visibility_every:
        starts = np.concatenate(([0], np.cumsum(lens)[:-1])) if len(lens) else lens
        within = np.arange(len(flat)) - np.repeat(starts, lens)
        flags = within % visibility_every == visibility_every - 1
        bad |= flags & ~np.isin(arr, VISIBILITY_FLAGS)
    bad_seq = bad_len.copy()
    if bad.any():
        bad_seq[np.unique(owner[bad])] = True
    suspect[listed[bad_seq]] = True
    return suspect


def find_duplicates(ids: Sequence[Any]) -> dict[int, int]:
    """``{position: position of the first occurrence}`` for every id in ``ids`` that repeats an earlier one."""
    try:
        if len(set(ids)) == len(ids):
            return {}
    except TypeError:  # an unhashable id (a list): the type checks report it
        pass
    first: dict[Any, int] = {}
    out = {}
    for i, x in enumerate(ids):
        try:
            j = first.setdefault(x, i)
        except TypeError:
            continue
        if j != i:
            out[i] = j
    return out


# -- COCO files ------------------------------------------------------------------------------------------------------
def _is_id(value: Any) -> bool:
    return (type(value) is int or type(value) is str) or (isinstance(value, (int, np.integer)) and not isinstance(
        value, (bool, np.bool_)))


def _column(records: list[dict], key: str, missing: Any = _NOTHING) -> list:
    """``[r.get(key, missing) for r in records]`` at C speed."""
    return list(map(dict.get, records, repeat(key), repeat(missing)))


def _screen_each(values: list, bad: Callable[[Any], bool], all_good: bool) -> np.ndarray:
    """Bool mask of ``bad(v)`` over ``values``; all False at once when ``all_good`` (a set test said so)."""
    if all_good:
        return np.zeros(len(values), dtype=bool)
    return np.fromiter(map(bad, values), bool, len(values))


def _all_in(values: list, group: set) -> bool:
    try:
        return group.issuperset(values)
    except TypeError:  # an unhashable value (a list)
        return False


def _member(value: Any, group: set) -> bool:
    try:
        return value in group
    except TypeError:  # an unhashable value (a list) is in no set of ids
        return False


def check_coco(data: dict, faults: RecordFaults, *, image_keys: Sequence[str] = ('id',),
               require_categories: bool = True, num_keypoints: int | None = None, keypoints_note: str = '') -> dict:
    """Check the records of a COCO dict (``images``, ``annotations``, ``categories``; their structure, lists of
    objects, is checked by the caller) and return it with the faulty records left out (``faults.skip_invalid``),
    the same dict when none was.

    Images: the keys ``image_keys`` present; ``id`` an integer or a string, unique; ``file_name`` a non-empty string;
    ``width`` / ``height`` finite numbers > 0. Annotations: ``id`` present (an integer or a string) and unique;
    ``image_id`` an image of the file; ``category_id`` a category of the file (when ``require_categories`` or the
    file lists categories); ``bbox`` four finite numbers; ``area`` a finite number; ``iscrowd`` 0 or 1;
    ``segmentation`` polygons (>= 3 points, even length, finite) or RLE; ``keypoints`` 3 * ``num_keypoints``
    finite numbers (a multiple of 3 when None) with visibility 0..2; ``num_keypoints`` an integer >= 0.
    An annotation of a skipped image is skipped with it.
    """
    images = data.get('images') or []
    anns = data.get('annotations') or []
    cats = data.get('categories') or []
    skip_img: set[int] = set()

    # images: few, checked one by one
    img_ids = [img.get('id') for img in images]
    dup_img = find_duplicates([i if _is_id(i) else object() for i in img_ids])
    for k, img in enumerate(images):
        iid = img_ids[k]
        record = f'image id {short(iid, 40)}' if _is_id(iid) else f'images[{k}]'
        lacking = [key for key in image_keys if key not in img]
        problem = None
        if lacking:
            problem = f'has no {", ".join(repr(key) for key in lacking)} (it has {sorted(img)[:10]})'
        elif 'id' in img and not _is_id(iid):
            problem = f'id {short(iid)} is {_kind(iid)}, not an integer or a string'
        elif k in dup_img:
            record = f'images[{k}] (id {short(iid, 40)})'
            problem = f'repeats the id of images[{dup_img[k]}]; image ids must be unique'
        elif 'file_name' in img and (not isinstance(img['file_name'], str) or not img['file_name']):
            problem = f'file_name {short(img["file_name"])} is not a non-empty string'
        else:
            for key in ('width', 'height'):
                if key in img:
                    problem = number_problem(key, img[key], positive=True, integer=True)
                    if problem:
                        break
        if problem:
            faults.fault(record, problem, kind='image')
            skip_img.add(k)
    valid_img_ids = {img_ids[k] for k in range(len(images)) if k not in skip_img and _is_id(img_ids[k])}
    skipped_img_ids = {img_ids[k] for k in skip_img if _is_id(img_ids[k])} - valid_img_ids

    # annotations: many; references one by one (a set look-up each), numbers all at once
    n = len(anns)
    problems: dict[int, tuple[str, str, str]] = {}  # position -> (record, problem, separator)
    ann_ids = _column(anns, 'id', None)

    def record_of(k: int) -> str:
        a = anns[k]
        iid = a.get('image_id')
        ident = f'annotation id {short(ann_ids[k], 40)}' if _is_id(ann_ids[k]) else f'annotations[{k}]'
        return f'{ident} (image id {short(iid, 40)})' if 'image_id' in a else ident

    def ref_record(k: int) -> str:
        return f'annotations[{k}] (id {short(ann_ids[k], 40)})'

    def flag(k: int, problem: str | None, record: str | None = None, sep: str = ': ') -> None:
        if problem and k not in problems:
            problems[k] = (record or record_of(k), problem, sep)

    cat_ids = {c.get('id') for c in cats if _is_id(c.get('id'))}
    check_cats = require_categories or bool(cats)
    # the usual case, at C speed: every id an int / str, every image_id and category_id defined
    all_fine = set(map(type, ann_ids)) <= _ID_TYPES and _all_in(_column(anns, 'image_id'), valid_img_ids) \
        and (not check_cats or _all_in(_column(anns, 'category_id'), cat_ids))
    for k, a in enumerate(anns if not all_fine else ()):
        if 'id' not in a:
            flag(k, 'has no "id"')
        elif not _is_id(ann_ids[k]):
            flag(k, f'id {short(ann_ids[k])} is {_kind(ann_ids[k])}, not an integer or a string')
        elif 'image_id' not in a:
            flag(k, f'has no "image_id" (it has {sorted(a)[:10]})', record=ref_record(k), sep=' ')
        elif not _member(a['image_id'], valid_img_ids):
            iid = a['image_id']
            if _member(iid, skipped_img_ids):
                flag(k, f'belongs to image id {short(iid, 40)}, which was skipped', record=ref_record(k), sep=' ')
            else:
                flag(k, f'refers to image_id {short(iid, 40)}, which is not in "images"', record=ref_record(k),
                     sep=' ')
        elif check_cats and 'category_id' not in a:
            flag(k, f'has no "category_id" (it has {sorted(a)[:10]})', record=ref_record(k), sep=' ')
        elif check_cats and not _member(a['category_id'], cat_ids):
            flag(k, f'has category_id {short(a.get("category_id"), 40)}, which is not in "categories" '
                    f'({sorted(cat_ids, key=str)[:20]})', record=ref_record(k), sep=' ')
    for k, j in find_duplicates(ann_ids if all_fine else [i if _is_id(i) else object() for i in ann_ids]).items():
        flag(k, f'repeats the id of annotations[{j}]; annotation ids must be unique', record=ref_record(k), sep=' ')

    def field(key: str, screen: Callable[[list], np.ndarray], explain: Callable[[Any], str | None]) -> None:
        values = _column(anns, key)
        pos = range(n)
        if _NOTHING in values:  # some annotations leave it out
            pos = [k for k, v in enumerate(values) if v is not _NOTHING]
            values = [values[k] for k in pos]
        if not values:
            return
        for i in np.flatnonzero(screen(values)):
            flag(pos[i], explain(values[i]) or f'{key} {short(values[i])} is not valid')

    field('bbox', lambda v: screen_number_lists(v, length=4),
          lambda v: numbers_problem('bbox', v, length=4, expected='4 ([x, y, w, h])'))
    field('area', screen_numbers, lambda v: number_problem('area', v))
    field('iscrowd', lambda v: _screen_each(v, lambda x: not (type(x) in _FLAG_TYPES and x in (0, 1)),
                                            set(map(type, v)) <= _FLAG_TYPES and set(v) <= {0, 1}),
          lambda v: f'iscrowd {short(v)} is not 0 or 1')
    field('num_keypoints', lambda v: _screen_each(v, lambda x: type(x) is not int or x < 0,
                                                  set(map(type, v)) <= {int} and min(v) >= 0),
          lambda v: f'num_keypoints {short(v)} is not an integer >= 0')
    field('keypoints', lambda v: screen_number_lists(v, length=None if num_keypoints is None else 3 * num_keypoints,
                                                     multiple=3, visibility_every=3),
          lambda v: keypoints_problem('keypoints', v, num_keypoints, keypoints_note))
    _check_segmentations(anns, flag)

    if not problems and not skip_img:
        return data
    for k in sorted(problems):
        record, problem, sep = problems[k]
        faults.fault(record, problem, kind='annotation', sep=sep)  # raises on the first unless skip_invalid
    out = dict(data)
    out['images'] = [img for k, img in enumerate(images) if k not in skip_img] if skip_img else images
    out['annotations'] = [a for k, a in enumerate(anns) if k not in problems]
    return out


def _check_segmentations(anns: list[dict], flag: Callable[..., None]) -> None:
    """Flag every annotation whose ``segmentation`` is not valid: polygons at once (vectorised), RLE one by one."""
    segs = [a.get('segmentation') for a in anns]
    if not set(map(type, segs)) <= {list, type(None)}:  # RLE (crowd regions) or something wrong: one by one
        for k, seg in enumerate(segs):
            if seg is not None and type(seg) is not list:
                flag(k, segmentation_problem('segmentation', seg))
                segs[k] = None
    lens = np.fromiter((len(s) if s else 0 for s in segs), np.int64, len(segs))
    polys = list(chain.from_iterable(s for s in segs if s))
    if not polys:
        return
    owner = np.repeat(np.arange(len(segs)), lens)
    for k in np.unique(owner[screen_number_lists(polys, min_len=6, even=True)]).tolist():
        flag(k, segmentation_problem('segmentation', anns[k]['segmentation']))


# -- empty datasets --------------------------------------------------------------------------------------------------
def _unwrap(dataset: Any) -> Iterable[Any]:
    inner = getattr(dataset, 'datasets', None)
    if isinstance(inner, (list, tuple)):
        return inner
    one = getattr(dataset, 'dataset', None)
    return [one] if one is not None else []


def describe_empty(dataset: Any) -> str:
    """Why ``dataset`` has no sample, in words: its class, annotation file and what emptied it (the file has none,
    ``filter_cfg=dict(...)`` removed all N, ``indices`` kept none); a wrapper says it of its datasets."""
    explain = getattr(dataset, 'empty_reason', None)
    if callable(explain):
        return explain()
    name = type(dataset).__name__
    inner = [d for d in _unwrap(dataset) if d is not None]
    if inner:
        empty = [d for d in inner if _safe_len(d) == 0]
        if len(inner) == 1:
            return f'{name} of ' + describe_empty(inner[0])
        if len(empty) == len(inner):
            return f'{name}: all {len(inner)} datasets are empty; the first: ' + describe_empty(inner[0])
        return f'{name}: has no sample (sample_ratio_factor or its datasets give none)'
    ann = getattr(dataset, 'ann_file', '') or ''
    return f'{name}' + (f': {ann}' if ann else '') + ': has no samples'


def _safe_len(dataset: Any) -> int | None:
    try:
        return len(dataset)
    except Exception:  # noqa: BLE001  (a dataset that cannot say: not ours to judge)
        return None


def check_not_empty(dataset: Any, key: str = 'dataset') -> None:
    """Raise :class:`~visioncraft.errors.EmptyDatasetError` when ``dataset`` has no sample: one line naming ``key``
    (``'train_dataloader'``), the dataset class, its annotation file and the filter that emptied it. A run that
    trains, validates or tests on nothing is the dataset's fault, said before the first step, not an epoch of 0
    iterations, a checkpoint of an untrained model, or a scheduler's message."""
    if _safe_len(dataset) != 0:
        return
    doing = {'train': 'train on', 'val': 'validate on', 'test': 'test on'}.get(key.split('_', 1)[0], 'use')
    raise EmptyDatasetError(f'{key}.dataset: {describe_empty(dataset)}, so there is nothing to {doing}')
