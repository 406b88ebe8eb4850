"""Config values are checked where the engine uses them: each class of bad value, generated from a seeded RNG, is ONE
error line naming the config file and the full key path, with exit status 2 (through the entry points' error
mapping, and through the real command line)."""
from __future__ import annotations

import io
import random
import subprocess
import sys
from contextlib import redirect_stderr
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from conftest import REPO, log_text, tiny_cfg
from visioncraft.config import Config, ConfigError
from visioncraft.config.checks import ConfigValueError
from visioncraft.engine.builder import build_dataloader, build_hook
from visioncraft.engine.optim import OptimWrapper, build_optim_wrapper, build_param_schedulers
from visioncraft.errors import UserError, run_entry_point
from visioncraft.registry import LOOPS, config_file_context

CFG = '/configs/my_cfg.py'
SEED = 1234


# -- generated bad values -----------------------------------------------------------------------------------------
def bad_positive_numbers(rng: random.Random) -> list:
    """Values that are not a finite number > 0: negative, zero, nan, inf, a numeric string, a bool, None, a list."""
    return [-rng.uniform(1e-3, 100), -rng.randint(1, 50), 0, 0.0, float('nan'), float('inf'),
            str(round(rng.uniform(0.1, 10), 3)), True, None, [rng.random()]]


def bad_nonnegative_numbers(rng: random.Random) -> list:
    return [-rng.uniform(1e-6, 10), float('nan'), float('inf'), f'{rng.uniform(0, 1):.4f}', 'fast', False, [0.1]]


def bad_counts(rng: random.Random, low: int) -> list:
    """Values that are not an integer >= low: below it, non-integral floats, numeric strings, bools, None."""
    return [low - rng.randint(1, 5), rng.randint(1, 9) + rng.choice([0.5, 0.25, 0.1]), str(rng.randint(1, 9)),
            'x', True, False, None, float('nan'), float('inf'), [rng.randint(1, 9)]]


def bad_bools(rng: random.Random) -> list:
    return ['False', 'yes', 0, 1, rng.random(), None, [True]]


def fails_cleanly(fn, *keys: str) -> str:
    """Run ``fn`` as an entry point: it must exit with status 2 and print ONE line naming the file and each key."""
    err = io.StringIO()
    with redirect_stderr(err), pytest.raises(SystemExit) as exc:
        run_entry_point(fn)
    lines = [ln for ln in err.getvalue().splitlines() if ln.strip()]
    assert exc.value.code == 2, err.getvalue()
    assert len(lines) == 1 and lines[0].startswith('error: '), err.getvalue()
    assert 'Traceback' not in err.getvalue()
    for key in (CFG, *keys):
        assert key in lines[0], (key, lines[0])
    return lines[0]


def in_config(fn):
    """``fn`` as the Runner calls builders: inside the config file's context."""
    def run():
        with config_file_context(CFG):
            return fn()
    return run


def _model() -> nn.Module:
    return nn.Sequential(nn.Linear(3, 4), nn.BatchNorm1d(4), nn.Linear(4, 2))


# -- optim_wrapper -------------------------------------------------------------------------------------------------
def test_clip_grad_values_are_checked_naming_the_key():
    rng = random.Random(SEED)
    for name, bad in [('max_norm', v) for v in bad_positive_numbers(rng)] + \
                     [('norm_type', v) for v in bad_positive_numbers(rng) if v != float('inf')]:
        clip = dict(max_norm=1.0, norm_type=2)
        clip[name] = bad
        cfg = dict(optimizer=dict(type='SGD', lr=0.1), clip_grad=clip)
        line = fails_cleanly(in_config(lambda: build_optim_wrapper(_model(), cfg)), f'optim_wrapper.clip_grad.{name}')
        assert 'must be' in line and repr(bad)[:20] in line
    for bad in bad_positive_numbers(rng):
        if bad is None:  # clip_value=None: the key is needed
            continue
        cfg = dict(optimizer=dict(type='SGD', lr=0.1), clip_grad=dict(type='value', clip_value=bad))
        fails_cleanly(in_config(lambda: build_optim_wrapper(_model(), cfg)), 'optim_wrapper.clip_grad.clip_value')
    cfg = dict(optimizer=dict(type='SGD', lr=0.1), clip_grad='35')
    fails_cleanly(in_config(lambda: build_optim_wrapper(_model(), cfg)), 'optim_wrapper.clip_grad')


