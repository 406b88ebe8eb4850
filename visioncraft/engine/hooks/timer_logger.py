"""IterTimerHook (time and data_time per iteration) and LoggerHook (the log lines and scalars)."""
from __future__ import annotations

import datetime
import time
from collections.abc import Mapping
from typing import Any

import torch

from ...config.checks import check_bool, check_int, key_path
from ...registry import HOOKS
from .hook import Hook, Priority

__all__ = ['IterTimerHook', 'LoggerHook', 'parse_log_processor']



def _val_at_epoch_end(runner, mode: str) -> bool:
    """Whether this validation closes a training epoch (logged ``Epoch(val) [N]``). One run in the middle of an
    epoch (``ValEveryNItersHook``, PaddleOCR's ``eval_batch_step``) is logged by iteration instead of as the
    epoch before it ("epoch 0")."""
    if mode != 'val' or not runner.train_loop_built or not runner.train_loop.by_epoch:
        return False
    return int(getattr(runner, 'position', {}).get('inner_iter', 0) or 0) == 0

@HOOKS.register_module()
class IterTimerHook(Hook):
    """Records ``<mode>/data_time`` (waiting for the batch) and ``<mode>/time`` (whole iteration)."""

    priority = Priority.NORMAL

    def __init__(self) -> None:
        self._t = time.perf_counter()

    def _start(self, runner=None) -> None:
        self._t = time.perf_counter()

    before_train_epoch = before_val_epoch = before_test_epoch = _start

    def _before_iter(self, runner, mode: str) -> None:
        now = time.perf_counter()
        runner.message_hub.update_scalar(f'{mode}/data_time', now - self._t)

    def _after_iter(self, runner, mode: str) -> None:
        now = time.perf_counter()
        runner.message_hub.update_scalar(f'{mode}/time', now - self._t)
        self._t = now

    def before_train_iter(self, runner, batch_idx, data_batch=None):
        self._before_iter(runner, 'train')

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
        self._after_iter(runner, 'train')

    def before_val_iter(self, runner, batch_idx, data_batch=None):
        self._before_iter(runner, 'val')

    def after_val_iter(self, runner, batch_idx, data_batch=None, outputs=None):
        self._after_iter(runner, 'val')

    def before_test_iter(self, runner, batch_idx, data_batch=None):
        self._before_iter(runner, 'test')

    def after_test_iter(self, runner, batch_idx, data_batch=None, outputs=None):
        self._after_iter(runner, 'test')


def _fmt(v: float, digits: int = 4) -> str:
    if isinstance(v, int):
        return str(v)
    return f'{v:.{digits}e}' if (v != 0 and (abs(v) < 1e-3 or abs(v) >= 1e5)) else f'{v:.{digits}f}'


_LOG_PROCESSOR_DEFAULTS = dict(type='LogProcessor', window_size=10, by_epoch=True, num_digits=4, custom_cfg=None,
                               log_with_hierarchy=False, mean_pattern=None)


