"""CheckpointHook: regular, last and best checkpoints, with a ``last_checkpoint`` pointer.

What it deletes (``max_keep_ckpts``, a replaced best checkpoint) is only ever a file of its own checkpoint
folder, named in its state by file name alone: a run resumed in a copy of another run's work dir never
touches the original's files. Temporary files of killed writes are removed when a run starts and after each
save.
"""
from __future__ import annotations

import math
import os
from pathlib import Path

from ...config.checks import check_bool, check_int, key_path
from ...registry import HOOKS
from ...fileio.checkpoint import remove_stale_temp_files, write_last_checkpoint
from .hook import Hook, Priority

__all__ = ['CheckpointHook', 'infer_rule']

_GREATER = ('acc', 'top', 'ap', 'ar', 'map', 'auc', 'precision', 'recall', 'f1', 'hmean', 'pck', 'iou', 'dice',
            'score', 'word_acc', 'char_')
_LESS = ('loss', 'error', 'err', 'epe', 'nme', 'wer', 'cer', 'distance')


def infer_rule(key: str) -> str:
    """'greater' or 'less' from a metric name ('coco/bbox_mAP' -> greater, 'val/loss' -> less)."""
    name = key.split('/')[-1].lower()
    if any(t in name for t in _LESS):
        return 'less'
    if any(t in name for t in _GREATER):
        return 'greater'
    raise ValueError(f"cannot tell whether larger or smaller is better for metric {key!r}: "
                     f"set CheckpointHook rule='greater' or 'less'")