def test_negative_max_norm_no_longer_flips_gradients():
    """The issue: max_norm=-1 was accepted and clip_grad_norm_ multiplied every gradient by a negative factor."""
    with pytest.raises(ConfigValueError, match=r'clip_grad\.max_norm must be a finite number > 0, got -1'):
        OptimWrapper(torch.optim.SGD(_model().parameters(), lr=0.1), clip_grad=dict(max_norm=-1))
    with pytest.raises(ValueError):  # still what callers caught before
        OptimWrapper(torch.optim.SGD(_model().parameters(), lr=0.1), clip_grad=dict(max_norm=0))


def test_valid_clip_grad_values_pass():
    for clip in (dict(max_norm=35, norm_type=2), dict(max_norm=0.5, norm_type=float('inf')),
                 dict(max_norm=np.float32(1.0)), dict(type='value', clip_value=1e-3), dict(max_norm=1, foreach=None)):
        OptimWrapper(torch.optim.SGD(_model().parameters(), lr=0.1), clip_grad=clip)


def test_optimizer_and_paramwise_values_are_checked():
    rng = random.Random(SEED + 1)
    for name in ('lr', 'weight_decay', 'momentum'):
        for bad in bad_nonnegative_numbers(rng):
            cfg = dict(optimizer={'type': 'SGD', 'lr': 0.1, name: bad})
            fails_cleanly(in_config(lambda: build_optim_wrapper(_model(), cfg)), f'optim_wrapper.optimizer.{name}')
    line = fails_cleanly(in_config(lambda: build_optim_wrapper(_model(), dict(optimizer=dict(type='SGD', lr='0.01')))),
                         'optim_wrapper.optimizer.lr')
    assert 'without quotes' in line  # a quoted number from a YAML file: said, not converted
    for bad in ((0.9,), (0.9, 1.0), (0.9, -0.1), 'x', (0.9, '0.99')):
        cfg = dict(optimizer=dict(type='Adam', lr=0.1, betas=bad))
        fails_cleanly(in_config(lambda: build_optim_wrapper(_model(), cfg)), 'optim_wrapper.optimizer.betas')
    for bad in bad_nonnegative_numbers(rng):
        cfg = dict(optimizer=dict(type='SGD', lr=0.1), paramwise_cfg=dict(custom_keys={'0': dict(lr_mult=bad)}))
        fails_cleanly(in_config(lambda: build_optim_wrapper(_model(), cfg)), "custom_keys['0'].lr_mult")
        cfg = dict(optimizer=dict(type='SGD', lr=0.1), paramwise_cfg=dict(norm_decay_mult=bad))
        fails_cleanly(in_config(lambda: build_optim_wrapper(_model(), cfg)),
                      'optim_wrapper.paramwise_cfg.norm_decay_mult')
    for bad in bad_counts(rng, 1):
        cfg = dict(optimizer=dict(type='SGD', lr=0.1), accumulative_counts=bad)
        fails_cleanly(in_config(lambda: build_optim_wrapper(_model(), cfg)), 'optim_wrapper.accumulative_counts')


# -- train_cfg: the loops -----------------------------------------------------------------------------------------
class _Runner:
    pass


def _loop(**train_cfg):
    loop_type = 'IterBasedTrainLoop' if 'max_iters' in train_cfg else 'EpochBasedTrainLoop'
    return LOOPS.build(dict(type=loop_type, **train_cfg), default_args=dict(runner=_Runner(), dataloader=[1, 2, 3]),
                       key_path='train_cfg')


def test_train_cfg_counts_are_checked_naming_the_key():
    rng = random.Random(SEED + 2)
    for key, low, base in (('max_epochs', 1, dict(max_epochs=2)), ('max_iters', 1, dict(max_iters=10)),
                           ('val_interval', 1, dict(max_epochs=2)), ('val_begin', 0, dict(max_epochs=2))):
        for bad in bad_counts(rng, low):
            cfg = dict(base, **{key: bad})
            fails_cleanly(in_config(lambda: _loop(**cfg)), f'train_cfg.{key}')
    with pytest.raises(ConfigValueError, match=r'^train_cfg\.max_epochs must be an integer >= 1, got 1\.5$'):
        _loop(max_epochs=1.5)


