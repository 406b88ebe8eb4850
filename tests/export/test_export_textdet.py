"""Export of a text detector and the config-free predictor: the exported model (TorchScript and ONNX, through
:class:`TextDetPredictor`) finds the same polygons as the checkpoint through the config's test pipeline and
``model.predict`` (the inference API), on images of several sizes; the commands work end to end on a folder.

Tolerance: same number of polygons, every vertex within 1 px of a vertex of the matched polygon and scores within
1e-3. The three backends run the same convolutions with different kernels (TorchScript freezing folds BatchNorm
into the convolutions, onnxruntime fuses its own), so probabilities differ by ~1e-6 (asserted below with 1e-4);
a pixel that close to ``thresh`` could flip and move a contour by one pixel, never more, and a score is a mean
over many pixels. Quads are compared as point sets because ``cv2.boxPoints`` may start at another corner when
the rectangle's angle sits on the -90 / 0 boundary.

The model is the tiny DBNet with the trained weights saved in tests/data/weights (nothing is trained here): the
guards on how much text it finds (>= 1 region on each image, >= 4 in all) hold on every CPU and thread count, since
the saved weights find at least 3 regions on each image (12 in all) and still do with every weight perturbed by 1e-4
relative noise, 100x the difference two CPUs' kernels make (tests/data/make_test_weights.py prints these).
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

REPO = Path(__file__).resolve().parents[2]

from conftest import TINY_DBNET as MODEL, TINY_DBNET_TEST_PIPELINE as TEST_PIPELINE  # noqa: E402
from conftest import TINY_TEXTDET_DATA, model_with_saved_weights  # noqa: E402

def _config(data_root: Path) -> dict:
    ds = dict(type='OCRDataset', data_root=str(data_root), ann_file='textdet_val.json', test_mode=True,
              pipeline=TEST_PIPELINE)
    return dict(model=MODEL, test_dataloader=dict(batch_size=1, num_workers=0, dataset=ds,
                                                  sampler=dict(type='DefaultSampler', shuffle=False)))


@pytest.fixture(scope='module')
def exported(tmp_path_factory):
    """(config file, checkpoint, export dir, image folder, images) for the tiny DBNet's saved weights."""
    from visioncraft.config import Config
    from visioncraft.data.synthetic.text import generate_text_det
    from visioncraft.engine.checkpoint import save_checkpoint
    from visioncraft.export import export_model
    tmp = tmp_path_factory.mktemp('export')
    root = generate_text_det(tmp / 'data', **TINY_TEXTDET_DATA)
    model = model_with_saved_weights(MODEL, 'tiny_dbnet')
    ckpt = tmp / 'tiny_dbnet.pth'
    save_checkpoint(dict(state_dict=model.state_dict(), meta=dict(dataset_meta=dict(classes=('text',)))), ckpt)
    cfg_file = tmp / 'tiny_dbnet.py'
    Config(_config(root)).dump(cfg_file)
    val = [cv2.imread(str(root / 'imgs' / 'val' / f'img_{i}.jpg')) for i in (1, 2, 3)]
    images = {
        'square_128.png': val[0],  # resized to 160 x 160: no padding
        'wide_100x170.png': np.ascontiguousarray(np.hstack([val[1], val[2]])[14:114, :170]),  # 113 x 192: pads
        'tall_150x96.png': np.ascontiguousarray(np.vstack([val[2], val[0]])[:150, 16:112]),  # 160 x 102: pads
    }
    img_dir = tmp / 'images'
    img_dir.mkdir()
    for name, img in images.items():
        cv2.imwrite(str(img_dir / name), img)
    out = export_model(str(cfg_file), str(ckpt), tmp / 'inference')
    return dict(cfg=cfg_file, ckpt=ckpt, model_dir=tmp / 'inference', img_dir=img_dir, images=images,
                written=out, tmp=tmp)


def _assert_same(a, b, what: str) -> None:
    (pa, sa), (pb, sb) = a, b
    assert len(pa) == len(pb), f'{what}: {len(pa)} vs {len(pb)} polygons'
    used = set()
    for p, s in zip(pa, sa):
        xy = np.asarray(p).reshape(-1, 2)
        cands = [j for j in range(len(pb)) if j not in used]
        j = min(cands, key=lambda j: np.linalg.norm(xy.mean(0) - np.asarray(pb[j]).reshape(-1, 2).mean(0)))
        used.add(j)
        other = np.asarray(pb[j]).reshape(-1, 2)
        assert len(other) == len(xy), f'{what}: {len(xy)} vs {len(other)} vertices'
        dist = np.linalg.norm(xy[:, None] - other[None], axis=-1)
        assert dist.min(1).max() <= 1.0 and dist.min(0).max() <= 1.0, f'{what}: vertices {xy} vs {other}'
        assert abs(float(s) - float(sb[j])) <= 1e-3, f'{what}: score {s} vs {sb[j]}'


