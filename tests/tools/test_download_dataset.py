"""tools/misc/download_dataset.py: resumable, checksum-verified downloads against a loopback HTTP server.

No test waits on time. The server records a request before it answers it (the client cannot see an answer, and
so ``download_file`` cannot return, before the record is in ``server.requests``: the socket orders them); its
handler threads are joined when it is closed; the fixture stops it with ``shutdown()``, which waits on the serving
thread's own event. (The handler used to record a request after flushing the answer: under load the client read
the whole answer, returned and the test compared ``server.requests`` before the handler thread ran again.)
"""
from __future__ import annotations

import hashlib
import io
import re
import subprocess
import sys
import tarfile
import threading
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from visioncraft.cli import converter_parsers
from visioncraft.cli.converters import main_download_dataset
from visioncraft.data import download
from visioncraft.data.download import (DATASET_FILES, ChecksumError, DownloadError, RemoteFile, download_dataset,
                                       download_file)

REPO = Path(__file__).resolve().parents[2]


def _add_dataset(monkeypatch, name: str, files: tuple[RemoteFile, ...]) -> None:
    """Make ``name`` a dataset of the table and a choice of the tool's light parser (which restates the names)."""
    monkeypatch.setitem(DATASET_FILES, name, files)
    monkeypatch.setattr(converter_parsers, 'DOWNLOAD_DATASETS', (*converter_parsers.DOWNLOAD_DATASETS, name))


