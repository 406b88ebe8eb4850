"""`visioncraft det DIR ...` (in-process through the cli's main(argv)) and demo/image_demo.py in MMDetection 3.x's
form (INPUTS MODEL --weights --out-dir) and 2.x's (IMG CONFIG CHECKPOINT --out-file), on a tiny RetinaNet whose
weights are fixed by a seed: one JSON + one picture per image, the JSON equal to inference_detector's predictions."""
from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from conftest import REPO, tiny_retinanet
from visioncraft.apis import inference_detector, init_detector
from visioncraft.cli.main import main, run_cli
from visioncraft.config import Config
from visioncraft.registry import MODELS

H, W = 40, 56
NAMES = ('one.png', 'two.jpg')


@pytest.fixture(scope='module')
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp('det_cli')
    pipeline = [dict(type='LoadImageFromFile'), dict(type='Resize', scale=(64, 64), keep_ratio=True),
                dict(type='PackDetInputs')]
    cfg = root / 'tiny_retinanet.py'
    Config(dict(model=tiny_retinanet(), test_dataloader=dict(batch_size=1, dataset=dict(
        type='CocoDataset', pipeline=pipeline)))).dump(cfg)
    torch.manual_seed(0)
    ckpt = root / 'tiny.pth'
    torch.save({'state_dict': MODELS.build(tiny_retinanet()).state_dict(),
                'meta': {'dataset_meta': {'classes': ['a', 'b', 'c']}}}, ckpt)
    imgs = root / 'imgs'
    imgs.mkdir()
    rng = np.random.default_rng(1)
    for name in NAMES:
        cv2.imwrite(str(imgs / name), rng.integers(0, 255, (H, W, 3), dtype=np.uint8))
    return dict(root=root, config=cfg, checkpoint=ckpt, imgs=imgs)


def _check_outputs(out: Path, files, model) -> None:
    assert sorted(p.name for p in (out / 'preds').iterdir()) == ['one.json', 'two.json']
    assert sorted(p.name for p in (out / 'vis').iterdir()) == sorted(NAMES)
    for name in NAMES:
        doc = json.loads((out / 'preds' / f'{Path(name).stem}.json').read_text())
        want = inference_detector(model, str(files['imgs'] / name)).pred_instances
        assert doc['labels'] == want.labels.tolist()
        np.testing.assert_allclose(doc['scores'], want.scores.tolist(), rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(doc['bboxes'], want.bboxes.tolist(), rtol=1e-5, atol=1e-3)
        assert cv2.imread(str(out / 'vis' / name)).shape == (H, W, 3)


def test_det_command_writes_json_and_picture_per_image(files, tmp_path, capsys):
    out = tmp_path / 'out'
    res = main(['det', str(files['imgs']), '--model', str(files['config']), '--weights', str(files['checkpoint']),
                '--out-dir', str(out), '--device', 'cpu', '--pred-score-thr', '0', '--batch-size', '2'])
    assert sorted(res) == sorted(NAMES) and len(res['one.png']['labels']) == 10
    _check_outputs(out, files, init_detector(files['config'], str(files['checkpoint']), device='cpu'))
    summary = capsys.readouterr().out.strip().splitlines()[-1]
    assert summary.startswith('2 images, 20 objects scoring >= 0 in ') and summary.endswith(
        f'results in {out}/vis, {out}/preds')


def test_det_command_mistakes_are_one_line(files, tmp_path, capsys):
    for argv, words in (([str(tmp_path / 'nope.png')], 'nope.png'),
                        ([str(files['imgs']), '--batch-size', '0'], '--batch-size must be >= 1'),
                        ([str(files['imgs']), '--device', 'banana'], "'banana'")):
        with pytest.raises(SystemExit) as exc:
            run_cli(main, ['det', *argv, '--model', str(files['config']), '--weights', str(files['checkpoint']),
                           '--out-dir', str(tmp_path / 'x')])
        assert exc.value.code == 2
        err = capsys.readouterr().err
        assert err.startswith('error: ') and err.count('\n') == 1 and words in err, err
    assert not (tmp_path / 'x').exists()


def _image_demo():
    spec = importlib.util.spec_from_file_location('det_cli_image_demo', REPO / 'demo' / 'image_demo.py')
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_image_demo_both_forms(files, tmp_path, monkeypatch, capsys):
    monkeypatch.delenv('DISPLAY', raising=False)
    monkeypatch.delenv('WAYLAND_DISPLAY', raising=False)
    demo = _image_demo()
    args = demo.parse_args(['img.png', 'cfg.py', 'ckpt.pth'])  # MMDetection 2.x: the checkpoint positional
    assert args.weights == 'ckpt.pth' and args.device == 'auto' and args.out_dir == 'outputs'
    # 2.x with --out-file: that one drawing only
    out_file = tmp_path / 'drawn.png'
    assert demo.main([str(files['imgs'] / 'one.png'), str(files['config']), str(files['checkpoint']), '--device',
                      'cpu', '--out-file', str(out_file)]) == 0
    assert cv2.imread(str(out_file)).shape == (H, W, 3)
    # no output and no display: an error, never a silent exit 0
    with pytest.raises(SystemExit) as exc:
        run_cli(demo.main, [str(files['imgs']), str(files['config']), '--weights', str(files['checkpoint']),
                            '--device', 'cpu', '--out-dir', ''])
    assert exc.value.code == 2 and 'nothing would be written or shown' in capsys.readouterr().err
    # 2.x without --out-file and without a display: MMDetection's default out dir, outputs/
    monkeypatch.chdir(tmp_path)
    assert demo.main([str(files['imgs'] / 'two.jpg'), str(files['config']), str(files['checkpoint']),
                      '--device', 'cpu']) == 0
    assert (tmp_path / 'outputs' / 'vis' / 'two.jpg').is_file()
    assert (tmp_path / 'outputs' / 'preds' / 'two.json').is_file()


@pytest.mark.slow
def test_image_demo_folder_subprocess_default_device(files, tmp_path):
    """`python demo/image_demo.py DIR CONFIG --weights W --out-dir out` with no --device (auto: the CPU here)."""
    env = dict(os.environ, PYTHONPATH=str(REPO) + os.pathsep + os.environ.get('PYTHONPATH', ''), OMP_NUM_THREADS='1')
    env.pop('DISPLAY', None)
    proc = subprocess.run([sys.executable, str(REPO / 'demo' / 'image_demo.py'), str(files['imgs']),
                           str(files['config']), '--weights', str(files['checkpoint']), '--out-dir',
                           str(tmp_path / 'out'), '--pred-score-thr', '0'], env=env, capture_output=True, text=True,
                          timeout=240, cwd=str(tmp_path))
    assert proc.returncode == 0, proc.stderr[-3000:]
    _check_outputs(tmp_path / 'out', files, init_detector(files['config'], str(files['checkpoint']), device='cpu'))
    assert '2 images; results in' in proc.stdout
