"""The HTTP API of ``visioncraft serve`` (visioncraft.serve.app) with fake models, through FastAPI's TestClient: every
route, every kind of bad input (one-line 4xx reasons), batching of requests that wait together, the bounded queue
(503 + Retry-After for the 65th waiting request with max_queue 64), a model that fails on one image, the metrics."""
from __future__ import annotations

import base64
import re
import struct
import threading
import time
import tomllib
import zlib
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient

from conftest import REPO
from serve_testing import RecordingModel, encode, grey_png
from visioncraft.serve.app import STATIC_DIR, create_app

PREDICT = '/v1/models/fake/predict'


@pytest.fixture
def fake():
    return RecordingModel()


@pytest.fixture
def client(fake):
    with TestClient(create_app([fake.model], max_batch=8, max_queue=64)) as c:
        yield c


def _one_line_error(r, status: int, *needles: str) -> str:
    assert r.status_code == status, (r.status_code, r.text)
    reason = r.json()['error']
    assert '\n' not in reason and reason.strip() == reason
    for n in needles:
        assert n in reason, reason
    return reason


def _wait_until(cond, timeout=10.0):
    end = time.monotonic() + timeout
    while not cond():
        assert time.monotonic() < end, 'timed out'
        time.sleep(0.005)


# -- the three ways to send an image ---------------------------------------------------------------------------
def test_predict_multipart_raw_and_base64_json(client):
    png = grey_png(7)
    for r in (client.post(PREDICT, files={'file': ('a.png', png, 'image/png')}),
              client.post(PREDICT, content=png, headers={'Content-Type': 'image/png'}),
              client.post(PREDICT, content=png, headers={'Content-Type': 'application/octet-stream'}),
              client.post(PREDICT, json={'image': base64.b64encode(png).decode()}),
              client.post(PREDICT, json={'image': 'data:image/png;base64,' + base64.b64encode(png).decode()})):
        assert r.status_code == 200, r.text
        assert r.json() == {'mean': 7.0}  # the model's document, nothing wrapped around it
        assert r.headers['content-type'] == 'application/json'
        assert r.headers['x-model'] == 'fake' and r.headers['x-task'] == 'detection'
        assert r.headers['x-image-size'] == '12x10' and r.headers['x-batch-size'] == '1'
        timing = dict(re.findall(r'(\w+);dur=([\d.]+)', r.headers['server-timing']))
        assert set(timing) == {'decode', 'queue', 'model', 'total'}


def test_jpeg_grey_and_alpha_images_become_bgr(client):
    assert client.post(PREDICT, files={'file': ('a.jpg', encode(np.full((9, 9, 3), 200, np.uint8), '.jpg'),
                                                 'image/jpeg')}).status_code == 200
    grey = encode(np.full((5, 6), 50, np.uint8))
    assert client.post(PREDICT, content=grey, headers={'Content-Type': 'image/png'}).json() == {'mean': 50.0}
    rgba = encode(np.full((5, 6, 4), 90, np.uint8))
    assert client.post(PREDICT, content=rgba, headers={'Content-Type': 'image/png'}).json() == {'mean': 90.0}


