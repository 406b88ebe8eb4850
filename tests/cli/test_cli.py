"""The command line: `visioncraft train/test/config`, tools/*.py, and their flags."""
from __future__ import annotations

import json
import pickle
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import REPO, log_text, tiny_cfg, train_losses
from visioncraft.cli.main import main as vc_main
from visioncraft.config import Config, ConfigError


@pytest.fixture
def cfg_file(shapes_root, tmp_path) -> Path:
    cfg = tiny_cfg(tmp_path / 'unused', shapes_root)
    cfg['auto_scale_lr'] = dict(enable=False, base_batch_size=16)
    path = tmp_path / 'tiny.py'
    Config(cfg).dump(path)
    return path


def test_train_then_test_writes_metrics_predictions_and_pictures(cfg_file, tmp_path):
    wd = tmp_path / 'wd'
    vc_main(['train', str(cfg_file), '--work-dir', str(wd), '--cfg-options', 'train_cfg.max_epochs=1'])
    assert (wd / 'epoch_1.pth').exists() and (wd / 'tiny.py').exists()
    vc_main(['test', str(cfg_file), str(wd / 'epoch_1.pth'), '--work-dir', str(wd), '--out',
             str(tmp_path / 'p.pkl'), '--show-dir', 'pics'])
    metrics = json.loads(next(wd.glob('*/metrics.json')).read_text())
    assert set(metrics) == {'accuracy/top1'}
    preds = pickle.loads((tmp_path / 'p.pkl').read_bytes())
    assert len(preds) == 21 and {'pred_label', 'pred_score', 'gt_label'} <= set(preds[0])
    assert len(list(wd.glob('*/pics/*.png'))) == 21


def test_dump_and_save_preds_spellings(cfg_file, tmp_path):
    wd = tmp_path / 'wd'
    vc_main(['train', str(cfg_file), '--work-dir', str(wd), '-o', 'train_cfg.max_epochs=1'])
    vc_main(['test', str(cfg_file), str(wd / 'epoch_1.pth'), '--work-dir', str(wd), '--dump',
             str(tmp_path / 'd.pkl'), '--save-preds'])
    assert len(pickle.loads((tmp_path / 'd.pkl').read_bytes())) == 21
    assert len(pickle.loads(next(wd.glob('*/predictions.pkl')).read_bytes())) == 21


def test_paddle_style_c_and_o_and_no_validate(cfg_file, tmp_path):
    wd = tmp_path / 'wd'
    vc_main(['train', '-c', str(cfg_file), '-o', 'train_cfg.max_epochs=1', f'work_dir={wd}', '--no-validate'])
    assert (wd / 'epoch_1.pth').exists()
    assert 'Epoch(val)' not in log_text(wd)


def test_resume_flag_without_and_with_path(cfg_file, tmp_path):
    wd = tmp_path / 'wd'
    vc_main(['train', str(cfg_file), '--work-dir', str(wd), '-o', 'train_cfg.max_epochs=1'])
    vc_main(['train', str(cfg_file), '--work-dir', str(wd), '--resume'])
    assert sorted(train_losses(wd)) == list(range(1, 13))
    wd2 = tmp_path / 'wd2'
    vc_main(['train', str(cfg_file), '--work-dir', str(wd2), '--resume', str(wd / 'epoch_1.pth')])
    assert sorted(train_losses(wd2)) == list(range(7, 13))


def test_amp_and_auto_scale_lr_flags_on_cpu(cfg_file, tmp_path):
    wd = tmp_path / 'wd'
    vc_main(['train', str(cfg_file), '--work-dir', str(wd), '--amp', '--auto-scale-lr',
             '-o', 'train_cfg.max_epochs=1'])
    text = log_text(wd)
    assert 'AmpOptimWrapper' in (wd / 'tiny.py').read_text()
    assert 'Scaling the original LR 0.05 to 0.025' in text
    assert len(train_losses(wd)) == 6


def test_unknown_override_key_is_an_error_naming_close_keys(cfg_file, tmp_path):
    with pytest.raises(ConfigError) as exc:
        vc_main(['train', str(cfg_file), '--work-dir', str(tmp_path), '--cfg-options', 'train_cfg.max_epoch=3'])
    assert 'train_cfg.max_epoch' in str(exc.value) and 'train_cfg.max_epochs' in str(exc.value)


