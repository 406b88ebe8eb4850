"""Parameter schedulers as pure functions of a step count.

A scheduler holds ``last_step`` (how many times :meth:`ParamScheduler.step` was called) and answers
``factor(step, base_lr)``: the multiplier of a param group's initial value (``initial_lr``) at that step.
:func:`apply_param_schedulers` writes ``initial_lr * prod(factors)`` into every group. Nothing else is
remembered, so a resumed or re-configured run computes the same lr from the step counts alone, and
chained schedulers (a warm-up by iteration times a step decay by epoch) simply multiply.

Each scheduler is active on ``[begin, end)`` of its own unit (epochs when ``by_epoch``, else iterations),
with local step ``t = step - begin``: before ``begin`` its factor is 1; from ``end`` on it keeps its
value at ``t = end - begin`` (a warm-up has then reached ``end_factor``, a cosine its ``eta_min``, and
``ConstantLR`` is back to 1).

::

    param_scheduler = [
        dict(type='LinearLR', start_factor=0.001, by_epoch=False, begin=0, end=500),   # warm-up, iterations
        dict(type='MultiStepLR', milestones=[8, 11], gamma=0.1, by_epoch=True),      # decay, epochs
    ]

The runner builds them with :func:`build_param_schedulers`, calls :func:`apply_param_schedulers` once
before training, then after each iteration steps the iteration-based ones, after each epoch the
epoch-based ones, and re-applies.

``param_name='momentum'`` schedules ``momentum`` (SGD, RMSprop) or ``betas[0]`` (Adam-like);
``LinearMomentum``, ``CosineAnnealingMomentum``, ... are the same schedulers with that default.
"""
from __future__ import annotations

import bisect
import logging
import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import torch

from visioncraft.config.checks import check_bool, check_int, check_int_list, check_number, config_value_error
from visioncraft.config.checks import key_path as config_key_path
from visioncraft.registry import PARAM_SCHEDULERS

from .wrapper import OptimWrapper

__all__ = [
    'ParamScheduler', 'LinearLR', 'ConstantLR', 'StepLR', 'MultiStepLR', 'ExponentialLR', 'CosineAnnealingLR',
    'PolyLR', 'OneCycleLR', 'LinearMomentum', 'ConstantMomentum', 'StepMomentum', 'MultiStepMomentum',
    'ExponentialMomentum', 'CosineAnnealingMomentum', 'PolyMomentum',
    'build_param_schedulers', 'apply_param_schedulers',
]

logger = logging.getLogger(__name__)


def _torch_optimizer(optimizer: OptimWrapper | torch.optim.Optimizer) -> torch.optim.Optimizer:
    if isinstance(optimizer, OptimWrapper):
        return optimizer.optimizer
    if isinstance(optimizer, torch.optim.Optimizer):
        return optimizer
    raise TypeError(f'a parameter scheduler needs an OptimWrapper or torch optimizer, got {type(optimizer).__name__}')


def _get_value(group: Mapping[str, Any], param_name: str) -> float:
    if param_name == 'momentum' and 'momentum' not in group and 'betas' in group:
        return group['betas'][0]
    if param_name not in group:
        raise ValueError(f'cannot schedule {param_name!r}: the optimizer param groups have no such entry '
                         f'(they have {sorted(k for k in group if k != "params")})')
    return group[param_name]


def _set_value(group: dict[str, Any], param_name: str, value: float) -> None:
    if param_name == 'momentum' and 'momentum' not in group and 'betas' in group:
        group['betas'] = (value, *tuple(group['betas'])[1:])
    else:
        group[param_name] = value


