"""The PaddleOCR user's DBNet workflow end to end on generated data (PaddleOCR label files): ``tools/train.py -c
YAML -o ...`` for one tiny epoch (validating every N iterations), ``Global.checkpoints`` resuming, ``tools/eval.py``,
``tools/infer_det.py`` on one image and on a folder, ``tools/export_model.py`` + ``tools/infer/predict_det.py``,
a custom backbone named in the YAML; and PaddleOCR's DetResizeForTest size rules."""
from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from torch import nn

from conftest import REPO
from visioncraft.cli.paddle_tools import eval_main, export_main, infer_det_main
from visioncraft.cli.train import main as train_main
from visioncraft.data.synthetic.text import generate_text_det
from visioncraft.models.backbones.base import BackboneBase
from visioncraft.registry import MODELS, TRANSFORMS
from visioncraft.tasks.textdet.transforms.textdet_transforms import det_resize_hw

TINY = str(REPO / 'configs/det/det_tiny_synth.yml')


@pytest.fixture(scope='module')
def synth(tmp_path_factory) -> Path:
    return generate_text_det(tmp_path_factory.mktemp('synth'), num_train=4, num_val=2, size=(96, 96), seed=1)


def _data(root: Path) -> list[str]:
    return [f'Train.dataset.data_dir={root}', f'Train.dataset.label_file_list=[{root}/train_label.txt]',
            f'Eval.dataset.data_dir={root}', f'Eval.dataset.label_file_list=[{root}/val_label.txt]']


@pytest.fixture(scope='module')
def trained(synth, tmp_path_factory) -> Path:
    """One epoch (4 images, batch 2: 2 iterations) with validation every 2 iterations."""
    work = tmp_path_factory.mktemp('work')
    train_main(['-c', TINY, '-o', *_data(synth), f'Global.save_model_dir={work}', 'Global.eval_batch_step=[0,2]'])
    return work


def test_train_writes_paddle_named_checkpoints_and_validates_inside_the_epoch(trained):
    assert (trained / 'iter_epoch_1.pth').exists()
    assert (trained / 'last_checkpoint').read_text().strip() == 'iter_epoch_1.pth'  # relative to the work dir
    # epoch-end validation is off: the best checkpoint comes from the eval_batch_step hook, during epoch 0
    assert [p.name for p in trained.glob('best_*.pth')] == ['best_icdar_hmean_epoch_0.pth']
    meta = torch.load(trained / 'iter_epoch_1.pth', weights_only=False)['meta']
    assert (meta['epoch'], meta['iter']) == (1, 2)


def test_checkpoints_resume_the_epoch_and_win_over_pretrained_model(synth, trained, tmp_path):
    work = tmp_path / 'resumed'
    train_main(['-c', TINY, '-o', *_data(synth), f'Global.save_model_dir={work}', 'Global.epoch_num=2',
                f'Global.checkpoints={trained}/iter_epoch_1', f'Global.pretrained_model={trained}/no_such_file'])
    log = next(work.glob('*/*.log')).read_text()
    assert 'Resumed from' in log and 'epoch 1, iteration 2' in log
    assert 'Epoch(train) [2]' in log and 'Epoch(train) [1]' not in log  # epoch 1 is not trained again
    meta = torch.load(work / 'iter_epoch_2.pth', weights_only=False)['meta']
    assert (meta['epoch'], meta['iter']) == (2, 4)


def test_eval_prints_precision_recall_hmean(synth, trained, capsys):
    metrics = eval_main(['-c', TINY, '-o', *_data(synth), f'Global.save_model_dir={trained}',
                         f'Global.checkpoints={trained}/latest', 'PostProcess.box_thresh=0.6',
                         'PostProcess.unclip_ratio=1.5'])
    assert {'icdar/precision', 'icdar/recall', 'icdar/hmean'} <= set(metrics)
    assert all(0.0 <= metrics[k] <= 1.0 for k in ('icdar/precision', 'icdar/recall', 'icdar/hmean'))
    out = capsys.readouterr().out
    assert 'metric eval ***************' in out and f"hmean:{metrics['icdar/hmean']}" in out


def _read_results(path: Path) -> dict[str, list]:
    out = {}
    for line in path.read_text().splitlines():
        name, boxes = line.split('\t')
        out[name] = json.loads(boxes)
    return out