def test_unknown_type_error_names_config_file_and_key(cfg_file, tmp_path):
    with pytest.raises(KeyError) as exc:
        vc_main(['train', str(cfg_file), '--work-dir', str(tmp_path), '--cfg-options', 'model.type=TinyClasifier'])
    msg = str(exc.value)
    assert str(cfg_file) in msg and 'model' in msg and "'TinyClassifier'" in msg


def test_config_command_prints_merged_config(cfg_file, capsys):
    vc_main(['config', str(cfg_file), '--cfg-options', 'train_cfg.max_epochs=9'])
    out = capsys.readouterr().out
    assert 'max_epochs=9' in out and "type='TinyClassifier'" in out


def test_console_script_and_tools_wrappers_run(cfg_file, tmp_path):
    env = {'PYTHONPATH': str(REPO), 'PATH': f'{Path(sys.executable).parent}:/usr/bin:/bin'}
    out = subprocess.run([sys.executable, '-m', 'visioncraft.cli.main', 'config', str(cfg_file)],
                         capture_output=True, text=True, env=env, cwd=REPO, timeout=120)
    assert out.returncode == 0 and 'TinyClassifier' in out.stdout
    bad = subprocess.run([sys.executable, '-m', 'visioncraft.cli.main', 'trian'], capture_output=True,
                         text=True, env=env, cwd=REPO, timeout=120)
    assert bad.returncode != 0 and "did you mean 'train'" in bad.stderr
    helped = subprocess.run([sys.executable, 'tools/train.py', '-h'], capture_output=True, text=True, env=env,
                            cwd=REPO, timeout=120)
    for flag in ('--work-dir', '--resume', '--amp', '--auto-scale-lr', '--no-validate', '--cfg-options',
                 '--launcher', '--show-dir', '--show', '--interval', '--wait-time'):
        assert flag in helped.stdout, flag
    helped = subprocess.run([sys.executable, 'tools/test.py', '-h'], capture_output=True, text=True, env=env,
                            cwd=REPO, timeout=120)
    for flag in ('--work-dir', '--out', '--dump', '--save-preds', '--show', '--show-dir', '--wait-time',
                 '--interval', '--cfg-options', '--launcher'):
        assert flag in helped.stdout, flag


def test_show_without_display_warns_and_continues(cfg_file, tmp_path, monkeypatch):
    monkeypatch.delenv('DISPLAY', raising=False)
    monkeypatch.delenv('WAYLAND_DISPLAY', raising=False)
    wd = tmp_path / 'wd'
    vc_main(['train', str(cfg_file), '--work-dir', str(wd), '-o', 'train_cfg.max_epochs=1'])
    vc_main(['test', str(cfg_file), str(wd / 'epoch_1.pth'), '--work-dir', str(wd), '--show'])
    assert '--show needs a display' in log_text(wd)


def test_yaml_config_with_base_trains_paddle_style(shapes_root, tmp_path):
    """A YAML config inheriting a YAML base (PaddleOCR's _BASE_ spelling), run with -c FILE -o k=v."""
    cfg = tiny_cfg(tmp_path / 'unused', shapes_root)
    base = {k: v for k, v in cfg.items() if k != 'train_cfg'}
    Config(base).dump(tmp_path / 'base.yaml')
    (tmp_path / 'exp.yml').write_text('_BASE_: [base.yaml]\ntrain_cfg:\n  by_epoch: true\n  max_epochs: 3\n'
                                      'optim_wrapper:\n  optimizer:\n    lr: 0.02\n')
    wd = tmp_path / 'wd'
    vc_main(['train', '-c', str(tmp_path / 'exp.yml'), '-o', 'train_cfg.max_epochs=1', f'work_dir={wd}'])
    merged = (wd / 'exp.py').read_text()
    assert 'max_epochs=1' in merged and 'lr=0.02' in merged and 'momentum=0.9' in merged
    assert sorted(train_losses(wd)) == list(range(1, 7))


def test_input_errors_print_one_clear_line_and_exit_2(cfg_file, tmp_path):
    env = {'PYTHONPATH': str(REPO), 'PATH': f'{Path(sys.executable).parent}:/usr/bin:/bin'}
    for args, words in ((['tools/train.py', str(cfg_file), '-o', 'train_cfg.max_epoch=3'],
                         ['train_cfg.max_epoch', 'train_cfg.max_epochs']),
                        (['tools/train.py', str(tmp_path / 'nope.py')], ['nope.py']),
                        (['tools/train.py', str(cfg_file), '--work-dir', str(tmp_path), '-o', 'model.type=TinyClasifier'],
                         ["'TinyClassifier'", str(cfg_file)])):
        out = subprocess.run([sys.executable, *args], capture_output=True, text=True, env=env, cwd=REPO,
                             timeout=120)
        assert out.returncode == 2, out.stderr[-2000:]
        assert 'Traceback' not in out.stderr and out.stderr.startswith('error: ')
        for w in words:
            assert w in out.stderr, (w, out.stderr)