def test_integral_floats_are_taken_as_ints():
    loop = _loop(max_epochs=2.0, val_interval=1.0)
    assert loop.max_epochs == 2 and type(loop.max_epochs) is int and loop.max_iters == 6
    assert _loop(max_iters=1e4).max_iters == 10000
    assert _loop(max_epochs=np.int64(3)).max_epochs == 3


# -- hooks ----------------------------------------------------------------------------------------------------------
def test_hook_intervals_are_checked_naming_the_key():
    rng = random.Random(SEED + 3)
    for bad in bad_counts(rng, 1):
        fails_cleanly(in_config(lambda: build_hook(dict(type='LoggerHook', interval=bad), 'default_hooks.logger')),
                      'default_hooks.logger.interval')
        fails_cleanly(in_config(lambda: build_hook(dict(type='VisualizationHook', interval=bad),
                                                   'default_hooks.visualization')),
                      'default_hooks.visualization.interval')
    for bad in [0, -2, -3, 2.5, '1', True, None]:
        fails_cleanly(in_config(lambda: build_hook(dict(type='CheckpointHook', interval=bad),
                                                   'default_hooks.checkpoint')),
                      'default_hooks.checkpoint.interval')
        fails_cleanly(in_config(lambda: build_hook(dict(type='CheckpointHook', interval=1, max_keep_ckpts=bad),
                                                   'default_hooks.checkpoint')),
                      'default_hooks.checkpoint.max_keep_ckpts')
    for bad in bad_bools(rng):
        fails_cleanly(in_config(lambda: build_hook(dict(type='CheckpointHook', by_epoch=bad),
                                                   'default_hooks.checkpoint')),
                      'default_hooks.checkpoint.by_epoch')
    fails_cleanly(in_config(lambda: build_hook(dict(type='EMAHook', momentum=1.5), 'custom_hooks.0')),
                  'custom_hooks.0.momentum')
    hook, _ = build_hook(dict(type='CheckpointHook', interval=-1, max_keep_ckpts=3), 'default_hooks.checkpoint')
    assert (hook.interval, hook.max_keep_ckpts) == (-1, 3)


# -- dataloaders ----------------------------------------------------------------------------------------------------
def test_dataloader_values_are_checked_before_the_dataset_is_built():
    """The dataset type does not exist: the value error comes first, so a typo costs no dataset build."""
    rng = random.Random(SEED + 4)
    for key, low in (('batch_size', 1), ('num_workers', 0), ('prefetch_factor', 1)):
        for bad in bad_counts(rng, low):
            if key == 'prefetch_factor' and bad is None:
                continue  # None is the DataLoader's own default
            cfg = {'dataset': dict(type='NoSuchDataset'), key: bad}
            fails_cleanly(in_config(lambda: build_dataloader(cfg, seed=0, key='train_dataloader',
                                                             shuffle_default=True)),
                          f'train_dataloader.{key}')
    for key in ('drop_last', 'persistent_workers', 'pin_memory'):
        for bad in bad_bools(rng):
            cfg = {'dataset': dict(type='NoSuchDataset'), key: bad}
            fails_cleanly(in_config(lambda: build_dataloader(cfg, seed=0, key='val_dataloader', shuffle_default=False)),
                          f'val_dataloader.{key}')


