"""The model index (visioncraft/model_index.py, visioncraft/apis/model_index.py) and ``visioncraft models``:
every entry names a shipped config that loads, its published hash is the one in the upstream file name, names and
aliases resolve, and weights download from a loopback server into the cache, checked, converted when the entry
says so; offline, the error names the file and where to put it."""
from __future__ import annotations

import functools
import hashlib
import json
import re
import subprocess
import sys
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import torch

from visioncraft.apis import model_index as zoo
from visioncraft.config import Config
from visioncraft.errors import UserError
from visioncraft.fileio.package_data import find_package_file
from visioncraft.model_index import MODEL_INDEX, ModelInfo, get_model, list_models

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize('info', MODEL_INDEX, ids=lambda m: m.name)
def test_entry_config_ships_and_loads(info):
    path = find_package_file(info.config)
    cfg = Config.fromfile(str(path))
    assert 'model' in cfg, f'{info.config} defines no model'
    if info.url:
        # the published hash prefix is the one in the upstream file name (what mmengine / torch.hub check)
        assert re.fullmatch(r'[0-9a-f]{8,64}', info.sha256)
        assert f'-{info.sha256}' in info.file_name, (info.name, info.file_name)
        assert info.url.startswith('https://')


def test_names_and_aliases_resolve():
    assert get_model('faster_rcnn_r50_fpn_1x_coco').name == 'faster-rcnn_r50_fpn_1x_coco'  # MMDetection 2.x name
    assert get_model('HUMAN').name == 'rtmpose-s_8xb256-420e_coco-256x192'
    assert get_model('dbnet_resnet18', task='textdet').task == 'textdet'
    assert {m.task for m in list_models('pose')} == {'pose'}
    with pytest.raises(UserError, match="did you mean .*retinanet_r50_fpn_1x_coco"):
        get_model('retinanet_r50_fpn_1x_cocoo')
    with pytest.raises(UserError, match='is a textrecog model'):
        get_model('crnn', task='det')
    with pytest.raises(UserError, match='--task'):
        list_models('ocr')


def test_resolve_model_config_path_and_name(tmp_path):
    cfg = str(find_package_file('configs/textrecog/crnn/crnn_mini-vgg_5e_mj.py'))
    assert zoo.resolve_model(cfg, 'w.pth') == (cfg, 'w.pth')
    assert zoo.resolve_model('crnn', tmp_path / 'w.pth') == (cfg, str(tmp_path / 'w.pth'))
    assert zoo.resolve_model('crnn', download=False) == (cfg, None)


@pytest.fixture
def served(tmp_path):
    root = tmp_path / 'served'
    root.mkdir()
    handler = functools.partial(_QuietHandler, directory=str(root))
    srv = ThreadingHTTPServer(('127.0.0.1', 0), handler)
    thread = threading.Thread(target=srv.serve_forever, kwargs=dict(poll_interval=0.02), daemon=True)
    thread.start()
    yield root, f'http://127.0.0.1:{srv.server_address[1]}'
    srv.shutdown()
    srv.server_close()
    thread.join()


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def _entry(name: str, data: bytes, url_base: str, convert: str | None = None, sha: str | None = None) -> ModelInfo:
    sha = sha or hashlib.sha256(data).hexdigest()[:8]
    return ModelInfo(name, 'det', 'configs/faster_rcnn/faster-rcnn_r50_fpn_1x_coco.py',
                     f'{url_base}/{name}-{sha}.pth', sha, 'test', {}, convert)


def test_fetch_weights_downloads_once_and_checks(served, tmp_path, monkeypatch):
    root, base = served
    data = b'weights' * 1000
    info = _entry('model_a', data, 'https://unreachable.invalid/zoo')
    (root / info.file_name).write_bytes(data)
    cache = tmp_path / 'cache'
    # the mirror named by the environment replaces the upstream host
    monkeypatch.setenv(zoo.WEIGHTS_BASE_URL_ENV, base)
    path = zoo.fetch_weights(info, cache_dir=cache)
    assert path == cache / info.file_name and path.read_bytes() == data
    (root / info.file_name).unlink()  # cached: no second request
    assert zoo.fetch_weights(info, cache_dir=cache) == path
    # a file whose hash is not the published one is refused and not kept
    bad = _entry('model_b', data, base, sha='0123abcd')
    (root / bad.file_name).write_bytes(data)
    with pytest.raises(UserError, match='does not match the expected 0123abcd'):
        zoo.fetch_weights(bad, cache_dir=cache, retries=0)
    assert not (cache / bad.file_name).exists()


