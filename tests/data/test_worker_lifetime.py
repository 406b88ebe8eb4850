"""DataLoader workers and their parent never outlive each other for long: when the main process is killed, its
workers (blocked writing batches larger than the pipe's buffer) exit within seconds; when a worker is killed,
the main process ends with a clear :class:`WorkerDiedError` within seconds, never a hang. Real processes, real
SIGKILLs; the loaders are built as the Runner builds them (:func:`build_dataloader`)."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from conftest import REPO

pytestmark = pytest.mark.slow

SCRIPT = textwrap.dedent('''
    import sys, time
    import torch
    from torch.utils.data import Dataset
    from visioncraft.engine.builder import build_dataloader
    from visioncraft.registry import DATASETS

    @DATASETS.register_module()
    class BigTensors(Dataset):
        """Samples of 48 kB: a batch of 4 is 192 kB, sent inside the pickle (SmallTensorsByValue: up to 256 kB)
        through the pipe, three times its 64 kB buffer."""
        def __len__(self):
            return 10_000
        def __getitem__(self, i):
            return torch.full((12 * 1024,), float(i))

    loader = build_dataloader(dict(dataset=dict(type='BigTensors'), batch_size=4, num_workers=2,
                                   collate_fn=dict(type='default_collate')),
                              seed=0, key='train_dataloader', shuffle_default=False)
    it = iter(loader)
    first = next(it)
    assert first.shape == (4, 12 * 1024)
    print(' '.join(str(w.pid) for w in it._workers), flush=True)
    mode = sys.argv[1]
    if mode == 'idle':  # the workers fill their queues and block writing to the pipe
        time.sleep(120)
    else:  # keep consuming slowly until something breaks
        start = time.time()
        while time.time() - start < 60:
            next(it)
            time.sleep(0.05)
        print('no error after 60 s', flush=True)
''')


def _alive(pid: int) -> bool:
    """Running (a zombie, dead and not yet reaped, counts as gone)."""
    try:
        state = Path(f'/proc/{pid}/status').read_text()
    except (FileNotFoundError, ProcessLookupError):
        return False
    except OSError:  # pragma: no cover - no /proc: ask the kernel
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        return True
    return 'State:\tZ' not in state and 'State:\tX' not in state


def _start(tmp_path: Path, mode: str) -> tuple[subprocess.Popen, list[int]]:
    script = tmp_path / 'loader.py'
    script.write_text(SCRIPT)
    env = dict(os.environ, PYTHONPATH=str(REPO), OMP_NUM_THREADS='1')
    proc = subprocess.Popen([sys.executable, str(script), mode], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    line = proc.stdout.readline()
    if not line.strip():
        proc.kill()
        raise AssertionError(f'the loader script failed:\n{proc.stderr.read()[-3000:]}')
    return proc, [int(p) for p in line.split()]


@pytest.mark.skipif(not Path('/proc').is_dir(), reason='reads process states from /proc (Linux)')
def test_workers_exit_within_seconds_when_the_main_process_is_killed(tmp_path):
    proc, workers = _start(tmp_path, 'idle')
    try:
        time.sleep(1.0)  # let the workers fill the pipe and block
        assert all(_alive(p) for p in workers)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        deadline = time.time() + 10
        while any(_alive(p) for p in workers) and time.time() < deadline:
            time.sleep(0.1)
        survivors = [p for p in workers if _alive(p)]
        assert not survivors, f'workers {survivors} outlived their parent by more than 10 s'
    finally:
        for p in workers:
            try:
                os.kill(p, signal.SIGKILL)
            except ProcessLookupError:
                pass


def test_a_killed_worker_ends_the_run_with_a_clear_error_within_seconds(tmp_path):
    proc, workers = _start(tmp_path, 'consume')
    try:
        time.sleep(0.5)
        os.kill(workers[0], signal.SIGKILL)
        start = time.time()
        out, err = proc.communicate(timeout=30)
        took = time.time() - start
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode != 0, out + err
    assert 'no error after 60 s' not in out
    assert took < 10, f'the main process needed {took:.1f} s to notice'
    assert f'(pid {workers[0]}) ended with signal SIGKILL' in err or \
        f'DataLoader worker (pid {workers[0]}) is killed by signal' in err or \
        f'DataLoader worker (pid(s) {workers[0]}) exited unexpectedly' in err, err[-3000:]


def test_workers_ignore_the_stop_signals_meant_for_their_parent(tmp_path):
    """Ctrl-C and Slurm's SIGTERM reach every process of the group or job step; the workers leave stopping to
    the main process, which saves its checkpoint first (tests/engine/test_interrupt.py)."""
    proc, workers = _start(tmp_path, 'idle')
    try:
        for p in workers:
            os.kill(p, signal.SIGTERM)
            os.kill(p, signal.SIGINT)
        time.sleep(1.0)
        assert all(_alive(p) for p in workers)
    finally:
        proc.kill()
        proc.wait(timeout=30)


FAILING = textwrap.dedent('''
    import sys, torch
    from torch.utils.data import Dataset
    from visioncraft.engine.builder import build_dataloader
    from visioncraft.registry import DATASETS

    @DATASETS.register_module()
    class CorruptThird(Dataset):
        def __len__(self):
            return 40
        def __getitem__(self, i):
            if i == 3:
                raise ValueError('sample 3 is corrupt')
            return torch.zeros(3)

    loader = build_dataloader(dict(dataset=dict(type='CorruptThird'), batch_size=1, num_workers=int(sys.argv[1]),
                                   collate_fn=dict(type='default_collate')),
                              seed=0, key='test_dataloader', shuffle_default=False)
    try:
        for batch in loader:
            pass
    except ValueError as exc:  # the traceback keeps the iterator, and so its workers, alive until exit
        print('caught', flush=True)
        raise SystemExit(2)
''')


@pytest.mark.parametrize('workers', [1, 2])
def test_a_run_that_fails_in_a_worker_exits_promptly(tmp_path, workers):
    """The workers ignore the SIGTERM a scheduler sends the whole job; multiprocessing ends workers with SIGTERM at
    exit, and the process used to wait forever there. It exits (in ~3 s here; the bound only rules out a hang
    on a slow machine)."""
    script = tmp_path / 'failing.py'
    script.write_text(FAILING)
    start = time.time()
    done = subprocess.run([sys.executable, str(script), str(workers)], env=dict(os.environ, PYTHONPATH=str(REPO)),
                          capture_output=True, text=True, timeout=120)
    took = time.time() - start
    assert done.returncode == 2 and done.stdout.strip() == 'caught', done.stderr[-3000:]
    assert took < 60, f'{took:.1f} s to exit'


def test_a_validation_worker_ending_leaves_the_persistent_training_workers_alone(make_cfg, tmp_path):
    """A forked worker inherits the main process's DataLoader iterators and this module's exit hooks, which run
    when it ends: the validation worker used to SIGKILL the (persistent) training worker on its way out, and the
    run then died with 'DataLoader worker (pid N) is killed by signal: Killed' (make quickstart did)."""
    from visioncraft.config import Config
    cfg = make_cfg(train_cfg=dict(by_epoch=True, max_epochs=3, val_interval=1))
    cfg['train_dataloader'] = dict(cfg['train_dataloader'], num_workers=1, persistent_workers=True)
    cfg['val_dataloader'] = dict(cfg['val_dataloader'], num_workers=1)
    path = tmp_path / 'workers.py'
    Config(cfg).dump(path)
    env = dict(os.environ, PYTHONPATH=str(REPO), OMP_NUM_THREADS='1')
    proc = subprocess.run([sys.executable, '-m', 'visioncraft.cli.main', 'train', str(path)], env=env, cwd=REPO,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    log = next(Path(cfg['work_dir']).glob('*/*.log')).read_text()
    assert log.count('Epoch(val) [3][') >= 1 and 'killed by signal' not in log