# -- param_scheduler ------------------------------------------------------------------------------------------------
def test_scheduler_values_are_checked_naming_the_list_item():
    rng = random.Random(SEED + 5)
    wrapper = OptimWrapper(torch.optim.SGD(_model().parameters(), lr=0.1))

    def build(sched):
        cfgs = [dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0, end=5), sched]
        return lambda: build_param_schedulers(cfgs, wrapper, epoch_length=10, max_epochs=12, max_iters=120)

    good = dict(type='MultiStepLR', milestones=[8, 11], gamma=0.1)
    for bad in [b for b in bad_counts(rng, 0) if not isinstance(b, list)] + [[8, 11.5], ['8'], [-1], 8]:
        if bad is None:
            continue
        fails_cleanly(in_config(build(dict(good, milestones=bad))), 'param_scheduler.1.milestones')
    for bad in bad_counts(rng, 0):
        if bad is None:
            continue
        fails_cleanly(in_config(build(dict(good, begin=bad))), 'param_scheduler.1.begin')
    for bad in [0, -1, 2.5, '12', True]:
        fails_cleanly(in_config(build(dict(good, end=bad))), 'param_scheduler.1.end')
    for bad in bad_nonnegative_numbers(rng):
        fails_cleanly(in_config(build(dict(good, gamma=bad))), 'param_scheduler.1.gamma')
    for bad in bad_counts(rng, 1):
        if bad is None:
            continue
        fails_cleanly(in_config(build(dict(type='StepLR', step_size=bad))), 'param_scheduler.1.step_size')
    for bad in bad_bools(rng):
        if bad is None:
            continue
        fails_cleanly(in_config(build(dict(good, by_epoch=bad))), 'param_scheduler.1.by_epoch')
    fails_cleanly(in_config(build(dict(type='CosineAnnealingLR', eta_min=-1.0))), 'param_scheduler.1.eta_min')
    fails_cleanly(in_config(build(dict(type='OneCycleLR', eta_max=0.1, pct_start=1.5))), 'param_scheduler.1.pct_start')
    # converted to iterations: the values are checked before they are multiplied by the epoch length
    fails_cleanly(in_config(build(dict(good, milestones='8', convert_to_iter_based=True))),
                  'param_scheduler.1.milestones')


# -- through a Runner and the command line --------------------------------------------------------------------------
def test_runner_checks_train_cfg_by_epoch_and_auto_scale_lr(make_cfg):
    from visioncraft.engine.runner import Runner
    cfg = make_cfg('by_epoch', train_cfg=dict(by_epoch='False', max_iters=4))
    with pytest.raises(ConfigValueError, match=r'train_cfg\.by_epoch must be True or False'):
        Runner(Config(cfg, filename=CFG)).train()
    cfg = make_cfg('scale', train_cfg=dict(by_epoch=True, max_epochs=1),
                   auto_scale_lr=dict(enable=True, base_batch_size=0))
    with pytest.raises(ConfigValueError, match=rf'{CFG}: auto_scale_lr\.base_batch_size must be an integer >= 1'):
        Runner(Config(cfg, filename=CFG)).train()


def test_misspelt_top_level_key_warns_in_the_log_and_strict_config_makes_it_an_error(make_cfg, tmp_path):
    from visioncraft.engine.runner import Runner
    cfg = make_cfg('typo')
    cfg['train_dataloder'] = cfg['train_dataloader']
    cfg['img_scale'] = (16, 16)  # a variable: far from every known key, not reported
    runner = Runner(Config(cfg, filename=CFG))
    text = log_text(runner.work_dir)
    assert "unknown top-level key 'train_dataloder': did you mean 'train_dataloader'?" in text
    assert 'img_scale' not in text.split('Config:')[0]
    cfg['strict_config'] = True
    with pytest.raises(ConfigError, match=r"'train_dataloder' \(did you mean 'train_dataloader'\?\)"):
        Runner(Config(cfg, filename=CFG))
    cfg['strict_config'] = 'yes'
    with pytest.raises(ConfigValueError, match='strict_config must be True or False'):
        Runner(Config(cfg, filename=CFG))


@pytest.fixture
def cfg_file(shapes_root, tmp_path) -> Path:
    path = tmp_path / 'tiny.py'
    Config(tiny_cfg(tmp_path / 'unused', shapes_root)).dump(path)
    return path


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {'PYTHONPATH': str(REPO), 'PATH': f'{Path(sys.executable).parent}:/usr/bin:/bin', 'OMP_NUM_THREADS': '1'}
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, env=env, cwd=cwd, timeout=300)


def _one_error_line(out: subprocess.CompletedProcess, *words: str) -> str:
    assert out.returncode == 2, out.stderr[-3000:]
    assert 'Traceback' not in out.stderr, out.stderr[-3000:]
    lines = [ln for ln in out.stderr.splitlines() if ln.startswith('error: ')]
    assert len(lines) == 1 and out.stderr.rstrip().splitlines()[-1] == lines[0], out.stderr[-3000:]
    for w in words:
        assert w in lines[0], (w, lines[0])
    return lines[0]