class _RangeHandler(BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 (http.server's naming)
        srv: FileServer = self.server
        name = self.path.lstrip('/').rsplit('/', 1)[-1]
        path = srv.root / name
        if not path.is_file():
            self.send_error(404)
            return
        data = path.read_bytes()
        wanted = self.headers.get('Range')
        start = 0
        if wanted and srv.support_range:
            start = int(re.fullmatch(r'bytes=(\d+)-', wanted).group(1))
            if start >= len(data):
                srv.requests.append((name, wanted, 0))  # recorded before the answer: see the module docstring
                self.send_response(416)
                self.send_header('Content-Range', f'bytes */{len(data)}')
                self.send_header('Content-Length', '0')
                self.end_headers()
                return
            self.send_response(206)
            self.send_header('Content-Range', f'bytes {start}-{len(data) - 1}/{len(data)}')
        else:
            self.send_response(200)
        body = data[start:]
        cut = srv.cut_after.pop(name, None)  # drop the connection after this many bytes, once
        sent = body if cut is None else body[:cut]
        srv.requests.append((name, wanted, len(sent)))  # before the first byte of the answer goes out
        self.send_header('Content-Length', str(len(body)))
        self.end_headers()
        self.wfile.write(sent)
        self.wfile.flush()
        self.close_connection = True

    def log_message(self, *args):
        pass


class FileServer(ThreadingHTTPServer):
    """Serves the files of ``root`` on 127.0.0.1 with single-range ``bytes=N-`` support; records every
    request as ``(file name, Range header or None, bytes sent)`` before answering it. ``server_close()`` joins
    the handler threads (none outlives its test)."""

    daemon_threads = False
    block_on_close = True

    def __init__(self, root: Path) -> None:
        super().__init__(('127.0.0.1', 0), _RangeHandler)
        self.root = root
        self.support_range = True
        self.cut_after: dict[str, int] = {}
        self.requests: list[tuple[str, str | None, int]] = []

    @property
    def url(self) -> str:
        return f'http://127.0.0.1:{self.server_address[1]}/mirror'


@pytest.fixture
def server(tmp_path):
    root = tmp_path / 'served'
    root.mkdir()
    srv = FileServer(root)
    thread = threading.Thread(target=srv.serve_forever, kwargs=dict(poll_interval=0.02), daemon=True)
    thread.start()
    yield srv
    srv.shutdown()  # returns once serve_forever has stopped (an event set by the serving thread)
    srv.server_close()  # joins the handler threads
    thread.join()


def _publish(srv: FileServer, name: str, data: bytes) -> RemoteFile:
    (srv.root / name).write_bytes(data)
    return RemoteFile(f'http://official.example.invalid/files/{name}', md5=hashlib.md5(data).hexdigest())


PAYLOAD = bytes(range(256)) * 9000 + b'tail'  # 2.3 MB: several 1 MiB read blocks


def test_interrupted_download_resumes_with_a_range_request(server, tmp_path):
    spec = _publish(server, 'data.bin', PAYLOAD)
    server.cut_after['data.bin'] = 1_000_000
    out = tmp_path / 'out'
    paths = download_dataset('tiny', out, files=(spec,), base_url=server.url, backoff=0, threads=1)
    assert paths == [out / 'data.bin'] and (out / 'data.bin').read_bytes() == PAYLOAD
    assert not (out / 'data.bin.part').exists()
    # the second request asked only for the rest, and only the rest was sent
    assert server.requests == [('data.bin', None, 1_000_000),
                               ('data.bin', 'bytes=1000000-', len(PAYLOAD) - 1_000_000)]
    server.requests.clear()
    download_dataset('tiny', out, files=(spec,), base_url=server.url)  # verified and kept: no request
    assert server.requests == []


def test_part_file_from_an_earlier_run_is_resumed_by_the_cli(server, tmp_path, monkeypatch, capsys):
    spec = _publish(server, 'data.bin', PAYLOAD)
    _add_dataset(monkeypatch, 'tiny', (spec,))
    monkeypatch.setenv(download.BASE_URL_ENV, server.url)
    out = tmp_path / 'out'
    out.mkdir()
    (out / 'data.bin.part').write_bytes(PAYLOAD[:123_456])
    main_download_dataset(['--dataset-name', 'tiny', '--save-dir', str(out), '--threads', '2'])
    assert (out / 'data.bin').read_bytes() == PAYLOAD
    assert server.requests == [('data.bin', 'bytes=123456-', len(PAYLOAD) - 123_456)]
    assert str(out / 'data.bin') in capsys.readouterr().out


def test_complete_part_file_and_server_without_range(server, tmp_path):
    spec = _publish(server, 'data.bin', PAYLOAD)
    out = tmp_path / 'out'
    out.mkdir()
    (out / 'data.bin.part').write_bytes(PAYLOAD)  # complete but not yet verified: 416, then verified
    download_file(spec, out, base_url=server.url)
    assert (out / 'data.bin').read_bytes() == PAYLOAD
    assert server.requests == [('data.bin', f'bytes={len(PAYLOAD)}-', 0)]
    (out / 'data.bin').unlink()
    server.requests.clear()
    server.support_range = False  # a server that ignores Range: the download starts over
    (out / 'data.bin.part').write_bytes(b'garbage')
    download_file(spec, out, base_url=server.url)
    assert (out / 'data.bin').read_bytes() == PAYLOAD
    assert server.requests == [('data.bin', 'bytes=7-', len(PAYLOAD))]


def test_bad_checksum_deletes_the_file_and_names_it(server, tmp_path):
    good = _publish(server, 'good.bin', b'fine')
    bad = RemoteFile('http://official.example.invalid/files/bad.bin', md5='0' * 32)
    (server.root / 'bad.bin').write_bytes(b'corrupted')
    out = tmp_path / 'out'
    with pytest.raises(ChecksumError, match=r'bad\.bin: md5 [0-9a-f]{32} does not match the expected 0{32}'):
        download_dataset('tiny', out, files=(good, bad), base_url=server.url, threads=2)
    assert not (out / 'bad.bin').exists() and not (out / 'bad.bin.part').exists()
    assert (out / 'good.bin').read_bytes() == b'fine'  # the other file still completes
    sha = RemoteFile('http://x.invalid/good.bin', sha256=hashlib.sha256(b'fine').hexdigest())
    assert download_file(sha, tmp_path / 'sha', base_url=server.url).read_bytes() == b'fine'
    with pytest.raises(ChecksumError, match='sha256'):
        download_file(RemoteFile('http://x.invalid/good.bin', sha256='f' * 64), tmp_path / 'sha2',
                      base_url=server.url)


def test_http_errors_and_gave_up_retries(server, tmp_path):
    with pytest.raises(DownloadError, match=r'missing\.bin: HTTP 404'):
        download_file(RemoteFile('http://x.invalid/missing.bin', md5='0' * 32), tmp_path, base_url=server.url)
    spec = _publish(server, 'data.bin', PAYLOAD)
    server.cut_after['data.bin'] = 10
    with pytest.raises(DownloadError, match=r'interrupted 1 times.*resume from the 10 bytes'):
        download_file(spec, tmp_path, base_url=server.url, retries=0)
    assert (tmp_path / 'data.bin.part').stat().st_size == 10
    with pytest.raises(KeyError, match='unknown dataset'):
        download_dataset('nope', tmp_path)


def test_unzip_and_delete(server, tmp_path, monkeypatch):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, 'w') as zf:
        zf.writestr('coco/annotations/instances_val.json', '{}')
    zspec = _publish(server, 'ann.zip', buf.getvalue())
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode='w:gz') as tf:
        info = tarfile.TarInfo('VOCdevkit/VOC2007/ImageSets/Main/test.txt')
        info.size = 7
        tf.addfile(info, io.BytesIO(b'000001\n'))
    tspec = _publish(server, 'voc.tar.gz', buf.getvalue())
    _add_dataset(monkeypatch, 'tiny', (zspec, tspec))
    out = tmp_path / 'out'
    main_download_dataset(['--dataset-name', 'tiny', '--save-dir', str(out), '--unzip', '--delete',
                           '--base-url', server.url])
    assert (out / 'coco' / 'annotations' / 'instances_val.json').read_text() == '{}'
    assert (out / 'VOCdevkit' / 'VOC2007' / 'ImageSets' / 'Main' / 'test.txt').read_text() == '000001\n'
    assert not (out / 'ann.zip').exists() and not (out / 'voc.tar.gz').exists()
    with pytest.raises(SystemExit):
        main_download_dataset(['--dataset-name', 'tiny', '--delete'])  # --delete needs --unzip