@pytest.mark.parametrize('what', ['image', 'folder'])
def test_infer_det_writes_boxes_and_pictures(synth, trained, tmp_path, what):
    img = synth / 'imgs/val/img_1.jpg'
    target = img if what == 'image' else synth / 'imgs/val'
    res = tmp_path / 'out/predicts_db.txt'
    # an untrained net predicts little: thresholds 0 make it output boxes
    results = infer_det_main(['-c', TINY, '-o', *_data(synth), f'Global.infer_img={target}',
                              f'Global.pretrained_model={trained}/iter_epoch_1', f'Global.save_res_path={res}',
                              'PostProcess.thresh=0.0', 'PostProcess.box_thresh=0.0'])
    lines = _read_results(res)
    expected = [str(img)] if what == 'image' else sorted(str(p) for p in (synth / 'imgs/val').glob('*.jpg'))
    assert list(lines) == expected and len(results) == len(expected)
    for name, boxes in lines.items():
        assert boxes and all(set(b) == {'transcription', 'points'} for b in boxes)
        pts = np.asarray([p for b in boxes for p in b['points']])
        assert pts.dtype.kind == 'i' and pts.min() >= 0 and pts.max() <= 96  # original-image pixels
        pic = cv2.imread(str(res.parent / 'det_results' / Path(name).name))
        assert pic.shape == (96, 96, 3)


def test_export_model_then_predict_det_matches_infer_det(synth, trained, tmp_path):
    from visioncraft.cli.ocr_predict import paddle_main
    inf = tmp_path / 'inference'
    opts = [*_data(synth), f'Global.pretrained_model={trained}/iter_epoch_1', 'PostProcess.thresh=0.2',
            'PostProcess.box_thresh=0.0']
    written = export_main(['-c', TINY, '-o', *opts, f'Global.save_inference_dir={inf}'])
    assert {'onnx', 'torchscript'} <= set(written) and (inf / 'inference.json').exists()
    res = tmp_path / 'infer/predicts_db.txt'
    infer_det_main(['-c', TINY, '-o', *opts, f'Global.infer_img={synth}/imgs/val', f'Global.save_res_path={res}'])
    paddle_main(['--det_algorithm=DB', f'--det_model_dir={inf}', f'--image_dir={synth}/imgs/val', '--use_gpu=False',
                 f'--draw_img_save_dir={tmp_path / "pred"}'])
    ours = {Path(k).name: v for k, v in _read_results(res).items()}
    exported = {Path(k).name: v for k, v in _read_results(tmp_path / 'pred/det_results.txt').items()}
    assert set(ours) == set(exported)
    for name in ours:
        a = np.asarray([b['points'] for b in ours[name]], np.float64)
        b = np.asarray([b['points'] for b in exported[name]], np.float64)
        assert a.shape == b.shape and np.abs(a - b).max() <= 1.0  # same polygons (ours are rounded to ints)



def test_predict_det_use_gpu_true_without_a_gpu_is_one_error_line(tmp_path, monkeypatch, capsys):
    """PaddleOCR's `tools/infer/predict_det.py ... --use_gpu=True` on a machine without a GPU: exit 2, one line."""
    import torch
    from visioncraft.cli.main import run_cli
    from visioncraft.cli.ocr_predict import paddle_main
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: False)  # as on this CPU machine, on any machine
    with pytest.raises(SystemExit) as exc:
        run_cli(paddle_main, ['--det_algorithm=DB', f'--det_model_dir={tmp_path}', f'--image_dir={tmp_path}',
                              '--use_gpu=True'])
    assert exc.value.code == 2
    assert capsys.readouterr().err == ('error: --use_gpu=True: this machine has no CUDA GPU that PyTorch can use '
                                       '(torch.cuda.is_available() is False); run with --use_gpu=False\n')

@MODELS.register_module(force=True)
class PaddleYamlTestBackbone(BackboneBase):
    """A user's backbone: two stride-2 convs then 4 levels (strides 4..32) of ``width`` channels."""

    def __init__(self, width: int = 8) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, width, 3, 2, 1), nn.ReLU(), nn.Conv2d(width, width, 3, 2, 1))
        self.downs = nn.ModuleList(nn.Conv2d(width, width, 3, 2, 1) for _ in range(3))
        self.out_channels, self.strides = [width] * 4, [4, 8, 16, 32]

    def forward(self, x):
        outs = [self.stem(x)]
        for down in self.downs:
            outs.append(down(outs[-1]))
        return tuple(outs)


