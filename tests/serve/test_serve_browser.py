"""The web page of ``visioncraft serve`` in a real, headless Chromium (driven by Playwright through the installed
browser; Playwright's own browser download is never used): uvicorn serves a detector, a pose model and an OCR pair in
a thread on a free 127.0.0.1 port; the test uploads pictures (file input, drag and drop, a fake webcam), checks that
the result is drawn on the canvas (pixels changed where the image was) and listed in the table, that the score
slider redraws, and that a bad upload shows the server's reason. Screenshots go to the test's tmp dir.

Skipped, saying why, only where no Chromium is installed (``make browser`` installs one with apt where it can) or
the playwright package is missing."""
from __future__ import annotations

import json
import os
import shutil
import socket
import threading
import time
from pathlib import Path

import cv2
import pytest

from serve_testing import (DET_SHAPES, POSE_SYNTH, det_shapes_checkpoint, pose_checkpoint, shapes_picture,
                           text_model_files, text_picture)

CHROMIUM_NAMES = ('chromium', 'chromium-browser', 'google-chrome', 'google-chrome-stable', 'chromium-headless-shell')


def find_chromium() -> str | None:
    """``$VISIONCRAFT_CHROMIUM``, else the first Chromium on PATH."""
    env = os.environ.get('VISIONCRAFT_CHROMIUM')
    if env and Path(env).is_file():
        return env
    for name in CHROMIUM_NAMES:
        found = shutil.which(name)
        if found:
            return found
    return None


def _skip_reason() -> str | None:
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return 'the playwright package is not installed (it is in the test extra: pip install -e ".[test]")'
    if find_chromium() is None:
        return ('no Chromium installed (looked for $VISIONCRAFT_CHROMIUM and ' + ', '.join(CHROMIUM_NAMES) +
                ' on PATH); `make browser` installs it with apt where it can')
    return None


pytestmark = [pytest.mark.slow, pytest.mark.skipif(_skip_reason() is not None, reason=_skip_reason() or '')]

# pixels of the canvas that differ from the picture alone: what was drawn over it
CHANGED_PIXELS = '''() => {
  const c = document.getElementById('result');
  const ref = document.createElement('canvas');
  ref.width = c.width; ref.height = c.height;
  const r = ref.getContext('2d');
  r.drawImage(state.image, 0, 0);
  const a = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
  const b = r.getImageData(0, 0, c.width, c.height).data;
  let n = 0;
  for (let i = 0; i < a.length; i += 4) {
    if (Math.abs(a[i] - b[i]) + Math.abs(a[i + 1] - b[i + 1]) + Math.abs(a[i + 2] - b[i + 2]) > 30) n++;
  }
  return n;
}'''


@pytest.fixture(scope='module')
def server(tmp_path_factory):
    import uvicorn

    from visioncraft.serve.app import create_app
    from visioncraft.serve.models import load_served_model
    root = tmp_path_factory.mktemp('serve_browser')
    text = text_model_files(root)
    det_ckpt = det_shapes_checkpoint(root / 'det_shapes.pth')
    models = [load_served_model(f'det={DET_SHAPES},{det_ckpt}', device='cpu'),
              load_served_model(f'pose={POSE_SYNTH},{pose_checkpoint(root / "pose.pth")}', device='cpu'),
              load_served_model(f'ocr={text["det_cfg"]},{text["det_ckpt"]}+{text["rec_cfg"]},{text["rec_ckpt"]}',
                                device='cpu'),
              load_served_model(f'regions={text["det_cfg"]},{text["det_ckpt"]}', device='cpu'),
              load_served_model(f'word={text["rec_cfg"]},{text["rec_ckpt"]}', device='cpu')]
    sock = socket.socket()
    sock.bind(('127.0.0.1', 0))
    port = sock.getsockname()[1]
    srv = uvicorn.Server(uvicorn.Config(create_app(models), log_level='warning'))
    thread = threading.Thread(target=srv.run, kwargs=dict(sockets=[sock]), daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not srv.started:
        assert thread.is_alive() and time.monotonic() < deadline, 'uvicorn did not start'
        time.sleep(0.05)
    pictures = {}
    for name, img in (('shapes.png', cv2.resize(shapes_picture(), (480, 384), interpolation=cv2.INTER_NEAREST)),
                      ('text.png', cv2.resize(text_picture(), (384, 256))),
                      ('word.png', text_picture(('serve',))[10:50, :110])):
        cv2.imwrite(str(root / name), img)
        pictures[name] = root / name
    (root / 'notes.png').write_text('this is not a picture')
    pictures['notes.png'] = root / 'notes.png'
    yield dict(url=f'http://127.0.0.1:{port}/', pictures=pictures)
    srv.should_exit = True
    thread.join(15)
    sock.close()


@pytest.fixture(scope='module')
def page(server):
    from playwright.sync_api import sync_playwright
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=find_chromium(), headless=True,
                                     args=['--no-sandbox', '--use-fake-device-for-media-stream',
                                           '--use-fake-ui-for-media-stream'])
        context = browser.new_context(viewport={'width': 1280, 'height': 900})
        page = context.new_page()
        errors: list[str] = []
        page.on('pageerror', lambda exc: errors.append(str(exc)))
        page.goto(server['url'])
        page.wait_for_function("document.querySelectorAll('#model option').length === 5 && "
                               "!document.getElementById('model').disabled")
        page.js_errors = errors
        yield page
        browser.close()


