"""Real (tiny) training runs through the Runner: logging, checkpoints, exact resume, hooks, errors."""
from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch

from conftest import log_text, read_scalars, train_losses
from visioncraft.engine import Runner
from visioncraft.engine.checkpoint import load_checkpoint_file
from visioncraft.engine.hooks import Hook
from visioncraft.models import BaseModel


class Crash(Hook):
    """Simulates a process dying at a given iteration (before that iteration runs)."""

    def __init__(self, at_iter: int) -> None:
        self.at_iter = at_iter

    def before_train_iter(self, runner, batch_idx, data_batch=None):
        if runner.iter == self.at_iter:
            raise KeyboardInterrupt(f'simulated crash at iteration {self.at_iter}')


def _run(cfg, crash_at=None):
    if crash_at is not None:
        cfg = dict(cfg, custom_hooks=list(cfg.get('custom_hooks', [])) + [Crash(crash_at)])
        with pytest.raises(KeyboardInterrupt):
            Runner(cfg).train()
        return None
    return Runner(cfg).train()


def _weights(path):
    ckpt = load_checkpoint_file(path)
    return ckpt


def _assert_same_ckpt(a, b):
    for key in ('state_dict', 'ema_state_dict'):
        if key in a:
            assert a[key].keys() == b[key].keys()
            for k in a[key]:
                assert torch.equal(a[key][k], b[key][k]), f'{key}.{k} differs'
    sa, sb = a['optimizer']['optimizer']['state'] if 'optimizer' in a['optimizer'] else a['optimizer']['state'], \
        b['optimizer']['optimizer']['state'] if 'optimizer' in b['optimizer'] else b['optimizer']['state']
    for k in sa:
        for name, v in sa[k].items():
            if isinstance(v, torch.Tensor):
                assert torch.equal(v, sb[k][name])


def test_epoch_training_logs_checkpoints_and_config(make_cfg):
    cfg = make_cfg(visualizer=dict(type='Visualizer', vis_backends=[dict(type='LocalVisBackend'),
                                                                    dict(type='TensorboardVisBackend')]))
    Runner(cfg).train()
    wd = Path(cfg['work_dir'])
    text = log_text(wd)
    line = re.compile(r'^\d\d/\d\d \d\d:\d\d:\d\d - visioncraft - INFO - Epoch\(train\) \[2\]\[6/6\]  '
                      r'base_lr: 5\.0000e-02 lr: [0-9.e-]+  eta: \d+:\d\d:\d\d  time: [0-9.]+  data_time: [0-9.]+  '
                      r'loss: [0-9.]+  loss_cls: [0-9.]+', re.M)
    assert line.search(text), text[-2000:]
    assert re.search(r'Epoch\(val\) \[2\]\[3/3\]  accuracy/top1: [0-9.]+', text)
    rows = read_scalars(wd)
    assert [r['iter'] for r in rows if 'loss' in r] == list(range(1, 13))
    assert any('accuracy/top1' in r for r in rows)
    # the warm-up then multi-step schedule shows in the logged lr
    lrs = {r['iter']: r['lr'] for r in rows if 'lr' in r}
    assert lrs[1] == pytest.approx(0.05 * 0.2) and lrs[6] == pytest.approx(0.05)
    for name in ('epoch_1.pth', 'epoch_2.pth', 'last_checkpoint', 'config.py'):
        assert (wd / name).exists(), name
    assert (wd / 'last_checkpoint').read_text().strip().endswith('epoch_2.pth')
    assert list(wd.glob('*/vis_data/events.out.tfevents.*')), 'TensorBoard event file missing'
    ckpt = load_checkpoint_file(wd / 'epoch_2.pth')
    assert ckpt['meta']['epoch'] == 2 and ckpt['meta']['iter'] == 12
    assert ckpt['meta']['dataset_meta']['classes'] == ['circle', 'square', 'triangle', 'cross']
    assert {'state_dict', 'optimizer', 'param_schedulers', 'rng', 'meta'} <= set(ckpt)