def test_a_custom_backbone_named_in_the_yaml_builds_and_trains(synth, tmp_path):
    work = tmp_path / 'custom'
    train_main(['-c', TINY, '-o', *_data(synth), f'Global.save_model_dir={work}',
                'Architecture.Backbone={name: PaddleYamlTestBackbone, width: 8}', 'Train.dataset.ratio_list=[0.5]',
                'Global.eval_batch_step=[0,100]'])
    state = torch.load(work / 'iter_epoch_1.pth', weights_only=False)
    assert state['meta']['iter'] == 1  # half of the 4 images, batch 2: one step
    assert state['state_dict']['backbone.stem.0.weight'].shape == (8, 3, 3, 3)
    with pytest.raises(Exception, match='NoSuchBackbone'):
        train_main(['-c', TINY, '-o', *_data(synth), f'Global.save_model_dir={work}',
                    'Architecture.Backbone={name: NoSuchBackbone}'])


@pytest.mark.parametrize('kwargs, hw, expected', [
    (dict(image_shape=(736, 1280)), (720, 1280), (736, 1280)),
    (dict(image_shape=(64, 100), keep_ratio=True), (50, 100), (64, 128)),  # w = ceil(100 * 64 / 50 / 32) * 32
    (dict(resize_long=960), (720, 1280), (640, 1024)),  # long side 960, both rounded UP to 128
    (dict(limit_side_len=736, limit_type='resize_long'), (500, 1000), (384, 736)),
    (dict(limit_side_len=736, limit_type='min', max_side_limit=1000), (100, 4000), (32, 992)),
    (dict(limit_side_len=960, limit_type='max'), (1000, 2000), (480, 960)),
])
def test_det_resize_for_test_follows_paddleocr(kwargs, hw, expected):
    assert det_resize_hw(*hw, **kwargs) == expected
    t = TRANSFORMS.build(dict(type='DetResizeForTest', **kwargs))
    img = np.zeros(hw + (3,), np.uint8)
    out = t(dict(img=img, img_shape=hw, ori_shape=hw, gt_polygons=[np.array([10, 10, 20, 10, 20, 20], np.float32)]))
    assert out['img'].shape[:2] == expected
    sx, sy = expected[1] / hw[1], expected[0] / hw[0]
    assert out['scale_factor'] == pytest.approx((sx, sy))
    np.testing.assert_allclose(out['gt_polygons'][0][:2], [10 * sx, 10 * sy], rtol=1e-5)


def test_random_scale_keeps_the_aspect_ratio_and_moves_polygons():
    np.random.seed(0)
    t = TRANSFORMS.build(dict(type='RandomScale', ratio_range=(0.5, 3.0)))
    for _ in range(5):
        out = t(dict(img=np.zeros((40, 80, 3), np.uint8), img_shape=(40, 80),
                     gt_polygons=[np.array([8, 4, 16, 4, 16, 8], np.float32)]))
        h, w = out['img'].shape[:2]
        assert 20 <= h <= 120 and w == pytest.approx(2 * h, abs=1)
        np.testing.assert_allclose(out['gt_polygons'][0][:2], [8 * w / 80, 4 * h / 40], rtol=1e-5)
    with pytest.raises(ValueError, match='ratio_range'):
        TRANSFORMS.build(dict(type='RandomScale', ratio_range=(2.0, 1.0)))


@pytest.mark.slow
def test_paddle_distributed_launch_maps_to_dist_train_sh(synth, tmp_path):
    """`python3 -m paddle.distributed.launch --gpus '0,1' tools/train.py -c FILE.yml -o ...` (PaddleOCR's guide) is
    `tools/dist_train.sh FILE.yml 2 -o ...` here (docs/paddleocr.md): two processes train the PaddleOCR YAML."""
    import os
    import socket
    import subprocess
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        port = s.getsockname()[1]
    work = tmp_path / 'work'
    env = dict(os.environ, PORT=str(port), OMP_NUM_THREADS='1', PYTHONPATH=str(REPO))
    proc = subprocess.run(['bash', 'tools/dist_train.sh', TINY, '2', '-o', *_data(synth),
                           f'Global.save_model_dir={work}', 'Global.use_gpu=False'],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    log = next(work.glob('*/*.log')).read_text()
    assert 'distributed: True, world size: 2' in log
    assert (work / 'iter_epoch_1.pth').exists()
