"""``visioncraft serve`` as a user runs it: the detection quickstart config with a checkpoint, served by uvicorn in a
subprocess on a free 127.0.0.1 port, answers a POST with boxes and a truncated JPEG with 400, and stops cleanly on
SIGTERM; mistakes in the arguments are one ``error:`` line with exit status 2 before any model loads."""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest

from conftest import REPO
from serve_testing import DET_SHAPES, det_shapes_checkpoint, encode, shapes_picture
from visioncraft.cli.main import main, run_cli


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def _request(url: str, data: bytes | None = None, content_type: str | None = None):
    req = urllib.request.Request(url, data=data, headers={'Content-Type': content_type} if content_type else {})
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, r.read(), {k.lower(): v for k, v in r.headers.items()}
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read(), {k.lower(): v for k, v in exc.headers.items()}


def _multipart(field: str, name: str, data: bytes, ctype: str) -> tuple[bytes, str]:
    boundary = 'visioncraft-test-boundary'
    body = (f'--{boundary}\r\nContent-Disposition: form-data; name="{field}"; filename="{name}"\r\n'
            f'Content-Type: {ctype}\r\n\r\n').encode() + data + f'\r\n--{boundary}--\r\n'.encode()
    return body, f'multipart/form-data; boundary={boundary}'


@pytest.mark.slow
def test_serve_command_answers_boxes_and_refuses_a_truncated_jpeg(tmp_path):
    ckpt = det_shapes_checkpoint(tmp_path / 'det_shapes.pth')
    port = _free_port()
    env = {**os.environ, 'OMP_NUM_THREADS': '1'}
    proc = subprocess.Popen([sys.executable, '-m', 'visioncraft.cli.main', 'serve', f'det={DET_SHAPES},{ckpt}',
                             '--port', str(port), '--device', 'cpu'], cwd=REPO, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    base = f'http://127.0.0.1:{port}'
    try:
        deadline = time.monotonic() + 120
        while True:
            assert proc.poll() is None, proc.stdout.read()
            try:
                if _request(f'{base}/healthz')[0] == 200:
                    break
            except OSError:
                pass
            assert time.monotonic() < deadline, 'the server did not start in 120 s'
            time.sleep(0.2)
        jpg = encode(shapes_picture(), '.jpg')
        status, body, headers = _request(f'{base}/v1/models/det/predict', *_multipart('file', 'a.jpg', jpg, 'image/jpeg'))
        assert status == 200, body
        doc = json.loads(body)
        assert len(doc['bboxes']) == len(doc['labels']) == len(doc['scores']) > 0
        assert all(len(b) == 4 for b in doc['bboxes']) and headers['x-task'] == 'detection'
        status, body, _ = _request(f'{base}/v1/models/det/predict', jpg[:len(jpg) // 2], 'image/jpeg')
        assert status == 400 and 'truncated' in json.loads(body)['error']
        status, body, _ = _request(f'{base}/v1/models')
        assert json.loads(body)['models'][0]['classes'] == ['circle', 'square', 'triangle', 'star']
        status, body, _ = _request(f'{base}/metrics')
        assert 'visioncraft_requests_total{route="/v1/models/{name}/predict",model="det",code="400"} 1' in body.decode()
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            out, _ = proc.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, _ = proc.communicate()
    # uvicorn shuts down gracefully, then re-raises the signal it caught (so the exit status says SIGTERM)
    assert proc.returncode in (0, -signal.SIGTERM), out
    assert 'Application shutdown complete' in out and 'Traceback' not in out, out
    assert f'serving 1 model(s) at http://127.0.0.1:{port}/' in out and 'det: detection, 4 classes' in out


@pytest.mark.parametrize('argv,needle', [
    (['serve', 'bad name!=x.py'], "the name 'bad name!'"),
    (['serve', 'det_shapes'], 'det_shapes is a model alias: give its checkpoint'),
    (['serve', 'nowhere/x.py,w.pth'], 'no such config file'),
    (['serve', f'a={DET_SHAPES}', f'a={DET_SHAPES}'], 'two models are named a'),
    (['serve', 'x.py', '--max-batch', '0'], '--max-batch must be >= 1'),
    (['serve', 'x.py', '--max-image-mb', '-1'], '--max-image-mb must be > 0'),
])
def test_argument_mistakes_are_one_line(capsys, argv, needle):
    with pytest.raises(SystemExit) as exc:
        run_cli(main, argv)
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith('error: ') and err.count('\n') == 1 and needle in err, err


def test_missing_serve_extra_is_a_clear_error(monkeypatch):
    import importlib.util

    from visioncraft.cli import serve
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, 'find_spec', lambda name, *a: None if name == 'uvicorn' else real(name, *a))
    with pytest.raises(ModuleNotFoundError, match=r'needs uvicorn: pip install "visioncraft\[serve\]"'):
        serve.check_serve_dependencies()
