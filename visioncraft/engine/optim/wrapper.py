"""Optimizer wrappers: one object that owns backward, gradient accumulation, clipping, the step and AMP.

The train step reads::

    with optim_wrapper.optim_context(model):      # no_sync on non-updating DDP iterations, autocast for AMP
        losses = model(batch)
        loss = sum(losses.values())
    optim_wrapper.update_params(loss)            # scale, backward; every N-th call: clip, step, zero_grad

Gradient accumulation (``accumulative_counts=N``) divides each micro-batch loss by ``N`` so that ``N`` calls
on micro-batches of a mean loss equal one call on their concatenation. Training rarely has a multiple of
``N`` iterations: after :meth:`OptimWrapper.initialize_count_status` the last ``max_iters % N`` iterations are
divided by that remainder and update on the final iteration, so no gradient is thrown away or under-weighted.
"""
from __future__ import annotations

import contextlib
import logging
import math
import warnings
from collections.abc import Iterator, Mapping
from typing import Any

import torch
from torch import nn

from visioncraft.config.checks import (check_bool, check_int, check_number, config_key_error, config_value_error,
                                       key_path)
from visioncraft.registry import OPTIM_WRAPPERS

__all__ = ['OptimWrapper', 'AmpOptimWrapper', 'cpu_has_native_bf16']

logger = logging.getLogger(__name__)

_CLIP_NORM_KEYS = {'max_norm', 'norm_type', 'error_if_nonfinite', 'foreach'}
_CLIP_VALUE_KEYS = {'clip_value', 'foreach'}


def _parse_clip_grad(clip_grad: Mapping[str, Any] | None) -> tuple[str, dict[str, Any]] | None:
    """``dict(max_norm=..)`` / ``dict(type='norm', ..)`` / ``dict(type='value', clip_value=..)`` -> (kind, kwargs).

    The values are checked (a :class:`~visioncraft.config.checks.ConfigValueError` naming the key path,
    ``optim_wrapper.clip_grad.max_norm``): ``max_norm`` and ``clip_value`` finite numbers > 0 (a negative
    ``max_norm`` would flip the sign of every gradient), ``norm_type`` a number > 0 (``inf`` allowed),
    ``error_if_nonfinite`` / ``foreach`` True or False."""
    if not clip_grad:
        return None
    if not isinstance(clip_grad, Mapping):
        raise config_value_error(key_path('clip_grad', 'optim_wrapper'),
                                 'a dict such as dict(max_norm=35, norm_type=2)', clip_grad)
    kwargs = dict(clip_grad)
    kind = kwargs.pop('type', 'norm')
    if kind not in ('norm', 'value'):
        raise config_value_error(key_path('clip_grad.type', 'optim_wrapper'), "'norm' or 'value'", kind)
    allowed, needed = (_CLIP_NORM_KEYS, 'max_norm') if kind == 'norm' else (_CLIP_VALUE_KEYS, 'clip_value')
    unknown = sorted(set(kwargs) - allowed)
    if unknown:
        raise config_key_error(key_path('clip_grad', 'optim_wrapper'),
                               f'unknown keys {unknown} for type={kind!r}; accepted: {sorted(allowed)}')
    if needed not in kwargs:
        raise config_key_error(key_path('clip_grad', 'optim_wrapper'),
                               f'type={kind!r} needs {needed!r}; got {dict(clip_grad)!r}')
    for name in ('max_norm', 'clip_value'):
        if name in kwargs:
            check_number(kwargs[name], key_path(f'clip_grad.{name}', 'optim_wrapper'), low=0, strict=True)
    if 'norm_type' in kwargs:
        check_number(kwargs['norm_type'], key_path('clip_grad.norm_type', 'optim_wrapper'), low=0, strict=True,
                     finite=False, what="a number > 0 (2 for the Euclidean norm, float('inf') for the largest value)")
    for name in ('error_if_nonfinite', 'foreach'):
        if name in kwargs:
            check_bool(kwargs[name], key_path(f'clip_grad.{name}', 'optim_wrapper'), none=name == 'foreach')
    return kind, kwargs


