"""Hook base class and priorities.

A hook is called at fixed points of a run (``before_train_iter``, ``after_val_epoch``, ...). Hooks run in
priority order (lower number first; ties keep registration order). A hook that keeps state across a run
(EMA weights, early-stopping counters) returns it from :meth:`state_dict`; the checkpoint stores it and
:meth:`load_state_dict` restores it on resume.
"""
from __future__ import annotations

from enum import IntEnum
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from ..runner import Runner

__all__ = ['Hook', 'Priority', 'get_priority', 'HOOK_POINTS']


class Priority(IntEnum):
    HIGHEST = 0
    VERY_HIGH = 10
    HIGH = 30
    ABOVE_NORMAL = 40
    NORMAL = 50
    BELOW_NORMAL = 60
    LOW = 70
    VERY_LOW = 90
    LOWEST = 100


def get_priority(priority: int | str | Priority) -> int:
    """An int priority from an int (0..100), a Priority or its name ('NORMAL', 'very_low')."""
    if isinstance(priority, str):
        try:
            return int(Priority[priority.upper()])
        except KeyError:
            raise ValueError(f'unknown hook priority {priority!r}; use one of '
                             f'{", ".join(p.name for p in Priority)} or an int 0..100') from None
    priority = int(priority)
    if not 0 <= priority <= 100:
        raise ValueError(f'hook priority must be within 0..100, got {priority}')
    return priority


HOOK_POINTS = (
    'before_run', 'after_run', 'before_train', 'after_train', 'before_train_epoch', 'after_train_epoch',
    'before_train_iter', 'after_train_iter', 'before_val', 'after_val', 'before_val_epoch', 'after_val_epoch',
    'before_val_iter', 'after_val_iter', 'before_test', 'after_test', 'before_test_epoch', 'after_test_epoch',
    'before_test_iter', 'after_test_iter', 'before_save_checkpoint', 'after_load_checkpoint',
)


class Hook:
    """Base class: override the points you need. ``runner`` is the :class:`~visioncraft.engine.Runner`."""

    priority: int = Priority.NORMAL

    def before_run(self, runner: 'Runner') -> None: ...
    def after_run(self, runner: 'Runner') -> None: ...
    def before_train(self, runner: 'Runner') -> None: ...
    def after_train(self, runner: 'Runner') -> None: ...
    def before_train_epoch(self, runner: 'Runner') -> None: ...
    def after_train_epoch(self, runner: 'Runner') -> None: ...
    def before_train_iter(self, runner: 'Runner', batch_idx: int, data_batch: Any = None) -> None: ...
    def after_train_iter(self, runner: 'Runner', batch_idx: int, data_batch: Any = None,
                         outputs: dict | None = None) -> None: ...
    def before_val(self, runner: 'Runner') -> None: ...
    def after_val(self, runner: 'Runner') -> None: ...
    def before_val_epoch(self, runner: 'Runner') -> None: ...
    def after_val_epoch(self, runner: 'Runner', metrics: dict | None = None) -> None: ...
    def before_val_iter(self, runner: 'Runner', batch_idx: int, data_batch: Any = None) -> None: ...
    def after_val_iter(self, runner: 'Runner', batch_idx: int, data_batch: Any = None,
                       outputs: Any = None) -> None: ...
    def before_test(self, runner: 'Runner') -> None: ...
    def after_test(self, runner: 'Runner') -> None: ...
    def before_test_epoch(self, runner: 'Runner') -> None: ...
    def after_test_epoch(self, runner: 'Runner', metrics: dict | None = None) -> None: ...
    def before_test_iter(self, runner: 'Runner', batch_idx: int, data_batch: Any = None) -> None: ...
    def after_test_iter(self, runner: 'Runner', batch_idx: int, data_batch: Any = None,
                        outputs: Any = None) -> None: ...
    def before_save_checkpoint(self, runner: 'Runner', checkpoint: dict) -> None: ...
    def after_load_checkpoint(self, runner: 'Runner', checkpoint: dict) -> None: ...

    def state_dict(self) -> dict:
        """State to keep in checkpoints; empty means nothing to keep."""
        return {}

    def load_state_dict(self, state: dict) -> None:
        return None

    # Small helpers shared by hooks.
    @staticmethod
    def every_n_train_iters(runner: 'Runner', n: int) -> bool:
        return n > 0 and (runner.iter + 1) % n == 0

    @staticmethod
    def every_n_epochs(runner: 'Runner', n: int) -> bool:
        return n > 0 and (runner.epoch + 1) % n == 0

    @staticmethod
    def is_last_train_iter(runner: 'Runner') -> bool:
        return runner.iter + 1 == runner.max_iters

    @staticmethod
    def is_last_train_epoch(runner: 'Runner') -> bool:
        return runner.epoch + 1 == runner.max_epochs