@pytest.mark.parametrize('workers', [0, 2])
def test_interrupted_epoch_run_resumes_exactly(make_cfg, workers):
    """Crash mid-epoch 2; --resume continues from epoch_1.pth and ends bit-identical (EMA, dropout,
    random flips, momentum, warm-up + step schedule, and with workers too)."""
    over = dict(custom_hooks=[dict(type='EMAHook', momentum=0.1)], train_cfg=dict(by_epoch=True, max_epochs=3))
    a = make_cfg('a', **over)
    b = make_cfg('b', **over)
    for c in (a, b):
        c['train_dataloader'] = dict(c['train_dataloader'], num_workers=workers, persistent_workers=workers > 0)
    _run(a)
    _run(b, crash_at=8)
    _run(dict(b, resume=True))
    la, lb = train_losses(a['work_dir']), train_losses(b['work_dir'])
    assert sorted(lb) == list(range(1, 19))
    assert all(la[i] == lb[i] for i in la), {i: (la[i], lb[i]) for i in la if la[i] != lb[i]}
    assert 'Resumed from' in log_text(b['work_dir']) and 'epoch 1, iteration 6' in log_text(b['work_dir'])
    _assert_same_ckpt(_weights(Path(a['work_dir']) / 'epoch_3.pth'), _weights(Path(b['work_dir']) / 'epoch_3.pth'))


def test_resume_from_mid_epoch_iteration_checkpoint(make_cfg):
    over = dict(default_hooks=dict(logger=dict(type='LoggerHook', interval=1),
                                   checkpoint=dict(type='CheckpointHook', interval=4, by_epoch=False)))
    a, b = make_cfg('a', **over), make_cfg('b', **over)
    _run(a)
    _run(b, crash_at=9)
    assert (Path(b['work_dir']) / 'last_checkpoint').read_text().strip().endswith('iter_8.pth')
    _run(dict(b, resume=True))
    la, lb = train_losses(a['work_dir']), train_losses(b['work_dir'])
    assert all(la[i] == lb[i] for i in la)
    _assert_same_ckpt(_weights(Path(a['work_dir']) / 'iter_12.pth'), _weights(Path(b['work_dir']) / 'iter_12.pth'))


def test_iteration_based_training_resumes_exactly(make_cfg):
    over = dict(train_cfg=dict(by_epoch=False, max_iters=10, val_interval=5),
                param_scheduler=[dict(type='LinearLR', start_factor=0.2, by_epoch=False, begin=0, end=4)],
                default_hooks=dict(logger=dict(type='LoggerHook', interval=1),
                                   checkpoint=dict(type='CheckpointHook', interval=4, by_epoch=False)))
    a, b = make_cfg('a', **over), make_cfg('b', **over)
    for c in (a, b):
        c['train_dataloader'] = dict(c['train_dataloader'], sampler=dict(type='InfiniteSampler', shuffle=True))
    _run(a)
    assert re.search(r'Iter\(train\) \[10/10\]', log_text(a['work_dir']))
    _run(b, crash_at=6)
    _run(dict(b, resume=True))
    la, lb = train_losses(a['work_dir']), train_losses(b['work_dir'])
    assert sorted(la) == list(range(1, 11)) and all(la[i] == lb[i] for i in la)
    _assert_same_ckpt(_weights(Path(a['work_dir']) / 'iter_10.pth'), _weights(Path(b['work_dir']) / 'iter_10.pth'))


def test_resume_honours_a_changed_max_epochs(make_cfg):
    cfg = make_cfg()
    Runner(cfg).train()
    Runner(dict(cfg, resume=True, train_cfg=dict(by_epoch=True, max_epochs=3))).train()
    wd = Path(cfg['work_dir'])
    assert (wd / 'epoch_3.pth').exists()
    assert 'max_epochs changed from 2 (checkpoint) to 3 (config)' in log_text(wd)
    assert sorted(train_losses(wd)) == list(range(1, 19))


def test_resume_without_checkpoint_starts_fresh_and_says_so(make_cfg):
    cfg = make_cfg(resume=True, train_cfg=dict(by_epoch=True, max_epochs=1))
    Runner(cfg).train()
    assert 'no checkpoint found' in log_text(cfg['work_dir'])


def test_resume_from_explicit_path(make_cfg):
    a = make_cfg('a')
    Runner(a).train()
    b = make_cfg('b', resume=str(Path(a['work_dir']) / 'epoch_1.pth'))
    Runner(b).train()
    assert sorted(train_losses(b['work_dir'])) == list(range(7, 13))


def test_load_from_reports_missing_unexpected_and_mismatched_keys(make_cfg, tmp_path):
    a = make_cfg('a', train_cfg=dict(by_epoch=True, max_epochs=1))
    Runner(a).train()
    ckpt = torch.load(Path(a['work_dir']) / 'epoch_1.pth', weights_only=True)
    sd = ckpt['state_dict']
    sd.pop('head.bias')
    sd['extra.weight'] = torch.zeros(1)
    sd['head.weight'] = torch.zeros(3, 16)
    torch.save(ckpt, tmp_path / 'edited.pth')
    b = make_cfg('b', load_from=str(tmp_path / 'edited.pth'), train_cfg=dict(by_epoch=True, max_epochs=1))
    Runner(b).train()
    text = log_text(b['work_dir'])
    assert 'head.weight (checkpoint (3, 16) vs model (4, 16))' in text
    assert 'missing keys in checkpoint' in text and 'head.bias' in text
    assert 'unexpected keys in checkpoint' in text and 'extra.weight' in text


