"""Build an optimizer wrapper from a config: parameter groups with per-parameter lr / weight-decay multipliers.

::

    optim_wrapper = dict(
        type='OptimWrapper',                      # or 'AmpOptimWrapper' (dtype=..., loss_scale=...)
        optimizer=dict(type='SGD', lr=0.02, momentum=0.9, weight_decay=1e-4),
        paramwise_cfg=dict(
            custom_keys={'backbone': dict(lr_mult=0.1), 'backbone.stem': dict(lr_mult=0)},  # stem frozen
            norm_decay_mult=0.0,                  # no weight decay on normalisation weights and biases
            bias_decay_mult=0.0),                 # ... nor on the biases of other layers
        clip_grad=dict(max_norm=35, norm_type=2),
        accumulative_counts=1)

``paramwise_cfg`` keys:

* ``custom_keys``: ``{substring: dict(lr_mult=1.0, decay_mult=1.0)}``; a parameter whose full name
  (``backbone.layer1.0.conv1.weight``) contains the substring gets those multipliers, and none of the
  options below. When several keys match, the longest wins (equal lengths: the alphabetically first).
  ``lr_mult=0`` freezes: ``requires_grad=False`` and the parameter is left out of the optimizer.
* ``norm_decay_mult``: weight-decay multiplier for weights and biases of normalisation layers
  (BatchNorm, SyncBatchNorm, GroupNorm, LayerNorm, InstanceNorm, LocalResponseNorm, RMSNorm).
* ``bias_decay_mult`` / ``bias_lr_mult``: for the biases of all other layers.
* ``dwconv_decay_mult``: for the weights of depthwise convolutions (``groups == in_channels``).
* ``flat_decay_mult``: for other 1-D parameters (layer-scale vectors, ...).
* ``bypass_duplicate``: accepted for compatibility; a parameter shared by several modules is always
  put in the optimizer once.

Parameters with the same resulting (lr, weight_decay) share one param group; groups are ordered by the
first appearance of their parameters in ``model.named_parameters()``. Each group records ``initial_lr``,
the reference the parameter schedulers multiply.
"""
from __future__ import annotations

import inspect
import logging
from collections.abc import Mapping
from typing import Any

import torch
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm
from torch.nn.modules.conv import _ConvNd
from torch.nn.modules.instancenorm import _InstanceNorm

from visioncraft.config.checks import check_number, config_value_error
from visioncraft.registry import OPTIM_WRAPPER_CONSTRUCTORS, OPTIM_WRAPPERS, OPTIMIZERS

from .wrapper import OptimWrapper

__all__ = ['DefaultOptimWrapperConstructor', 'build_optim_wrapper', 'NORM_LAYERS']

logger = logging.getLogger(__name__)

NORM_LAYERS: tuple[type[nn.Module], ...] = (
    _BatchNorm, nn.GroupNorm, nn.LayerNorm, _InstanceNorm, nn.LocalResponseNorm,
    *((nn.RMSNorm,) if hasattr(nn, 'RMSNorm') else ()))

_PARAMWISE_KEYS = ('custom_keys', 'norm_decay_mult', 'bias_decay_mult', 'bias_lr_mult', 'dwconv_decay_mult',
                   'flat_decay_mult', 'bypass_duplicate')
_CUSTOM_KEY_KEYS = ('lr_mult', 'decay_mult')


#: optimizer arguments that are numbers >= 0 wherever torch has them
_NONNEGATIVE_OPTIMIZER_ARGS = ('lr', 'weight_decay', 'momentum', 'dampening', 'eps', 'alpha', 'lr_decay',
                               'initial_accumulator_value')