@HOOKS.register_module()
class CheckpointHook(Hook):
    """Save checkpoints while training.

    Args:
        interval: save every ``interval`` epochs (``by_epoch``) or iterations; -1 disables periodic saves.
        by_epoch: count ``interval`` in epochs or in iterations.
        max_keep_ckpts: keep only the newest N periodic checkpoints (-1 keeps all). Best ones are separate.
        save_last: also save at the end of training even when it is not on the interval.
        save_best: a metric name, a list of names, or ``'auto'`` (the first metric of each validation).
            The best checkpoint is ``best_<metric>_epoch_N.pth`` (``/`` in names becomes ``_``); the previous
            best file is removed when a better one is written.
        rule: ``'greater'`` or ``'less'`` (or one per metric); inferred from the name when omitted.
        out_dir: where to write (default: the work dir).
        save_optimizer / save_param_scheduler: include optimizer and scheduler states (needed to resume).
    """

    priority = Priority.VERY_LOW

    def __init__(self, interval: int = -1, by_epoch: bool = True, save_optimizer: bool = True,
                 save_param_scheduler: bool = True, out_dir: str | None = None, max_keep_ckpts: int = -1,
                 save_last: bool = True, save_best: str | list[str] | None = None,
                 rule: str | list[str] | None = None, filename_tmpl: str | None = None) -> None:
        key = lambda name: key_path(name, 'CheckpointHook')  # noqa: E731
        self.interval = check_int(interval, key('interval'), low=1, also=(-1,),
                                  what='an integer >= 1, or -1 for no periodic checkpoints')
        self.by_epoch = check_bool(by_epoch, key('by_epoch'))
        self.save_optimizer = save_optimizer
        self.save_param_scheduler = save_param_scheduler
        self.out_dir = out_dir
        self.max_keep_ckpts = check_int(max_keep_ckpts, key('max_keep_ckpts'), low=1, also=(-1,),
                                        what='an integer >= 1, or -1 to keep every checkpoint')
        self.save_last = check_bool(save_last, key('save_last'))
        self.save_best = [save_best] if isinstance(save_best, str) else list(save_best or [])
        if 'auto' in self.save_best and len(self.save_best) > 1:
            raise ValueError("CheckpointHook save_best='auto' cannot be combined with other metric names")
        rules = [rule] * max(len(self.save_best), 1) if rule is None or isinstance(rule, str) else list(rule)
        if self.save_best and len(rules) != len(self.save_best):
            raise ValueError(f'CheckpointHook: {len(self.save_best)} save_best metrics but {len(rules)} rules')
        for r in rules:
            if r not in (None, 'greater', 'less'):
                raise ValueError(f"CheckpointHook rule must be 'greater' or 'less', got {r!r}")
        self.rules = rules
        self.filename_tmpl = filename_tmpl or ('epoch_{}.pth' if by_epoch else 'iter_{}.pth')
        self.kept: list[str] = []  # file names in the checkpoint folder, oldest first
        self._pending: int | None = None  # a save waiting for the validation that follows it
        self.best: dict[str, dict] = {}  # metric -> {'score': float, 'path': file name}

    def _dir(self, runner) -> Path:
        return Path(self.out_dir) if self.out_dir else Path(runner.work_dir)

    def _remove_own(self, runner, name: str) -> None:
        """Delete ``name`` from this hook's checkpoint folder (a plain file name; anything else is refused)."""
        if runner.rank != 0 or Path(name).name != name:
            return
        path = self._dir(runner) / name
        if path.is_file():
            path.unlink()

    def before_run(self, runner) -> None:
        if runner.rank == 0:
            for folder in {self._dir(runner), Path(runner.work_dir)}:
                removed = remove_stale_temp_files(folder)
                if removed:
                    runner.logger.info(f'Removed {len(removed)} temporary file(s) of interrupted checkpoint '
                                       f'writes from {folder}')

    # -- periodic -------------------------------------------------------------------------------
    # A save point followed at once by a validation is written after that validation (in
    # after_val_epoch), so what the validation changes (best score, early-stopping counters) is in the
    # checkpoint and a resumed run continues exactly as an uninterrupted one.
    def after_train_epoch(self, runner) -> None:
        if not self.by_epoch:
            return
        if self.every_n_epochs(runner, self.interval) or (self.save_last and self.is_last_train_epoch(runner)):
            self._save_or_defer(runner, runner.epoch + 1)

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None) -> None:
        if self.by_epoch:
            return
        if self.every_n_train_iters(runner, self.interval) or (self.save_last and self.is_last_train_iter(runner)):
            self._save_or_defer(runner, runner.iter + 1)

    def _save_or_defer(self, runner, n: int) -> None:
        loop = runner.train_loop
        at_epoch_end = loop.by_epoch == self.by_epoch  # iteration saves inside epochs never wait
        if at_epoch_end and hasattr(loop, 'val_due') and loop.val_due(n):
            self._pending = n
        else:
            self._save_regular(runner, n)

    def _save_regular(self, runner, n: int) -> None:
        self.save_latest(runner, self.filename_tmpl.format(n))

    def save_latest(self, runner, name: str) -> Path:
        """Write ``name`` in the checkpoint folder with the full training state, point ``last_checkpoint`` at
        it and apply ``max_keep_ckpts`` (the Runner also calls this when a signal stops training)."""
        path = self._dir(runner) / name
        if name in self.kept:  # before saving, so the checkpoint's hook state lists itself last
            self.kept.remove(name)
        self.kept.append(name)
        runner.save_checkpoint(path, save_optimizer=self.save_optimizer,
                               save_param_scheduler=self.save_param_scheduler)
        if runner.rank != 0:
            return path
        write_last_checkpoint(runner.work_dir, path)
        if self.max_keep_ckpts > 0:
            best = {b['path'] for b in self.best.values()}
            while len(self.kept) > self.max_keep_ckpts:
                old = self.kept.pop(0)
                if old not in best:
                    self._remove_own(runner, old)
        remove_stale_temp_files(self._dir(runner))
        return path

    # -- best -----------------------------------------------------------------------------------
    def after_val_epoch(self, runner, metrics=None) -> None:
        self._save_best(runner, metrics)
        if self._pending is not None:
            n, self._pending = self._pending, None
            self._save_regular(runner, n)

    def _save_best(self, runner, metrics) -> None:
        if not self.save_best or not metrics or not runner.train_loop_built:
            return
        keys = [next(iter(metrics))] if self.save_best == ['auto'] else self.save_best
        rules = self.rules if self.save_best != ['auto'] else [self.rules[0]]
        for key, rule in zip(keys, rules):
            if key not in metrics:
                raise KeyError(f"CheckpointHook save_best={key!r} is not among the validation metrics: "
                               f"{', '.join(metrics)}")
            rule = rule or infer_rule(key)
            score = float(metrics[key])
            if not math.isfinite(score):
                continue
            prev = self.best.get(key)
            better = prev is None or (score > prev['score'] if rule == 'greater' else score < prev['score'])
            if not better:
                continue
            by_epoch = runner.train_loop.by_epoch
            step = f'epoch_{runner.epoch}' if by_epoch else f'iter_{runner.iter}'
            path = self._dir(runner) / f"best_{key.replace('/', '_')}_{step}.pth"
            if prev is not None and prev['path'] not in self.kept and prev['path'] != path.name:
                self._remove_own(runner, prev['path'])
            self.best[key] = {'score': score, 'path': path.name}
            pending, self._pending = self._pending, None  # a best checkpoint resumes after its validation
            try:
                runner.save_checkpoint(path, save_optimizer=False, save_param_scheduler=False)
            finally:
                self._pending = pending
            runner.logger.info(f'The best checkpoint with {score:.4f} {key} at {step.replace("_", " ")} '
                               f'is saved to {path.name}.')

    def state_dict(self) -> dict:
        return {'kept': list(self.kept), 'best': {k: dict(v) for k, v in self.best.items()},
                'pending': self._pending}

    def load_state_dict(self, state: dict) -> None:
        # file names only: a checkpoint written elsewhere (absolute paths of older versions, a copied work dir)
        # can only ever name files of this run's own checkpoint folder
        self.kept = [os.path.basename(p) for p in state.get('kept', [])]
        self.best = {k: dict(v, path=os.path.basename(v['path'])) for k, v in state.get('best', {}).items()}
        self._pending = state.get('pending')