class _NaNAfter(BaseModel):
    def __init__(self, n: int) -> None:
        super().__init__()
        self.w = torch.nn.Parameter(torch.ones(1))
        self.n = n
        self.calls = 0

    def forward(self, inputs, data_samples=None, mode='tensor'):
        self.calls += 1
        bad = float('nan') if self.calls >= self.n else 1.0
        return dict(loss_cls=self.w.sum() * bad, loss_box=self.w.sum())


def test_non_finite_loss_stops_naming_iteration_and_term(make_cfg):
    model = _NaNAfter(3)
    cfg = make_cfg(model=model)
    with pytest.raises(FloatingPointError, match=r'loss_cls=nan at iteration 3 \(epoch 1, batch 3/6\)'):
        Runner(cfg).train()
    assert model.w.item() != float('nan') and torch.isfinite(model.w).all()


def test_checkpoint_hook_keeps_newest_and_best(make_cfg):
    cfg = make_cfg(train_cfg=dict(by_epoch=True, max_epochs=4),
                   default_hooks=dict(checkpoint=dict(type='CheckpointHook', interval=1, max_keep_ckpts=2,
                                                      save_best='auto')))
    Runner(cfg).train()
    wd = Path(cfg['work_dir'])
    assert sorted(p.name for p in wd.glob('epoch_*.pth')) == ['epoch_3.pth', 'epoch_4.pth']
    best = list(wd.glob('best_accuracy_top1_epoch_*.pth'))
    assert len(best) == 1
    scores = [r['accuracy/top1'] for r in read_scalars(wd) if 'accuracy/top1' in r]
    best_epoch = max(range(len(scores)), key=lambda i: (scores[i], -i)) + 1
    assert best[0].name == f'best_accuracy_top1_epoch_{best_epoch}.pth'


def test_early_stopping_stops_training(make_cfg):
    cfg = make_cfg(train_cfg=dict(by_epoch=True, max_epochs=5),
                   custom_hooks=[dict(type='EarlyStoppingHook', monitor='accuracy/top1', stopping_threshold=0.0)])
    Runner(cfg).train()
    assert sorted(train_losses(cfg['work_dir'])) == list(range(1, 7))
    assert 'Early stopping: accuracy/top1 reached' in log_text(cfg['work_dir'])


def test_no_validation_when_val_parts_are_absent(make_cfg):
    cfg = make_cfg(val_cfg=None, val_dataloader=None, val_evaluator=None)
    Runner(cfg).train()
    assert 'Epoch(val)' not in log_text(cfg['work_dir'])


def test_amp_on_cpu_runs_in_bfloat16(make_cfg):
    cfg = make_cfg(optim_wrapper=dict(type='AmpOptimWrapper', optimizer=dict(type='SGD', lr=0.05),
                                      cpu_bf16='force'),  # 'auto' trains in float32 on CPUs without native bf16
                   train_cfg=dict(by_epoch=True, max_epochs=1))
    runner = Runner(cfg)
    runner.train()
    assert runner.optim_wrapper.dtype == torch.bfloat16 and runner.optim_wrapper.device_type == 'cpu'
    assert len(train_losses(cfg['work_dir'])) == 6


def test_auto_scale_lr_scales_and_logs(make_cfg):
    cfg = make_cfg(auto_scale_lr=dict(enable=True, base_batch_size=16), train_cfg=dict(by_epoch=True, max_epochs=1),
                   param_scheduler=[])
    runner = Runner(cfg)
    runner.train()
    assert runner.optim_wrapper.param_groups[0]['lr'] == pytest.approx(0.025)
    assert 'Scaling the original LR 0.05 to 0.025' in log_text(cfg['work_dir'])


def test_profiler_hook_writes_a_trace(make_cfg):
    cfg = make_cfg(train_cfg=dict(by_epoch=True, max_epochs=1),
                   custom_hooks=[dict(type='ProfilerHook', profile_times=2)])
    runner = Runner(cfg)
    runner.train()
    trace = runner.get_hook('ProfilerHook').trace_path
    assert trace is not None and trace.stat().st_size > 0