class ParamScheduler:
    """Base class: a multiplier of ``initial_<param_name>`` as a function of the step count.

    Args:
        optimizer: an :class:`OptimWrapper` or a ``torch.optim.Optimizer``.
        begin: first step (epoch or iteration) at which the scheduler acts.
        end: step at which it stops changing; None: never (schedules that need a length then fail;
            :func:`build_param_schedulers` fills it with the training length).
        by_epoch: whether a step is an epoch (True) or an iteration.
        convert_to_iter_based: recorded only; the conversion itself (which needs the epoch length) is done
            by :func:`build_param_schedulers`.
        param_name: the param-group entry to schedule (``'lr'``, ``'momentum'``, ``'weight_decay'``, ...).
        verbose: MMEngine's "print every update" flag; accepted (a bool) and ignored: the values are logged.

    Subclasses implement ``_factor(t, base)`` for the local step ``0 <= t <= end - begin`` and list in
    ``epoch_unit_args`` the arguments counted in steps (converted with ``begin``/``end``).
    """

    epoch_unit_args: tuple[str, ...] = ()

    def __init__(self, optimizer: OptimWrapper | torch.optim.Optimizer, *, begin: int = 0, end: int | None = None,
                 by_epoch: bool = True, convert_to_iter_based: bool = False, param_name: str = 'lr',
                 verbose: bool = False) -> None:
        name = type(self).__name__
        self.verbose = check_bool(verbose, self._key('verbose'))
        begin = check_int(begin, self._key('begin'), low=0)
        end = check_int(end, self._key('end'), low=begin + 1, none=True,
                        what=f'an integer > begin ({begin}), or None for the end of training')
        by_epoch = check_bool(by_epoch, self._key('by_epoch'))
        convert_to_iter_based = check_bool(convert_to_iter_based, self._key('convert_to_iter_based'))
        if not isinstance(param_name, str):
            raise config_value_error(self._key('param_name'), "a param-group entry such as 'lr' or 'momentum'",
                                     param_name)
        if by_epoch and convert_to_iter_based:
            raise ValueError(f'{name}: convert_to_iter_based=True needs the epoch length; build it with '
                             'build_param_schedulers(cfg, optim_wrapper, epoch_length=...)')
        self.optimizer = _torch_optimizer(optimizer)
        self.begin = begin
        self.end = end
        self.by_epoch = bool(by_epoch)
        self.convert_to_iter_based = bool(convert_to_iter_based)
        self.param_name = param_name
        self.last_step = 0
        for group in self.optimizer.param_groups:
            group.setdefault(f'initial_{param_name}', _get_value(group, param_name))

    def _key(self, name: str) -> str:
        """The key path of argument ``name``: ``param_scheduler.1.milestones`` when built from the config."""
        return config_key_path(name, type(self).__name__)

    def _require_end(self, what: str) -> int:
        if self.end is None:
            raise ValueError(f'{type(self).__name__}: {what} needs end (or build it with build_param_schedulers, '
                             'which sets end to the training length)')
        return self.end - self.begin

    # -- the schedule -------------------------------------------------------------------------
    def factor(self, step: int, base_lr: float = 1.0) -> float:
        """Multiplier of ``base_lr`` (a group's ``initial_<param_name>``) at ``step`` (global, in this
        scheduler's unit)."""
        if step < self.begin:
            return 1.0
        t = step - self.begin
        if self.end is not None:
            t = min(t, self.end - self.begin)
        return self._factor(t, base_lr)

    def _factor(self, t: int, base: float) -> float:
        raise NotImplementedError

    def step(self) -> None:
        """One more epoch (``by_epoch``) or iteration done."""
        self.last_step += 1

    # -- checkpointing ------------------------------------------------------------------------
    def _args(self) -> dict[str, Any]:
        return {}

    def state_dict(self) -> dict[str, Any]:
        """``last_step`` (the only state) plus the arguments, for information."""
        return {'type': type(self).__name__, 'last_step': self.last_step, 'begin': self.begin, 'end': self.end,
                'by_epoch': self.by_epoch, 'param_name': self.param_name, **self._args()}

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:
        """Restore ``last_step``; a schedule whose arguments changed since the checkpoint continues from there
        with the new arguments (and says so in the log)."""
        self.last_step = int(state_dict['last_step'])
        current = self.state_dict()
        changed = {k: (v, current[k]) for k, v in state_dict.items()
                   if k in current and k != 'last_step' and v != current[k]}
        if changed:
            logger.info('%s resumed at step %d with changed settings (checkpoint -> now): %s', type(self).__name__,
                        self.last_step, ', '.join(f'{k}: {a!r} -> {b!r}' for k, (a, b) in changed.items()))

    def __repr__(self) -> str:
        args = ', '.join(f'{k}={v!r}' for k, v in self._args().items())
        unit = 'epoch' if self.by_epoch else 'iter'
        return (f'{type(self).__name__}({args}{", " if args else ""}begin={self.begin}, end={self.end} ({unit}), '
                f'param_name={self.param_name!r}, last_step={self.last_step})')