def test_export_directory(exported):
    import onnx
    d = exported['model_dir']
    assert set(exported['written']) == {'torchscript', 'onnx', 'inference.json'}
    info = json.loads((d / 'inference.json').read_text())
    assert info['task'] == 'textdet' and info['source_config'] == 'tiny_dbnet.py'
    assert info['preprocess']['resize'] == dict(type='Resize', scale=[192, 160], keep_ratio=True)
    assert [s['type'] for s in info['preprocess']['pipeline']] == ['LoadImageFromNDArray', 'Resize',
                                                                   'PackTextDetInputs']
    pre = info['preprocess']['data_preprocessor']
    assert pre['mean'] == [127.5] * 3 and pre['std'] == [64.0] * 3 and pre['bgr_to_rgb'] and \
        pre['pad_size_divisor'] == 32
    assert info['postprocess'] == dict(type='DBCodec', shrink_ratio=0.4, thr_min=0.3, thr_max=0.7, min_text_size=3,
                                       thresh=0.3, box_thresh=0.3, unclip_ratio=None, max_candidates=100,
                                       text_repr_type='quad', score_mode='fast', use_dilation=False,
                                       min_box_size=3, epsilon_ratio=None)
    assert set(info['versions']) >= {'visioncraft', 'torch', 'onnx', 'onnxruntime'}
    graph = onnx.load(str(d / 'model.onnx'))
    onnx.checker.check_model(graph)
    dims = [x.dim_param or x.dim_value for x in graph.graph.input[0].type.tensor_type.shape.dim]
    assert dims == ['batch', 3, 'height', 'width']


def test_exported_equals_checkpoint(exported):
    from visioncraft.apis import inference_detector, init_detector
    from visioncraft.export import TextDetPredictor
    model = init_detector(str(exported['cfg']), str(exported['ckpt']), device='cpu')
    ort = TextDetPredictor(exported['model_dir'], backend='onnxruntime')
    ts = TextDetPredictor(exported['model_dir'], backend='torchscript')
    total = 0
    for name, img in exported['images'].items():
        pred = inference_detector(model, img).pred_instances
        ref = (list(pred.polygons), pred.scores.numpy())
        assert len(ref[0]) >= 1, f'{name}: the tiny model found no text; the comparison would prove nothing'
        total += len(ref[0])
        batch, meta = ort.preprocess(img)
        assert batch.shape[-2] % 32 == 0 and batch.shape[-1] % 32 == 0
        with torch.no_grad():
            want = model(batch, mode='tensor')
        for predictor in (ort, ts):
            np.testing.assert_allclose(predictor.forward(batch).numpy(), want.numpy(), atol=1e-4)
            _assert_same(ref, predictor(img), f'{name} {predictor.backend}')
    assert total >= 4
    # the images cover padding (not multiples of 32 after the resize) and a non-trivial scale factor
    shapes = {name: ort.preprocess(img)[1]['img_shape'] for name, img in exported['images'].items()}
    assert any(h % 32 or w % 32 for h, w in shapes.values())


def test_predictor_overrides(exported):
    from visioncraft.export import TextDetPredictor
    img = exported['images']['wide_100x170.png']
    base = TextDetPredictor(exported['model_dir'])
    strict = TextDetPredictor(exported['model_dir'], postprocess=dict(box_thresh=0.99))
    assert len(base(img)[0]) >= 1 and len(strict(img)[0]) == 0
    resized = TextDetPredictor(exported['model_dir'], resize=dict(type='DetResizeForTest', limit_side_len=64))
    assert resized.preprocess(img)[0].shape[-2:] == (32, 64)
    with pytest.raises(KeyError, match='unknown post-processing setting'):
        TextDetPredictor(exported['model_dir'], postprocess=dict(tresh=0.5))


