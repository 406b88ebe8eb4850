"""Nothing lost, nothing shared by accident: the ``last_checkpoint`` pointer is relative to its work dir, a copied
or moved work dir resumes from its own files and never touches the original's, a missing latest checkpoint falls
back to the newest loadable one (and a pointer with nothing loadable behind it is an error, never a silent fresh
start), stale temporary files of killed writes are removed, checkpoints get the umask's mode, and resuming from a
checkpoint without optimizer / scheduler state says what is missing."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from conftest import log_text
from visioncraft.engine import Runner
from visioncraft.engine.checkpoint import (CheckpointMismatchError, atomic_write_text, checkpoint_candidates,
                                           load_checkpoint_file, read_last_checkpoint, remove_stale_temp_files,
                                           save_checkpoint)
from visioncraft.engine.runner import ResumeError

KEEP2 = dict(default_hooks=dict(logger=dict(type='LoggerHook', interval=1),
                                checkpoint=dict(type='CheckpointHook', interval=1, max_keep_ckpts=2)))


def _snapshot(folder: Path) -> dict[str, tuple[int, int]]:
    return {p.name: (p.stat().st_size, p.stat().st_mtime_ns) for p in folder.iterdir() if p.is_file()}


def _first_param(path: Path) -> torch.Tensor:
    sd = load_checkpoint_file(path)['state_dict']
    return next(iter(sd.values()))


def test_pointer_is_relative_and_a_copied_work_dir_leaves_the_original_alone(make_cfg, tmp_path):
    a = make_cfg('a', train_cfg=dict(by_epoch=True, max_epochs=3), **KEEP2)
    Runner(a).train()
    wa = Path(a['work_dir'])
    assert (wa / 'last_checkpoint').read_text() == 'epoch_3.pth'
    assert sorted(p.name for p in wa.glob('epoch_*.pth')) == ['epoch_2.pth', 'epoch_3.pth']
    wb = tmp_path / 'b'
    shutil.copytree(wa, wb)  # cp -a
    before = _snapshot(wa)
    b = dict(a, work_dir=str(wb), resume=True, train_cfg=dict(by_epoch=True, max_epochs=5))
    Runner(b).train()
    assert _snapshot(wa) == before, 'the copy changed or deleted files of the original work dir'
    assert f'Resumed from {wb / "epoch_3.pth"}' in log_text(wb)
    assert sorted(p.name for p in wb.glob('epoch_*.pth')) == ['epoch_4.pth', 'epoch_5.pth']
    assert (wb / 'last_checkpoint').read_text() == 'epoch_5.pth'


def test_an_old_absolute_pointer_in_a_copy_resumes_from_the_copys_own_file(make_cfg, tmp_path):
    a = make_cfg('a', train_cfg=dict(by_epoch=True, max_epochs=3), **KEEP2)
    Runner(a).train()
    wa = Path(a['work_dir'])
    atomic_write_text(wa / 'last_checkpoint', str(wa / 'epoch_3.pth'))  # as versions before 0.2 (and MMEngine) wrote
    wb = tmp_path / 'b'
    shutil.copytree(wa, wb)
    before = _snapshot(wa)
    assert read_last_checkpoint(wb)[1] == wb / 'epoch_3.pth'
    Runner(dict(a, work_dir=str(wb), resume=True, train_cfg=dict(by_epoch=True, max_epochs=5))).train()
    assert _snapshot(wa) == before
    assert f'Resumed from {wb / "epoch_3.pth"}' in log_text(wb)
    # checkpoints of the original listed in the resumed hook state are file names of the copy's own folder now
    state = load_checkpoint_file(wb / 'epoch_5.pth')['hooks']['CheckpointHook']
    assert state['kept'][-2:] == ['epoch_4.pth', 'epoch_5.pth'] and all('/' not in k for k in state['kept'])
    assert sorted(p.name for p in wb.glob('epoch_*.pth')) == ['epoch_4.pth', 'epoch_5.pth']


def test_a_moved_work_dir_resumes(make_cfg, tmp_path):
    a = make_cfg('a', train_cfg=dict(by_epoch=True, max_epochs=2))
    Runner(a).train()
    moved = tmp_path / 'moved'
    Path(a['work_dir']).rename(moved)
    Runner(dict(a, work_dir=str(moved), resume=True, train_cfg=dict(by_epoch=True, max_epochs=3))).train()
    text = log_text(moved)
    assert f'Resumed from {moved / "epoch_2.pth"}: epoch 2, iteration 12' in text
    assert 'starting from scratch' not in text
    assert load_checkpoint_file(moved / 'epoch_3.pth')['meta']['iter'] == 18


def test_deleted_latest_falls_back_to_the_newest_loadable_checkpoint(make_cfg):
    cfg = make_cfg(train_cfg=dict(by_epoch=True, max_epochs=3))
    Runner(cfg).train()
    wd = Path(cfg['work_dir'])
    (wd / 'epoch_3.pth').unlink()
    (wd / 'epoch_2.pth').write_bytes(b'torn')  # unloadable: skipped
    Runner(dict(cfg, resume=True, train_cfg=dict(by_epoch=True, max_epochs=3))).train()
    text = log_text(wd)
    assert f'last_checkpoint names {wd / "epoch_3.pth"}, which does not exist; resuming from the newest ' \
           f'loadable checkpoint in the work dir, {wd / "epoch_1.pth"}' in text
    assert 'Resumed from' in text and 'epoch 1, iteration 6' in text
    assert load_checkpoint_file(wd / 'epoch_3.pth')['meta']['iter'] == 18


def test_a_pointer_with_nothing_loadable_is_an_error_not_a_fresh_start(make_cfg):
    cfg = make_cfg(train_cfg=dict(by_epoch=True, max_epochs=2))
    Runner(cfg).train()
    wd = Path(cfg['work_dir'])
    for p in wd.glob('epoch_*.pth'):
        p.unlink()
    with pytest.raises(ResumeError, match='last_checkpoint names .*epoch_2.pth, which does not exist and .* holds '
                                          'no other loadable checkpoint'):
        Runner(dict(cfg, resume=True)).train()
    assert isinstance(ResumeError('x'), FileNotFoundError)  # the CLI's one-line error, exit status 2


def test_stale_temporary_files_are_removed_and_live_ones_kept(make_cfg, tmp_path):
    cfg = make_cfg(train_cfg=dict(by_epoch=True, max_epochs=1))
    wd = Path(cfg['work_dir'])
    wd.mkdir(parents=True)
    sleeper = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'])
    try:
        stale = ['.epoch_1.pth.a1b2c3d4.tmp', '.last_checkpoint.k9_x2mzq.tmp', '.epoch_7.pth.999999999-0a1b.tmp',
                 f'.iter_3.pth.{os.getpid()}-beef.tmp']
        live = f'.epoch_2.pth.{sleeper.pid}-cafe.tmp'  # another process still writing
        other = ['.notes.txt.a1b2c3d4.tmp', 'epoch_x.tmp']  # not ours: untouched
        for name in stale + [live] + other:
            (wd / name).write_bytes(b'partial')
        Runner(cfg).train()
        left = {p.name for p in wd.iterdir()}
        assert not set(stale) & left
        assert live in left and set(other) <= left
        assert 'Removed 4 temporary file(s) of interrupted checkpoint writes' in log_text(wd)
    finally:
        sleeper.kill()
        sleeper.wait()
    assert remove_stale_temp_files(wd) == [live]  # its writer is gone now


@pytest.mark.parametrize('umask', [0o022, 0o002, 0o077])
def test_checkpoints_get_the_umasks_mode(tmp_path, umask):
    old = os.umask(umask)
    try:
        save_checkpoint({'w': torch.ones(2)}, tmp_path / 'epoch_1.pth')
        atomic_write_text(tmp_path / 'last_checkpoint', 'epoch_1.pth')
    finally:
        os.umask(old)
    for name in ('epoch_1.pth', 'last_checkpoint'):
        assert (tmp_path / name).stat().st_mode & 0o777 == 0o666 & ~umask, name


def test_resume_from_a_best_checkpoint_says_what_is_missing(make_cfg):
    cfg = make_cfg(train_cfg=dict(by_epoch=True, max_epochs=2),
                   default_hooks=dict(logger=dict(type='LoggerHook', interval=1),
                                      checkpoint=dict(type='CheckpointHook', interval=1, save_best='auto')))
    Runner(cfg).train()
    wd = Path(cfg['work_dir'])
    best = next(wd.glob('best_*.pth'))
    Runner(dict(cfg, resume=str(best), train_cfg=dict(by_epoch=True, max_epochs=3))).train()
    text = log_text(wd)
    assert f'{best} is not a full training checkpoint' in text
    assert 'the optimizer state: the optimizer starts fresh' in text
    assert "the parameter schedulers' state: LinearLR, MultiStepLR restart from their beginning" in text


def test_a_checkpoint_that_fits_nothing_is_an_error(make_cfg, tmp_path):
    other = tmp_path / 'other_model.pth'
    save_checkpoint({'state_dict': {'encoder.layer.weight': torch.ones(3, 3), 'head.bias': torch.zeros(3)}}, other)
    cfg = make_cfg(load_from=str(other))
    with pytest.raises(CheckpointMismatchError, match=f'checkpoint {other} does not fit the model TinyClassifier: '):
        Runner(cfg).train()


def test_checkpoint_candidates_newest_first(tmp_path):
    for i, name in enumerate(['epoch_1.pth', 'iter_30.pth', 'epoch_2.pth', 'best_acc_epoch_2.pth', 'notes.pth']):
        (tmp_path / name).write_bytes(b'x')
        os.utime(tmp_path / name, ns=(10**9 * (i + 1), 10**9 * (i + 1)))
    assert [p.name for p in checkpoint_candidates(tmp_path)] == ['epoch_2.pth', 'iter_30.pth', 'epoch_1.pth']


def test_last_checkpoint_file_stands_for_its_checkpoint(tmp_path):
    save_checkpoint({'w': torch.arange(3.0)}, tmp_path / 'epoch_4.pth')
    atomic_write_text(tmp_path / 'last_checkpoint', 'epoch_4.pth')
    assert torch.equal(load_checkpoint_file(tmp_path / 'last_checkpoint')['w'], torch.arange(3.0))
    (tmp_path / 'epoch_4.pth').unlink()
    with pytest.raises(FileNotFoundError, match='last_checkpoint names .*epoch_4.pth, which does not exist'):
        load_checkpoint_file(tmp_path / 'last_checkpoint')
    with pytest.raises(IsADirectoryError, match='is a folder, not a file'):
        load_checkpoint_file(tmp_path)


def test_training_again_without_resume_moves_the_earlier_checkpoints_aside(make_cfg):
    cfg = make_cfg(train_cfg=dict(by_epoch=True, max_epochs=2))
    Runner(cfg).train()
    wd = Path(cfg['work_dir'])
    first = {p.name: p.read_bytes() for p in wd.iterdir() if p.is_file() and p.name != 'config.py'}
    assert set(first) == {'epoch_1.pth', 'epoch_2.pth', 'last_checkpoint'}
    runner = Runner(cfg)  # the same command again, no --resume
    runner.train()
    kept = wd / f'earlier_checkpoints_{runner.timestamp}'
    assert {p.name: p.read_bytes() for p in kept.iterdir()} == first, 'the earlier run lost or changed files'
    assert (wd / 'last_checkpoint').read_text() == 'epoch_2.pth'  # this run's own, new files
    assert load_checkpoint_file(wd / 'epoch_2.pth')['meta']['timestamp'] == runner.timestamp
    text = log_text(wd)
    assert f'so they were moved to {kept} instead of being overwritten. Use --resume' in text


def test_resume_lists_what_differs_from_the_checkpoints_config_and_which_wins(make_cfg):
    cfg = make_cfg(train_cfg=dict(by_epoch=True, max_epochs=1))
    Runner(cfg).train()
    wd = Path(cfg['work_dir'])
    changed = dict(cfg, resume=True, train_cfg=dict(by_epoch=True, max_epochs=2, val_interval=1),
                   optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.5, momentum=0.9, weight_decay=1e-4)),
                   train_dataloader=dict(cfg['train_dataloader'], batch_size=4))
    runner = Runner(changed)
    runner.train()
    text = log_text(wd)
    assert 'the config differs from the one' in text
    assert "optim_wrapper.optimizer.lr: 0.05 (checkpoint) -> 0.5 (config): the checkpoint's value is used " \
           "(restored with the optimizer's state)" in text
    assert "train_dataloader.batch_size: 8 (checkpoint) -> 4 (config): the config's value is used" in text
    assert "train_cfg.max_epochs: 1 (checkpoint) -> 2 (config): the config's value is used" in text
    # what the log says is what happened: the optimizer kept the checkpoint's base rate
    assert all(g['initial_lr'] == pytest.approx(0.05) for g in runner.optim_wrapper.optimizer.param_groups)


def test_latest_pth_stands_for_the_work_dirs_latest_checkpoint(make_cfg):
    """MMPose's guide resumes with `--resume work_dirs/<name>/latest.pth` (and tests from it)."""
    cfg = make_cfg(train_cfg=dict(by_epoch=True, max_epochs=1))
    Runner(cfg).train()
    wd = Path(cfg['work_dir'])
    assert not (wd / 'latest.pth').exists()
    assert load_checkpoint_file(wd / 'latest.pth')['meta']['iter'] == 6
    Runner(dict(cfg, resume=str(wd / 'latest.pth'), train_cfg=dict(by_epoch=True, max_epochs=2))).train()
    assert f'Resumed from {wd / "latest.pth"}: epoch 1, iteration 6' in log_text(wd)
    assert load_checkpoint_file(wd / 'latest.pth')['meta']['iter'] == 12  # now the second epoch's
    (wd / 'epoch_2.pth').unlink()
    with pytest.raises(FileNotFoundError, match=r'latest\.pth: no such file, and .*last_checkpoint names .*epoch_2'):
        load_checkpoint_file(wd / 'latest.pth')
