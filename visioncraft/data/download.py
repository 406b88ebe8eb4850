"""Download dataset archives: resumable (HTTP ``Range`` onto a ``.part`` file), checksummed, optionally unpacked.

``download_dataset('voc2007', 'data/')`` fetches the files listed in :data:`DATASET_FILES` for that name. A
file is written to ``<name>.part`` and renamed to ``<name>`` only once its checksum matches; an interrupted
transfer (a dropped connection, a killed process) continues from the bytes already on disk, on the next try
or the next run. A mirror holding the files flat under one URL replaces the official hosts with
``base_url=`` or the ``VISIONCRAFT_DATASET_BASE_URL`` environment variable.
"""
from __future__ import annotations

import hashlib
import http.client
import logging
import os
import re
import tarfile
import time
import urllib.error
import urllib.request
import zipfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

__all__ = ['RemoteFile', 'DATASET_FILES', 'DownloadError', 'ChecksumError', 'file_digest', 'download_file',
           'extract_archive', 'download_dataset']

BASE_URL_ENV = 'VISIONCRAFT_DATASET_BASE_URL'
_CHUNK = 1 << 20
_log = logging.getLogger('visioncraft')


@dataclass(frozen=True)
class RemoteFile:
    """One file to fetch: its URL and its expected digest (``md5`` or ``sha256``, lowercase hex). A ``sha256`` of
    fewer than 64 hex digits (at least 8) is a prefix of the digest: what OpenMMLab and torchvision publish in
    their weights' file names and check (``faster_rcnn_r50_fpn_1x_coco_20200130-047c8118.pth``)."""

    url: str
    md5: str | None = None
    sha256: str | None = None

    @property
    def name(self) -> str:
        return self.url.rstrip('/').rsplit('/', 1)[-1]


_COCO = 'http://images.cocodataset.org'
_VOC = 'http://host.robots.ox.ac.uk/pascal/VOC'

#: dataset name -> its files. Digests are the ones the dataset hosts publish (and torchvision checks). A new
#: name goes into :data:`visioncraft.cli.converter_parsers.DOWNLOAD_DATASETS` too (the tool's light parser).
DATASET_FILES: dict[str, tuple[RemoteFile, ...]] = {
    'coco2017': (
        RemoteFile(f'{_COCO}/zips/train2017.zip', md5='cced6f7f71b7629ddf16f17bbcfab6b2'),
        RemoteFile(f'{_COCO}/zips/val2017.zip', md5='442b8da7639aecaf257c1dceb8ba8c80'),
        RemoteFile(f'{_COCO}/zips/test2017.zip', md5='77ad2c53ac5d0aea611d422c0938fb35'),
        RemoteFile(f'{_COCO}/annotations/annotations_trainval2017.zip', md5='f4bbac642086de4f52a3fdda2de5fa2c'),
    ),
    'voc2007': (
        RemoteFile(f'{_VOC}/voc2007/VOCtrainval_06-Nov-2007.tar', md5='c52e279531787c972589f7e41ab4ae64'),
        RemoteFile(f'{_VOC}/voc2007/VOCtest_06-Nov-2007.tar', md5='b6e924de25625d8de591ea690078ad9f'),
    ),
    'voc2012': (
        RemoteFile(f'{_VOC}/voc2012/VOCtrainval_11-May-2012.tar', md5='6cd6e144f989b92b3379bac3b3de84fd'),
    ),
}
DATASET_FILES['voc0712'] = DATASET_FILES['voc2007'] + DATASET_FILES['voc2012']


class DownloadError(RuntimeError):
    """A file could not be fetched (HTTP error, too many interruptions, a bad checksum)."""


class ChecksumError(DownloadError):
    """A fetched file's digest differs from the table's; the file has been deleted."""


def file_digest(path: str | os.PathLike, algorithm: str = 'md5') -> str:
    """Hex digest of a file, read in 1 MiB chunks."""
    h = hashlib.new(algorithm)
    with open(path, 'rb') as f:
        for block in iter(lambda: f.read(_CHUNK), b''):
            h.update(block)
    return h.hexdigest()


def _expected(spec: RemoteFile) -> tuple[str, str] | None:
    if spec.sha256:
        return 'sha256', spec.sha256.lower()
    if spec.md5:
        return 'md5', spec.md5.lower()
    return None


def _verify(path: Path, spec: RemoteFile, shown_name: str) -> None:
    want = _expected(spec)
    if want is None:
        _log.warning(f'{shown_name}: no checksum known; not verified')
        return
    got = file_digest(path, want[0])
    if want[0] == 'sha256' and len(want[1]) < 64:
        if len(want[1]) < 8:
            raise ValueError(f'{shown_name}: a sha256 prefix needs at least 8 hex digits, got {want[1]!r}')
        got = got[:len(want[1])]
    if got != want[1]:
        path.unlink(missing_ok=True)
        raise ChecksumError(f'{shown_name}: {want[0]} {got} does not match the expected {want[1]} '
                            f'(from {spec.url}); the file was deleted, run again to fetch it anew')


def _fetch_once(url: str, part: Path, timeout: float) -> None:
    """One HTTP request that appends to ``part`` from its current size (``Range``); raises on a cut."""
    have = part.stat().st_size if part.exists() else 0
    req = urllib.request.Request(url, headers={'User-Agent': 'visioncraft-download'})
    if have:
        req.add_header('Range', f'bytes={have}-')
    try:
        resp = urllib.request.urlopen(req, timeout=timeout)
    except urllib.error.HTTPError as exc:
        if exc.code == 416 and have:  # nothing left to send: the .part is complete (the checksum tells)
            return
        raise
    with resp:
        mode = 'wb'
        if have and resp.status == 206:
            m = re.match(r'bytes (\d+)-', resp.headers.get('Content-Range', ''))
            if m is None or int(m.group(1)) != have:
                raise DownloadError(f'{url}: the server answered Range bytes={have}- with Content-Range '
                                    f'{resp.headers.get("Content-Range")!r}')
            mode = 'ab'
        elif have:
            _log.info(f'{url}: the server ignores Range requests; starting over')
        length = resp.headers.get('Content-Length')
        got = 0
        with open(part, mode) as f:
            while True:
                block = resp.read(_CHUNK)
                if not block:
                    break
                f.write(block)
                got += len(block)
        if length is not None and got < int(length):
            raise http.client.IncompleteRead(b'', int(length) - got)


