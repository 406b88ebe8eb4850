"""LMDB word-image datasets (the layout of MJSynth / SynthText / Union14M dumps) and their writer.

Layout (MMOCR 1.x ``RecogLMDBDataset``, PaddleOCR ``LMDBDataSet``, deep-text-recognition-benchmark): one LMDB
environment (a folder holding ``data.mdb`` and ``lock.mdb``) with the keys

* ``num-samples``: the number of samples N, as ASCII digits;
* ``image-%09d`` (``image-000000001`` .. ``image-{N:09d}``, 1-based): the encoded image file's bytes;
* ``label-%09d``: the transcription, UTF-8.

:class:`RecogLMDBDataset` reads one environment or every environment under a folder (PaddleOCR and
deep-text-recognition-benchmark keep e.g. ``training/MJ/MJ_train`` and ``training/ST`` under one root).
:func:`write_recog_lmdb` (``tools/dataset_converters/textrecog/lmdb_converter.py``) builds one from a label
file and its images.
"""
from __future__ import annotations

import os
import os.path as osp
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np

from visioncraft.data import BaseDataset
from visioncraft.data.loading import LoadImageFromFile
from visioncraft.fileio.image import imdecode, unreadable_image_reason
from visioncraft.data.transforms import Compose
from visioncraft.errors import AnnotationError, read_json
from visioncraft.registry import DATASETS

from .recog_datasets import read_paddle_rec_label_file

__all__ = ['RecogLMDBDataset', 'DecodesImagesMixin', 'write_recog_lmdb', 'read_recog_labels',
           'decode_image', 'find_lmdb_dirs']

_COLOR_TYPES = ('color', 'grayscale', 'unchanged')
# Read-only environments by (process id, LMDB folder). LMDB allows one environment per file and process, so
# every dataset of a process reading the same LMDB shares one. LMDB forbids using an environment across
# fork, and py-lmdb refuses to open in a forked child the files its parent has open, so every environment is
# closed just before this process forks (DataLoader workers, at each epoch's start): the children open their
# own, and the parent reopens on its next read.
_ENVS: dict[tuple[int, str], Any] = {}


def _close_before_fork() -> None:
    pid = os.getpid()
    for key in [k for k in _ENVS if k[0] == pid]:
        try:
            _ENVS.pop(key).close()
        except Exception:  # noqa: BLE001 - never let a fork fail over a cache
            pass


if hasattr(os, 'register_at_fork'):
    os.register_at_fork(before=_close_before_fork)


def _lmdb():
    try:
        import lmdb
    except ImportError:
        raise ImportError('LMDB datasets need the lmdb package: pip install "visioncraft[lmdb]" '
                          '(or pip install lmdb)') from None
    return lmdb


def decode_image(data: bytes, color_type: str = 'color') -> np.ndarray | None:
    """Encoded image bytes -> H x W x 3 BGR uint8 (``'color'``), H x W (``'grayscale'``) or as stored
    (``'unchanged'``); None when OpenCV cannot decode them."""
    import cv2
    flag = {'color': cv2.IMREAD_COLOR, 'grayscale': cv2.IMREAD_GRAYSCALE, 'unchanged': cv2.IMREAD_UNCHANGED}
    if color_type not in flag:
        raise ValueError(f'img_color_type must be one of {_COLOR_TYPES}, got {color_type!r}')
    return imdecode(data, flag[color_type])


class DecodesImagesMixin:
    """For datasets that produce the image themselves (from LMDB bytes, by cropping a scene): a pipeline
    that starts with a plain :class:`LoadImageFromFile` (the usual recognition pipeline, shared with file
    datasets) has that first step replaced by the dataset's own loading, with ITS ``color_type``,
    ``to_float32`` and ``ignore_empty``; otherwise the dataset's ``img_color_type`` is used. Subclasses
    implement ``_load_image(info, color_type) -> ndarray | None`` and set ``img``, ``img_shape``,
    ``ori_shape`` through :meth:`prepare_data`.
    """

    img_color_type: str
    pipeline: Compose

    def _loading(self) -> tuple[Callable[[dict], Any], str, bool, bool]:
        transforms = list(getattr(self.pipeline, 'transforms', []))
        if transforms and type(transforms[0]) is LoadImageFromFile:
            first = transforms[0]
            return Compose(transforms[1:]), first.color_type, first.to_float32, first.ignore_empty
        return self.pipeline, self.img_color_type, False, False

    def _load_image(self, info: dict, color_type: str) -> np.ndarray | None:
        raise NotImplementedError

    def _image_error(self, info: dict) -> str:
        return f'{info.get("img_path")} is not a readable image'

    def prepare_data(self, idx: int) -> Any:
        """Entry ``idx`` with ``img`` (its image), ``img_shape`` and ``ori_shape`` set, through the pipeline.
        An undecodable image raises an error naming it (with ``LoadImageFromFile(ignore_empty=True)`` first in
        the pipeline it returns None instead, and the dataset picks another sample)."""
        info = self.get_data_info(idx)
        pipeline, color_type, to_float32, ignore_empty = self._loading()
        img = self._load_image(info, color_type)
        if img is None:
            if ignore_empty:
                return None
            raise OSError(f'{type(self).__name__}: sample {idx}: {self._image_error(info)}')
        if to_float32:
            img = img.astype(np.float32)
        info['img'] = img
        info['img_shape'] = img.shape[:2]
        info['ori_shape'] = img.shape[:2]
        return pipeline(info)