@PARAM_SCHEDULERS.register_module()
class LinearLR(ParamScheduler):
    """Linear from ``start_factor`` at ``begin`` to ``end_factor`` at ``end`` (a warm-up by default)."""

    def __init__(self, optimizer, start_factor: float = 1.0 / 3, end_factor: float = 1.0, **kwargs) -> None:
        super().__init__(optimizer, **kwargs)
        self.start_factor = float(check_number(start_factor, self._key('start_factor'), low=0))
        self.end_factor = float(check_number(end_factor, self._key('end_factor'), low=0))
        self._length = self._require_end('LinearLR')

    def _factor(self, t, base):
        return self.start_factor + (self.end_factor - self.start_factor) * t / self._length

    def _args(self):
        return {'start_factor': self.start_factor, 'end_factor': self.end_factor}


@PARAM_SCHEDULERS.register_module()
class ConstantLR(ParamScheduler):
    """``factor`` on ``[begin, end)``, 1 from ``end`` on."""

    def __init__(self, optimizer, factor: float = 1.0 / 3, **kwargs) -> None:
        super().__init__(optimizer, **kwargs)
        self.constant = float(check_number(factor, self._key('factor'), low=0))

    def _factor(self, t, base):
        return 1.0 if self.end is not None and t >= self.end - self.begin else self.constant

    def _args(self):
        return {'factor': self.constant}


