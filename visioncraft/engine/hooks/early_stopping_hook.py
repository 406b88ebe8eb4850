"""EarlyStoppingHook: stop training when a validation metric stops improving."""
from __future__ import annotations

import math

from ...config.checks import check_int, check_number, key_path
from ...registry import HOOKS
from .checkpoint_hook import infer_rule
from .hook import Hook, Priority

__all__ = ['EarlyStoppingHook']


@HOOKS.register_module()
class EarlyStoppingHook(Hook):
    """Stop when ``monitor`` has not improved by more than ``min_delta`` for ``patience`` validations.

    Args:
        monitor: the metric key, e.g. ``'coco/bbox_mAP'``.
        rule: ``'greater'`` or ``'less'``; inferred from the name when omitted.
        min_delta: the smallest change that counts as an improvement.
        patience: how many validations without improvement are tolerated.
        stopping_threshold: stop at once when the metric reaches this value.
        check_finite: stop when the metric is NaN or infinite.
    """

    priority = Priority.LOW

    def __init__(self, monitor: str, rule: str | None = None, min_delta: float = 0.1, strict: bool = False,
                 check_finite: bool = True, patience: int = 5, stopping_threshold: float | None = None) -> None:
        self.monitor = monitor
        self.rule = rule
        key = lambda name: key_path(name, 'EarlyStoppingHook')  # noqa: E731
        self.min_delta = abs(check_number(min_delta, key('min_delta')))
        self.strict = strict
        self.check_finite = check_finite
        self.patience = check_int(patience, key('patience'), low=1)
        self.stopping_threshold = stopping_threshold
        self.best: float | None = None
        self.wait_count = 0

    def after_val_epoch(self, runner, metrics=None) -> None:
        if not runner.train_loop_built:
            return
        metrics = metrics or {}
        if self.monitor not in metrics:
            if self.strict:
                raise KeyError(f'EarlyStoppingHook monitor={self.monitor!r} is not among the validation '
                               f"metrics: {', '.join(metrics)}")
            runner.logger.warning(f'EarlyStoppingHook: {self.monitor!r} not in metrics; skipped')
            return
        rule = self.rule or infer_rule(self.monitor)
        score = float(metrics[self.monitor])
        sign = 1.0 if rule == 'greater' else -1.0
        reason = None
        if self.check_finite and not math.isfinite(score):
            reason = f'{self.monitor} is {score}'
        elif self.stopping_threshold is not None and sign * (score - self.stopping_threshold) >= 0:
            reason = f'{self.monitor} reached {score:.4f} (threshold {self.stopping_threshold})'
        elif self.best is None or sign * (score - self.best) > self.min_delta:
            self.best, self.wait_count = score, 0
        else:
            self.wait_count += 1
            if self.wait_count >= self.patience:
                reason = (f'{self.monitor} has not improved by more than {self.min_delta} for '
                          f'{self.patience} validations (best {self.best:.4f})')
        if reason:
            runner.train_loop.stop_training = True
            runner.logger.info(f'Early stopping: {reason}')

    def state_dict(self) -> dict:
        return {'best': self.best, 'wait_count': self.wait_count}

    def load_state_dict(self, state: dict) -> None:
        self.best = state.get('best')
        self.wait_count = int(state.get('wait_count', 0))