def find_lmdb_dirs(root: str) -> list[str]:
    """``[root]`` when ``root`` holds ``data.mdb``, else every folder under it that does (sorted walk)."""
    if osp.isfile(osp.join(root, 'data.mdb')):
        return [root]
    found = []
    for folder, dirs, files in os.walk(root, followlinks=True):
        dirs.sort()
        if 'data.mdb' in files:
            found.append(folder)
            dirs[:] = []
    return found


@DATASETS.register_module()
class RecogLMDBDataset(DecodesImagesMixin, BaseDataset):
    """Word images and labels from LMDB (see the module docstring for the keys).

    Args:
        ann_file: an LMDB folder (holding ``data.mdb``), or a folder whose sub-folders are LMDBs (all are read,
            in sorted path order, like PaddleOCR's ``LMDBDataSet``); joined to ``data_root`` when relative.
        img_color_type: ``'color'`` (H x W x 3 BGR uint8), ``'grayscale'`` (H x W) or ``'unchanged'``. A
            pipeline starting with ``LoadImageFromFile`` uses that transform's ``color_type`` instead (see
            :class:`DecodesImagesMixin`): file and LMDB datasets can share one pipeline.
        filter_cfg: outside test mode, ``dict(filter_empty_gt=True)`` drops empty labels and
            ``max_text_len=N`` longer ones (as the file datasets); this reads every label once at start-up.
        metainfo, data_root, indices, pipeline, test_mode, lazy_init, max_refetch: see
            :class:`~visioncraft.data.BaseDataset`.

    Entries (``get_data_info``): ``dict(img_path='lmdb://<lmdb folder>#image-000000001', img_key='image-000000001',
    lmdb_index=<index into self.lmdb_dirs>, instances=[dict(text=label)], sample_idx)``; ``__getitem__`` adds ``img``, ``img_shape`` and ``ori_shape``
    before the pipeline, so the pipeline must NOT read files (start it with ``LoadImageFromNDArray``,
    ``LoadImageFromFile`` (replaced, see above) or the first resize).

    Only the sample counts are read at start-up; labels and images are read per sample, so a corpus of
    millions of words costs a few bytes of memory per sample. Each process (every DataLoader worker, forked or
    spawned) opens its own read-only environments on first use.
    """

    def __init__(self, ann_file: str = '', img_color_type: str = 'color', metainfo: dict | None = None,
                 data_root: str = '', data_prefix: dict | None = None, filter_cfg: dict | None = None,
                 indices: int | Sequence[int] | None = None, serialize_data: bool = True,
                 pipeline: Sequence[dict | Callable] | Compose = (), test_mode: bool = False,
                 lazy_init: bool = False, max_refetch: int = 1000) -> None:
        if img_color_type not in _COLOR_TYPES:
            raise ValueError(f'RecogLMDBDataset: img_color_type must be one of {_COLOR_TYPES}, got '
                             f'{img_color_type!r}')
        unknown = set(filter_cfg or ()) - {'filter_empty_gt', 'max_text_len'}
        if unknown:
            raise ValueError(f'RecogLMDBDataset: filter_cfg keys {sorted(unknown)} are not supported (only '
                             'filter_empty_gt, max_text_len)')
        if not ann_file:
            raise ValueError('RecogLMDBDataset: ann_file (the LMDB folder) is empty')
        self.img_color_type = img_color_type
        self.lmdb_dirs: list[str] = []
        self._db_of = np.zeros(0, np.int32)  # per sample: index into lmdb_dirs
        self._num_of = np.zeros(0, np.int64)  # per sample: 1-based number in its LMDB
        super().__init__(ann_file=ann_file, metainfo=metainfo, data_root=data_root, data_prefix=data_prefix,
                         filter_cfg=filter_cfg, indices=indices, serialize_data=serialize_data, pipeline=pipeline,
                         test_mode=test_mode, lazy_init=lazy_init, max_refetch=max_refetch)

    # -- environments: one per LMDB and process, shared by the datasets of that process -------------
    def _env(self, db: int):
        path = self.lmdb_dirs[db]
        key = (os.getpid(), osp.realpath(path))
        env = _ENVS.get(key)
        if env is None:
            lmdb = _lmdb()
            try:
                env = lmdb.open(path, readonly=True, lock=False, readahead=False, meminit=False,
                                max_readers=2048, subdir=True)
            except lmdb.Error as exc:
                raise OSError(f'RecogLMDBDataset: cannot open the LMDB {path!r} ({exc})') from None
            _ENVS[key] = env
        return env

    def close(self) -> None:
        """Close this process's environments of this dataset's LMDBs (for every dataset of the process reading
        them; any of them reopens on its next access)."""
        pid = os.getpid()
        for path in self.lmdb_dirs:
            env = _ENVS.pop((pid, osp.realpath(path)), None)
            if env is not None:
                env.close()

    def _get(self, db: int, key: str) -> bytes:
        with self._env(db).begin(write=False, buffers=False) as txn:
            value = txn.get(key.encode('ascii'))
        if value is None:
            hint = (' (an MMOCR 0.x label-only LMDB? rebuild it with tools/dataset_converters/textrecog/'
                    'lmdb_converter.py)' if key.startswith('image-') else '')
            raise KeyError(f'RecogLMDBDataset: the LMDB {self.lmdb_dirs[db]!r} has no key {key!r}{hint}')
        return value

    # -- loading -----------------------------------------------------------------------------------
    def full_init(self) -> None:
        """Find the LMDBs, read their ``num-samples`` and apply ``indices``. Safe to call more than once."""
        if self._fully_initialized:
            return
        self._check_ann_file()
        if not osp.isdir(self.ann_file):
            raise NotADirectoryError(f'RecogLMDBDataset: ann_file {self.ann_file!r} is not a folder (an LMDB is a '
                                     'folder holding data.mdb)')
        self.lmdb_dirs = find_lmdb_dirs(self.ann_file)
        if not self.lmdb_dirs:
            raise FileNotFoundError(f'RecogLMDBDataset: no LMDB (a folder with data.mdb) in or under {self.ann_file!r}')
        try:
            db_of, num_of = self._count_samples()
        finally:
            self.close()  # the main process need not keep them open
        if self._indices is not None:
            pos = self._positions(len(db_of), self._indices)
            db_of, num_of = db_of[pos], num_of[pos]
        self._db_of, self._num_of = db_of, num_of
        self._fully_initialized = True

    def _count_samples(self) -> tuple[np.ndarray, np.ndarray]:
        """Per sample (after ``filter_cfg``): the index of its LMDB and its 1-based number there."""
        dbs, nums = [], []
        for db, path in enumerate(self.lmdb_dirs):
            raw = self._get(db, 'num-samples')
            try:
                n = int(raw.decode('ascii').strip())
            except (UnicodeDecodeError, ValueError):
                raise ValueError(f'RecogLMDBDataset: {path!r}: num-samples is {raw[:40]!r}, not an integer') from None
            if n < 0:
                raise ValueError(f'RecogLMDBDataset: {path!r}: num-samples is negative ({n})')
            dbs.append(np.full(n, db, np.int32))
            nums.append(np.arange(1, n + 1, dtype=np.int64))
        db_of, num_of = np.concatenate(dbs), np.concatenate(nums)
        if self.filter_cfg and not self.test_mode:
            keep = self._keep_mask(len(dbs), db_of, num_of)
            db_of, num_of = db_of[keep], num_of[keep]
        return db_of, num_of

    def _keep_mask(self, n_dbs: int, db_of: np.ndarray, num_of: np.ndarray) -> np.ndarray:
        """filter_cfg: ``filter_empty_gt`` drops empty labels, ``max_text_len=N`` longer ones (one label scan)."""
        empty = self.filter_cfg.get('filter_empty_gt', False)
        max_len = self.filter_cfg.get('max_text_len')
        keep = np.ones(len(db_of), bool)
        start = 0
        for db in range(n_dbs):
            n = int((db_of == db).sum())
            with self._env(db).begin(write=False) as txn:
                for num in range(1, n + 1):
                    label = txn.get(f'label-{num:09d}'.encode('ascii'))
                    text = label.decode('utf-8', errors='replace') if label is not None else ''
                    if (empty and not text) or (max_len is not None and len(text) > max_len):
                        keep[start + num - 1] = False
            start += n
        return keep

    def _positions(self, n: int, indices: int | Sequence[int]) -> np.ndarray:
        if isinstance(indices, (int, np.integer)):
            k = int(indices)
            return np.arange(n)[:k] if k >= 0 else np.arange(n)[k:]
        pos = np.asarray(list(indices), dtype=np.int64).reshape(-1)
        bad = pos[(pos < -n) | (pos >= n)]
        if len(bad):
            raise IndexError(f'RecogLMDBDataset: indices contains {int(bad[0])}, out of range for {n} samples')
        return pos % n if n else pos

    def load_data_list(self) -> list[dict]:
        """Every entry, read from the LMDBs (for inspection; the dataset itself reads lazily)."""
        self.full_init()
        return [self.get_data_info(i) for i in range(len(self))]

    def __len__(self) -> int:
        self.full_init()
        return len(self._db_of)

    def get_data_info(self, idx: int) -> dict:
        """``dict(img_path, img_key, instances=[dict(text)], sample_idx)`` of sample ``idx`` (label read now)."""
        idx = self._check_index(int(idx))
        db, num = int(self._db_of[idx]), int(self._num_of[idx])
        raw = self._get(db, f'label-{num:09d}')
        try:
            text = raw.decode('utf-8')
        except UnicodeDecodeError:
            raise ValueError(f'RecogLMDBDataset: {self.lmdb_dirs[db]!r}: label-{num:09d} is not UTF-8: '
                             f'{raw[:40]!r}') from None
        key = f'image-{num:09d}'
        return dict(img_path=f'lmdb://{self.lmdb_dirs[db]}#{key}', img_key=key, lmdb_index=db,
                    instances=[dict(text=text)], sample_idx=idx)

    def get_image_bytes(self, idx: int) -> bytes:
        """The encoded image of sample ``idx`` as stored."""
        idx = self._check_index(int(idx))
        return self._get(int(self._db_of[idx]), f'image-{int(self._num_of[idx]):09d}')

    def _load_image(self, info: dict, color_type: str) -> np.ndarray | None:
        return decode_image(self._get(info['lmdb_index'], info['img_key']), color_type)

    def _image_error(self, info: dict) -> str:
        return f'{info["img_path"]} does not decode as an image'