def test_fetch_weights_offline_names_the_file_and_place(tmp_path, monkeypatch):
    monkeypatch.delenv(zoo.WEIGHTS_BASE_URL_ENV, raising=False)
    info = _entry('model_c', b'x', 'http://127.0.0.1:9')  # port 9 (discard): nothing listens
    with pytest.raises(UserError) as err:
        zoo.fetch_weights(info, cache_dir=tmp_path, retries=0, timeout=2)
    msg = str(err.value)
    assert info.url in msg and str(tmp_path / info.file_name) in msg
    with pytest.raises(UserError, match='rapidocr'):
        zoo.fetch_weights('ppocrv4_mobile_det', cache_dir=tmp_path)


def test_fetch_weights_converts_torchvision_files(served, tmp_path):
    from torchvision.models.detection import retinanet_resnet50_fpn
    root, base = served
    tv = retinanet_resnet50_fpn(weights=None, weights_backbone=None)
    src = tmp_path / 'tv.pth'
    torch.save(tv.state_dict(), src)
    data = src.read_bytes()
    info = _entry('retinanet_tv', data, base, convert='torchvision:retinanet')
    (root / info.file_name).write_bytes(data)
    path = zoo.fetch_weights(info, cache_dir=tmp_path / 'cache')
    assert path.name.endswith('.coco80.pth')
    ckpt = torch.load(path, weights_only=True)
    assert len(ckpt['meta']['dataset_meta']['classes']) == 80
    state = ckpt['state_dict']
    assert 'backbone.conv1.weight' in state
    assert torch.equal(state['backbone.conv1.weight'], tv.state_dict()['backbone.body.conv1.weight'])
    # 9 anchors x 80 classes: torchvision's 91 slots cut to COCO's 80
    cls_out = [v for k, v in state.items() if k.startswith('bbox_head.') and v.ndim == 4 and v.shape[0] == 9 * 80]
    assert cls_out, 'no 80-class classification layer in the converted checkpoint'


def test_models_command_lists_the_index():
    proc = subprocess.run([sys.executable, '-m', 'visioncraft.cli.main', 'models', '--json', '--task', 'textdet'],
                          capture_output=True, text=True, cwd=REPO, timeout=120)
    assert proc.returncode == 0, proc.stderr
    rows = json.loads(proc.stdout)
    assert {r['name'] for r in rows} == {m.name for m in list_models('textdet')}
    assert all(r['task'] == 'textdet' for r in rows)
    proc = subprocess.run([sys.executable, '-m', 'visioncraft.cli.main', 'models'], capture_output=True, text=True,
                          cwd=REPO, timeout=120)
    assert proc.returncode == 0, proc.stderr
    for m in MODEL_INDEX:
        assert m.name in proc.stdout
        if m.url:
            assert m.url in proc.stdout


# -- models by name in every API and command: the index entry points at the loopback server and a tiny config ----------
_TINY = {'det': 'configs/quickstart/det_shapes.py', 'pose': 'configs/quickstart/pose_synth.py',
         'textdet': 'configs/quickstart/textdet_synth.py', 'textrecog': 'configs/quickstart/textrecog_synth.py'}


def _serve_tiny(monkeypatch, root: Path, base: str, name: str) -> dict:
    """Point the index entry ``name`` (and its aliases) at a tiny quickstart config of its task and a checkpoint of
    random weights served at ``base``; returns that state dict."""
    import dataclasses

    from visioncraft import model_index as table
    from visioncraft.registry import MODELS, default_scope
    info = get_model(name)
    config = str(find_package_file(_TINY[info.task]))
    cfg = Config.fromfile(config)
    if isinstance(cfg.model.get('backbone'), dict):
        cfg.model.backbone.init_cfg = None
    torch.manual_seed(1)
    with default_scope(cfg.get('default_scope', 'mmdet')):
        model = MODELS.build(cfg.model)
    state = {k: v.clone() for k, v in model.state_dict().items()}
    src = root / f'{name}.pth'
    torch.save({'state_dict': state, 'meta': {}}, src)
    sha = hashlib.sha256(src.read_bytes()).hexdigest()[:8]
    served = root / f'{name}-{sha}.pth'
    src.rename(served)
    new = dataclasses.replace(info, config=config, url=f'{base}/{served.name}', sha256=sha, convert=None)
    for key, value in list(table._LOOKUP.items()):
        if value is info:
            monkeypatch.setitem(table._LOOKUP, key, new)
    return state


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv('VISIONCRAFT_CACHE_DIR', str(tmp_path / 'cache'))
    monkeypatch.delenv(zoo.WEIGHTS_BASE_URL_ENV, raising=False)
    return tmp_path / 'cache' / 'checkpoints'