def test_dataset_table():
    assert {'coco2017', 'voc2007', 'voc2012', 'voc0712'} <= set(DATASET_FILES)
    # the tool's parser (light: no torch) restates the names and the variable
    assert sorted(converter_parsers.DOWNLOAD_DATASETS) == sorted(DATASET_FILES)
    assert converter_parsers.BASE_URL_ENV == download.BASE_URL_ENV
    for name, files in DATASET_FILES.items():
        assert len({f.name for f in files}) == len(files), name
        for f in files:
            assert f.url.startswith('http') and (re.fullmatch(r'[0-9a-f]{32}', f.md5 or '')
                                                 or re.fullmatch(r'[0-9a-f]{64}', f.sha256 or '')), f


@pytest.mark.slow
def test_tool_script_reports_a_bad_checksum(server, tmp_path):
    """End to end through tools/misc/download_dataset.py with the real table, against the loopback mirror:
    a file that is not the real VOC2012 archive is rejected, named and deleted."""
    (server.root / 'VOCtrainval_11-May-2012.tar').write_bytes(b'not the real archive')
    out = tmp_path / 'out'
    r = subprocess.run([sys.executable, str(REPO / 'tools' / 'misc' / 'download_dataset.py'), '--dataset-name',
                        'voc2012', '--save-dir', str(out), '--base-url', server.url], capture_output=True,
                       text=True, timeout=60)
    assert r.returncode == 1
    assert 'VOCtrainval_11-May-2012.tar: md5' in r.stderr and '6cd6e144f989b92b3379bac3b3de84fd' in r.stderr
    assert not list(out.iterdir())
