"""Distributed runs for real: torchrun (gloo, CPU) through tools/dist_*.sh, and the Slurm scripts
through a stand-in srun that starts the tasks locally with SLURM_* variables."""
from __future__ import annotations

import os
import pickle
import socket
import stat
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from conftest import REPO, tiny_cfg
from visioncraft.config import Config
from visioncraft.engine import dist

pytestmark = pytest.mark.slow


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def _env(**extra) -> dict:
    env = dict(os.environ)
    env['PATH'] = f'{Path(sys.executable).parent}{os.pathsep}{env.get("PATH", "")}'
    env['PYTHONPATH'] = str(REPO)
    env['OMP_NUM_THREADS'] = '1'
    env.update({k: str(v) for k, v in extra.items()})
    return env


def _sh(args, **env) -> subprocess.CompletedProcess:
    proc = subprocess.run(args, cwd=REPO, env=_env(**env), capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc


@pytest.fixture(scope='module')
def dist_cfg(shapes_root, tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp('dist')
    cfg = tiny_cfg(d / 'unused', shapes_root)
    cfg['model']['norm'] = 'gn'  # no batch statistics: 1 and 2 processes must agree
    cfg['model']['dropout'] = 0.0
    path = d / 'tiny_dist.py'
    Config(cfg).dump(path)
    return path


@pytest.fixture(scope='module')
def one_process_run(dist_cfg, tmp_path_factory) -> Path:
    wd = tmp_path_factory.mktemp('one')
    _sh([sys.executable, 'tools/train.py', str(dist_cfg), '--work-dir', str(wd)])
    return wd


def test_two_process_training_matches_one_process(dist_cfg, one_process_run, tmp_path):
    wd2 = tmp_path / 'two'
    _sh(['bash', 'tools/dist_train.sh', str(dist_cfg), '2', '--work-dir', str(wd2),
         '--cfg-options', 'train_dataloader.batch_size=4', '+sync_bn=torch'], PORT=_free_port())
    log = next(wd2.glob('*/*.log')).read_text()
    assert 'distributed: True, world size: 2' in log
    assert 'SyncBatchNorm runs on GPUs only' in log  # a CPU run says so and carries on
    a = torch.load(one_process_run / 'epoch_2.pth', weights_only=True)['state_dict']
    b = torch.load(wd2 / 'epoch_2.pth', weights_only=True)['state_dict']
    assert a.keys() == b.keys()
    for k in a:
        assert torch.allclose(a[k], b[k], atol=2e-5, rtol=1e-4), (k, (a[k] - b[k]).abs().max())


def test_two_process_test_returns_every_sample_once(dist_cfg, one_process_run, tmp_path):
    ckpt = one_process_run / 'epoch_2.pth'
    _sh([sys.executable, 'tools/test.py', str(dist_cfg), str(ckpt), '--work-dir', str(tmp_path / 't1'),
         '--out', str(tmp_path / 'one.pkl')])
    _sh(['bash', 'tools/dist_test.sh', str(dist_cfg), str(ckpt), '2', '--work-dir', str(tmp_path / 't2'),
         '--out', str(tmp_path / 'two.pkl')], PORT=_free_port())
    one = pickle.loads((tmp_path / 'one.pkl').read_bytes())
    two = pickle.loads((tmp_path / 'two.pkl').read_bytes())
    assert len(two) == 21  # 21 is odd: rank 1 got a padding duplicate, which must be dropped
    assert [r['sample_idx'] for r in two] == list(range(21))
    assert [int(r['pred_label']) for r in two] == [int(r['pred_label']) for r in one]
    m1 = next((tmp_path / 't1').glob('*/metrics.json')).read_text()
    m2 = next((tmp_path / 't2').glob('*/metrics.json')).read_text()
    assert m1 == m2


FAKE_SRUN = r'''#!/usr/bin/env bash
# Stand-in for srun: records its arguments, starts --ntasks local tasks with SLURM_* set.
echo "$@" > "$SRUN_LOG"
ntasks=1
while [[ $# -gt 0 ]]; do
  case "$1" in
    --ntasks=*) ntasks=${1#*=}; shift ;;
    -p) shift 2 ;;
    -*) shift ;;
    *) break ;;
  esac
done
pids=()
for ((i = 0; i < ntasks; i++)); do
  SLURM_PROCID=$i SLURM_NTASKS=$ntasks SLURM_LOCALID=$i SLURM_NODELIST=localhost "$@" &
  pids+=($!)
done
rc=0
for p in "${pids[@]}"; do wait "$p" || rc=$?; done
exit $rc
'''


def test_slurm_scripts_launch_and_pass_settings(dist_cfg, one_process_run, tmp_path):
    bindir = tmp_path / 'bin'
    bindir.mkdir()
    srun = bindir / 'srun'
    srun.write_text(FAKE_SRUN)
    srun.chmod(srun.stat().st_mode | stat.S_IEXEC)
    log = tmp_path / 'srun_args.txt'
    env = dict(GPUS=2, GPUS_PER_NODE=2, CPUS_PER_TASK=3, SRUN_ARGS='--quotatype=auto', SRUN_LOG=log,
               PORT=_free_port())
    path_env = f'{bindir}{os.pathsep}{_env()["PATH"]}'
    _sh(['bash', 'tools/slurm_test.sh', 'gpu', 'vc-test', str(dist_cfg), str(one_process_run / 'epoch_2.pth'),
         '--work-dir', str(tmp_path / 'st'), '--out', str(tmp_path / 'slurm.pkl')], PATH=path_env, **env)
    args = log.read_text()
    for part in ('-p gpu', '--job-name=vc-test', '--gres=gpu:2', '--ntasks=2', '--ntasks-per-node=2',
                 '--cpus-per-task=3', '--quotatype=auto', '--launcher=slurm'):
        assert part in args, (part, args)
    assert len(pickle.loads((tmp_path / 'slurm.pkl').read_bytes())) == 21
    log_text = next((tmp_path / 'st').glob('*/*.log')).read_text()
    assert 'launcher: slurm' in log_text and 'world size: 2' in log_text



def test_scripts_run_under_sh_and_slurm_test_takes_mmocrs_work_dir(dist_cfg, one_process_run, tmp_path):
    """MMDetection's guide types `sh tools/dist_train.sh ...` (sh is dash here), MMOCR's
    `tools/slurm_test.sh PARTITION JOB CONFIG CKPT WORK_DIR`; a missing argument is a usage line, exit 2."""
    for script, n in (('dist_train.sh', 2), ('dist_test.sh', 3), ('slurm_train.sh', 4), ('slurm_test.sh', 4)):
        proc = subprocess.run(['sh', f'tools/{script}'], cwd=REPO, capture_output=True, text=True, timeout=60)
        assert proc.returncode == 2 and proc.stderr.startswith(f'usage: tools/{script} '), (script, proc.stderr)
        assert proc.stderr.count(' ') >= n
    bindir = tmp_path / 'bin'
    bindir.mkdir()
    srun = bindir / 'srun'
    srun.write_text(FAKE_SRUN)
    srun.chmod(srun.stat().st_mode | stat.S_IEXEC)
    env = dict(GPUS=1, GPUS_PER_NODE=1, SRUN_LOG=tmp_path / 'srun_args.txt', PORT=_free_port())
    work_dir = tmp_path / 'mmocr_style'
    _sh(['sh', 'tools/slurm_test.sh', 'dev', 'db_r50', str(dist_cfg), str(one_process_run / 'epoch_2.pth'),
         str(work_dir), '--out', str(tmp_path / 'out.pkl')], PATH=f'{bindir}{os.pathsep}{_env()["PATH"]}', **env)
    assert len(pickle.loads((tmp_path / 'out.pkl').read_bytes())) == 21
    assert 'launcher: slurm' in next(work_dir.glob('*/*.log')).read_text()

def test_launcher_environments():
    env = dist.env_for_launcher('slurm', {'SLURM_PROCID': '5', 'SLURM_NTASKS': '16', 'SLURM_LOCALID': '1',
                                          'SLURM_NODELIST': 'gpu-node[07-08,11]', 'PORT': '29612'})
    assert env == {'RANK': '5', 'WORLD_SIZE': '16', 'LOCAL_RANK': '1', 'MASTER_ADDR': 'gpu-node07',
                   'MASTER_PORT': '29612'}
    env = dist.env_for_launcher('slurm', {'SLURM_PROCID': '0', 'SLURM_NTASKS': '1', 'SLURM_NODELIST': 'a1,b2'})
    assert env['MASTER_ADDR'] == 'a1' and env['MASTER_PORT'] == '29500'
    env = dist.env_for_launcher('mpi', {'OMPI_COMM_WORLD_RANK': '3', 'OMPI_COMM_WORLD_SIZE': '4',
                                        'OMPI_COMM_WORLD_LOCAL_RANK': '3', 'MASTER_ADDR': '10.1.1.1'})
    assert env == {'RANK': '3', 'WORLD_SIZE': '4', 'LOCAL_RANK': '3', 'MASTER_ADDR': '10.1.1.1',
                   'MASTER_PORT': '29500'}
    env = dist.env_for_launcher('pytorch', {'RANK': '1', 'WORLD_SIZE': '2', 'LOCAL_RANK': '1',
                                            'MASTER_ADDR': 'h', 'MASTER_PORT': '1234'})
    assert env['RANK'] == '1' and env['MASTER_PORT'] == '1234'
    with pytest.raises(RuntimeError, match='start the job with torchrun'):
        dist.env_for_launcher('pytorch', {})
    with pytest.raises(RuntimeError, match='SLURM_PROCID'):
        dist.env_for_launcher('slurm', {})
    with pytest.raises(ValueError, match='unknown launcher'):
        dist.env_for_launcher('horovod', {})


RANK0_PAUSE = '''
import os, time
from visioncraft.engine.hooks import Hook
from visioncraft.registry import HOOKS


@HOOKS.register_module()
class RankZeroPauseHook(Hook):
    """Rank 0 only: before iteration ``at``, write its pid to ``marker`` and wait for a stop signal (rank 1 runs
    on to the end of that iteration and waits there for rank 0)."""

    def __init__(self, marker, at):
        self.marker, self.at, self.count = marker, at, 0

    def before_train_iter(self, runner, batch_idx, data_batch=None):
        self.count += 1
        if runner.rank != 0 or self.count != self.at:
            return
        with open(self.marker, 'w') as f:
            f.write(str(os.getpid()))
        deadline = time.time() + 60
        while runner._stop_signal is None and time.time() < deadline:
            time.sleep(0.01)
'''


def test_sigterm_to_one_rank_stops_every_rank_at_the_same_iteration(dist_cfg, tmp_path):
    """Slurm signals every task, but not at the same moment: the ranks agree (an all-reduce of the stop flag
    after each iteration) and stop after the same iteration; rank 0 writes the checkpoint, which resumes."""
    import signal
    import time
    (tmp_path / 'rank0_pause.py').write_text(RANK0_PAUSE)
    marker = tmp_path / 'rank0_pid'
    cfg = Config.fromfile(dist_cfg).to_dict()
    cfg['custom_imports'] = dict(imports=['rank0_pause'], allow_failed_imports=False)
    cfg['custom_hooks'] = [dict(type='RankZeroPauseHook', marker=str(marker), at=2)]
    path = tmp_path / 'paused.py'
    Config(cfg).dump(path)
    wd = tmp_path / 'work'
    env = _env(PORT=_free_port())
    env['PYTHONPATH'] = f'{REPO}{os.pathsep}{tmp_path}'
    proc = subprocess.Popen(['bash', 'tools/dist_train.sh', str(path), '2', '--work-dir', str(wd),
                             '--cfg-options', 'train_dataloader.batch_size=4'], cwd=REPO, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.time() + 180
    while not marker.exists() or not marker.read_text():
        assert proc.poll() is None, proc.stdout.read()[-4000:]
        assert time.time() < deadline, 'rank 0 never reached the pause'
        time.sleep(0.05)
    os.kill(int(marker.read_text()), signal.SIGTERM)
    out, _ = proc.communicate(timeout=180)
    assert proc.returncode != 0  # torchrun reports the ranks' status 143
    log = next(wd.glob('*/*.log')).read_text()
    assert 'SIGTERM: stopped after iteration 2 (epoch 1, batch 2/6)' in log, out[-4000:]
    # both ranks say it on the console: rank 1 never got the signal and stopped after the same iteration
    assert out.count('SIGTERM: stopped after iteration 2 (epoch 1, batch 2/6)') == 2, out[-4000:]
    assert (wd / 'last_checkpoint').read_text() == 'iter_2.pth'
    meta = torch.load(wd / 'iter_2.pth', weights_only=True)['meta']
    assert (meta['iter'], meta['inner_iter']) == (2, 2)
    _sh(['bash', 'tools/dist_train.sh', str(dist_cfg), '2', '--work-dir', str(wd), '--resume',
         '--cfg-options', 'train_dataloader.batch_size=4'], PORT=_free_port())
    assert torch.load(wd / 'epoch_2.pth', weights_only=True)['meta']['iter'] == 12