@pytest.fixture
def image(tmp_path):
    import cv2
    import numpy as np
    path = tmp_path / 'img.png'
    cv2.imwrite(str(path), np.random.default_rng(0).integers(0, 255, (64, 80, 3), dtype=np.uint8))
    return path


def _same_weights(model, state) -> None:
    got = model.state_dict()
    assert all(torch.equal(got[k].cpu(), v) for k, v in state.items())


def test_init_detector_and_init_model_take_a_name(served, cache, monkeypatch):
    from visioncraft.apis import init_detector, init_model
    root, base = served
    det = _serve_tiny(monkeypatch, root, base, 'faster-rcnn_r50_fpn_1x_coco')
    model = init_detector('faster-rcnn_r50_fpn_1x_coco', device='cpu')
    _same_weights(model, det)
    assert any(cache.glob('faster-rcnn_r50_fpn_1x_coco-*.pth'))
    for f in root.iterdir():  # cached: the second use needs no server
        f.unlink()
    _same_weights(init_detector('faster_rcnn_r50_fpn_1x_coco', device='cpu'), det)  # the MMDetection 2.x name
    pose = _serve_tiny(monkeypatch, root, base, 'td-hm_res50_8xb64-210e_coco-256x192')
    _same_weights(init_model('td-hm_res50_8xb64-210e_coco-256x192', device='cpu'), pose)
    with pytest.raises(UserError, match='is a pose model'):
        init_detector('td-hm_res50_8xb64-210e_coco-256x192', device='cpu')
    with pytest.raises(UserError, match='did you mean'):
        init_detector('faster-rcnn_r50_fpn_1x_cocoo', device='cpu')


def test_the_inferencers_and_commands_take_names(served, cache, image, tmp_path, monkeypatch):
    from visioncraft.apis import DetInferencer, PoseInferencer, TextDetInferencer, TextRecInferencer
    from visioncraft.cli import det as det_cli
    from visioncraft.cli import ocr as ocr_cli
    from visioncraft.cli import pose as pose_cli
    root, base = served
    det = _serve_tiny(monkeypatch, root, base, 'retinanet_r50_fpn_1x_coco')
    _same_weights(DetInferencer('retinanet', device='cpu', show_progress=False).model, det)
    out = det_cli.main([str(image), '--model', 'retinanet_r50_fpn_1x_coco', '--device', 'cpu',
                        '--out-dir', str(tmp_path / 'det')])
    assert list(out) == ['img.png']
    pose = _serve_tiny(monkeypatch, root, base, 'human')
    _same_weights(PoseInferencer('human', device='cpu').pose_model, pose)
    out = pose_cli.main([str(image), '--pose2d', 'human', '--device', 'cpu', '--out-dir', str(tmp_path / 'pose'),
                         '--no-progress'])  # no --pose2d-weights: the index's weights
    assert list(out) == ['img.png']
    textdet = _serve_tiny(monkeypatch, root, base, 'dbnet_resnet18')
    textrec = _serve_tiny(monkeypatch, root, base, 'crnn')
    _same_weights(TextDetInferencer('dbnet_resnet18', device='cpu', show_progress=False).model, textdet)
    _same_weights(TextRecInferencer('crnn', device='cpu', show_progress=False).model, textrec)
    out = ocr_cli.main([str(image), '--det', 'dbnet_resnet18', '--rec', 'crnn', '--device', 'cpu',
                        '--out-dir', str(tmp_path / 'ocr')])
    assert list(out) == ['img.png']


def test_a_name_offline_says_which_file_to_put_where(cache, monkeypatch):
    import dataclasses

    from visioncraft import model_index as table
    from visioncraft.apis import init_detector
    from visioncraft.data import download
    monkeypatch.setattr(download.time, 'sleep', lambda s: None)  # no back-off between the refused tries
    info = get_model('retinanet_r50_fpn_1x_coco')
    offline = dataclasses.replace(info, url='http://127.0.0.1:9/' + info.file_name)  # port 9: nothing listens
    for key, value in list(table._LOOKUP.items()):
        if value is info:
            monkeypatch.setitem(table._LOOKUP, key, offline)
    with pytest.raises(UserError) as err:
        init_detector('retinanet', device='cpu')
    assert offline.url in str(err.value) and str(cache / info.file_name) in str(err.value)
