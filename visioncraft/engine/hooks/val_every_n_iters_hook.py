"""ValEveryNItersHook: validation every N training iterations inside epoch-based training."""
from __future__ import annotations

from typing import Any

from ...config.checks import check_int, key_path
from ...registry import HOOKS
from .hook import Hook

__all__ = ['ValEveryNItersHook']


@HOOKS.register_module()
class ValEveryNItersHook(Hook):
    """Validate after training iteration ``n`` (counted from 1 over the whole run) when ``n > begin`` and
    ``(n - begin) % interval == 0`` — PaddleOCR's ``Global.eval_batch_step: [begin, interval]``, inside
    epoch-based training (whose loop validates only at epoch ends). The best checkpoint is then chosen by the
    CheckpointHook's ``save_best`` as after any validation. Does nothing when the run has no validation.
    """

    priority = 'LOW'

    def __init__(self, interval: int, begin: int = 0) -> None:
        self.interval = check_int(interval, key_path('interval', 'ValEveryNItersHook'), low=1)
        self.begin = check_int(begin, key_path('begin', 'ValEveryNItersHook'), low=0)

    def after_train_iter(self, runner, batch_idx: int, data_batch: Any = None, outputs: Any = None) -> None:
        n = runner.iter + 1
        if n <= self.begin or (n - self.begin) % self.interval or runner.val_loop is None:
            return
        runner.val_loop.run()
        runner.model.train()