def parse_log_processor(cfg: Any) -> dict[str, Any]:
    """MMEngine's top-level ``log_processor = dict(type='LogProcessor', window_size=50, by_epoch=True,
    num_digits=4)``, checked: ``{'window_size': int | None, 'by_epoch': bool, 'num_digits': int}``.

    ``window_size`` (iterations the logged training means are taken over; None: the logger's ``interval``),
    ``by_epoch`` (``False`` writes ``Iter(train) [i/N]`` lines also for epoch-based training) and ``num_digits``
    (digits after the point) are honoured by :class:`LoggerHook`. ``custom_cfg``, ``log_with_hierarchy`` and
    ``mean_pattern`` only at their defaults (None / False): another value is an error naming the key.
    """
    where = 'log_processor'
    if cfg is None:
        return dict(window_size=None, by_epoch=True, num_digits=4)
    if not isinstance(cfg, Mapping):
        raise ValueError(f"{where} must be a dict such as dict(type='LogProcessor', window_size=50), got {cfg!r}")
    cfg = dict(cfg)
    unknown = sorted(set(cfg) - set(_LOG_PROCESSOR_DEFAULTS))
    if unknown:
        raise ValueError(f'{where}: unknown key(s) {unknown}; accepted: {sorted(_LOG_PROCESSOR_DEFAULTS)}')
    if cfg.get('type', 'LogProcessor') not in ('LogProcessor', 'mmengine.LogProcessor'):
        raise ValueError(f"{where}.type={cfg['type']!r}: only 'LogProcessor' (MMEngine's) is known")
    for key in ('custom_cfg', 'mean_pattern'):
        if cfg.get(key):
            raise ValueError(f'{where}.{key}={cfg[key]!r} is not supported: VisionCraft logs every scalar as the '
                             f'mean over window_size iterations; remove {where}.{key}')
    if cfg.get('log_with_hierarchy'):
        raise ValueError(f'{where}.log_with_hierarchy=True is not supported (scalars are logged as train/<name> '
                         f'already); remove it or set it to False')
    window = cfg.get('window_size', 10)
    if window is not None:
        window = check_int(window, f'{where}.window_size', low=1)
    return dict(window_size=window, by_epoch=check_bool(cfg.get('by_epoch', True), f'{where}.by_epoch'),
                num_digits=check_int(cfg.get('num_digits', 4), f'{where}.num_digits', low=1))


