import copy
import math

import pytest
import torch
from torch import nn

from visioncraft.engine.optim import (CosineAnnealingLR, CosineAnnealingMomentum, LinearLR, MultiStepLR, OneCycleLR,
                                      OptimWrapper, StepLR, apply_param_schedulers, build_param_schedulers)
from visioncraft.registry import PARAM_SCHEDULERS, RegistryError

N_STEPS = 25


def _optimizer(lr=0.1, **kwargs):
    return torch.optim.SGD([nn.Parameter(torch.zeros(2))], lr=lr, momentum=0.9, **kwargs)


def _ours(make, n):
    opt = _optimizer()
    sched = make(opt)
    apply_param_schedulers([sched], opt)
    lrs = [opt.param_groups[0]['lr']]
    for _ in range(n - 1):
        sched.step()
        apply_param_schedulers([sched], opt)
        lrs.append(opt.param_groups[0]['lr'])
    return lrs


def _torch(make, n):
    opt = _optimizer()
    sched = make(opt)
    lrs = [opt.param_groups[0]['lr']]
    for _ in range(n - 1):
        opt.step()
        sched.step()
        lrs.append(opt.param_groups[0]['lr'])
    return lrs


TS = torch.optim.lr_scheduler
CASES = {
    'linear': (lambda o: PARAM_SCHEDULERS.build(dict(type='LinearLR', start_factor=0.25, end_factor=1.0, begin=0,
                                                     end=10, by_epoch=False), default_args=dict(optimizer=o)),
               lambda o: TS.LinearLR(o, start_factor=0.25, end_factor=1.0, total_iters=10), N_STEPS),
    'linear_down': (lambda o: LinearLR(o, start_factor=1.0, end_factor=0.1, end=12),
                    lambda o: TS.LinearLR(o, start_factor=1.0, end_factor=0.1, total_iters=12), N_STEPS),
    'constant': (lambda o: PARAM_SCHEDULERS.build(dict(type='ConstantLR', factor=0.5, end=7),
                                                  default_args=dict(optimizer=o)),
                 lambda o: TS.ConstantLR(o, factor=0.5, total_iters=7), N_STEPS),
    'step': (lambda o: StepLR(o, step_size=4, gamma=0.5),
             lambda o: TS.StepLR(o, step_size=4, gamma=0.5), N_STEPS),
    'multistep': (lambda o: MultiStepLR(o, milestones=[15, 3, 8], gamma=0.3),
                  lambda o: TS.MultiStepLR(o, milestones=[3, 8, 15], gamma=0.3), N_STEPS),
    'exponential': (lambda o: PARAM_SCHEDULERS.build(dict(type='ExponentialLR', gamma=0.9),
                                                     default_args=dict(optimizer=o)),
                    lambda o: TS.ExponentialLR(o, gamma=0.9), N_STEPS),
    'cosine': (lambda o: CosineAnnealingLR(o, T_max=30, eta_min=0.001),
               lambda o: TS.CosineAnnealingLR(o, T_max=30, eta_min=0.001), N_STEPS),
    'cosine_past_T_max': (lambda o: CosineAnnealingLR(o, T_max=10, eta_min=0.01),
                          lambda o: TS.CosineAnnealingLR(o, T_max=10, eta_min=0.01), N_STEPS),
    'poly': (lambda o: PARAM_SCHEDULERS.build(dict(type='PolyLR', eta_min=0, power=2.0, end=20),
                                              default_args=dict(optimizer=o)),
             lambda o: TS.PolynomialLR(o, total_iters=20, power=2.0), N_STEPS),
    'onecycle': (lambda o: OneCycleLR(o, eta_max=0.5, end=30),
                 lambda o: TS.OneCycleLR(o, max_lr=0.5, total_steps=30, cycle_momentum=False), 30),
    'onecycle_linear_3phase': (
        lambda o: OneCycleLR(o, eta_max=0.5, total_steps=30, pct_start=0.25, anneal_strategy='linear',
                             div_factor=10, final_div_factor=100, three_phase=True),
        lambda o: TS.OneCycleLR(o, max_lr=0.5, total_steps=30, pct_start=0.25, anneal_strategy='linear',
                                div_factor=10, final_div_factor=100, three_phase=True, cycle_momentum=False), 30),
}


