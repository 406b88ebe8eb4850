"""EMAHook: an exponential moving average of the weights, used for validation and saved checkpoints."""
from __future__ import annotations

import math

import torch
from torch import nn

from ...config.checks import check_int, check_number, key_path
from ...registry import HOOKS
from .hook import Hook, Priority

__all__ = ['EMAHook']

_EMA_TYPES = ('ExponentialMovingAverage', 'ExpMomentumEMA')


@HOOKS.register_module()
class EMAHook(Hook):
    """Keep ``ema = (1 - momentum) * ema + momentum * weights`` after every training iteration.

    Validation runs on the EMA weights. A saved checkpoint holds the EMA weights under ``state_dict``
    (so testing or fine-tuning from it uses them) and the raw training weights under ``ema_state_dict``;
    resuming puts both back where they were, so training continues exactly.

    Args:
        momentum: weight of the new value in each update (``'ExponentialMovingAverage'``), or its floor
            (``'ExpMomentumEMA'``).
        update_buffers: average buffers too (else buffers are copied from the model).
        begin_iter / begin_epoch: start averaging at this iteration / epoch (before that the EMA copies).
        ema_type: ``'ExponentialMovingAverage'`` (a constant momentum) or ``'ExpMomentumEMA'`` (YOLOX's, used by
            RTMDet / RTMPose configs): the n-th averaging update (n = 0, 1, ...) uses
            ``(1 - momentum) * exp(-(1 + n) / gamma) + momentum``, so the average follows the weights closely
            early on and settles to ``momentum``.
        gamma: the decay length of ``'ExpMomentumEMA'``, in updates (> 0).
    """

    priority = Priority.NORMAL

    def __init__(self, momentum: float = 0.0002, update_buffers: bool = False, begin_iter: int = 0,
                 begin_epoch: int = 0, ema_type: str = 'ExponentialMovingAverage', gamma: float = 2000) -> None:
        if ema_type not in _EMA_TYPES:
            raise ValueError(f'EMAHook ema_type {ema_type!r} is not supported; use one of '
                             f'{", ".join(map(repr, _EMA_TYPES))}')
        key = lambda name: key_path(name, 'EMAHook')  # noqa: E731
        self.ema_type = ema_type
        self.gamma = check_number(gamma, key('gamma'), low=0, strict=True)
        self.steps = 0  # averaging updates done (the 'ExpMomentumEMA' schedule's n); saved in checkpoints
        self.momentum = check_number(momentum, key('momentum'), low=0, high=1, strict=True)
        self.update_buffers = update_buffers
        self.begin_iter = check_int(begin_iter, key('begin_iter'), low=0)
        self.begin_epoch = check_int(begin_epoch, key('begin_epoch'), low=0)
        self.ema: dict[str, torch.Tensor] | None = None

    @staticmethod
    def _model(runner) -> nn.Module:
        return getattr(runner.model, 'module', runner.model)

    def _tracked(self, model: nn.Module) -> dict[str, torch.Tensor]:
        # Exactly what a checkpoint holds: parameters and persistent buffers.
        return dict(model.state_dict(keep_vars=True))

    def before_run(self, runner) -> None:
        self.ema = {k: v.detach().clone() for k, v in self._tracked(self._model(runner)).items()}

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None) -> None:
        assert self.ema is not None
        tracked = self._tracked(self._model(runner))
        started = runner.iter + 1 > self.begin_iter and runner.epoch >= self.begin_epoch
        params = dict(self._model(runner).named_parameters())
        momentum = self.current_momentum()
        with torch.no_grad():
            for k, v in tracked.items():
                e = self.ema[k]
                if not started or (k not in params and not self.update_buffers) or not v.is_floating_point():
                    e.copy_(v)
                else:
                    e.lerp_(v.detach(), momentum)
        if started:
            self.steps += 1

    def current_momentum(self) -> float:
        """The momentum of the next averaging update."""
        if self.ema_type == 'ExpMomentumEMA':
            return (1 - self.momentum) * math.exp(-(1 + self.steps) / self.gamma) + self.momentum
        return self.momentum

    def _swap(self, runner) -> None:
        assert self.ema is not None
        with torch.no_grad():
            for k, v in self._tracked(self._model(runner)).items():
                tmp = v.detach().clone()
                v.copy_(self.ema[k])
                self.ema[k].copy_(tmp)

    def before_val_epoch(self, runner) -> None:
        if self.ema is not None:
            self._swap(runner)

    def after_val_epoch(self, runner, metrics=None) -> None:
        if self.ema is not None:
            self._swap(runner)

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        if self.ema is None:
            return
        raw = checkpoint['state_dict']
        checkpoint['ema_state_dict'] = raw
        ema_sd = dict(raw)
        for k, v in self.ema.items():
            if k in ema_sd:
                ema_sd[k] = v.detach().cpu().clone()
        checkpoint['state_dict'] = ema_sd
        checkpoint['ema_steps'] = self.steps

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        """On resume the runner has loaded ``state_dict`` (EMA weights): swap the raw ones back in."""
        if 'ema_state_dict' not in checkpoint or not runner.resuming:
            return
        if self.ema is None:
            self.before_run(runner)
        self.steps = int(checkpoint.get('ema_steps', 0))
        model = self._model(runner)
        tracked = self._tracked(model)
        with torch.no_grad():
            for k, v in tracked.items():
                self.ema[k].copy_(checkpoint['state_dict'][k])
                v.copy_(checkpoint['ema_state_dict'][k])