def _send(page, action) -> str:
    """Run ``action`` (which sends an image) and wait for the page to finish; returns the status line."""
    page.evaluate("document.getElementById('status').dataset.state = 'idle'")
    action()
    page.wait_for_function("['done', 'error'].includes(document.getElementById('status').dataset.state)",
                           timeout=30_000)
    return page.inner_text('#status')


def _drawn(page) -> tuple[int, int, int]:
    """(items drawn, table rows, canvas pixels changed by the drawing)."""
    return (int(page.get_attribute('#result', 'data-drawn')), int(page.get_attribute('#table', 'data-rows')),
            page.evaluate(CHANGED_PIXELS))


def test_upload_draws_boxes_and_fills_the_table(page, server, tmp_path):
    page.select_option('#model', 'det')
    status = _send(page, lambda: page.set_input_files('#file', str(server['pictures']['shapes.png'])))
    assert page.get_attribute('#status', 'data-state') == 'done', status
    assert 'objects' in status and 'det:' in status
    drawn, rows, changed = _drawn(page)
    doc = json.loads(page.text_content('#json'))
    assert rows == len(doc['labels']) > 0 and drawn == rows  # every box scores ~0.73 >= the default 0.3
    assert changed > 2000, f'only {changed} pixels drawn over the picture'
    assert (page.evaluate("document.getElementById('result').width"), page.evaluate(
        "document.getElementById('result').height")) == (480, 384)
    assert 'ms round trip' in page.inner_text('#timing') and 'model' in page.inner_text('#timing')
    header = page.inner_text('#table thead')
    assert 'class' in header and 'score' in header
    assert page.inner_text('#table tbody tr:first-child td:nth-child(2)') in ('circle', 'square', 'triangle', 'star')
    page.screenshot(path=str(tmp_path / 'serve_detection.png'), full_page=True)
    page.locator('#result').screenshot(path=str(tmp_path / 'serve_detection_canvas.png'))
    assert (tmp_path / 'serve_detection.png').stat().st_size > 10_000
    # the slider redraws: nothing scores 0.9, the table keeps every row (dimmed)
    page.fill('#threshold', '0.9')
    page.dispatch_event('#threshold', 'input')
    drawn, rows_after, changed = _drawn(page)
    assert drawn == 0 and rows_after == rows and changed == 0
    assert page.locator('#table tbody tr.below').count() == rows
    page.fill('#threshold', '0.3')
    page.dispatch_event('#threshold', 'input')
    assert not page.js_errors, page.js_errors