@PARAM_SCHEDULERS.register_module()
class StepLR(ParamScheduler):
    """Multiply by ``gamma`` every ``step_size`` steps."""

    epoch_unit_args = ('step_size',)

    def __init__(self, optimizer, step_size: int, gamma: float = 0.1, **kwargs) -> None:
        super().__init__(optimizer, **kwargs)
        self.step_size = check_int(step_size, self._key('step_size'), low=1)
        self.gamma = float(check_number(gamma, self._key('gamma'), low=0))

    def _factor(self, t, base):
        return self.gamma ** (t // self.step_size)

    def _args(self):
        return {'step_size': self.step_size, 'gamma': self.gamma}


@PARAM_SCHEDULERS.register_module()
class MultiStepLR(ParamScheduler):
    """Multiply by ``gamma`` at each milestone (local steps, counted from ``begin``)."""

    epoch_unit_args = ('milestones',)

    def __init__(self, optimizer, milestones: Sequence[int], gamma: float = 0.1, **kwargs) -> None:
        super().__init__(optimizer, **kwargs)
        self.milestones = sorted(check_int_list(milestones, self._key('milestones'), low=0))
        self.gamma = float(check_number(gamma, self._key('gamma'), low=0))

    def _factor(self, t, base):
        return self.gamma ** bisect.bisect_right(self.milestones, t)

    def _args(self):
        return {'milestones': list(self.milestones), 'gamma': self.gamma}


@PARAM_SCHEDULERS.register_module()
class ExponentialLR(ParamScheduler):
    """Multiply by ``gamma`` every step."""

    def __init__(self, optimizer, gamma: float, **kwargs) -> None:
        super().__init__(optimizer, **kwargs)
        self.gamma = float(check_number(gamma, self._key('gamma'), low=0))

    def _factor(self, t, base):
        return self.gamma ** t

    def _args(self):
        return {'gamma': self.gamma}


@PARAM_SCHEDULERS.register_module()
class CosineAnnealingLR(ParamScheduler):
    """Half a cosine from the initial value down to ``eta_min`` over ``T_max`` steps (default ``end - begin``).

    ``eta_min`` is absolute; ``eta_min_ratio`` is relative to each group's initial value (give one at most;
    neither means 0). Past ``T_max`` the cosine continues (rises again) as torch's does; with the default
    ``T_max`` the value is held at ``eta_min`` from ``end`` on."""

    epoch_unit_args = ('T_max',)

    def __init__(self, optimizer, T_max: int | None = None, eta_min: float | None = None,
                 eta_min_ratio: float | None = None, **kwargs) -> None:
        super().__init__(optimizer, **kwargs)
        if eta_min is not None and eta_min_ratio is not None:
            raise ValueError('CosineAnnealingLR: give eta_min or eta_min_ratio, not both')
        self.T_max = check_int(T_max, self._key('T_max'), low=1) if T_max is not None \
            else self._require_end('T_max=None')
        if self.T_max < 1:
            raise ValueError(f'CosineAnnealingLR: T_max must be >= 1, got {self.T_max}')
        self.eta_min = check_number(eta_min, self._key('eta_min'), low=0, none=True)
        self.eta_min_ratio = check_number(eta_min_ratio, self._key('eta_min_ratio'), low=0, none=True)

    def _factor(self, t, base):
        if base == 0:
            return 1.0
        eta_min = self.eta_min if self.eta_min is not None else base * (self.eta_min_ratio or 0.0)
        value = eta_min + (base - eta_min) * (1 + math.cos(math.pi * t / self.T_max)) / 2
        return value / base

    def _args(self):
        return {'T_max': self.T_max, 'eta_min': self.eta_min, 'eta_min_ratio': self.eta_min_ratio}


@PARAM_SCHEDULERS.register_module()
class PolyLR(ParamScheduler):
    """``eta_min + (initial - eta_min) * (1 - t / (end - begin)) ** power``."""

    def __init__(self, optimizer, eta_min: float = 0.0, power: float = 1.0, **kwargs) -> None:
        super().__init__(optimizer, **kwargs)
        self.eta_min = float(check_number(eta_min, self._key('eta_min'), low=0))
        self.power = float(check_number(power, self._key('power'), low=0))
        self._length = self._require_end('PolyLR')

    def _factor(self, t, base):
        if base == 0:
            return 1.0
        value = self.eta_min + (base - self.eta_min) * (1 - t / self._length) ** self.power
        return value / base

    def _args(self):
        return {'eta_min': self.eta_min, 'power': self.power}


@PARAM_SCHEDULERS.register_module()
class OneCycleLR(ParamScheduler):
    """The 1cycle policy: from ``eta_max / div_factor`` up to ``eta_max`` over the first ``pct_start`` of
    ``total_steps`` (default ``end - begin``), then down to ``eta_max / div_factor / final_div_factor``.
    ``three_phase``: up, back down to the start value symmetrically, then the final descent.
    ``eta_max`` is absolute (one value for every group), as are the values this scheduler produces."""

    epoch_unit_args = ('total_steps',)

    def __init__(self, optimizer, eta_max: float, total_steps: int | None = None, pct_start: float = 0.3,
                 anneal_strategy: str = 'cos', div_factor: float = 25.0, final_div_factor: float = 1e4,
                 three_phase: bool = False, **kwargs) -> None:
        super().__init__(optimizer, **kwargs)
        if isinstance(eta_max, (list, tuple)):
            raise TypeError('OneCycleLR: eta_max must be one number (per-group values are not supported)')
        check_number(eta_max, self._key('eta_max'), low=0, strict=True)
        self.total_steps = check_int(total_steps, self._key('total_steps'), low=2) if total_steps is not None \
            else self._require_end('total_steps=None')
        if self.total_steps < 2:
            raise ValueError(f'OneCycleLR: total_steps must be >= 2, got {self.total_steps}')
        check_number(pct_start, self._key('pct_start'), low=0, high=1, strict=True)
        for name, value in (('div_factor', div_factor), ('final_div_factor', final_div_factor)):
            check_number(value, self._key(name), low=0, strict=True)
        if anneal_strategy not in ('cos', 'linear'):
            raise ValueError(f"OneCycleLR: anneal_strategy must be 'cos' or 'linear', got {anneal_strategy!r}")
        self.eta_max = float(eta_max)
        self.pct_start = float(pct_start)
        self.anneal_strategy = anneal_strategy
        self.div_factor = float(div_factor)
        self.final_div_factor = float(final_div_factor)
        self.three_phase = bool(three_phase)
        start = self.eta_max / self.div_factor
        low = start / self.final_div_factor
        up_end = self.pct_start * self.total_steps - 1
        last = self.total_steps - 1
        # (last step of the phase, value at its start, value at its end)
        if self.three_phase:
            self._phases = [(up_end, start, self.eta_max), (2 * up_end, self.eta_max, start), (last, start, low)]
        else:
            self._phases = [(up_end, start, self.eta_max), (last, self.eta_max, low)]

    def _anneal(self, a: float, b: float, pct: float) -> float:
        if self.anneal_strategy == 'cos':
            return b + (a - b) * (1 + math.cos(math.pi * pct)) / 2
        return a + (b - a) * pct

    def _factor(self, t, base):
        if base == 0:
            return 1.0
        t = min(t, self.total_steps - 1)
        phase_start = 0.0
        for i, (phase_end, a, b) in enumerate(self._phases):
            if t <= phase_end or i == len(self._phases) - 1:
                span = phase_end - phase_start
                value = self._anneal(a, b, (t - phase_start) / span if span > 0 else 1.0)
                break
            phase_start = phase_end
        return value / base

    def _args(self):
        return {'eta_max': self.eta_max, 'total_steps': self.total_steps, 'pct_start': self.pct_start,
                'anneal_strategy': self.anneal_strategy, 'div_factor': self.div_factor,
                'final_div_factor': self.final_div_factor, 'three_phase': self.three_phase}


def _momentum_variant(cls: type[ParamScheduler], name: str) -> type[ParamScheduler]:
    """``cls`` with ``param_name='momentum'`` by default, registered as ``name``."""

    def __init__(self, optimizer, **kwargs):
        kwargs.setdefault('param_name', 'momentum')
        cls.__init__(self, optimizer, **kwargs)

    variant = type(name, (cls,), {
        '__init__': __init__, '__module__': __name__,
        '__doc__': f'{cls.__name__} applied to momentum (``betas[0]`` for Adam-like optimizers).'})
    return PARAM_SCHEDULERS.register_module(module=variant)


LinearMomentum = _momentum_variant(LinearLR, 'LinearMomentum')
ConstantMomentum = _momentum_variant(ConstantLR, 'ConstantMomentum')
StepMomentum = _momentum_variant(StepLR, 'StepMomentum')
MultiStepMomentum = _momentum_variant(MultiStepLR, 'MultiStepMomentum')
ExponentialMomentum = _momentum_variant(ExponentialLR, 'ExponentialMomentum')
CosineAnnealingMomentum = _momentum_variant(CosineAnnealingLR, 'CosineAnnealingMomentum')
PolyMomentum = _momentum_variant(PolyLR, 'PolyMomentum')


def apply_param_schedulers(schedulers: Iterable[ParamScheduler],
                           optimizer: OptimWrapper | torch.optim.Optimizer | None = None) -> None:
    """Set each scheduled entry of each param group to ``initial value * prod(s.factor(s.last_step, initial))``.

    ``optimizer``: the optimizer to write into; None means each scheduler's own. Entries no scheduler
    names (e.g. momentum when only lr is scheduled) are left alone."""
    target = None if optimizer is None else _torch_optimizer(optimizer)
    plan: dict[tuple[int, str], tuple[torch.optim.Optimizer, list[ParamScheduler]]] = {}
    for s in schedulers:
        opt = target if target is not None else s.optimizer
        plan.setdefault((id(opt), s.param_name), (opt, []))[1].append(s)
    for (_, param_name), (opt, group_schedulers) in plan.items():
        key = f'initial_{param_name}'
        for group in opt.param_groups:
            base = group.setdefault(key, _get_value(group, param_name))
            factor = 1.0
            for s in group_schedulers:
                factor *= s.factor(s.last_step, base)
            _set_value(group, param_name, base * factor)


def build_param_schedulers(cfgs: Mapping[str, Any] | Sequence[Mapping[str, Any] | ParamScheduler] | None,
                           optim_wrapper: OptimWrapper | torch.optim.Optimizer, *, epoch_length: int | None,
                           max_epochs: int | None, max_iters: int | None) -> list[ParamScheduler]:
    """Build the ``param_scheduler`` config (one dict or a list) for ``optim_wrapper``.

    ``end=None`` becomes ``max_epochs`` (by_epoch) or ``max_iters``; ``convert_to_iter_based=True`` turns
    an epoch-based scheduler into an iteration-based one: ``begin``, ``end`` and the step-counted arguments
    (``step_size``, ``milestones``, ``T_max``, ``total_steps``) are multiplied by ``epoch_length``.
    Already-built schedulers pass through."""
    if cfgs is None:
        return []
    single = isinstance(cfgs, (Mapping, ParamScheduler))
    items = [cfgs] if single else list(cfgs)
    out = []
    for i, cfg in enumerate(items):
        if isinstance(cfg, ParamScheduler):
            out.append(cfg)
            continue
        key_path = 'param_scheduler' if single else f'param_scheduler.{i}'
        out.append(_build_one(cfg, optim_wrapper, key_path=key_path, epoch_length=epoch_length,
                              max_epochs=max_epochs, max_iters=max_iters))
    return out


def _build_one(cfg: Mapping[str, Any], optim_wrapper, *, key_path: str, epoch_length: int | None,
               max_epochs: int | None, max_iters: int | None) -> ParamScheduler:
    if not isinstance(cfg, Mapping):
        raise TypeError(f'{key_path}: expected a dict such as dict(type="MultiStepLR", milestones=[8, 11]), '
                        f'got {cfg!r}')
    cfg = dict(cfg)
    if 'type' not in cfg:
        raise KeyError(f'{key_path}: a parameter scheduler config needs a "type" key; got keys {sorted(cfg)}')
    cls = PARAM_SCHEDULERS.get(cfg['type'], key_path=key_path) if isinstance(cfg['type'], str) else cfg['type']
    where = f'{key_path} ({getattr(cls, "__name__", cfg["type"])})'
    # the types first: the conversion below multiplies these
    by_epoch = check_bool(cfg.get('by_epoch', True), f'{key_path}.by_epoch')
    convert = check_bool(cfg.get('convert_to_iter_based', False), f'{key_path}.convert_to_iter_based')
    cfg['begin'] = check_int(cfg.get('begin', 0), f'{key_path}.begin', low=0)
    cfg['end'] = check_int(cfg.get('end'), f'{key_path}.end', low=cfg['begin'] + 1, none=True,
                           what=f'an integer > begin ({cfg["begin"]}), or None for the end of training')
    for arg in getattr(cls, 'epoch_unit_args', ()):  # steps: milestones, step_size, T_max, total_steps
        if cfg.get(arg) is not None:
            cfg[arg] = check_int_list(cfg[arg], f'{key_path}.{arg}', low=0) if arg == 'milestones' \
                else check_int(cfg[arg], f'{key_path}.{arg}', low=1)
    if convert and not by_epoch:
        logger.warning('%s: convert_to_iter_based=True ignored: the scheduler is already by_epoch=False', where)
        convert = False
    begin = cfg.get('begin', 0)
    end = cfg.get('end')
    if end is None:
        if by_epoch:
            if max_epochs is None:
                raise ValueError(f'{where}: by_epoch=True with end=None means "until the last epoch", but this '
                                 'training is iteration-based (no max_epochs); set end=..., or by_epoch=False')
            end = max_epochs
        else:
            if max_iters is not None:
                end = max_iters
            elif max_epochs is not None and epoch_length:
                end = max_epochs * epoch_length
            else:
                raise ValueError(f'{where}: end=None needs the training length (max_iters); set end=...')
    if convert:
        if not epoch_length:
            raise ValueError(f'{where}: convert_to_iter_based=True needs the epoch length (known only to '
                             'epoch-based training loops with a sized dataloader)')
        begin, end = begin * epoch_length, end * epoch_length
        for arg in getattr(cls, 'epoch_unit_args', ()):
            value = cfg.get(arg)
            if value is None:
                continue
            cfg[arg] = [v * epoch_length for v in value] if isinstance(value, (list, tuple)) \
                else value * epoch_length
        by_epoch = False
    cfg.update(begin=begin, end=end, by_epoch=by_epoch, convert_to_iter_based=convert)
    return PARAM_SCHEDULERS.build(cfg, default_args={'optimizer': optim_wrapper}, key_path=key_path)