@HOOKS.register_module()
class LoggerHook(Hook):
    """Every ``interval`` iterations: one log line and the same scalars to the visualizer's backends.

    Line format (epoch-based)::

        Epoch(train) [38][ 6/38]  base_lr: 1.0000e-02 lr: 1.0000e-02  eta: 0:15:34  time: 0.5400
        data_time: 0.3900  memory: 3141  loss: 0.6931  loss_cls: 0.6931

    Values are means over the last ``interval`` iterations (``log_processor.window_size`` when the config has a
    top-level ``log_processor``, read at the start of the run; see :func:`parse_log_processor`). ``memory`` (MB,
    peak CUDA memory allocated) appears on CUDA only. Validation and test metrics are logged at the end of each
    evaluation.
    """

    priority = Priority.BELOW_NORMAL

    def __init__(self, interval: int = 10, ignore_last: bool = True, log_metric_by_epoch: bool = True) -> None:
        self.interval = check_int(interval, key_path('interval', 'LoggerHook'), low=1)
        self.ignore_last = ignore_last
        self.log_metric_by_epoch = log_metric_by_epoch
        self._train_start_iter = 0
        self._train_start_time = 0.0
        self.window_size: int | None = None  # from the config's log_processor (None: interval)
        self.log_by_epoch = True
        self.num_digits = 4

    def before_run(self, runner) -> None:
        cfg = getattr(runner, 'cfg', None)
        proc = parse_log_processor(cfg.get('log_processor') if hasattr(cfg, 'get') else None)
        self.window_size, self.log_by_epoch, self.num_digits = (proc['window_size'], proc['by_epoch'],
                                                                proc['num_digits'])

    @property
    def _window(self) -> int:
        return self.window_size or self.interval

    def before_train(self, runner) -> None:
        self._train_start_iter = runner.iter
        self._train_start_time = time.perf_counter()

    # -- train ----------------------------------------------------------------------------------
    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None) -> None:
        loop = runner.train_loop
        epoch_len = len(loop.dataloader) if loop.by_epoch else None
        end_of_epoch = epoch_len is not None and batch_idx + 1 == epoch_len
        if loop.by_epoch:
            due = (batch_idx + 1) % self.interval == 0 or (end_of_epoch and not self.ignore_last)
        else:
            due = self.every_n_train_iters(runner, self.interval) or self.is_last_train_iter(runner)
        if not due:
            return
        hub = runner.message_hub
        scalars: dict[str, float] = {}
        lrs = runner.optim_wrapper.get_lr()['lr'] if runner.optim_wrapper is not None else []
        if lrs:
            groups = runner.optim_wrapper.param_groups
            scalars['base_lr'] = float(groups[0].get('initial_lr', lrs[0]))
            scalars['lr'] = float(lrs[0])
        done = runner.iter + 1 - self._train_start_iter
        elapsed = time.perf_counter() - self._train_start_time
        eta_s = elapsed / max(done, 1) * (runner.max_iters - runner.iter - 1)
        for key in ('time', 'data_time'):
            scalars[key] = hub.mean(f'train/{key}', self._window)
        if torch.cuda.is_available() and torch.cuda.is_initialized():
            scalars['memory'] = int(torch.cuda.max_memory_allocated() / 2 ** 20)
            torch.cuda.reset_peak_memory_stats()
        for key in hub.keys('train/'):
            name = key[len('train/'):]
            if name not in ('time', 'data_time'):
                scalars[name] = hub.mean(key, self._window)
        if loop.by_epoch and self.log_by_epoch:
            width = len(str(epoch_len))
            head = f'Epoch(train) [{runner.epoch + 1}][{batch_idx + 1:>{width}}/{epoch_len}]'
        else:
            width = len(str(runner.max_iters))
            head = f'Iter(train) [{runner.iter + 1:>{width}}/{runner.max_iters}]'
        parts = [head]
        if 'lr' in scalars:
            parts.append(f"base_lr: {scalars['base_lr']:.4e} lr: {scalars['lr']:.4e}")
        parts.append(f'eta: {datetime.timedelta(seconds=int(eta_s))}')
        parts.append('  '.join(f'{k}: {_fmt(v, self.num_digits)}' for k, v in scalars.items()
                                if k not in ('lr', 'base_lr')))
        runner.logger.info('  '.join(parts))
        extra = {'epoch': runner.epoch + 1, 'iter': runner.iter + 1}
        runner.visualizer.add_scalars({**scalars, **extra}, step=runner.iter + 1)

    # -- val / test -----------------------------------------------------------------------------
    def _progress(self, runner, mode: str, batch_idx: int) -> None:
        loop = runner.val_loop if mode == 'val' else runner.test_loop
        total = len(loop.dataloader)
        if (batch_idx + 1) % self.interval != 0 or batch_idx + 1 == total:
            return
        hub = runner.message_hub
        width = len(str(total))
        head = (f'Epoch({mode}) [{runner.epoch}][{batch_idx + 1:>{width}}/{total}]'
                if _val_at_epoch_end(runner, mode) else f'Iter({mode}) [{batch_idx + 1:>{width}}/{total}]')
        runner.logger.info(f'{head}  time: {_fmt(hub.mean(f"{mode}/time", self.interval))}  '
                           f'data_time: {_fmt(hub.mean(f"{mode}/data_time", self.interval))}')

    def after_val_iter(self, runner, batch_idx, data_batch=None, outputs=None) -> None:
        self._progress(runner, 'val', batch_idx)

    def after_test_iter(self, runner, batch_idx, data_batch=None, outputs=None) -> None:
        self._progress(runner, 'test', batch_idx)

    def _metrics(self, runner, mode: str, metrics: dict[str, Any] | None) -> None:
        metrics = metrics or {}
        loop = runner.val_loop if mode == 'val' else runner.test_loop
        total = len(loop.dataloader)
        by_epoch = _val_at_epoch_end(runner, mode)
        head = (f'Epoch({mode}) [{runner.epoch}][{total}/{total}]' if by_epoch
                else f'Iter({mode}) [{total}/{total}]')
        shown = {k: v for k, v in metrics.items() if isinstance(v, (int, float))}
        hub = runner.message_hub
        body = '  '.join(f'{k}: {_fmt(float(v), self.num_digits)}' for k, v in shown.items())
        runner.logger.info(f'{head}  {body}  data_time: {_fmt(hub.mean(f"{mode}/data_time"))}  '
                           f'time: {_fmt(hub.mean(f"{mode}/time"))}')
        if shown:
            step = runner.epoch if (by_epoch and self.log_metric_by_epoch) else runner.iter
            runner.visualizer.add_scalars({f'{mode}/{k}' if '/' not in k else k: float(v)
                                           for k, v in shown.items()}, step=step)
        hub.clear(f'{mode}/')

    def after_val_epoch(self, runner, metrics=None) -> None:
        self._metrics(runner, 'val', metrics)

    def after_test_epoch(self, runner, metrics=None) -> None:
        self._metrics(runner, 'test', metrics)
