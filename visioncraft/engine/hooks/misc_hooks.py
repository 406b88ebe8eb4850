"""Small hooks: parameter schedulers, sampler epoch seeding, CUDA cache emptying, buffer syncing across ranks,
and MMPose's bad-case hook (accepted switched off)."""
from __future__ import annotations

import torch

from ... import dist
from ...registry import HOOKS
from ..optim import apply_param_schedulers
from .hook import Hook, Priority

__all__ = ['ParamSchedulerHook', 'DistSamplerSeedHook', 'EmptyCacheHook', 'SyncBuffersHook', 'BadCaseAnalysisHook']


@HOOKS.register_module()
class ParamSchedulerHook(Hook):
    """Steps the runner's parameter schedulers: iteration-based ones after every iteration,
    epoch-based ones after every epoch, and applies the resulting learning rates."""

    priority = Priority.LOW

    def _apply(self, runner) -> None:
        apply_param_schedulers(runner.param_schedulers, runner.optim_wrapper)

    def before_train(self, runner) -> None:
        if runner.param_schedulers:
            self._apply(runner)

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None) -> None:
        stepped = [s for s in runner.param_schedulers if not s.by_epoch]
        for s in stepped:
            s.step()
        if stepped:
            self._apply(runner)

    def after_train_epoch(self, runner) -> None:
        stepped = [s for s in runner.param_schedulers if s.by_epoch]
        for s in stepped:
            s.step()
        if stepped:
            self._apply(runner)


@HOOKS.register_module()
class DistSamplerSeedHook(Hook):
    """Tells the train sampler which epoch starts, so each epoch (and each rank) shuffles differently."""

    priority = Priority.NORMAL

    def before_train_epoch(self, runner) -> None:
        loader = runner.train_loop.dataloader
        for sampler in (getattr(loader, 'sampler', None), getattr(getattr(loader, 'batch_sampler', None),
                                                                   'sampler', None)):
            if sampler is not None and hasattr(sampler, 'set_epoch'):
                sampler.set_epoch(runner.epoch)


@HOOKS.register_module()
class EmptyCacheHook(Hook):
    """Release cached CUDA memory before/after epochs or after iterations (no-op without CUDA)."""

    def __init__(self, before_epoch: bool = False, after_epoch: bool = True, after_iter: bool = False) -> None:
        self._before_epoch, self._after_epoch, self._after_iter = before_epoch, after_epoch, after_iter

    @staticmethod
    def _empty() -> None:
        if torch.cuda.is_available():
            torch.cuda.empty_cache()

    def before_train_epoch(self, runner) -> None:
        if self._before_epoch:
            self._empty()

    before_val_epoch = before_test_epoch = before_train_epoch

    def after_train_epoch(self, runner) -> None:
        if self._after_epoch:
            self._empty()

    def after_val_epoch(self, runner, metrics=None) -> None:
        if self._after_epoch:
            self._empty()

    after_test_epoch = after_val_epoch

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None) -> None:
        if self._after_iter:
            self._empty()

    after_val_iter = after_test_iter = after_train_iter


def _unwrapped(model):
    return getattr(model, 'module', model)


@HOOKS.register_module()
class SyncBuffersHook(Hook):
    """Averages the model's floating-point buffers (BatchNorm's ``running_mean`` / ``running_var``) over the ranks
    after every training epoch, so every rank validates and saves the same statistics. One process: nothing to do.
    Integer buffers (``num_batches_tracked``) are left alone: they count the same on every rank."""

    priority = Priority.NORMAL

    def after_train_epoch(self, runner) -> None:
        if not dist.is_distributed():
            return
        for buf in _unwrapped(runner.model).buffers():
            if buf.is_floating_point():
                buf.copy_(dist.all_reduce_mean(buf))


@HOOKS.register_module(['BadCaseAnalysisHook', 'mmpose.BadCaseAnalysisHook'])
class BadCaseAnalysisHook(Hook):
    """MMPose's hook that draws the worst-scored test samples. Its default runtime lists it switched off
    (``enable=False``), and so it is accepted and does nothing; ``enable=True`` is an error, as VisionCraft does
    not draw bad cases (draw test predictions with ``--show-dir`` instead). The other arguments are MMPose's and
    are checked for type only."""

    priority = Priority.NORMAL

    def __init__(self, enable: bool = False, show: bool = False, wait_time: float = 0.0, interval: int = 50,
                 kpt_thr: float = 0.3, out_dir: str | None = None, backend_args: dict | None = None,
                 metric_type: str = 'loss', metric=None, metric_key: str = 'PCK', badcase_thr: float = 5) -> None:
        if enable:
            raise ValueError('BadCaseAnalysisHook: enable=True is not supported by VisionCraft (it does not draw '
                             'the worst-scored samples); set default_hooks.badcase.enable=False or remove '
                             'default_hooks.badcase, and draw test predictions with --show-dir DIR')
        if metric_type not in ('loss', 'accuracy'):
            raise ValueError(f"BadCaseAnalysisHook: metric_type must be 'loss' or 'accuracy', got {metric_type!r}")
        self.enable = False