@pytest.mark.parametrize('name', list(CASES))
def test_matches_torch(name):
    ours, theirs, n = CASES[name]
    assert _ours(ours, n) == pytest.approx(_torch(theirs, n), rel=1e-6, abs=1e-12)


def test_before_begin_and_after_end():
    opt = _optimizer(lr=1.0)
    s = LinearLR(opt, start_factor=0.5, begin=3, end=7)
    assert [s.factor(i, 1.0) for i in range(10)] == pytest.approx(
        [1, 1, 1, 0.5, 0.625, 0.75, 0.875, 1, 1, 1])
    c = PARAM_SCHEDULERS.build(dict(type='ConstantLR', factor=0.1, begin=2, end=4), default_args=dict(optimizer=opt))
    assert [c.factor(i, 1.0) for i in range(6)] == pytest.approx([1, 1, 0.1, 0.1, 1, 1])
    cos = CosineAnnealingLR(opt, eta_min_ratio=0.05, begin=0, end=10)  # T_max defaults to end - begin
    assert cos.T_max == 10
    assert cos.factor(10, 2.0) == pytest.approx(0.05)
    assert cos.factor(50, 2.0) == pytest.approx(0.05)  # held at eta_min after end


def test_factor_depends_on_group_base():
    params = [nn.Parameter(torch.zeros(1)), nn.Parameter(torch.zeros(1))]
    opt = torch.optim.SGD([{'params': [params[0]], 'lr': 1.0}, {'params': [params[1]], 'lr': 0.1}], lr=1.0)
    s = CosineAnnealingLR(opt, T_max=4, eta_min=0.05, by_epoch=False)
    for _ in range(4):
        s.step()
    apply_param_schedulers([s], opt)
    assert [g['lr'] for g in opt.param_groups] == pytest.approx([0.05, 0.05])
    assert [g['initial_lr'] for g in opt.param_groups] == [1.0, 0.1]


def _simulate(schedulers, opt, epochs, epoch_length):
    """What the runner does: apply, then per iteration record lr, step iter-based, re-apply; per epoch step."""
    apply_param_schedulers(schedulers, opt)
    lrs = []
    for _ in range(epochs):
        for _ in range(epoch_length):
            lrs.append(opt.param_groups[0]['lr'])
            for s in schedulers:
                if not s.by_epoch:
                    s.step()
            apply_param_schedulers(schedulers, opt)
        for s in schedulers:
            if s.by_epoch:
                s.step()
        apply_param_schedulers(schedulers, opt)
    return lrs