# -- writing ---------------------------------------------------------------------------------------------
def read_recog_labels(label_file: str, label_format: str = 'auto') -> Iterator[tuple[str, str, str]]:
    """``(image path as written, text, where)`` per sample of a recognition label file.

    ``label_format``: ``'mmocr'`` (MMOCR 1.x JSON ``{"data_list": [{"img_path", "instances": [{"text"}]}]}``),
    ``'paddle'`` (PaddleOCR ``path<TAB>text`` lines) or ``'auto'`` (``.json`` -> mmocr, else paddle).
    ``where`` names the file and line / entry for error messages.
    """
    if label_format == 'auto':
        label_format = 'mmocr' if label_file.lower().endswith('.json') else 'paddle'
    if label_format not in ('mmocr', 'paddle'):
        raise ValueError(f"label_format must be 'auto', 'mmocr' or 'paddle', got {label_format!r}")
    if osp.isdir(label_file):
        raise IsADirectoryError(f'label file {label_file!r} is a folder, not a file')
    if not osp.isfile(label_file):
        raise FileNotFoundError(f'label file {label_file!r} does not exist')
    if label_format == 'paddle':
        for i, (path, text) in enumerate(read_paddle_rec_label_file(label_file)):
            yield path, text, f'{label_file}, sample {i + 1}'
        return
    ann = read_json(label_file, 'label file')
    if not isinstance(ann, dict) or not isinstance(ann.get('data_list'), list):
        raise AnnotationError(f'{label_file}: expected an MMOCR JSON with a "data_list" list')
    for i, entry in enumerate(ann['data_list']):
        where = f'{label_file}, data_list entry {i}'
        instances = entry.get('instances') if isinstance(entry, dict) else None
        if not isinstance(entry, dict) or not isinstance(entry.get('img_path'), str) or not entry['img_path']:
            raise AnnotationError(f'{where}: no "img_path" (a non-empty string)')
        if not isinstance(instances, list) or not instances or not isinstance(instances[0], dict) \
                or not isinstance(instances[0].get('text'), str):
            raise AnnotationError(f'{where}: expected "instances": [{{"text": str}}], got {instances!r:.200}')
        yield entry['img_path'], instances[0]['text'], where


