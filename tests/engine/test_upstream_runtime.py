"""Upstream runtime keys: MMDetection / MMPose / MMOCR hook names, SyncBuffersHook, BadCaseAnalysisHook,
``log_processor`` and ``backend_args``."""
from __future__ import annotations

import re
from types import SimpleNamespace

import pytest
import torch
from torch import nn

from conftest import log_text
from visioncraft.engine import Runner
from visioncraft.engine.hooks import BadCaseAnalysisHook, LoggerHook, SyncBuffersHook, VisualizationHook
from visioncraft.engine.hooks.timer_logger import parse_log_processor
from visioncraft.fileio.backend import check_backend_args
from visioncraft.registry import HOOKS, METRICS, import_builtin_modules

import_builtin_modules()


@pytest.mark.parametrize('cfg, cls_name', [
    (dict(type='DetVisualizationHook'), 'DetVisualizationHook'),
    (dict(type='PoseVisualizationHook', enable=False), 'PoseVisualizationHook'),
    (dict(type='VisualizationHook', interval=1, enable=False, show=False, draw_gt=False, draw_pred=False),
     'VisualizationHook'),
])
def test_upstream_visualization_hooks_build(cfg, cls_name):
    hook = HOOKS.build(cfg)
    assert type(hook).__name__ == cls_name and isinstance(hook, VisualizationHook)
    assert hook.draw is False


def test_mmocr_visualization_hook_enable_and_draw_flags():
    hook = HOOKS.build(dict(type='VisualizationHook', enable=True, draw_gt=False))
    assert hook.draw and not hook.draw_gt and hook.draw_pred


def test_backend_args_local_only():
    for ok in (None, {}, dict(backend='local'), dict(backend='disk')):
        check_backend_args(ok, 'X')
    with pytest.raises(ValueError, match=r"CocoMetric: backend_args=.*'petrel' file backend.*local files only"):
        check_backend_args(dict(backend='petrel', path_mapping={}), 'CocoMetric')
    with pytest.raises(ValueError, match=r"X: backend_args has \['foo'\] besides backend='local'"):
        check_backend_args(dict(backend='local', foo=1), 'X')
    with pytest.raises(ValueError, match='DetVisualizationHook: backend_args=.*petrel'):
        HOOKS.build(dict(type='DetVisualizationHook', backend_args=dict(backend='petrel')))
    metric = METRICS.build(dict(type='CocoMetric', metric='bbox', backend_args=None))
    assert metric.metrics == ['bbox']


def test_bad_case_hook_accepted_when_off_and_refused_when_on():
    hook = HOOKS.build(dict(type='BadCaseAnalysisHook', enable=False, out_dir='badcase', metric_type='loss',
                            badcase_thr=5))
    assert isinstance(hook, BadCaseAnalysisHook)
    with pytest.raises(ValueError, match=r'enable=True is not supported.*default_hooks\.badcase\.enable=False'):
        HOOKS.build(dict(type='BadCaseAnalysisHook', enable=True))


def test_sync_buffers_hook_averages_float_buffers(monkeypatch):
    from visioncraft import dist
    model = nn.BatchNorm2d(2)
    model.running_mean.fill_(4.0)
    model.num_batches_tracked.fill_(3)
    runner = SimpleNamespace(model=model)
    SyncBuffersHook().after_train_epoch(runner)  # one process: nothing changes
    assert torch.equal(model.running_mean, torch.full((2,), 4.0))
    # two ranks whose other rank holds zeros: the mean is half; the integer counter is left alone
    monkeypatch.setattr(dist, 'is_distributed', lambda: True)
    monkeypatch.setattr(dist, 'all_reduce_mean', lambda t: t / 2)
    SyncBuffersHook().after_train_epoch(runner)
    assert torch.equal(model.running_mean, torch.full((2,), 2.0))
    assert int(model.num_batches_tracked) == 3


def test_log_processor_parsing():
    assert parse_log_processor(None) == dict(window_size=None, by_epoch=True, num_digits=4)
    assert parse_log_processor(dict(type='LogProcessor', window_size=50, by_epoch=True, num_digits=6)) == \
        dict(window_size=50, by_epoch=True, num_digits=6)
    with pytest.raises(ValueError, match=r"log_processor: unknown key\(s\) \['windowsize'\]"):
        parse_log_processor(dict(windowsize=3))
    with pytest.raises(ValueError, match=r'log_processor\.custom_cfg=.*not supported'):
        parse_log_processor(dict(custom_cfg=[dict(data_src='loss', method_name='max')]))
    hook = LoggerHook(interval=10)
    hook.before_run(SimpleNamespace(cfg={'log_processor': dict(window_size=3, by_epoch=False)}))
    assert hook._window == 3 and hook.log_by_epoch is False


def test_upstream_runtime_trains(make_cfg):
    """The runtime keys of the upstream default_runtime files in one short run: log_processor is honoured
    (by_epoch=False gives Iter(train) lines, num_digits the precision), the hooks are accepted."""
    cfg = make_cfg(
        train_cfg=dict(by_epoch=True, max_epochs=1, val_interval=1),
        default_hooks=dict(logger=dict(type='LoggerHook', interval=2), checkpoint=None,
                           visualization=dict(type='DetVisualizationHook'),
                           badcase=dict(type='BadCaseAnalysisHook', enable=False),
                           sync_buffer=dict(type='SyncBuffersHook')),
        custom_hooks=[dict(type='SyncBuffersHook')],
        log_processor=dict(type='LogProcessor', window_size=2, by_epoch=False, num_digits=6))
    cfg['train_dataloader']['dataset']['backend_args'] = dict(backend='local')
    cfg['train_dataloader']['dataset']['pipeline'][0]['backend_args'] = None
    Runner(cfg).train()
    text = log_text(cfg['work_dir'])
    assert re.search(r'Iter\(train\) \[\s*2/6\].*loss: \d+\.\d{6}\b', text), text[-1500:]