def _check_optimizer_values(optimizer_cfg: Mapping[str, Any]) -> None:
    """``lr``, ``weight_decay``, ``momentum``... numbers >= 0 and ``betas`` two numbers in [0, 1), else a
    :class:`~visioncraft.config.checks.ConfigValueError` naming ``optim_wrapper.optimizer.<key>`` (a quoted
    ``lr: '0.01'`` too: it is not converted). Tensors (``lr=torch.tensor(0.01)``) are left to torch."""
    for name in _NONNEGATIVE_OPTIMIZER_ARGS:
        value = optimizer_cfg.get(name)
        if value is not None and not torch.is_tensor(value):  # None: the optimizer's default
            check_number(value, f'optim_wrapper.optimizer.{name}', low=0)
    if 'betas' in optimizer_cfg:
        betas = optimizer_cfg['betas']
        if not isinstance(betas, (list, tuple)) or len(betas) != 2:
            raise config_value_error('optim_wrapper.optimizer.betas', 'two numbers in [0, 1), such as (0.9, 0.999)',
                                     betas)
        for i, beta in enumerate(betas):
            if torch.is_tensor(beta):
                continue
            key = f'optim_wrapper.optimizer.betas.{i}'
            check_number(beta, key, low=0, high=1, what='a number in [0, 1)')
            if beta == 1:
                raise config_value_error(key, 'a number in [0, 1)', beta)


def _check_paramwise_cfg(cfg: Mapping[str, Any] | None) -> dict[str, Any]:
    if cfg is not None and not isinstance(cfg, Mapping):
        raise config_value_error('optim_wrapper.paramwise_cfg', 'a dict such as dict(norm_decay_mult=0.0)', cfg)
    cfg = dict(cfg or {})
    unknown = sorted(set(cfg) - set(_PARAMWISE_KEYS))
    if unknown:
        raise ValueError(f'optim_wrapper.paramwise_cfg: unknown keys {unknown}; accepted: {list(_PARAMWISE_KEYS)}')
    custom = cfg.get('custom_keys') or {}
    if not isinstance(custom, Mapping):
        raise TypeError(f'optim_wrapper.paramwise_cfg.custom_keys must be a dict of dicts, got {custom!r}')
    for key, mults in custom.items():
        if not isinstance(mults, Mapping):
            raise TypeError(f'optim_wrapper.paramwise_cfg.custom_keys[{key!r}] must be a dict such as '
                            f'dict(lr_mult=0.1, decay_mult=1.0), got {mults!r}')
        bad = sorted(set(mults) - set(_CUSTOM_KEY_KEYS))
        if bad:
            raise ValueError(f'optim_wrapper.paramwise_cfg.custom_keys[{key!r}]: unknown keys {bad}; '
                             f'accepted: {list(_CUSTOM_KEY_KEYS)}')
        for name in _CUSTOM_KEY_KEYS:
            if name in mults:
                check_number(mults[name], f'optim_wrapper.paramwise_cfg.custom_keys[{key!r}].{name}', low=0)
    for name in _PARAMWISE_KEYS:
        if name.endswith('_mult') and cfg.get(name) is not None:
            check_number(cfg[name], f'optim_wrapper.paramwise_cfg.{name}', low=0)
    cfg['custom_keys'] = dict(custom)
    return cfg


def _unwrap_model(model: nn.Module) -> nn.Module:
    """The model inside a DDP / DataParallel-like wrapper (one that adds no parameters of its own)."""
    inner = getattr(model, 'module', None)
    if not isinstance(inner, nn.Module) or inner is model:
        return model
    if isinstance(model, (nn.DataParallel, nn.parallel.DistributedDataParallel)):
        return inner
    if {id(p) for p in model.parameters()} == {id(p) for p in inner.parameters()}:
        return inner
    return model


def _default_arg(cls: Any, name: str) -> Any:
    try:
        param = inspect.signature(cls).parameters.get(name)
    except (TypeError, ValueError):
        return None
    if param is None or param.default is inspect.Parameter.empty:
        return None
    return param.default