def test_chained_warmup_and_multistep():
    wrapper = OptimWrapper(_optimizer(lr=1.0))
    schedulers = build_param_schedulers(
        [dict(type='LinearLR', start_factor=0.2, by_epoch=False, begin=0, end=5),
         dict(type='MultiStepLR', milestones=[2, 4], gamma=0.1)],
        wrapper, epoch_length=3, max_epochs=6, max_iters=18)
    assert schedulers[1].end == 6 and schedulers[1].by_epoch
    lrs = _simulate(schedulers, wrapper.optimizer, epochs=6, epoch_length=3)
    expected = [min(0.2 + 0.8 * i / 5, 1.0) * 0.1 ** sum(i // 3 >= m for m in (2, 4)) for i in range(18)]
    assert lrs == pytest.approx(expected)
    assert wrapper.get_lr()['lr'] == pytest.approx([0.01])


def test_convert_to_iter_based():
    wrapper = OptimWrapper(_optimizer(lr=1.0))
    ms, cos = build_param_schedulers(
        [dict(type='MultiStepLR', milestones=[2], gamma=0.5, convert_to_iter_based=True),
         dict(type='CosineAnnealingLR', begin=1, eta_min=0.0, convert_to_iter_based=True)],
        wrapper, epoch_length=4, max_epochs=3, max_iters=12)
    assert (ms.by_epoch, ms.begin, ms.end, ms.milestones) == (False, 0, 12, [8])
    assert (cos.by_epoch, cos.begin, cos.end, cos.T_max) == (False, 4, 12, 8)
    lrs = _simulate([ms, cos], wrapper.optimizer, epochs=3, epoch_length=4)
    expected = [(0.5 if i >= 8 else 1.0) * (1.0 if i < 4 else (1 + math.cos(math.pi * (i - 4) / 8)) / 2)
                for i in range(12)]
    assert lrs == pytest.approx(expected)


def test_build_fills_lengths_and_rejects_missing_ones():
    wrapper = OptimWrapper(_optimizer())
    (poly,) = build_param_schedulers(dict(type='PolyLR', by_epoch=False), wrapper,
                                     epoch_length=None, max_epochs=None, max_iters=40)
    assert poly.end == 40
    (cycle,) = build_param_schedulers(dict(type='OneCycleLR', eta_max=1.0, by_epoch=False, begin=10), wrapper,
                                      epoch_length=None, max_epochs=None, max_iters=40)
    assert cycle.total_steps == 30
    with pytest.raises(ValueError, match='max_epochs'):
        build_param_schedulers([dict(type='StepLR', step_size=2)], wrapper,
                               epoch_length=10, max_epochs=None, max_iters=100)
    with pytest.raises(ValueError, match='epoch length'):
        build_param_schedulers([dict(type='StepLR', step_size=2, convert_to_iter_based=True)], wrapper,
                               epoch_length=None, max_epochs=3, max_iters=None)
    with pytest.raises(RegistryError, match='CosineAnnealingLR'):
        build_param_schedulers([dict(type='CosineAnealingLR')], wrapper, epoch_length=1, max_epochs=1, max_iters=1)
    with pytest.raises(ValueError, match='end'):
        LinearLR(wrapper)  # no end, no length to warm up over


def test_state_dict_round_trip_continues_identically():
    cfgs = [dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0, end=6),
            dict(type='CosineAnnealingLR', by_epoch=False, eta_min=1e-4)]
    kw = dict(epoch_length=None, max_epochs=None, max_iters=20)
    opt = _optimizer()
    scheds = build_param_schedulers(cfgs, opt, **kw)
    for _ in range(7):
        for s in scheds:
            s.step()
    states = copy.deepcopy([s.state_dict() for s in scheds])
    assert states[0]['last_step'] == 7 and states[0]['type'] == 'LinearLR' and states[1]['T_max'] == 20

    opt2 = _optimizer()
    scheds2 = build_param_schedulers(cfgs, opt2, **kw)
    for s, state in zip(scheds2, states):
        s.load_state_dict(state)
    seq1, seq2 = [], []
    for sch, o, seq in ((scheds, opt, seq1), (scheds2, opt2, seq2)):
        for _ in range(10):
            apply_param_schedulers(sch, o)
            seq.append(o.param_groups[0]['lr'])
            for s in sch:
                s.step()
    assert seq1 == seq2


def test_momentum_schedulers():
    sgd = _optimizer()
    adam = torch.optim.Adam([nn.Parameter(torch.zeros(1))], lr=0.1, betas=(0.9, 0.99))
    for opt, read in ((sgd, lambda g: g['momentum']), (adam, lambda g: g['betas'][0])):
        s = CosineAnnealingMomentum(opt, T_max=4, eta_min=0.85, by_epoch=False)
        lr_s = PARAM_SCHEDULERS.build(dict(type='StepLR', step_size=1, gamma=0.5), default_args=dict(optimizer=opt))
        for _ in range(4):
            s.step()
            lr_s.step()
        apply_param_schedulers([s, lr_s], opt)
        assert read(opt.param_groups[0]) == pytest.approx(0.85)
        assert opt.param_groups[0]['lr'] == pytest.approx(0.1 / 16)
    assert adam.param_groups[0]['betas'][1] == 0.99
    assert OptimWrapper(adam).get_momentum() == {'momentum': [pytest.approx(0.85)]}
