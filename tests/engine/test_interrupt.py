"""Stopping safely: real SIGTERM / SIGINT sent to a training subprocess (tools/train.py), which finishes its
iteration, writes a checkpoint of exactly that point, logs one line and exits 128 + the signal number; resuming
from that checkpoint ends bit-identical to a run that was never stopped (same machine, one thread). A second
signal stops at once; ``--requeue`` under Slurm calls ``scontrol requeue`` and a requeued job resumes by itself.

The child pauses inside a hook (:class:`PauseHook`, imported through ``custom_imports``) after writing a marker
file, so the test knows the exact iteration the signal arrives in; nothing depends on timing."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import torch

from conftest import REPO, tiny_cfg
from visioncraft.config import Config

pytestmark = pytest.mark.slow

HOOK = '''
import os, time
from visioncraft.engine.hooks import Hook
from visioncraft.registry import HOOKS


@HOOKS.register_module()
class PauseHook(Hook):
    """At the given point, write ``marker`` and wait (up to 60 s) until a stop signal has arrived (or, with
    ``ignore_stop``, until killed)."""

    def __init__(self, marker, point='before_train_iter', at=1, ignore_stop=False):
        self.marker, self.point, self.at, self.ignore_stop = marker, point, at, ignore_stop
        self.count = 0

    def _maybe_pause(self, runner, point):
        if point != self.point:
            return
        self.count += 1
        if self.count != self.at:
            return
        with open(self.marker, 'w') as f:
            f.write(str(runner.iter))
        deadline = time.time() + 60
        while time.time() < deadline:
            if runner._stop_signal is not None and not self.ignore_stop:
                return
            time.sleep(0.01)

    def before_train_iter(self, runner, batch_idx, data_batch=None):
        self._maybe_pause(runner, 'before_train_iter')

    def before_val_iter(self, runner, batch_idx, data_batch=None):
        self._maybe_pause(runner, 'before_val_iter')
'''


@pytest.fixture(scope='module')
def hook_dir(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp('hooks')
    (d / 'pause_hook.py').write_text(HOOK)
    return d


def _env(hook_dir: Path, **extra) -> dict:
    env = dict(os.environ, PYTHONPATH=f'{REPO}{os.pathsep}{hook_dir}', OMP_NUM_THREADS='1')
    env.pop('SLURM_JOB_ID', None)
    env.pop('SLURM_RESTART_COUNT', None)
    env.update({k: str(v) for k, v in extra.items()})
    return env


def _config(shapes_root: Path, work_dir: Path, path: Path, pause: dict | None = None, workers: int = 2) -> Path:
    cfg = tiny_cfg(work_dir, shapes_root)
    cfg['train_dataloader']['num_workers'] = workers
    cfg['train_dataloader']['persistent_workers'] = False
    cfg['default_hooks'] = dict(logger=dict(type='LoggerHook', interval=1))
    if pause is not None:
        cfg['custom_imports'] = dict(imports=['pause_hook'], allow_failed_imports=False)
        cfg['custom_hooks'] = [dict(type='PauseHook', **pause)]
    Config(cfg).dump(path)
    return path


def _train(cfg: Path, env: dict, *args: str, timeout: int = 180) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, 'tools/train.py', str(cfg), *args], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=timeout)


def _start(cfg: Path, env: dict, *args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, 'tools/train.py', str(cfg), *args], cwd=REPO, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)


def _wait_for(marker: Path, proc: subprocess.Popen, timeout: float = 120) -> None:
    deadline = time.time() + timeout
    while not marker.exists():
        if proc.poll() is not None:
            raise AssertionError(f'the run ended before pausing ({proc.returncode}):\n{proc.stdout.read()[-4000:]}')
        if time.time() > deadline:
            proc.kill()
            raise AssertionError('the run did not reach the pause point')
        time.sleep(0.02)


def _state(path: Path) -> dict:
    return torch.load(path, weights_only=True)


def _assert_same_final_state(a: Path, b: Path) -> None:
    x, y = _state(a), _state(b)
    assert x['state_dict'].keys() == y['state_dict'].keys()
    for k in x['state_dict']:
        assert torch.equal(x['state_dict'][k], y['state_dict'][k]), k
    opt_x, opt_y = x['optimizer']['optimizer']['state'], y['optimizer']['optimizer']['state']
    assert opt_x.keys() == opt_y.keys() and opt_x
    for k in opt_x:
        for name in opt_x[k]:
            assert torch.equal(torch.as_tensor(opt_x[k][name]), torch.as_tensor(opt_y[k][name])), (k, name)
    assert x['meta']['iter'] == y['meta']['iter'] and x['meta']['epoch'] == y['meta']['epoch']


@pytest.fixture(scope='module')
def uninterrupted(shapes_root, hook_dir, tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp('uninterrupted')
    cfg = _config(shapes_root, d / 'work', d / 'tiny.py')
    done = _train(cfg, _env(hook_dir))
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return d / 'work' / 'epoch_2.pth'


def _interrupt(proc: subprocess.Popen, signum: int, group: bool = False) -> str:
    if group:  # as a terminal's Ctrl-C: the whole process group, DataLoader workers included
        os.killpg(proc.pid, signum)
    else:
        proc.send_signal(signum)
    out, _ = proc.communicate(timeout=120)
    return out


def test_sigterm_mid_epoch_saves_the_iteration_and_resume_is_exact(shapes_root, hook_dir, uninterrupted, tmp_path):
    wd = tmp_path / 'work'
    marker = tmp_path / 'paused'
    cfg = _config(shapes_root, wd, tmp_path / 'tiny.py', pause=dict(marker=str(marker), at=4))
    proc = _start(cfg, _env(hook_dir))
    _wait_for(marker, proc)
    assert marker.read_text() == '3'  # paused before the 4th iteration
    out = _interrupt(proc, signal.SIGTERM)
    assert proc.returncode == 128 + signal.SIGTERM, out[-3000:]
    assert 'Traceback' not in out
    assert 'SIGTERM: stopped after iteration 4 (epoch 1, batch 4/6)' in out
    assert (wd / 'iter_4.pth').is_file() and not (wd / 'epoch_1.pth').exists()
    assert (wd / 'last_checkpoint').read_text() == 'iter_4.pth'  # relative to the work dir
    meta = _state(wd / 'iter_4.pth')['meta']
    assert (meta['epoch'], meta['iter'], meta['inner_iter']) == (0, 4, 4)
    resumed = _train(_config(shapes_root, wd, tmp_path / 'resume.py'), _env(hook_dir), '--resume')
    assert resumed.returncode == 0, resumed.stdout[-3000:] + resumed.stderr[-3000:]
    _assert_same_final_state(uninterrupted, wd / 'epoch_2.pth')


def test_ctrl_c_to_the_process_group_during_validation(shapes_root, hook_dir, uninterrupted, tmp_path):
    """SIGINT reaches the workers too (they ignore it); a signal during validation ends the validation, and the
    resumed run validates that epoch again before training on."""
    wd = tmp_path / 'work'
    marker = tmp_path / 'paused'
    cfg = _config(shapes_root, wd, tmp_path / 'tiny.py',
                  pause=dict(marker=str(marker), point='before_val_iter', at=2))
    proc = _start(cfg, _env(hook_dir))
    _wait_for(marker, proc)
    out = _interrupt(proc, signal.SIGINT, group=True)
    assert proc.returncode == 128 + signal.SIGINT, out[-3000:]
    assert 'Traceback' not in out and 'KeyboardInterrupt' not in out
    assert 'SIGINT: stopped after iteration 6 (end of epoch 1), before its validation' in out
    assert (wd / 'last_checkpoint').read_text() == 'epoch_1.pth'
    assert _state(wd / 'epoch_1.pth')['meta']['pending_val'] is True
    resumed = _train(_config(shapes_root, wd, tmp_path / 'resume.py'), _env(hook_dir), '--resume')
    assert resumed.returncode == 0, resumed.stdout[-3000:] + resumed.stderr[-3000:]
    assert '(its validation first)' in resumed.stdout + resumed.stderr
    log = sorted(wd.glob('*/*.log'))[-1].read_text()
    assert log.count('Epoch(val) [1][3/3]') == 1 and log.count('Epoch(val) [2][3/3]') == 1
    _assert_same_final_state(uninterrupted, wd / 'epoch_2.pth')


def test_second_signal_stops_at_once_without_checkpoint(shapes_root, hook_dir, tmp_path):
    wd = tmp_path / 'work'
    marker = tmp_path / 'paused'
    cfg = _config(shapes_root, wd, tmp_path / 'tiny.py', pause=dict(marker=str(marker), at=3, ignore_stop=True))
    proc = _start(cfg, _env(hook_dir))
    _wait_for(marker, proc)
    proc.send_signal(signal.SIGTERM)
    time.sleep(0.3)  # the first one is noted; the hook keeps the iteration going
    assert proc.poll() is None
    start = time.time()
    out = _interrupt(proc, signal.SIGTERM)
    assert time.time() - start < 30
    assert proc.returncode == 128 + signal.SIGTERM, out[-3000:]
    assert 'SIGTERM again: stopping at once, without a checkpoint' in out and 'Traceback' not in out
    assert not list(wd.glob('*.pth'))


def test_requeue_under_slurm_and_the_requeued_job_resumes_by_itself(shapes_root, hook_dir, uninterrupted,
                                                                    tmp_path):
    bin_dir = tmp_path / 'bin'
    bin_dir.mkdir()
    calls = tmp_path / 'scontrol_calls'
    scontrol = bin_dir / 'scontrol'
    scontrol.write_text(f'#!/bin/sh\necho "$@" >> {calls}\n')
    scontrol.chmod(0o755)
    wd = tmp_path / 'work'
    marker = tmp_path / 'paused'
    env = _env(hook_dir, SLURM_JOB_ID='4242', PATH=f'{bin_dir}{os.pathsep}{os.environ["PATH"]}')
    cfg = _config(shapes_root, wd, tmp_path / 'tiny.py', pause=dict(marker=str(marker), at=9))
    proc = _start(cfg, env, '--requeue')
    _wait_for(marker, proc)
    out = _interrupt(proc, signal.SIGTERM)
    assert proc.returncode == 143, out[-3000:]
    assert calls.read_text().split() == ['requeue', '4242']
    assert 'Slurm job 4242 requeued' in out
    # Slurm starts the same command again with SLURM_RESTART_COUNT=1: no --resume needed
    again = _train(_config(shapes_root, wd, tmp_path / 'resume.py'), dict(env, SLURM_RESTART_COUNT='1'))
    assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-3000:]
    assert 'Slurm restarted this job (SLURM_RESTART_COUNT=1)' in again.stdout + again.stderr
    assert 'Resumed from' in again.stdout + again.stderr
    _assert_same_final_state(uninterrupted, wd / 'epoch_2.pth')