def test_config_command_prints_a_paddleocr_yaml_translated(capsys):
    from visioncraft.cli.main import main as vc_main
    from conftest import REPO
    vc_main(['config', str(REPO / 'configs/det/det_mv3_db.yml'), '-o', 'PostProcess.box_thresh=0.55'])
    text = capsys.readouterr().out
    assert "type='DBNet'" in text and "type='PPDetMobileNetV3'" in text and 'box_thresh=0.55' in text


def test_strict_config_flag_makes_a_misspelt_top_level_key_an_error(cfg_file, tmp_path):
    text = cfg_file.read_text() + '\nparam_schedulr = []\n'
    typo = tmp_path / 'typo.py'
    typo.write_text(text)
    with pytest.raises(ConfigError, match=r"'param_schedulr' \(did you mean 'param_scheduler'\?\)"):
        vc_main(['train', str(typo), '--work-dir', str(tmp_path / 'strict'), '--strict-config'])
    assert not list((tmp_path / 'strict').glob('*.pth'))


def test_mmocr_gpu_count_and_mmpose_out_json(cfg_file, tmp_path, caplog):
    """MMOCR's `tools/train.py CONFIG 4 --resume` (the GPU count) and MMPose's `test.py --out FILE.json` (the
    metrics, where a .pkl is the predictions)."""
    wd = tmp_path / 'wd'
    with caplog.at_level('WARNING', logger='visioncraft'):
        vc_main(['train', str(cfg_file), '4', '--work-dir', str(wd), '-o', 'train_cfg.max_epochs=1'])
    assert '4 GPUs asked for' in caplog.text and 'tools/dist_train.sh CONFIG 4' in caplog.text
    assert (wd / 'epoch_1.pth').exists()
    metrics = vc_main(['test', str(cfg_file), str(wd / 'epoch_1.pth'), '--work-dir', str(wd), '--out',
                       str(tmp_path / 'metrics.json')])
    assert json.loads((tmp_path / 'metrics.json').read_text()) == pytest.approx(metrics)
    with pytest.raises(SystemExit, match=r'a \.json file \(the metrics\)'):
        vc_main(['test', str(cfg_file), str(wd / 'epoch_1.pth'), '--out', 'x.txt'])


def test_mmdetection_2x_train_flags(cfg_file, tmp_path, monkeypatch):
    """MMDetection 2.x's `--resume-from`, `--load-from` and `--options 'dist_params.port=29501'`."""
    import os
    monkeypatch.delenv('PORT', raising=False)
    wd = tmp_path / 'wd'
    vc_main(['train', str(cfg_file), '--work-dir', str(wd), '-o', 'train_cfg.max_epochs=1'])
    wd2 = tmp_path / 'wd2'
    vc_main(['train', str(cfg_file), '--work-dir', str(wd2), '--resume-from', str(wd / 'epoch_1.pth'),
             '--options', 'train_cfg.max_epochs=2', 'dist_params.port=29511', 'dist_params.backend=gloo'])
    assert sorted(train_losses(wd2)) == list(range(7, 13))  # resumed after epoch 1's 6 iterations
    assert os.environ['PORT'] == '29511'
    assert "backend='gloo'" in (wd2 / 'tiny.py').read_text()
    wd3 = tmp_path / 'wd3'
    vc_main(['train', str(cfg_file), '--work-dir', str(wd3), '--load-from', str(wd / 'epoch_1.pth'),
             '-o', 'train_cfg.max_epochs=1'])
    assert sorted(train_losses(wd3)) == list(range(1, 7))  # weights only: the schedule starts again
    assert f'Load weights from {wd / "epoch_1.pth"}' in log_text(wd3)
    with pytest.raises(ConfigError, match='dist_params.port must be a port number'):
        vc_main(['train', str(cfg_file), '--work-dir', str(tmp_path / 'x'), '--options', 'dist_params.port=http'])
