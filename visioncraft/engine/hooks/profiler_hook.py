"""ProfilerHook: torch.profiler over the first iterations or epochs, written as a Chrome trace."""
from __future__ import annotations

from pathlib import Path

import torch

from ...config.checks import check_int, key_path
from ...registry import HOOKS
from .hook import Hook, Priority

__all__ = ['ProfilerHook']


@HOOKS.register_module()
class ProfilerHook(Hook):
    """Profile ``profile_times`` training iterations (or epochs when ``by_epoch``), then write
    ``<log_dir>/profiler/trace.json`` (open it in chrome://tracing or Perfetto) and log the top operators.

    Args:
        activity_with_cuda: also record CUDA kernels (when CUDA is available).
        record_shapes / profile_memory / with_stack: passed to ``torch.profiler.profile``.
        json_trace_path: where to write the trace instead of the default.
    """

    priority = Priority.VERY_LOW

    def __init__(self, by_epoch: bool = False, profile_times: int = 1, activity_with_cpu: bool = True,
                 activity_with_cuda: bool = False, record_shapes: bool = False, profile_memory: bool = False,
                 with_stack: bool = False, json_trace_path: str | None = None, row_limit: int = 15) -> None:
        profile_times = check_int(profile_times, key_path('profile_times', 'ProfilerHook'), low=1)
        self.by_epoch = by_epoch
        self.profile_times = profile_times
        acts = []
        if activity_with_cpu:
            acts.append(torch.profiler.ProfilerActivity.CPU)
        if activity_with_cuda and torch.cuda.is_available():
            acts.append(torch.profiler.ProfilerActivity.CUDA)
        self.activities = acts
        self.kwargs = dict(record_shapes=record_shapes, profile_memory=profile_memory, with_stack=with_stack)
        self.json_trace_path = json_trace_path
        self.row_limit = row_limit
        self.trace_path: Path | None = None
        self._prof = None
        self._count = 0

    def before_train(self, runner) -> None:
        self._prof = torch.profiler.profile(activities=self.activities, **self.kwargs)
        self._prof.__enter__()
        self._count = 0

    def _tick(self, runner) -> None:
        if self._prof is None:
            return
        self._count += 1
        if self._count >= self.profile_times:
            self._finish(runner)

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None) -> None:
        if not self.by_epoch:
            self._tick(runner)

    def after_train_epoch(self, runner) -> None:
        if self.by_epoch:
            self._tick(runner)

    def after_train(self, runner) -> None:
        self._finish(runner)

    def _finish(self, runner) -> None:
        if self._prof is None:
            return
        prof, self._prof = self._prof, None
        prof.__exit__(None, None, None)
        path = Path(self.json_trace_path) if self.json_trace_path else Path(runner.log_dir) / 'profiler' / 'trace.json'
        path.parent.mkdir(parents=True, exist_ok=True)
        prof.export_chrome_trace(str(path))
        self.trace_path = path
        table = prof.key_averages().table(sort_by='self_cpu_time_total', row_limit=self.row_limit)
        runner.logger.info(f'Profiler trace of {self._count} {"epochs" if self.by_epoch else "iterations"} '
                           f'written to {path}\n{table}')
