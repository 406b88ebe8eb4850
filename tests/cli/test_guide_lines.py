"""Lines of the MMDetection / MMOCR / MMPose guides as written: images2coco's OUT, `--amp` on a CPU."""
from __future__ import annotations

import json
import logging
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from conftest import tiny_cfg
from visioncraft.config import Config

from visioncraft.cli.converters import images2coco_out_path, main_images2coco

REPO = Path(__file__).resolve().parents[2]


def test_a_bare_out_name_goes_next_to_img_path(tmp_path, monkeypatch):
    """`images2coco.py IMG_PATH CLASSES OUT` saves OUT at the same level as IMG_PATH (IMG_PATH/../annotations),
    not in the current directory."""
    img_dir = tmp_path / 'data' / 'test2017'
    img_dir.mkdir(parents=True)
    cv2.imwrite(str(img_dir / 'a.jpg'), np.zeros((6, 8, 3), np.uint8))
    (tmp_path / 'classes.txt').write_text('cat\n')
    elsewhere = tmp_path / 'cwd'
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    main_images2coco([str(img_dir) + '/', str(tmp_path / 'classes.txt'), 'test.json'])
    out = tmp_path / 'data' / 'annotations' / 'test.json'
    assert [im['file_name'] for im in json.loads(out.read_text())['images']] == ['a.jpg']
    assert not list(elsewhere.iterdir())
    # a path with a folder part is used as given
    main_images2coco([str(img_dir), str(tmp_path / 'classes.txt'), './here.json'])
    assert (elsewhere / 'here.json').is_file()
    assert images2coco_out_path('imgs', '/abs/x.json') == '/abs/x.json'
    assert images2coco_out_path('root/imgs', 'x.json').replace('\\', '/') == 'root/annotations/x.json'


@pytest.mark.parametrize('native_bf16', [False, True])
def test_amp_on_a_cpu_without_native_bf16_says_fp32_in_one_line(tmp_path, monkeypatch, caplog, native_bf16):
    """MMOCR's / MMPose's `tools/train.py CONFIG --amp` on a CPU: where bfloat16 is emulated (many times slower),
    training runs in float32 and one log line says so; with native bfloat16 it is used, without a word."""
    from visioncraft.cli import train as train_cli
    from visioncraft.engine.optim import wrapper
    path = tmp_path / 'tiny.py'
    Config(tiny_cfg(tmp_path / 'wd', tmp_path / 'data')).dump(path)
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: False)
    monkeypatch.setattr(wrapper, 'cpu_has_native_bf16', lambda: native_bf16)
    with caplog.at_level(logging.WARNING, logger='visioncraft'):
        cfg = train_cli.prepare_config(train_cli.build_parser().parse_args([str(path), '--amp']))
    assert cfg['optim_wrapper']['type'] == 'AmpOptimWrapper'
    said = [r.getMessage() for r in caplog.records if r.getMessage().startswith('--amp:')]
    assert len(said) == (0 if native_bf16 else 1) and all('\n' not in m and 'float32' in m for m in said)


@pytest.mark.parametrize('script', ['dist_train.sh', 'dist_test.sh', 'slurm_train.sh', 'slurm_test.sh',
                                    'find_python.sh'])
def test_the_shell_scripts_are_posix_sh(script):
    """MMDetection's guide runs `sh tools/dist_train.sh ...`: the scripts use no bash-only syntax (the runs under
    sh are in tests/engine/test_dist.py)."""
    import re
    import shutil
    import subprocess
    from pathlib import Path
    path = Path(__file__).resolve().parents[2] / 'tools' / script
    code = '\n'.join(line for line in path.read_text().splitlines() if not line.lstrip().startswith('#'))
    for bashism in (r'pipefail', r'\$\{@:', r'\[\[', r'^\s*source\s', r'\blocal\s', r'\$\{BASH_SOURCE\[', r'=\('):
        assert not re.search(bashism, code, re.M), (script, bashism)
    if shutil.which('dash'):
        assert subprocess.run(['dash', '-n', str(path)]).returncode == 0


def test_show_dir_under_a_2x_config_name_goes_to_the_current_folder():
    """The MMDetection 2.x guide's `tools/test.py configs/faster_rcnn/faster_rcnn_r50_fpn_1x_coco.py CKPT --show-dir
    faster_rcnn_r50_fpn_1x_results` writes ./faster_rcnn_r50_fpn_1x_results; under the 3.x name a bare name stays
    relative (WORK_DIR/TIMESTAMP/, as MMDetection 3.x)."""
    from visioncraft.cli.common import show_dir_path
    from visioncraft.config import Config
    old = Config.fromfile(str(REPO / 'configs/faster_rcnn/faster_rcnn_r50_fpn_1x_coco.py'))
    new = Config.fromfile(str(REPO / 'configs/faster_rcnn/faster-rcnn_r50_fpn_1x_coco.py'))
    assert show_dir_path(old, 'faster_rcnn_r50_fpn_1x_results') == str(Path('faster_rcnn_r50_fpn_1x_results').absolute())
    assert show_dir_path(new, 'vis') == 'vis'


def test_2x_loader_overrides_reach_a_3x_layout_config():
    """The MMDetection 2.x guide's `--cfg-options data.test.samples_per_gpu=2` on configs/faster_rcnn/
    faster_rcnn_r50_fpn_1x_coco.py (a 3.x-layout file here) sets the test loader's batch size; data.workers_per_gpu
    every loader's workers; other keys are untouched and a wrong one is still an error."""
    from visioncraft.config import ConfigError
    cfg = Config.fromfile(str(REPO / 'configs/faster_rcnn/faster_rcnn_r50_fpn_1x_coco.py'),
                          {'data.test.samples_per_gpu': 2, 'data.workers_per_gpu': 0, 'data.samples_per_gpu': 3})
    assert cfg.test_dataloader.batch_size == 2 and cfg.train_dataloader.batch_size == 3
    assert cfg.train_dataloader.num_workers == cfg.val_dataloader.num_workers == cfg.test_dataloader.num_workers == 0
    with pytest.raises(ConfigError):
        Config.fromfile(str(REPO / 'configs/faster_rcnn/faster_rcnn_r50_fpn_1x_coco.py'), {'data.test.oops': 1})