def test_pose_skeleton_and_ocr_polygons_are_drawn(page, server, tmp_path):
    page.select_option('#model', 'pose')
    page.fill('#threshold', '0')  # the seeded pose model's keypoint scores are low: draw them all
    page.dispatch_event('#threshold', 'input')
    _send(page, lambda: page.set_input_files('#file', str(server['pictures']['shapes.png'])))
    drawn, rows, changed = _drawn(page)
    assert page.get_attribute('#result', 'data-task') == 'pose' and drawn == rows == 1 and changed > 300
    page.screenshot(path=str(tmp_path / 'serve_pose.png'), full_page=True)
    page.select_option('#model', 'ocr')
    _send(page, lambda: page.set_input_files('#file', str(server['pictures']['text.png'])))
    drawn, rows, changed = _drawn(page)
    doc = json.loads(page.text_content('#json'))
    assert page.get_attribute('#result', 'data-task') == 'ocr' and rows == len(doc['results']) > 0
    assert drawn == rows and changed > 300
    assert 'text' in page.inner_text('#table thead')
    page.screenshot(path=str(tmp_path / 'serve_ocr.png'), full_page=True)
    page.select_option('#model', 'regions')  # a text detector alone: polygons with their scores
    _send(page, lambda: page.set_input_files('#file', str(server['pictures']['text.png'])))
    drawn, rows, changed = _drawn(page)
    assert page.get_attribute('#result', 'data-task') == 'textdet' and drawn == rows == len(doc['results'])
    page.select_option('#model', 'word')  # a recogniser alone: the word written under the picture
    status = _send(page, lambda: page.set_input_files('#file', str(server['pictures']['word.png'])))
    assert page.get_attribute('#result', 'data-task') == 'textrecog' and status.startswith('word: read "'), status
    assert _drawn(page)[:2] == (1, 1)
    height = page.evaluate("document.getElementById('result').height")
    assert height > 40, 'no banner with the word under the picture'
    page.locator('#result').screenshot(path=str(tmp_path / 'serve_word.png'))
    page.fill('#threshold', '0.3')
    page.dispatch_event('#threshold', 'input')
    assert not page.js_errors, page.js_errors


def test_masks_decode_as_pycocotools_encodes_them(page):
    """The page's COCO RLE decoder (instance segmentation masks, as DetInferencer writes them) gives back the very
    pixels pycocotools encoded: long runs, runs over 32 (several 5-bit groups), negative differences, empty."""
    import numpy as np

    from visioncraft.tasks.detection.evaluation.coco_metric import encode_masks
    rng = np.random.default_rng(0)
    masks = np.zeros((4, 37, 53), bool)
    masks[0, 5:30, 10:40] = True
    masks[1] = rng.random((37, 53)) > 0.6
    masks[2, :, :] = True
    rles = encode_masks(masks)
    decoded = page.evaluate('''(rles) => rles.map((rle) => {
        const layer = maskLayer(rle, [255, 0, 0]);
        const data = layer.getContext('2d').getImageData(0, 0, layer.width, layer.height).data;
        const out = [];
        for (let i = 3; i < data.length; i += 4) out.push(data[i] > 0 ? 1 : 0);
        return {w: layer.width, h: layer.height, bits: out, area: maskArea(rle)};
    })''', rles)
    for mask, got in zip(masks, decoded):
        assert (got['h'], got['w']) == mask.shape
        assert np.array_equal(np.array(got['bits'], bool).reshape(mask.shape), mask)
        assert got['area'] == int(mask.sum())


def test_drop_webcam_and_a_bad_upload(page, server, tmp_path):
    page.select_option('#model', 'det')
    data = list(server['pictures']['shapes.png'].read_bytes())
    status = _send(page, lambda: page.evaluate('''(bytes) => {
        const dt = new DataTransfer();
        dt.items.add(new File([new Uint8Array(bytes)], 'dropped.png', {type: 'image/png'}));
        document.getElementById('drop').dispatchEvent(new DragEvent('drop', {dataTransfer: dt, bubbles: true,
                                                                             cancelable: true}));
    }''', data))
    assert page.get_attribute('#status', 'data-state') == 'done', status
    assert _drawn(page)[0] > 0
    # Chromium's fake camera (--use-fake-device-for-media-stream) stands in for a webcam
    page.click('#camera-start')
    page.wait_for_function("!document.getElementById('camera-capture').disabled && "
                           "document.getElementById('camera').videoWidth > 0", timeout=20_000)
    status = _send(page, lambda: page.click('#camera-capture'))
    assert page.get_attribute('#status', 'data-state') == 'done', status
    drawn, rows, changed = _drawn(page)
    assert drawn > 0 and changed > 500
    page.screenshot(path=str(tmp_path / 'serve_webcam.png'), full_page=True)
    page.click('#camera-start')  # stops the camera
    status = _send(page, lambda: page.set_input_files('#file', str(server['pictures']['notes.png'])))
    assert page.get_attribute('#status', 'data-state') == 'error'
    assert status.startswith('400: the upload is not an image'), status
    assert not page.js_errors, page.js_errors
