import contextlib
import logging

import pytest
import torch
from torch import nn

from visioncraft.engine.optim import AmpOptimWrapper, DefaultOptimWrapperConstructor, OptimWrapper, build_optim_wrapper
from visioncraft.registry import OPTIM_WRAPPER_CONSTRUCTORS, RegistryError

LR, WD = 0.1, 1e-2


class Tiny(nn.Module):
    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.backbone = nn.Module()
        self.backbone.stem = nn.Conv2d(3, 4, 3, bias=False)
        self.backbone.bn = nn.BatchNorm2d(4)
        self.backbone.dw = nn.Conv2d(4, 4, 3, padding=1, groups=4)
        self.neck = nn.Linear(4, 4)
        self.head = nn.Sequential(nn.Linear(4, 2), nn.LayerNorm(2))

    def forward(self, x):
        x = self.backbone.dw(self.backbone.bn(self.backbone.stem(x)))
        return self.head(self.neck(x.mean((2, 3))))


def _cfg(**paramwise):
    cfg = dict(optimizer=dict(type='SGD', lr=LR, momentum=0.9, weight_decay=WD))
    if paramwise:
        cfg['paramwise_cfg'] = paramwise
    return cfg


def _settings(model, wrapper):
    """{parameter name: (lr, weight_decay)} from the optimizer's groups."""
    by_id = {id(p): (g['lr'], g['weight_decay']) for g in wrapper.param_groups for p in g['params']}
    return {n: by_id.get(id(p)) for n, p in model.named_parameters()}


def _rounded(settings):
    return {k: None if v is None else tuple(round(x, 12) for x in v) for k, v in settings.items()}


def test_default_is_one_group_with_initial_lr():
    model = Tiny()
    wrapper = build_optim_wrapper(model, _cfg())
    assert type(wrapper) is OptimWrapper
    assert len(wrapper.param_groups) == 1
    group = wrapper.param_groups[0]
    assert len(group['params']) == len(list(model.parameters()))
    assert (group['lr'], group['weight_decay'], group['initial_lr']) == (LR, WD, LR)


class _Records(logging.Handler):
    def __init__(self):
        super().__init__(logging.DEBUG)
        self.lines = []

    def emit(self, record):
        self.lines.append(record.getMessage())


@contextlib.contextmanager
def _log_lines():
    """The optim package's log lines (independent of how the 'visioncraft' logger is set up)."""
    log, records = logging.getLogger('visioncraft.engine.optim'), _Records()
    old_level = log.level
    log.setLevel(logging.INFO)
    log.addHandler(records)
    try:
        yield records.lines
    finally:
        log.removeHandler(records)
        log.setLevel(old_level)


def test_custom_keys_longest_match_and_freezing():
    model = Tiny()
    stem_before = model.backbone.stem.weight.detach().clone()
    with _log_lines() as lines:
        wrapper = build_optim_wrapper(model, _cfg(custom_keys={
            'backbone': dict(lr_mult=0.1),
            'backbone.stem': dict(lr_mult=0.0),
            'head': dict(lr_mult=2.0, decay_mult=0.0)}))
    assert any('froze 1 parameter' in line and 'backbone.stem.weight' in line for line in lines)
    s = _settings(model, wrapper)
    assert s['backbone.stem.weight'] is None and not model.backbone.stem.weight.requires_grad
    assert s['backbone.bn.weight'] == pytest.approx((0.1 * LR, WD))
    assert s['backbone.dw.bias'] == pytest.approx((0.1 * LR, WD))
    assert s['neck.weight'] == (LR, WD)
    assert s['head.0.weight'] == pytest.approx((2 * LR, 0.0)) and s['head.1.bias'] == pytest.approx((2 * LR, 0.0))
    # groups in first-appearance order: backbone (0.1x), neck (1x), head (2x)
    assert [g['lr'] for g in wrapper.param_groups] == pytest.approx([0.1 * LR, LR, 2 * LR])
    assert [g['initial_lr'] for g in wrapper.param_groups] == [g['lr'] for g in wrapper.param_groups]

    for _ in range(3):
        wrapper.update_params(model(torch.randn(2, 3, 6, 6)).pow(2).mean())
    assert torch.equal(model.backbone.stem.weight, stem_before)
    assert model.backbone.stem.weight.grad is None


def test_equal_length_keys_pick_alphabetical_first():
    model = Tiny()
    wrapper = build_optim_wrapper(model, _cfg(custom_keys={'nec': dict(lr_mult=3.0), 'eck': dict(lr_mult=5.0)}))
    assert _settings(model, wrapper)['neck.weight'] == pytest.approx((5 * LR, WD))


