"""EMAHook: an exponential moving average of the weights, used for validation and saved checkpoints."""
from __future__ import annotations

import torch
from torch import nn

from ...config.checks import check_int, check_number, key_path
from ...registry import HOOKS
from .hook import Hook, Priority

__all__ = ['EMAHook']


@HOOKS.register_module()
class EMAHook(Hook):
    """Keep ``ema = (1 - momentum) * ema + momentum * weights`` after every training iteration.

    Validation runs on the EMA weights. A saved checkpoint holds the EMA weights under ``state_dict``
    (so testing or fine-tuning from it uses them) and the raw training weights under ``ema_state_dict``;
    resuming puts both back where they were, so training continues exactly.

    Args:
        momentum: weight of the new value in each update.
        update_buffers: average buffers too (else buffers are copied from the model).
        begin_iter / begin_epoch: start averaging at this iteration / epoch (before that the EMA copies).
    """

    priority = Priority.NORMAL

    def __init__(self, momentum: float = 0.0002, update_buffers: bool = False, begin_iter: int = 0,
                 begin_epoch: int = 0, ema_type: str = 'ExponentialMovingAverage') -> None:
        if ema_type != 'ExponentialMovingAverage':
            raise ValueError(f"EMAHook ema_type {ema_type!r} is not supported; use 'ExponentialMovingAverage'")
        key = lambda name: key_path(name, 'EMAHook')  # noqa: E731
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
        with torch.no_grad():
            for k, v in tracked.items():
                e = self.ema[k]
                if not started or (k not in params and not self.update_buffers) or not v.is_floating_point():
                    e.copy_(v)
                else:
                    e.lerp_(v.detach(), self.momentum)

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

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        """On resume the runner has loaded ``state_dict`` (EMA weights): swap the raw ones back in."""
        if 'ema_state_dict' not in checkpoint or not runner.resuming:
            return
        if self.ema is None:
            self.before_run(runner)
        model = self._model(runner)
        tracked = self._tracked(model)
        with torch.no_grad():
            for k, v in tracked.items():
                self.ema[k].copy_(checkpoint['state_dict'][k])
                v.copy_(checkpoint['ema_state_dict'][k])