@pytest.mark.slow
def test_cli_rejects_bad_values_with_one_line_and_status_2(cfg_file, tmp_path):
    """The issue's cases through the real command line: a negative max_norm (an override), a duplicate YAML key,
    a misspelt top-level key with strict_config."""
    out = _cli('-m', 'visioncraft.cli.main', 'train', str(cfg_file), '--work-dir', str(tmp_path / 'wd'),
               '--cfg-options', '+optim_wrapper.clip_grad.max_norm=-1', 'train_cfg.max_epochs=1', cwd=tmp_path)
    line = _one_error_line(out, str(cfg_file), 'optim_wrapper.clip_grad.max_norm', '> 0', '-1')
    assert line == f'error: {cfg_file}: optim_wrapper.clip_grad.max_norm must be a finite number > 0, got -1'
    dup = tmp_path / 'dup.yaml'
    dup.write_text(f"_base_: {cfg_file.name}\ntrain_cfg:\n  max_epochs: 1\n  val_interval: 1\n  max_epochs: 3\n")
    out = _cli('tools/train.py', str(dup), '--work-dir', str(tmp_path / 'wd2'), cwd=REPO)
    _one_error_line(out, str(dup), "duplicate key 'train_cfg.max_epochs'", 'lines 3 and 5')
    typo = tmp_path / 'typo.py'
    typo.write_text(f"_base_ = ['{cfg_file.name}']\nstrict_config = True\nparam_schedulers = []\n")
    out = _cli('-m', 'visioncraft.cli.main', 'train', str(typo), '--work-dir', str(tmp_path / 'wd3'), cwd=tmp_path)
    _one_error_line(out, str(typo), "'param_schedulers'", "did you mean 'param_scheduler'")
    assert not (tmp_path / 'wd3').exists() or not any((tmp_path / 'wd3').rglob('*.pth'))


def test_cli_interval_flag_is_checked(cfg_file, tmp_path):
    """`--interval 0` (draw every 0-th sample) reached VisualizationHook, which made it 1 without a word."""
    from visioncraft.cli.main import main as vc_main
    err = io.StringIO()
    with redirect_stderr(err), pytest.raises(SystemExit) as exc:
        run_entry_point(vc_main, ['train', str(cfg_file), '--work-dir', str(tmp_path / 'wd'), '--show-dir', 'pics',
                                  '--interval', '0'])
    lines = [ln for ln in err.getvalue().splitlines() if ln.startswith('error: ')]
    assert exc.value.code == 2 and len(lines) == 1, err.getvalue()
    assert f'{cfg_file}: default_hooks.visualization.interval must be an integer >= 1, got 0' in lines[0]


def test_config_value_error_is_a_user_error_of_both_kinds():
    assert issubclass(ConfigValueError, ConfigError) and issubclass(ConfigValueError, UserError)
    assert issubclass(ConfigValueError, ValueError) and issubclass(ConfigValueError, TypeError)


def test_mmdetection_2x_keys_are_not_ignored_silently(make_cfg, tmp_path):
    """`evaluation=`, `lr_config=`, `data=` ... of an MMDetection 2.x config: an error naming each key and what to
    write instead when the config does not also say it the MMEngine way; a warning when it does."""
    from visioncraft.engine.runner import Runner
    cfg = make_cfg('old')
    cfg.pop('val_evaluator')
    cfg.pop('param_scheduler')
    cfg['evaluation'] = dict(interval=1, metric='accuracy')
    cfg['lr_config'] = dict(policy='step', step=[8, 11])
    with pytest.raises(ConfigError) as exc:
        Runner(Config(cfg, filename=CFG))
    msg = str(exc.value)
    assert msg.startswith(f'{CFG}: MMDetection 2.x (MMCV 1.x) config keys evaluation, lr_config: ')
    assert 'evaluation -> val_evaluator' in msg and 'lr_config -> param_scheduler' in msg
    cfg = make_cfg('leftover')
    cfg['data'] = dict(samples_per_gpu=2)
    runner = Runner(Config(cfg, filename=CFG))
    assert 'data is an MMDetection 2.x key, ignored: the config also has train_dataloader' in log_text(runner.work_dir)