def test_norm_bias_and_dwconv_decay_mults():
    model = Tiny()
    wrapper = build_optim_wrapper(model, _cfg(norm_decay_mult=0.0, bias_decay_mult=0.5, dwconv_decay_mult=0.25))
    s = _rounded(_settings(model, wrapper))
    assert s == _rounded({
        'backbone.stem.weight': (LR, WD),
        'backbone.bn.weight': (LR, 0.0), 'backbone.bn.bias': (LR, 0.0),
        'backbone.dw.weight': (LR, 0.25 * WD), 'backbone.dw.bias': (LR, 0.5 * WD),
        'neck.weight': (LR, WD), 'neck.bias': (LR, 0.5 * WD),
        'head.0.weight': (LR, WD), 'head.0.bias': (LR, 0.5 * WD),
        'head.1.weight': (LR, 0.0), 'head.1.bias': (LR, 0.0),
    })
    assert [(round(g['weight_decay'], 12), len(g['params'])) for g in wrapper.param_groups] == \
        [(WD, 3), (0.0, 4), (0.25 * WD, 1), (0.5 * WD, 3)]


def test_custom_keys_take_precedence_over_norm_and_bias_mults():
    model = Tiny()
    wrapper = build_optim_wrapper(model, _cfg(norm_decay_mult=0.0, bias_decay_mult=0.0, bias_lr_mult=2.0,
                                              custom_keys={'bn': dict(lr_mult=1.0), 'neck.bias': dict()}))
    s = _settings(model, wrapper)
    assert s['backbone.bn.weight'] == (LR, WD) and s['neck.bias'] == (LR, WD)
    assert s['head.0.bias'] == pytest.approx((2 * LR, 0.0)) and s['head.1.bias'] == (LR, 0.0)


def test_skips_frozen_and_shared_parameters():
    model = Tiny()
    model.neck.weight.requires_grad_(False)
    model.tied = model.head[0]  # the same module under a second name
    wrapper = build_optim_wrapper(model, _cfg())
    params = [p for g in wrapper.param_groups for p in g['params']]
    assert len(params) == len({id(p) for p in params}) == len(list(model.parameters())) - 1


def test_ddp_like_wrapper_uses_inner_names():
    class Wrapped(nn.Module):
        def __init__(self, module):
            super().__init__()
            self.module = module

    inner = Tiny()
    with _log_lines() as lines:
        wrapper = build_optim_wrapper(Wrapped(inner), _cfg(custom_keys={'module.neck': dict(lr_mult=0.5),
                                                                        'neck': dict(lr_mult=0.0)}))
    assert any("['module.neck'] match no parameter" in line for line in lines)
    assert not inner.neck.weight.requires_grad  # matched as 'neck.weight', not 'module.neck.weight'
    assert all(g['lr'] == LR for g in wrapper.param_groups)


def test_adam_default_lr_and_decay_mults():
    model = Tiny()
    wrapper = build_optim_wrapper(model, dict(optimizer=dict(type='AdamW'),
                                              paramwise_cfg=dict(custom_keys={'head': dict(lr_mult=10.0)},
                                                                 norm_decay_mult=0.0)))
    s = _settings(model, wrapper)
    assert s['head.0.weight'] == pytest.approx((1e-2, 1e-2))  # AdamW defaults: lr 1e-3, weight_decay 1e-2
    assert s['backbone.bn.weight'] == pytest.approx((1e-3, 0.0))


def test_built_optimizer_amp_and_wrapper_kwargs():
    model = Tiny()
    opt = torch.optim.SGD(model.parameters(), lr=0.05)
    wrapper = build_optim_wrapper(model, dict(type='AmpOptimWrapper', optimizer=opt, dtype='bfloat16',
                                              accumulative_counts=2, clip_grad=dict(max_norm=5)))
    assert isinstance(wrapper, AmpOptimWrapper) and wrapper.optimizer is opt
    assert wrapper.accumulative_counts == 2 and wrapper.clip_grad == dict(max_norm=5)
    assert opt.param_groups[0]['initial_lr'] == 0.05
    assert build_optim_wrapper(model, wrapper) is wrapper


def test_config_errors_name_the_problem():
    with pytest.raises(RegistryError, match="'SGD'"):
        build_optim_wrapper(Tiny(), dict(optimizer=dict(type='SDG', lr=0.1)))
    with pytest.raises(ValueError, match='norm_decay'):
        build_optim_wrapper(Tiny(), _cfg(norm_decay=0.0))
    with pytest.raises(ValueError, match='lr_mul'):
        build_optim_wrapper(Tiny(), _cfg(custom_keys={'head': dict(lr_mul=0.1)}))
    with pytest.raises(ValueError, match='no trainable parameters'):
        build_optim_wrapper(Tiny(), _cfg(custom_keys={'': dict(lr_mult=0.0)}))


def test_custom_constructor_by_name():
    @OPTIM_WRAPPER_CONSTRUCTORS.register_module(name='_TestHeadOnlyConstructor', force=True)
    class HeadOnly(DefaultOptimWrapperConstructor):
        def __call__(self, model):
            for name, p in model.named_parameters():
                p.requires_grad_(name.startswith('head'))
            return super().__call__(model)

    model = Tiny()
    wrapper = build_optim_wrapper(model, dict(_cfg(), constructor='_TestHeadOnlyConstructor'))
    assert sum(len(g['params']) for g in wrapper.param_groups) == 4