@OPTIM_WRAPPERS.register_module()
class OptimWrapper:
    """A ``torch.optim.Optimizer`` plus gradient accumulation and clipping.

    Args:
        optimizer: the built optimizer; its ``param_groups`` are shared, not copied.
        accumulative_counts: number of :meth:`update_params` calls per optimizer step (>= 1).
        clip_grad: ``dict(max_norm=35, norm_type=2)`` clips the total gradient norm
            (:func:`torch.nn.utils.clip_grad_norm_`); ``dict(type='value', clip_value=1.0)`` clamps each
            gradient element. Either way :attr:`last_grad_norm` is the total norm before clipping.

    The counter (:attr:`inner_count`) is the number of backward passes done, i.e. the index of the next
    iteration. The train loop calls :meth:`initialize_count_status` before training so that the counter
    continues after a resume and the final, shorter accumulation cycle is weighted correctly.
    """

    def __init__(self, optimizer: torch.optim.Optimizer, *, accumulative_counts: int = 1,
                 clip_grad: dict | None = None) -> None:
        if not isinstance(optimizer, torch.optim.Optimizer):
            raise TypeError(f'{type(self).__name__} wraps a torch.optim.Optimizer, got {type(optimizer).__name__}; '
                            'build it from a config with build_optim_wrapper(model, cfg)')
        accumulative_counts = check_int(accumulative_counts, key_path('accumulative_counts', 'optim_wrapper'), low=1)
        self.optimizer = optimizer
        self.accumulative_counts = accumulative_counts
        self._clip = _parse_clip_grad(clip_grad)
        self.clip_grad = dict(clip_grad) if clip_grad else None
        self.last_grad_norm: float | None = None
        self._inner_count = 0  # backward passes done so far == index of the coming iteration
        self._max_counts: int | None = None  # total iterations of training, when the loop told us
        self._warned_uninitialized = False

    # -- views of the optimizer ---------------------------------------------------------------
    @property
    def param_groups(self) -> list[dict[str, Any]]:
        return self.optimizer.param_groups

    @property
    def inner_count(self) -> int:
        """Backward passes done so far (the index of the coming iteration)."""
        return self._inner_count

    @property
    def max_counts(self) -> int | None:
        return self._max_counts

    def get_lr(self) -> dict[str, list[float]]:
        """``{'lr': [lr of each param group]}``."""
        return {'lr': [float(g['lr']) for g in self.param_groups]}

    def get_momentum(self) -> dict[str, list[float]]:
        """``{'momentum': [...]}``: ``momentum`` (SGD, RMSprop) or ``betas[0]`` (Adam-like); 0 when neither."""
        values = []
        for g in self.param_groups:
            if 'momentum' in g:
                values.append(float(g['momentum']))
            elif 'betas' in g:
                values.append(float(g['betas'][0]))
            else:
                values.append(0.0)
        return {'momentum': values}

    # -- accumulation bookkeeping -------------------------------------------------------------
    def initialize_count_status(self, *, cur_iter: int, max_iters: int | None) -> None:
        """Say where training is: ``cur_iter`` iterations done (0 for a fresh run), ``max_iters`` in total."""
        self._inner_count = int(cur_iter)
        self._max_counts = None if max_iters is None else int(max_iters)
        n = self.accumulative_counts
        if n > 1 and cur_iter % n:
            logger.warning('resuming at iteration %d, inside an accumulation cycle of %d: the gradients '
                           'accumulated before the checkpoint are lost; the next optimizer step comes after %d '
                           'iterations', cur_iter, n, n - cur_iter % n)

    def _updates_after(self, count: int) -> bool:
        """Whether the ``count``-th backward pass (1-based) ends an accumulation cycle."""
        if count % self.accumulative_counts == 0:
            return True
        return self._max_counts is not None and count >= self._max_counts

    def should_update(self) -> bool:
        """Whether the latest backward pass ended an accumulation cycle, i.e. whether :meth:`update_params`
        just stepped (or, when calling :meth:`backward` yourself, whether to call :meth:`step` now).
        True every ``accumulative_counts`` backward passes and on the final iteration."""
        return self._updates_after(self._inner_count)

    def should_sync(self) -> bool:
        """Whether the coming iteration ends an accumulation cycle (DDP must then all-reduce gradients)."""
        return self._updates_after(self._inner_count + 1)

    def _loss_divisor(self) -> int:
        n = self.accumulative_counts
        if self._max_counts is not None:
            remainder = self._max_counts % n
            if remainder and self._inner_count >= self._max_counts - remainder:
                return remainder
        return n

    # -- the training step --------------------------------------------------------------------
    @contextlib.contextmanager
    def optim_context(self, model: nn.Module) -> Iterator[None]:
        """Run forward + loss inside this. On iterations that do not update, a DDP model (anything with
        ``no_sync``) skips its gradient all-reduce; :class:`AmpOptimWrapper` also enters autocast."""
        with contextlib.ExitStack() as stack:
            if not self.should_sync() and hasattr(model, 'no_sync'):
                stack.enter_context(model.no_sync())
            self._enter_autocast(stack)
            yield

    def _enter_autocast(self, stack: contextlib.ExitStack) -> None:
        """Full precision: nothing to enter."""

    def update_params(self, loss: torch.Tensor, *, model: nn.Module | None = None) -> None:
        """Divide ``loss`` by the accumulation divisor, backward, and at the end of a cycle clip, step and
        zero the gradients. ``model`` is only needed for models that clip their own (sharded) gradients,
        i.e. that have a ``clip_grad_norm_`` method (FSDP)."""
        if self.accumulative_counts > 1 and self._max_counts is None and not self._warned_uninitialized:
            self._warned_uninitialized = True
            logger.warning('accumulative_counts=%d but initialize_count_status() was not called: a final '
                           'incomplete accumulation cycle will not be applied', self.accumulative_counts)
        divisor = self._loss_divisor()
        if divisor != 1:
            loss = loss / divisor
        self.backward(loss)
        if self.should_update():
            self.step(model=model)
            self.zero_grad()

    def backward(self, loss: torch.Tensor, **kwargs: Any) -> None:
        """``loss.backward(**kwargs)`` and count the pass. No scaling by the accumulation divisor here."""
        loss.backward(**kwargs)
        self._inner_count += 1

    def step(self, *, model: nn.Module | None = None) -> None:
        """Clip (if configured) and take one optimizer step."""
        if self._clip is not None:
            self._clip_grads(model)
        self.optimizer.step()

    def zero_grad(self, set_to_none: bool = True) -> None:
        self.optimizer.zero_grad(set_to_none=set_to_none)

    def _grads_params(self) -> list[torch.Tensor]:
        return [p for g in self.param_groups for p in g['params'] if p.grad is not None]

    def _clip_grads(self, model: nn.Module | None = None) -> None:
        params = self._grads_params()
        if not params:
            return
        kind, kwargs = self._clip
        if kind == 'norm':
            if model is not None and callable(getattr(model, 'clip_grad_norm_', None)):
                total = model.clip_grad_norm_(kwargs['max_norm'], kwargs.get('norm_type', 2.0))
            else:
                total = torch.nn.utils.clip_grad_norm_(params, **kwargs)
        else:
            total = torch.nn.utils.get_total_norm([p.grad for p in params])
            torch.nn.utils.clip_grad_value_(params, **kwargs)
        self.last_grad_norm = float(total)

    # -- checkpointing ------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """``{'optimizer': optimizer state, 'inner_count', 'max_counts', 'accumulative_counts'}``."""
        return {'optimizer': self.optimizer.state_dict(), 'inner_count': self._inner_count,
                'max_counts': self._max_counts, 'accumulative_counts': self.accumulative_counts}

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:
        """Load :meth:`state_dict`'s output; a bare ``torch`` optimizer state dict (as other toolboxes save
        under ``'optimizer'``) is accepted too. ``max_counts`` is taken from the checkpoint only when
        :meth:`initialize_count_status` has not said otherwise: the current run knows its length best."""
        if 'optimizer' in state_dict:
            self.optimizer.load_state_dict(state_dict['optimizer'])
            self._inner_count = int(state_dict.get('inner_count', self._inner_count))
            if self._max_counts is None and state_dict.get('max_counts') is not None:
                self._max_counts = int(state_dict['max_counts'])
        elif 'state' in state_dict and 'param_groups' in state_dict:
            self.optimizer.load_state_dict({k: v for k, v in state_dict.items() if k != 'loss_scaler'})
        else:
            raise KeyError(f'not an optimizer wrapper state dict: keys {sorted(state_dict)}')

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(optimizer={type(self.optimizer).__name__}, '
                f'groups={len(self.param_groups)}, accumulative_counts={self.accumulative_counts}, '
                f'clip_grad={self.clip_grad})')