def write_recog_lmdb(label_file: str, out_dir: str, img_root: str | None = None, label_format: str = 'auto',
                     batch_size: int = 1000, map_size: int | None = None, verify: bool = True,
                     skip_invalid: bool = False, overwrite: bool = False,
                     log: Callable[[str], Any] | None = None) -> int:
    """Build the LMDB ``out_dir`` (see the module docstring) from a label file and its images.

    Args:
        label_file: see :func:`read_recog_labels`.
        out_dir: the LMDB folder to create (``data.mdb`` + ``lock.mdb``).
        img_root: folder the label's relative image paths are joined to (default: the label file's folder).
        label_format: ``'auto'``, ``'mmocr'`` or ``'paddle'``.
        batch_size: samples per write transaction.
        map_size: initial LMDB map size in bytes (default: 1.5 x the images' total size + 16 MiB); it doubles
            whenever the database fills up, so it never needs to be guessed.
        verify: decode every image and refuse those OpenCV cannot read.
        skip_invalid: leave out missing / unreadable images (reported through ``log``) instead of raising.
        overwrite: replace an existing LMDB in ``out_dir``.
        log: called with progress lines (default: silent).

    Samples are numbered from 1 in label-file order (skipped ones leave no gap). Returns the number written.
    """
    import cv2
    lmdb = _lmdb()
    say = log or (lambda _msg: None)
    root = osp.dirname(osp.abspath(label_file)) if img_root is None else img_root
    samples = list(read_recog_labels(label_file, label_format))
    if osp.exists(osp.join(out_dir, 'data.mdb')):
        if not overwrite:
            raise FileExistsError(f'write_recog_lmdb: {out_dir!r} already holds an LMDB (pass overwrite=True / '
                                  '--overwrite to replace it)')
        for name in ('data.mdb', 'lock.mdb'):
            if osp.exists(osp.join(out_dir, name)):
                os.remove(osp.join(out_dir, name))
    os.makedirs(out_dir, exist_ok=True)
    paths = [p if osp.isabs(p) else osp.join(root, p) for p, _, _ in samples]
    if map_size is None:
        total = sum(osp.getsize(p) for p in paths if osp.isfile(p))
        map_size = int(total * 1.5) + (16 << 20)
    env = lmdb.open(out_dir, map_size=int(map_size), subdir=True)

    def commit(items: list[tuple[bytes, bytes]]) -> None:
        nonlocal map_size
        while True:
            try:
                with env.begin(write=True) as txn:
                    for key, value in items:
                        txn.put(key, value)
                return
            except lmdb.MapFullError:
                map_size *= 2
                env.set_mapsize(map_size)

    written, skipped, cache = 0, 0, []
    try:
        for (rel, text, where), path in zip(samples, paths):
            problem = None
            if not osp.isfile(path):
                problem = f'{where}: image {path} does not exist'
            else:
                with open(path, 'rb') as f:
                    data = f.read()
                if verify:
                    img = imdecode(data, cv2.IMREAD_UNCHANGED)
                    if img is None or img.size == 0:
                        problem = f'{where}: {path} {unreadable_image_reason(data)}'
            if problem:
                if not skip_invalid:
                    raise (FileNotFoundError if 'does not exist' in problem else ValueError)(
                        f'write_recog_lmdb: {problem} (pass skip_invalid=True / --skip-invalid to leave it out)')
                say(f'skipped: {problem}')
                skipped += 1
                continue
            written += 1
            cache += [(f'image-{written:09d}'.encode(), data), (f'label-{written:09d}'.encode(), text.encode('utf-8'))]
            if len(cache) >= 2 * batch_size:
                commit(cache)
                cache = []
                say(f'written {written} / {len(samples)}')
        cache.append((b'num-samples', str(written).encode()))
        commit(cache)
    finally:
        env.close()
    say(f'{out_dir}: {written} samples' + (f', {skipped} skipped' if skipped else ''))
    return written