# -- bad input: a 4xx with one line saying why; the server goes on ---------------------------------------------
def test_bad_images_get_400(client):
    jpg = encode(np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8), '.jpg')
    png = grey_png(3, 40, 40)
    raw = {'Content-Type': 'image/jpeg'}
    _one_line_error(client.post(PREDICT, content=jpg[:len(jpg) // 2], headers=raw), 400, 'truncated', 'JPEG')
    _one_line_error(client.post(PREDICT, files={'file': ('t.png', png[:-30], 'image/png')}), 400, 'truncated', 'PNG')
    _one_line_error(client.post(PREDICT, content=b'GIF89a but not really an image at all', headers=raw), 400,
                    'not an image')
    _one_line_error(client.post(PREDICT, content=b'hello', headers=raw), 400, 'not an image')
    _one_line_error(client.post(PREDICT, content=b'', headers=raw), 400, 'empty')
    assert client.post(PREDICT, content=png, headers=raw).status_code == 200  # and it still answers


def test_wrong_fields_and_bodies_get_400_or_415(client):
    png = grey_png(3)
    _one_line_error(client.post(PREDICT, files={'image': ('a.png', png, 'image/png')}), 400, '"file"', 'image')
    _one_line_error(client.post(PREDICT, data={'file': 'not a file'}, files={'other': ('a.png', png)}), 400,
                    'file upload')
    _one_line_error(client.post(PREDICT, json={'img': 'abc'}), 400, 'no "image" field', 'img')
    _one_line_error(client.post(PREDICT, json=['image']), 400, 'object')
    _one_line_error(client.post(PREDICT, json={'image': 12}), 400, 'base64 string')
    _one_line_error(client.post(PREDICT, json={'image': 'not base64 !!'}), 400, 'not valid base64')
    _one_line_error(client.post(PREDICT, content=b'{"image": ', headers={'Content-Type': 'application/json'}), 400,
                    'does not parse')
    _one_line_error(client.post(PREDICT, content=b'[' * 200_000, headers={'Content-Type': 'application/json'}), 400,
                    'nested too deeply')
    _one_line_error(client.post(PREDICT, content=b'--x\r\ngarbage', headers={'Content-Type': 'multipart/form-data'}),
                    400, 'multipart')
    _one_line_error(client.post(PREDICT, content=png, headers={'Content-Type': 'text/plain'}), 415, 'text/plain')
    _one_line_error(client.post(PREDICT, content=png, headers={'Content-Type': ''}), 415, 'Content-Type')


def _png_claiming(width: int, height: int) -> bytes:
    """A small PNG whose IHDR claims ``width`` x ``height`` (CRC fixed up, so the header reads as valid)."""
    data = bytearray(grey_png(1, 4, 4))
    ihdr = 8 + 8  # signature, then length + type of the first chunk
    data[ihdr:ihdr + 8] = struct.pack('>II', width, height)
    data[ihdr + 13:ihdr + 17] = struct.pack('>I', zlib.crc32(bytes(data[12:ihdr + 13])) & 0xFFFFFFFF)
    return bytes(data)


def test_too_large_gets_413_bytes_and_pixels(fake):
    app = create_app([fake.model], max_image_bytes=2000, max_image_pixels=400)
    with TestClient(app) as c:
        big = bytes(3000)
        _one_line_error(c.post(PREDICT, content=big, headers={'Content-Type': 'image/png'}), 413, '2000 bytes')
        # no Content-Length (chunked): refused once the body passes the limit
        _one_line_error(c.post(PREDICT, content=iter([big[:1500], big[1500:]]), headers={'Content-Type': 'image/png'}),
                        413, 'over the limit')
        _one_line_error(c.post(PREDICT, files={'file': ('a.png', big, 'image/png')}), 413, '2000 bytes')
        _one_line_error(c.post(PREDICT, json={'image': base64.b64encode(big).decode()}), 413, '2000 bytes')
        _one_line_error(c.post(PREDICT, content=grey_png(5, 30, 30), headers={'Content-Type': 'image/png'}), 413,
                        'claims a 30 x 30 picture', '400 pixels')
        assert c.post(PREDICT, content=grey_png(5, 10, 10), headers={'Content-Type': 'image/png'}).status_code == 200
    # a header claiming a huge picture is refused from the header, before anything is decoded
    with TestClient(create_app([fake.model])) as c:
        _one_line_error(c.post(PREDICT, content=_png_claiming(100_000, 100_000), headers={'Content-Type': 'image/png'}),
                        413, 'header claims a 10000000000-pixel picture')
        _one_line_error(c.post(PREDICT, content=_png_claiming(8000, 6000), headers={'Content-Type': 'image/png'}),
                        413, 'header claims a 8000 x 6000 picture', '40000000 pixels')


def test_unknown_model_route_and_method(client):
    _one_line_error(client.post('/v1/models/nope/predict', content=grey_png(1), headers={'Content-Type': 'image/png'}),
                    404, "unknown model 'nope'", 'fake')
    _one_line_error(client.get('/v1/models/nope'), 404, 'nope')
    _one_line_error(client.get('/no/such/page'), 404)
    _one_line_error(client.get(PREDICT), 405)


def test_nothing_outside_the_static_folder_is_served(client):
    inside = client.get('/static/app.js')
    assert inside.status_code == 200 and 'predict' in inside.text
    for path in ('/static/../app.py', '/static/%2e%2e/app.py', '/static/..%2fapp.py', '/static/%2e%2e%2f%2e%2e%2fcli/serve.py',
                 '/static//etc/passwd', '/static/%2fetc%2fpasswd'):
        r = client.get(path)
        assert r.status_code == 404, (path, r.status_code)
        assert 'create_app' not in r.text and 'root:' not in r.text


# -- routes ----------------------------------------------------------------------------------------------------
def test_models_healthz_index_and_metrics(client):
    models = client.get('/v1/models').json()
    assert models['models'] == [{'name': 'fake', 'task': 'detection', 'classes': ['thing'], 'queue_depth': 0}]
    assert models['limits'] == {'max_batch': 8, 'max_queue': 64, 'max_image_bytes': 20 * 2 ** 20,
                                'max_image_pixels': 40_000_000}
    assert client.get('/v1/models/fake').json()['task'] == 'detection'
    assert client.get('/healthz').json() == {'status': 'ok', 'models': ['fake'], 'queue_depth': {'fake': 0}}
    page = client.get('/')
    assert page.status_code == 200 and page.headers['content-type'].startswith('text/html')
    assert '<canvas id="result"' in page.text and 'http' not in page.text.split('<body>')[0].replace('http-equiv', '')
    assert client.post(PREDICT, content=grey_png(1), headers={'Content-Type': 'image/png'}).status_code == 200
    client.post(PREDICT, content=b'x', headers={'Content-Type': 'image/png'})
    r = client.get('/metrics')
    assert r.status_code == 200 and r.headers['content-type'].startswith('text/plain; version=0.0.4')
    text = r.text
    assert 'visioncraft_requests_total{route="/v1/models/{name}/predict",model="fake",code="200"} 1' in text
    assert 'visioncraft_requests_total{route="/v1/models/{name}/predict",model="fake",code="400"} 1' in text
    assert 'visioncraft_requests_total{route="/healthz",model="",code="200"} 1' in text
    assert 'visioncraft_request_duration_seconds_count{model="fake"} 1' in text
    assert 'visioncraft_request_duration_seconds_bucket{model="fake",le="+Inf"} 1' in text
    assert 'visioncraft_batch_size_bucket{model="fake",le="1"} 1' in text
    assert 'visioncraft_queue_depth{model="fake"} 0' in text
    assert '# TYPE visioncraft_request_duration_seconds histogram' in text
    for line in text.splitlines():  # the exposition format: comments, or `name{labels} value`
        assert line.startswith('#') or re.fullmatch(r'[a-z_]+(\{([a-z_]+="[^"]*",?)+\})? [0-9.e+-]+', line), line


def test_static_files_are_package_data():
    data = tomllib.loads((REPO / 'pyproject.toml').read_text())
    patterns = data['tool']['setuptools']['package-data']['visioncraft']
    files = sorted(p.relative_to(REPO / 'visioncraft').as_posix() for p in STATIC_DIR.iterdir() if p.is_file())
    assert {'serve/static/index.html', 'serve/static/app.js', 'serve/static/style.css'} <= set(files)
    for f in files:
        assert any(Path(f).match(p) for p in patterns), f'{f} is not in package-data {patterns}'
    for name in files:  # no CDN: the page loads nothing from elsewhere
        text = (REPO / 'visioncraft' / name).read_text()
        assert not re.search(r'(src|href)=["\']?(https?:)?//', text), name


# -- batching and the queue ------------------------------------------------------------------------------------
def _post_in_thread(client, value, out, path=PREDICT):
    def go():
        r = client.post(path, content=grey_png(value), headers={'Content-Type': 'image/png'})
        out[value] = (r.status_code, r.json(), r.headers.get('x-batch-size'))
    t = threading.Thread(target=go)
    t.start()
    return t


def test_requests_waiting_together_run_as_one_batch():
    fake = RecordingModel(block=True)
    app = create_app([fake.model], max_batch=4, max_queue=64)
    worker = app.state.workers['fake']
    out: dict = {}
    with TestClient(app) as c:
        threads = [_post_in_thread(c, 100, out)]
        assert fake.entered.wait(10)
        threads += [_post_in_thread(c, 101 + i, out) for i in range(9)]
        _wait_until(lambda: worker.depth == 9)
        assert c.get('/healthz').json()['queue_depth'] == {'fake': 9}  # the event loop answers meanwhile
        fake.release.set()
        for t in threads:
            t.join(30)
        metrics = c.get('/metrics').text
    assert fake.sizes == [1, 4, 4, 1]
    assert {v: (code, doc['mean']) for v, (code, doc, _) in out.items()} == {v: (200, float(v)) for v in range(100, 110)}
    assert sorted(int(b) for _, _, b in out.values()) == [1, 1, 4, 4, 4, 4, 4, 4, 4, 4]
    assert 'visioncraft_batch_size_bucket{model="fake",le="4"} 4' in metrics
    assert 'visioncraft_batch_size_count{model="fake"} 4' in metrics


def test_a_batch_waits_only_for_requests_on_their_way():
    from visioncraft.serve.batching import BatchWorker
    sizes = []

    def predict(images):
        sizes.append(len(images))
        return [None] * len(images)

    worker = BatchWorker(predict, max_batch=8, max_wait_s=5.0)
    img = np.zeros((2, 2, 3), np.uint8)
    try:
        t0 = time.perf_counter()
        worker.submit(img).result(10)
        assert time.perf_counter() - t0 < 2.5, 'a lone request waited for company'
        with worker.expect() as token:  # one more on its way (its body being read): the batch waits for it
            first = worker.submit(img)
            time.sleep(0.1)
            second = worker.submit(img, token)
        assert first.result(10).batch_size == second.result(10).batch_size == 2
        assert sizes == [1, 2]
    finally:
        worker.stop()


def test_concurrent_requests_each_get_their_own_answer():
    fake = RecordingModel(delay=0.02)
    out: dict = {}
    with TestClient(create_app([fake.model], max_batch=8)) as c:
        threads = [_post_in_thread(c, v, out) for v in range(20, 44)]
        for t in threads:
            t.join(60)
    assert {v: doc['mean'] for v, (_, doc, _) in out.items()} == {v: float(v) for v in range(20, 44)}
    assert sum(fake.sizes) == 24 and max(fake.sizes) <= 8


def test_the_65th_waiting_request_gets_503_with_retry_after():
    fake = RecordingModel(block=True)
    app = create_app([fake.model], max_batch=8, max_queue=64)
    worker = app.state.workers['fake']
    out: dict = {}
    with TestClient(app) as c:
        threads = [_post_in_thread(c, 0, out)]  # the model blocks on this one
        assert fake.entered.wait(10)
        threads += [_post_in_thread(c, v, out) for v in range(1, 65)]
        _wait_until(lambda: worker.depth == 64)
        assert 'visioncraft_queue_depth{model="fake"} 64' in c.get('/metrics').text
        r = c.post(PREDICT, content=grey_png(65), headers={'Content-Type': 'image/png'})
        reason = _one_line_error(r, 503, 'max-queue 64')
        assert r.headers['retry-after'] == '1', reason
        assert worker.depth == 64  # nothing was added
        fake.release.set()
        for t in threads:
            t.join(60)
        text = c.get('/metrics').text
        assert c.post(PREDICT, content=grey_png(66), headers={'Content-Type': 'image/png'}).status_code == 200
    assert len(out) == 65 and all(code == 200 and doc['mean'] == v for v, (code, doc, _) in out.items())
    assert 'visioncraft_requests_total{route="/v1/models/{name}/predict",model="fake",code="503"} 1' in text
    assert fake.sizes[0] == 1 and sum(fake.sizes) == 66 and max(fake.sizes) == 8


def test_a_model_error_fails_only_its_own_request():
    fake = RecordingModel(block=True, fail_value=13)
    app = create_app([fake.model], max_batch=8)
    out: dict = {}
    with TestClient(app) as c:
        threads = [_post_in_thread(c, 10, out)]
        assert fake.entered.wait(10)
        threads += [_post_in_thread(c, v, out) for v in (11, 12, 13, 14)]
        _wait_until(lambda: app.state.workers['fake'].depth == 4)
        fake.release.set()
        for t in threads:
            t.join(30)
        assert c.post(PREDICT, content=grey_png(15), headers={'Content-Type': 'image/png'}).json() == {'mean': 15.0}
    assert out[13][0] == 500 and 'cannot handle grey 13' in out[13][1]['error']
    assert {v: out[v][1] for v in (10, 11, 12, 14)} == {v: {'mean': float(v)} for v in (10, 11, 12, 14)}
    assert fake.sizes[:2] == [1, 4]  # the failed batch of 4 was run again one by one
    assert fake.sizes[2:6] == [1, 1, 1, 1]


def test_non_finite_numbers_become_null(client, fake):
    fake.fail_value = None
    fake.predict = lambda images: [dict(score=float('nan'), box=[1.0, float('inf')], n=np.int64(3))] * len(images)
    r = client.post(PREDICT, content=grey_png(1), headers={'Content-Type': 'image/png'})
    assert r.status_code == 200 and r.json() == {'score': None, 'box': [1.0, None], 'n': 3}


def test_unique_names_and_settings_are_checked():
    a, b = RecordingModel('same'), RecordingModel('same')
    with pytest.raises(ValueError, match='same given twice'):
        create_app([a.model, b.model])
    with pytest.raises(ValueError, match='max_queue'):
        create_app([a.model], max_queue=0)