_DTYPES = {
    'float16': torch.float16, 'fp16': torch.float16, 'half': torch.float16,
    'bfloat16': torch.bfloat16, 'bf16': torch.bfloat16,
}


def _parse_dtype(dtype: str | torch.dtype | None) -> torch.dtype | None:
    if dtype is None or dtype in (torch.float16, torch.bfloat16):
        return dtype
    if isinstance(dtype, str) and dtype.lower().removeprefix('torch.') in _DTYPES:
        return _DTYPES[dtype.lower().removeprefix('torch.')]
    raise ValueError(f"AmpOptimWrapper dtype must be 'float16', 'bfloat16' or None (the device's default), "
                     f'got {dtype!r}')


def cpu_has_native_bf16() -> bool:
    """Whether this CPU computes in bfloat16 natively (AVX512-BF16 or AMX tiles), as PyTorch reports it."""
    probes = (getattr(torch.cpu, '_is_avx512_bf16_supported', None), getattr(torch.cpu, '_is_amx_tile_supported', None))
    return any(bool(probe()) for probe in probes if probe is not None)


@OPTIM_WRAPPERS.register_module()
class AmpOptimWrapper(OptimWrapper):
    """Mixed precision: forward under autocast, parameters and optimizer state stay float32.

    Args:
        optimizer: as for :class:`OptimWrapper`; the device of its parameters picks the autocast device.
        dtype: ``'float16'``, ``'bfloat16'`` or None. None means float16 on CUDA and bfloat16 on CPU.
            float16 asked for on CPU falls back to bfloat16 with a warning.
        loss_scale: float16 on CUDA only (bfloat16 needs no scaling). ``'dynamic'``: a
            :class:`torch.amp.GradScaler` with its defaults; a number: a fixed scale (steps with non-finite
            gradients are still skipped); a dict: ``GradScaler`` keyword arguments.
        cpu_bf16: on the CPU, ``'auto'`` (default) uses bfloat16 autocast only where the CPU computes in
            bfloat16 natively (AVX512-BF16 or AMX); elsewhere PyTorch emulates it, about 10x slower than float32
            (``python benchmarks/cpu_amp.py`` measures it), so training runs in float32 and says so once.
            ``'force'`` uses bfloat16 anyway, ``'off'`` never on the CPU.
        **kwargs: ``accumulative_counts``, ``clip_grad`` as for :class:`OptimWrapper`.

    :attr:`device_type` (``'cuda'`` / ``'cpu'``) and :attr:`dtype` say what is used (float32 with
    :attr:`enabled` False after a CPU fall-back); :attr:`loss_scaler` is the ``GradScaler`` or None. Gradients
    are unscaled before clipping.
    """

    def __init__(self, optimizer: torch.optim.Optimizer, *, dtype: str | torch.dtype | None = None,
                 loss_scale: str | float | dict = 'dynamic', cpu_bf16: str = 'auto', **kwargs: Any) -> None:
        super().__init__(optimizer, **kwargs)
        if cpu_bf16 not in ('auto', 'force', 'off'):
            raise ValueError(f"AmpOptimWrapper: cpu_bf16 must be 'auto', 'force' or 'off', got {cpu_bf16!r}")
        requested = _parse_dtype(dtype)
        self.device_type = self._autocast_device(optimizer)
        self.enabled = True
        if self.device_type == 'cpu':
            if requested == torch.float16:
                warnings.warn('AmpOptimWrapper: float16 autocast was asked for but the parameters are on the '
                              'CPU, where autocast supports bfloat16 only; using bfloat16', UserWarning,
                              stacklevel=2)
            self.dtype = torch.bfloat16
            if cpu_bf16 == 'off' or (cpu_bf16 == 'auto' and not cpu_has_native_bf16()):
                self.enabled, self.dtype = False, torch.float32
                why = ("cpu_bf16='off'" if cpu_bf16 == 'off' else
                       'this CPU has no native bfloat16 (AVX512-BF16 or AMX), where bfloat16 autocast runs about '
                       "10x slower than float32; cpu_bf16='force' uses it anyway")
                warnings.warn(f'AmpOptimWrapper: mixed precision is off on the CPU: training in float32 ({why})',
                              UserWarning, stacklevel=2)
        else:
            self.dtype = requested or (torch.float16 if self.device_type == 'cuda' else torch.bfloat16)
        self.loss_scale = loss_scale
        self._static_scale: float | None = None
        self.loss_scaler: torch.amp.GradScaler | None = None
        scaler_kwargs = self._parse_loss_scale(loss_scale)
        if self.device_type == 'cuda' and self.dtype == torch.float16:
            self.loss_scaler = torch.amp.GradScaler('cuda', **scaler_kwargs)
        elif loss_scale != 'dynamic':
            logger.info('AmpOptimWrapper: loss_scale=%r ignored: %s autocast on %s needs no loss scaling',
                        loss_scale, self.dtype, self.device_type)

    @staticmethod
    def _autocast_device(optimizer: torch.optim.Optimizer) -> str:
        for group in optimizer.param_groups:
            for p in group['params']:
                kind = p.device.type
                if kind != 'cpu' and torch.amp.is_autocast_available(kind):
                    return kind
                return 'cpu'
        return 'cpu'

    def _parse_loss_scale(self, loss_scale: str | float | dict) -> dict[str, Any]:
        if loss_scale == 'dynamic':
            return {}
        if isinstance(loss_scale, Mapping):
            return dict(loss_scale)
        if isinstance(loss_scale, (int, float)) and not isinstance(loss_scale, bool) \
                and math.isfinite(loss_scale) and loss_scale > 0:
            self._static_scale = float(loss_scale)
            return {'init_scale': float(loss_scale)}
        raise ValueError(f"loss_scale must be 'dynamic', a positive number or a dict of GradScaler arguments, "
                         f'got {loss_scale!r}')

    def _enter_autocast(self, stack: contextlib.ExitStack) -> None:
        if self.enabled:
            stack.enter_context(torch.autocast(device_type=self.device_type, dtype=self.dtype))

    def backward(self, loss: torch.Tensor, **kwargs: Any) -> None:
        if self.loss_scaler is not None:
            loss = self.loss_scaler.scale(loss)
        super().backward(loss, **kwargs)

    def step(self, *, model: nn.Module | None = None) -> None:
        if self.loss_scaler is None:
            super().step(model=model)
            return
        if self._clip is not None:
            self.loss_scaler.unscale_(self.optimizer)
            self._clip_grads(model)
        self.loss_scaler.step(self.optimizer)  # skipped when the gradients hold inf/nan
        self.loss_scaler.update(self._static_scale)

    def state_dict(self) -> dict[str, Any]:
        out = super().state_dict()
        out['loss_scaler'] = self.loss_scaler.state_dict() if self.loss_scaler is not None else {}
        return out

    def load_state_dict(self, state_dict: Mapping[str, Any]) -> None:
        super().load_state_dict(state_dict)
        scaler_state = state_dict.get('loss_scaler')
        if self.loss_scaler is not None and scaler_state:
            self.loss_scaler.load_state_dict(scaler_state)

    def __repr__(self) -> str:
        return super().__repr__()[:-1] + f', device_type={self.device_type!r}, dtype={self.dtype})'