def download_file(spec: RemoteFile, save_dir: str | os.PathLike, *, base_url: str | None = None,
                  retries: int = 5, timeout: float = 60.0, backoff: float = 1.0) -> Path:
    """Fetch one file into ``save_dir`` and return its path.

    A file already there with the right checksum is kept as is (one with a wrong checksum is fetched again).
    Otherwise the bytes go to ``<name>.part``, continuing from what an earlier, interrupted attempt left there;
    a connection cut mid-way is retried (``retries`` times, from where it stopped). The finished file is
    verified and renamed to ``<name>``; a mismatch deletes it and raises :class:`ChecksumError` naming it.
    ``base_url`` fetches ``<base_url>/<name>`` instead of ``spec.url``.
    """
    save_dir = Path(save_dir)
    save_dir.mkdir(parents=True, exist_ok=True)
    dest, part = save_dir / spec.name, save_dir / f'{spec.name}.part'
    url = f'{base_url.rstrip("/")}/{spec.name}' if base_url else spec.url
    if dest.exists():
        try:
            _verify(dest, spec, str(dest))
            _log.info(f'{dest}: already downloaded')
            return dest
        except ChecksumError:
            _log.warning(f'{dest}: wrong checksum; downloading it again')
    _log.info(f'downloading {url} -> {dest}' + (f' (resuming at {part.stat().st_size} bytes)'
                                                if part.exists() else ''))
    for attempt in range(retries + 1):
        try:
            _fetch_once(url, part, timeout)
            break
        except urllib.error.HTTPError as exc:
            if exc.code < 500 or attempt == retries:
                raise DownloadError(f'{url}: HTTP {exc.code} {exc.reason}') from None
        except (OSError, http.client.HTTPException) as exc:
            if attempt == retries:
                raise DownloadError(f'{url}: interrupted {retries + 1} times, last: {exc!r}; run again to '
                                    f'resume from the {part.stat().st_size if part.exists() else 0} bytes in '
                                    f'{part}') from None
        _log.info(f'{url}: attempt {attempt + 1} failed; resuming')
        time.sleep(backoff * (attempt + 1))
    _verify(part, spec, str(dest))
    os.replace(part, dest)
    return dest


def extract_archive(path: str | os.PathLike, out_dir: str | os.PathLike) -> None:
    """Unpack a ``.zip``, ``.tar``, ``.tar.gz`` / ``.tgz`` into ``out_dir`` (members may not leave it)."""
    path, out_dir = Path(path), Path(out_dir)
    name = path.name.lower()
    if name.endswith('.zip'):
        with zipfile.ZipFile(path) as zf:
            zf.extractall(out_dir)  # zipfile drops '..' and absolute parts of member names
    elif name.endswith(('.tar', '.tar.gz', '.tgz', '.tar.bz2', '.tar.xz')):
        with tarfile.open(path) as tf:
            tf.extractall(out_dir, filter='data')
    else:
        raise ValueError(f'extract_archive: {path} is not a .zip or tar archive')


def download_dataset(name: str, save_dir: str | os.PathLike, *, unzip: bool = False, delete: bool = False,
                     threads: int = 4, base_url: str | None = None, retries: int = 5, timeout: float = 60.0,
                     backoff: float = 1.0, files: tuple[RemoteFile, ...] | None = None) -> list[Path]:
    """Fetch every file of dataset ``name`` (a key of :data:`DATASET_FILES`, or ``files`` given explicitly)
    into ``save_dir``, ``threads`` at a time; then, with ``unzip``, unpack the archives there (``delete``
    removes each archive once unpacked). ``base_url`` defaults to ``$VISIONCRAFT_DATASET_BASE_URL``;
    ``retries`` / ``timeout`` / ``backoff`` (seconds, times the attempt number) go to :func:`download_file`.

    Every file is attempted; the errors of all failed ones are raised together as one :class:`DownloadError`
    (a :class:`ChecksumError` when all failures are checksum mismatches). Returns the downloaded paths.
    """
    if files is None:
        if name not in DATASET_FILES:
            raise KeyError(f'unknown dataset {name!r}; known: {", ".join(sorted(DATASET_FILES))}')
        files = DATASET_FILES[name]
    base_url = base_url or os.environ.get(BASE_URL_ENV) or None
    results: dict[str, Path] = {}
    errors: list[DownloadError] = []

    def one(spec: RemoteFile) -> None:
        try:
            results[spec.name] = download_file(spec, save_dir, base_url=base_url, retries=retries, timeout=timeout,
                                              backoff=backoff)
        except DownloadError as exc:
            errors.append(exc)

    with ThreadPoolExecutor(max_workers=max(1, threads)) as pool:
        list(pool.map(one, files))
    if errors:
        kind = ChecksumError if all(isinstance(e, ChecksumError) for e in errors) else DownloadError
        raise kind('; '.join(str(e) for e in errors))
    paths = [results[spec.name] for spec in files]
    if unzip:
        for path in paths:
            _log.info(f'unpacking {path}')
            extract_archive(path, save_dir)
            if delete:
                path.unlink()
    return paths