@pytest.mark.slow
def test_predict_commands(exported, tmp_path, monkeypatch):
    from visioncraft.cli.main import main
    monkeypatch.chdir(tmp_path)
    main(['predict', str(exported['img_dir']), '--model-dir', str(exported['model_dir']), '--backend',
          'torchscript', '--out-dir', 'vc'])
    lines = (tmp_path / 'vc' / 'det_results.txt').read_text().splitlines()
    assert len(lines) == 3 and all((tmp_path / 'vc' / f'det_res_{n}').is_file() for n in exported['images'])
    name, items = lines[0].split('\t')
    assert name in exported['images'] and json.loads(items) and 'score' in json.loads(items)[0]
    # PaddleOCR's script, in a fresh process: no config, default output folder ./inference_results
    proc = subprocess.run([sys.executable, str(REPO / 'tools' / 'infer' / 'predict_det.py'), '--det_algorithm=DB',
                           f'--det_model_dir={exported["model_dir"]}', f'--image_dir={exported["img_dir"]}',
                           '--use_gpu=False', '--det_db_box_thresh=0.3'], capture_output=True, text=True,
                          cwd=tmp_path, timeout=120)
    assert proc.returncode == 0, proc.stderr
    paddle = dict(line.split('\t') for line in (tmp_path / 'inference_results' / 'det_results.txt')
                  .read_text().splitlines())
    assert set(paddle) == set(exported['images'])
    mine = dict(line.split('\t') for line in lines)
    for n, items in paddle.items():
        pts = [it['points'] for it in json.loads(items)]
        assert len(pts) == len(json.loads(mine[n])) and all(len(p) == 4 and
                                                            all(isinstance(v, int) for xy in p for v in xy)
                                                            for p in pts)
        assert (tmp_path / 'inference_results' / f'det_res_{n}').is_file()


def test_export_command(exported, tmp_path):
    from visioncraft.cli.main import main
    main(['export', str(exported['cfg']), str(exported['ckpt']), '--out-dir', str(tmp_path / 'e'),
          '--format', 'onnx'])
    assert (tmp_path / 'e' / 'model.onnx').is_file() and not (tmp_path / 'e' / 'model.pt').exists()
    info = json.loads((tmp_path / 'e' / 'inference.json').read_text())
    assert info['files'] == {'onnx': 'model.onnx'}


@pytest.mark.parametrize('argv, message', [
    (['predict', 'IMG', '--model-dir', 'missing_dir'], 'model directory not found: missing_dir'),
    (['predict', 'IMG', '--model-dir', 'MODEL', '--backend', 'tensorrt'], "unknown backend 'tensorrt'"),
    (['predict', 'nothing_here.jpg', '--model-dir', 'MODEL'], 'image file or folder not found: nothing_here.jpg'),
    (['predict', 'IMG', '--model-dir', 'EMPTY'], 'inference.json not found'),
    (['export', 'no_config.py', 'CKPT', '--out-dir', 'x'], 'config file not found: no_config.py'),
])
def test_clear_errors(exported, tmp_path, capsys, argv, message):
    from visioncraft.cli.main import main, run_cli
    (tmp_path / 'EMPTY').mkdir()
    subs = dict(IMG=str(exported['img_dir']), MODEL=str(exported['model_dir']), EMPTY=str(tmp_path / 'EMPTY'),
                CKPT=str(exported['ckpt']))
    argv = [subs.get(a, a) for a in argv]
    with pytest.raises(SystemExit) as exc:
        run_cli(main, argv)
    err = capsys.readouterr().err + (exc.value.code if isinstance(exc.value.code, str) else '')
    assert message in err and 'Traceback' not in err
    assert len(err.strip().splitlines()) == 1


def test_torchscript_only_export_refuses_onnx_backend(exported, tmp_path):
    from visioncraft.export import TextDetPredictor, export_model
    export_model(str(exported['cfg']), str(exported['ckpt']), tmp_path / 'ts', formats=('torchscript',))
    with pytest.raises(FileNotFoundError, match='has no onnx model'):
        TextDetPredictor(tmp_path / 'ts', backend='onnxruntime')


def test_codec_settings_keep_every_constructor_argument():
    """inference.json's post-processing rebuilds the head's codec exactly, decode-only settings included."""
    import inspect

    from visioncraft.export.textdet import codec_settings
    from visioncraft.registry import TASK_UTILS
    from visioncraft.tasks.textdet.codecs import DBCodec
    codec = DBCodec(shrink_ratio=0.7, thr_min=0.2, thr_max=0.8, min_text_size=8, thresh=0.35, box_thresh=0.5,
                    unclip_ratio=None, max_candidates=50, text_repr_type='poly', score_mode='slow',
                    use_dilation=True, min_box_size=3)
    settings = codec_settings(codec)
    names = set(inspect.signature(DBCodec.__init__).parameters) - {'self'}
    assert set(settings) == names | {'type'}
    rebuilt = TASK_UTILS.build(json.loads(json.dumps(settings)))
    assert {n: getattr(rebuilt, n) for n in names} == {n: getattr(codec, n) for n in names}
