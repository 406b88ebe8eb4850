"""PipelineSwitchHook (MMDetection's, used by RTMPose configs): from switch_epoch on, the training dataset runs
switch_pipeline, through dataset wrappers, and a bad pipeline fails when training starts."""
from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch

import visioncraft  # noqa: F401
from visioncraft.data.transforms import Compose
from visioncraft.registry import HOOKS, TRANSFORMS


@TRANSFORMS.register_module(force=True)
class _TagForSwitchTest:
    def __init__(self, tag: str) -> None:
        self.tag = tag

    def __call__(self, results):
        return dict(results, tag=self.tag)


class _DS(torch.utils.data.Dataset):
    def __init__(self):
        self.pipeline = Compose([dict(type='_TagForSwitchTest', tag='stage1')])

    def __len__(self):
        return 2

    def __getitem__(self, i):
        return self.pipeline(dict(i=i))


def _runner(dataset):
    loader = torch.utils.data.DataLoader(dataset, batch_size=1, num_workers=0, collate_fn=lambda b: b)
    return SimpleNamespace(epoch=0, train_loop=SimpleNamespace(dataloader=loader), logger=None)


def test_switches_at_switch_epoch_and_stays():
    hook = HOOKS.build(dict(type='mmdet.PipelineSwitchHook', switch_epoch=2,
                            switch_pipeline=[dict(type='_TagForSwitchTest', tag='stage2')]))
    ds = _DS()
    runner = _runner(ds)
    hook.before_train(runner)
    tags = []
    for epoch in range(4):
        runner.epoch = epoch
        hook.before_train_epoch(runner)
        tags.append(next(iter(runner.train_loop.dataloader))[0]['tag'])
    assert tags == ['stage1', 'stage1', 'stage2', 'stage2']


def test_resumed_past_the_switch_and_through_wrappers():
    inner = _DS()
    wrapper = SimpleNamespace(datasets=[SimpleNamespace(dataset=inner)])
    runner = SimpleNamespace(epoch=5, train_loop=SimpleNamespace(dataloader=SimpleNamespace(dataset=wrapper)),
                             logger=None)
    hook = HOOKS.build(dict(type='PipelineSwitchHook', switch_epoch=3,
                            switch_pipeline=[dict(type='_TagForSwitchTest', tag='late')]))
    hook.before_train(runner)
    hook.before_train_epoch(runner)
    assert inner[0]['tag'] == 'late' and hook.switched


def test_bad_arguments_fail_early():
    with pytest.raises(ValueError, match='switch_epoch'):
        HOOKS.build(dict(type='PipelineSwitchHook', switch_epoch=-1, switch_pipeline=[]))
    with pytest.raises(TypeError, match='switch_pipeline'):
        HOOKS.build(dict(type='PipelineSwitchHook', switch_epoch=1, switch_pipeline=dict(type='X')))
    hook = HOOKS.build(dict(type='PipelineSwitchHook', switch_epoch=1, switch_pipeline=[dict(type='NoSuchStep')]))
    with pytest.raises(Exception, match='NoSuchStep'):
        hook.before_train(_runner(_DS()))