def test_hook_priorities_order_calls(make_cfg):
    order = []

    class Rec(Hook):
        def __init__(self, name):
            self.name = name

        def before_run(self, runner):
            order.append(self.name)

    cfg = make_cfg(train_cfg=dict(by_epoch=True, max_epochs=1),
                   custom_hooks=[Rec('normal'), dict(type=Rec, name='lowest', priority='LOWEST'),
                                 dict(type=Rec, name='first', priority=1)])
    Runner(cfg).train()
    assert order == ['first', 'normal', 'lowest']


def test_seed_makes_runs_repeat_and_differ(make_cfg):
    a, b, c = make_cfg('a'), make_cfg('b'), make_cfg('c', randomness=dict(seed=8))
    for x in (a, b, c):
        x['train_cfg'] = dict(by_epoch=True, max_epochs=1)
        Runner(x).train()
    la, lb, lc = (train_losses(x['work_dir']) for x in (a, b, c))
    assert la == lb and la != lc


def test_test_loop_returns_metrics_and_visualizes(make_cfg):
    a = make_cfg('a', train_cfg=dict(by_epoch=True, max_epochs=1))
    Runner(a).train()
    t = make_cfg('t', load_from=str(Path(a['work_dir']) / 'epoch_1.pth'),
                 default_hooks=dict(visualization=dict(type='VisualizationHook', test_out_dir='pics')))
    runner = Runner(t)
    metrics = runner.test()
    assert set(metrics) == {'accuracy/top1'} and 0 <= metrics['accuracy/top1'] <= 100
    assert len(list((runner.log_dir / 'pics').glob('*.png'))) == 21


def test_empty_cache_hook_releases_cuda_cache_at_the_configured_points(make_cfg, monkeypatch):
    calls = []
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: True)
    monkeypatch.setattr(torch.cuda, 'empty_cache', lambda: calls.append(1))
    from visioncraft.engine.hooks import EmptyCacheHook

    class R:  # the hook reads nothing from the runner
        pass
    hook = EmptyCacheHook(before_epoch=False, after_epoch=True, after_iter=True)
    hook.before_train_epoch(R())
    assert calls == []
    hook.after_train_iter(R(), 0)
    hook.after_train_epoch(R())
    hook.after_val_epoch(R())
    assert len(calls) == 3


def test_hook_state_is_saved_and_restored_on_resume(make_cfg):
    hooks = [dict(type='EarlyStoppingHook', monitor='accuracy/top1', patience=10, min_delta=1000.0)]
    cfg = make_cfg(custom_hooks=hooks)
    first = Runner(cfg)
    first.train()
    saved = first.get_hook('EarlyStoppingHook').state_dict()
    assert saved['best'] is not None and saved['wait_count'] == 1  # 2 validations, min_delta never met
    ckpt = load_checkpoint_file(Path(cfg['work_dir']) / 'epoch_2.pth')
    assert ckpt['hooks']['EarlyStoppingHook'] == saved
    assert ckpt['hooks']['CheckpointHook']['kept'][-1].endswith('epoch_2.pth')
    resumed = Runner(dict(cfg, resume=True))
    resumed.train()  # nothing left to train: only the resume happens
    assert resumed.get_hook('EarlyStoppingHook').state_dict() == saved
    assert resumed.epoch == 2 and resumed.iter == 12


def test_worker_processes_are_released_when_a_run_fails(make_cfg):
    import multiprocessing
    cfg = make_cfg()
    cfg['train_dataloader'] = dict(cfg['train_dataloader'], num_workers=2, persistent_workers=True)
    runner = None
    try:
        runner = Runner(dict(cfg, custom_hooks=[Crash(3)]))
        runner.train()
    except KeyboardInterrupt:
        pass
    assert runner is not None and runner.train_loop.dataloader._iterator is None
    assert not [p for p in multiprocessing.active_children() if p.is_alive()]


def test_a_validation_in_the_middle_of_an_epoch_is_logged_by_iteration(make_cfg):
    """ValEveryNItersHook (PaddleOCR's eval_batch_step) validates inside an epoch: its log lines are
    Iter(val), not 'Epoch(val) [0]' (the epoch before it); the epoch-end validation stays Epoch(val) [1]."""
    cfg = make_cfg(train_cfg=dict(by_epoch=True, max_epochs=1, val_interval=1),
                   custom_hooks=[dict(type='ValEveryNItersHook', interval=4)])
    Runner(cfg).train()
    lines = [ln for ln in log_text(cfg['work_dir']).splitlines() if '(val)' in ln]
    assert not any('Epoch(val) [0]' in ln for ln in lines)
    assert any('Iter(val) [3/3]  accuracy/top1' in ln for ln in lines)  # after iteration 4 of 6
    assert any('Epoch(val) [1][3/3]  accuracy/top1' in ln for ln in lines)