@OPTIM_WRAPPER_CONSTRUCTORS.register_module()
class DefaultOptimWrapperConstructor:
    """Builds the optimizer (with parameter groups from ``paramwise_cfg``) and wraps it.

    Args:
        optim_wrapper_cfg: the ``optim_wrapper`` config without ``paramwise_cfg`` / ``constructor``:
            ``optimizer`` (a config dict or an already-built ``torch.optim.Optimizer``), optional ``type``
            (default ``'OptimWrapper'``) and the wrapper's keyword arguments.
        paramwise_cfg: see the module docstring.

    Calling the constructor with a model returns the wrapper.
    """

    def __init__(self, optim_wrapper_cfg: Mapping[str, Any], paramwise_cfg: Mapping[str, Any] | None = None):
        cfg = dict(optim_wrapper_cfg)
        if 'optimizer' not in cfg:
            raise KeyError(f'optim_wrapper needs an "optimizer" entry such as dict(type="SGD", lr=0.01); '
                           f'got keys {sorted(cfg)}')
        cfg.setdefault('type', 'OptimWrapper')
        self.optim_wrapper_cfg = cfg
        self.paramwise_cfg = _check_paramwise_cfg(paramwise_cfg)
        # longest key first; equal lengths alphabetically (the sort is stable)
        self._sorted_keys = sorted(sorted(self.paramwise_cfg['custom_keys']), key=len, reverse=True)

    def __call__(self, model: nn.Module) -> OptimWrapper:
        model = _unwrap_model(model)
        wrapper_cfg = dict(self.optim_wrapper_cfg)
        optimizer_cfg = wrapper_cfg.pop('optimizer')
        if isinstance(optimizer_cfg, torch.optim.Optimizer):
            optimizer = optimizer_cfg
            if any(v for v in self.paramwise_cfg.values()):
                logger.warning('optim_wrapper.paramwise_cfg is ignored: the optimizer was given already built')
        else:
            optimizer = self.build_optimizer(model, optimizer_cfg)
        for group in optimizer.param_groups:
            group.setdefault('initial_lr', group['lr'])
        return OPTIM_WRAPPERS.build(wrapper_cfg, default_args={'optimizer': optimizer}, key_path='optim_wrapper')

    def build_optimizer(self, model: nn.Module, optimizer_cfg: Mapping[str, Any]) -> torch.optim.Optimizer:
        optimizer_cfg = dict(optimizer_cfg)
        if 'type' not in optimizer_cfg:
            raise KeyError('optim_wrapper.optimizer needs a "type" key, e.g. dict(type="SGD", lr=0.01)')
        if 'params' in optimizer_cfg:
            raise ValueError('optim_wrapper.optimizer must not hold "params": the constructor collects them '
                             'from the model (use paramwise_cfg for per-parameter settings)')
        opt_type = optimizer_cfg['type']
        opt_cls = OPTIMIZERS.get(opt_type, key_path='optim_wrapper.optimizer') if isinstance(opt_type, str) \
            else opt_type
        _check_optimizer_values(optimizer_cfg)
        base_lr = optimizer_cfg.get('lr', _default_arg(opt_cls, 'lr'))
        base_wd = optimizer_cfg.get('weight_decay', _default_arg(opt_cls, 'weight_decay'))
        groups = self.param_groups(model, base_lr=base_lr, base_wd=base_wd)
        if not groups:
            raise ValueError(f'{getattr(opt_cls, "__name__", opt_cls)}: the model has no trainable parameters '
                             '(all have requires_grad=False or lr_mult=0)')
        optimizer = OPTIMIZERS.build({**optimizer_cfg, 'params': groups}, key_path='optim_wrapper.optimizer')
        for i, g in enumerate(optimizer.param_groups):
            extra = f", weight_decay={g['weight_decay']:g}" if 'weight_decay' in g else ''
            logger.info('%s param group %d: lr=%g%s, %d tensors', type(optimizer).__name__, i, g['lr'], extra,
                        len(g['params']))
        return optimizer

    def _multipliers(self, module: nn.Module, pname: str, param: nn.Parameter,
                     full_name: str) -> tuple[float, float, str | None]:
        """(lr_mult, decay_mult, matching custom key) for one parameter."""
        cfg = self.paramwise_cfg
        for key in self._sorted_keys:
            if key in full_name:
                mults = cfg['custom_keys'][key]
                return float(mults.get('lr_mult', 1.0)), float(mults.get('decay_mult', 1.0)), key
        lr_mult, decay_mult = 1.0, 1.0
        is_norm = isinstance(module, NORM_LAYERS)
        is_bias = pname == 'bias'
        if is_bias and not is_norm and cfg.get('bias_lr_mult') is not None:
            lr_mult = float(cfg['bias_lr_mult'])
        if is_norm:
            if cfg.get('norm_decay_mult') is not None:
                decay_mult = float(cfg['norm_decay_mult'])
        elif is_bias:
            if cfg.get('bias_decay_mult') is not None:
                decay_mult = float(cfg['bias_decay_mult'])
        elif isinstance(module, _ConvNd) and module.groups == module.in_channels and pname == 'weight':
            if cfg.get('dwconv_decay_mult') is not None:
                decay_mult = float(cfg['dwconv_decay_mult'])
        elif param.ndim == 1 and cfg.get('flat_decay_mult') is not None:
            decay_mult = float(cfg['flat_decay_mult'])
        return lr_mult, decay_mult, None

    def param_groups(self, model: nn.Module, *, base_lr: Any, base_wd: Any) -> list[dict[str, Any]]:
        """The optimizer's param groups: one per distinct (lr, weight_decay), in first-appearance order.

        Parameters with ``requires_grad=False`` are skipped; ``lr_mult=0`` freezes a parameter."""
        custom = self.paramwise_cfg['custom_keys']
        matched: set[str] = set()
        groups: dict[tuple[float, float | None], dict[str, Any]] = {}
        seen: set[int] = set()
        frozen: list[str] = []
        frozen_numel = 0
        for module_name, module in model.named_modules():
            for pname, param in module.named_parameters(recurse=False):
                if id(param) in seen:
                    continue
                seen.add(id(param))
                full_name = f'{module_name}.{pname}' if module_name else pname
                lr_mult, decay_mult, key = self._multipliers(module, pname, param, full_name)
                if key is not None:
                    matched.add(key)
                if not param.requires_grad:
                    continue
                if lr_mult == 0:
                    param.requires_grad_(False)
                    frozen.append(full_name)
                    frozen_numel += param.numel()
                    continue
                if lr_mult != 1 and base_lr is None:
                    raise ValueError(f'paramwise_cfg sets lr_mult={lr_mult} for {full_name} but the optimizer '
                                     'has no lr to multiply: set optim_wrapper.optimizer.lr')
                lr = None if base_lr is None else base_lr * lr_mult
                wd = None if base_wd is None else base_wd * decay_mult
                gkey = (None if lr is None else float(lr), None if wd is None else float(wd))
                if gkey not in groups:
                    group: dict[str, Any] = {'params': []}
                    if lr is not None:
                        group['lr'] = lr
                    if wd is not None:
                        group['weight_decay'] = wd
                    groups[gkey] = group
                groups[gkey]['params'].append(param)
                logger.debug('%s: lr_mult=%g decay_mult=%g%s', full_name, lr_mult, decay_mult,
                             f' (custom key {key!r})' if key else '')
        if frozen:
            shown = ', '.join(frozen[:5]) + (', ...' if len(frozen) > 5 else '')
            logger.info('paramwise_cfg lr_mult=0 froze %d parameter tensors (%d elements): %s',
                        len(frozen), frozen_numel, shown)
        unmatched = sorted(set(custom) - matched)
        if unmatched:
            logger.warning('paramwise_cfg.custom_keys %s match no parameter name of %s', unmatched,
                           type(model).__name__)
        return list(groups.values())


def build_optim_wrapper(model: nn.Module, cfg: Mapping[str, Any] | OptimWrapper) -> OptimWrapper:
    """Build the ``optim_wrapper`` config (see the module docstring) for ``model`` (DDP-wrapped or not).

    ``cfg['constructor']`` names another registered constructor (default
    ``'DefaultOptimWrapperConstructor'``); it is built with ``optim_wrapper_cfg`` and ``paramwise_cfg``
    and called with the model. An already-built wrapper is returned unchanged."""
    if isinstance(cfg, OptimWrapper):
        return cfg
    if not isinstance(cfg, Mapping):
        raise TypeError(f'optim_wrapper must be a dict config, got {type(cfg).__name__}')
    cfg = dict(cfg)
    constructor_type = cfg.pop('constructor', 'DefaultOptimWrapperConstructor')
    paramwise_cfg = cfg.pop('paramwise_cfg', None)
    constructor = OPTIM_WRAPPER_CONSTRUCTORS.build(
        {'type': constructor_type, 'optim_wrapper_cfg': cfg, 'paramwise_cfg': paramwise_cfg},
        key_path='optim_wrapper.constructor')
    return constructor(model)
