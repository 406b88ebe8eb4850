"""Train, validation and test loops.

The training step is one line (``model.train_step``); timing, logging, schedules, checkpoints and
everything else are hooks. Before the ``after_train_iter`` / ``after_train_epoch`` hooks run, the loop
records :attr:`Runner.position` — where training would continue from if it stopped right there — and
that is what a checkpoint saves, so resuming mid-epoch or at an epoch boundary continues exactly.
"""
from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Any

import torch

from ..config.checks import check_bool, check_int, key_path
from ..models.base import NonFiniteLossError
from ..registry import LOOPS
from .randomness import preserve_rng

if TYPE_CHECKING:  # pragma: no cover
    from .runner import Runner

__all__ = ['EpochBasedTrainLoop', 'IterBasedTrainLoop', 'ValLoop', 'TestLoop', 'StopRequested']


class StopRequested(Exception):
    """Raised by a training loop at a safe point after a stop signal (the Runner saves and exits).

    ``pending_val``: training stopped before (or during) a validation that was due, which a resumed run
    performs first."""

    def __init__(self, pending_val: bool = False) -> None:
        super().__init__('stop requested')
        self.pending_val = pending_val


def _sampler(dataloader):
    bs = getattr(dataloader, 'batch_sampler', None)
    return getattr(bs, 'sampler', None) or getattr(dataloader, 'sampler', None)


def _batch_size(dataloader) -> int:
    if getattr(dataloader, 'batch_size', None):
        return int(dataloader.batch_size)
    return int(getattr(dataloader.batch_sampler, 'batch_size', 1))


class _TrainLoop:
    by_epoch: bool

    def __init__(self, runner: 'Runner', dataloader, val_begin: int = 1, val_interval: int = 1) -> None:
        self.runner = runner
        self.dataloader = dataloader
        self.val_begin = check_int(val_begin, key_path('val_begin', 'train_cfg'), low=0)
        self.val_interval = check_int(val_interval, key_path('val_interval', 'train_cfg'), low=1)
        self.stop_training = False
        self.resume_inner_iter = 0  # batches of the current epoch already done (from the runner, on resume)
        self.resume_pending_val = False  # a validation a signal interrupted runs first (likewise)

    def _take_resume_point(self) -> None:
        self.resume_inner_iter, self.resume_pending_val = self.runner.take_resume_point()

    def _stop_point(self, pending_val: bool = False) -> None:
        """A safe place to stop: when a stop signal came (:meth:`Runner.stop_requested`), raise
        :class:`StopRequested`; ``pending_val`` says a due validation has not run yet."""
        if self.runner.stop_requested():
            raise StopRequested(pending_val)

    def _run_pending_val(self) -> None:
        if self.resume_pending_val:
            self.resume_pending_val = False
            self.runner.val_loop.run()

    def val_due(self, done: int) -> bool:
        """Whether validation runs once ``done`` epochs (epoch-based) or iterations are complete."""
        limit = self.max_epochs if self.by_epoch else self.max_iters
        return (self.runner.val_loop is not None and done >= self.val_begin
                and (done % self.val_interval == 0 or done == limit))

    def run_iter(self, batch_idx: int, data_batch: Any, epoch_len: int | None) -> None:
        runner = self.runner
        runner.call_hook('before_train_iter', batch_idx=batch_idx, data_batch=data_batch)
        try:
            outputs = runner.model.train_step(data_batch, runner.optim_wrapper)
        except NonFiniteLossError as exc:
            where = f'iteration {runner.iter + 1}'
            if self.by_epoch:
                where += f' (epoch {runner.epoch + 1}, batch {batch_idx + 1}/{epoch_len})'
            raise NonFiniteLossError(f'{exc} at {where}; training stopped before updating the weights. '
                                     'Lower the learning rate, add clip_grad, or check the data.') from None
        if runner.optim_wrapper is not None and getattr(runner.optim_wrapper, 'last_grad_norm', None) is not None:
            outputs = dict(outputs)
            outputs['grad_norm'] = float(runner.optim_wrapper.last_grad_norm)
        runner.message_hub.update_scalars(outputs, prefix='train/')
        inner = batch_idx + 1 if self.by_epoch else 0
        runner.position = dict(epoch=runner.epoch, iter=runner.iter + 1, inner_iter=inner)
        runner.call_hook('after_train_iter', batch_idx=batch_idx, data_batch=data_batch, outputs=outputs)
        runner.advance_iter()


@LOOPS.register_module()
class EpochBasedTrainLoop(_TrainLoop):
    """Train for ``max_epochs`` epochs; validate every ``val_interval`` epochs from ``val_begin`` on."""

    by_epoch = True

    def __init__(self, runner: 'Runner', dataloader, max_epochs: int, val_begin: int = 1,
                 val_interval: int = 1) -> None:
        self.max_epochs = check_int(max_epochs, key_path('max_epochs', 'train_cfg'), low=1)
        super().__init__(runner, dataloader, val_begin, val_interval)
        self.max_iters = self.max_epochs * len(dataloader)

    def run(self) -> None:
        runner = self.runner
        runner.call_hook('before_train')
        self._take_resume_point()
        self._run_pending_val()
        while runner.epoch < self.max_epochs and not self.stop_training:
            self.run_epoch()
            due = self.val_due(runner.epoch)
            self._stop_point(pending_val=due)
            if due:
                runner.val_loop.run()
                self._stop_point()
        runner.call_hook('after_train')

    def run_epoch(self) -> None:
        runner = self.runner
        runner.call_hook('before_train_epoch')
        runner.model.train()
        start = self.resume_inner_iter
        self.resume_inner_iter = 0
        gen = getattr(self.dataloader, 'generator', None)
        if gen is not None:  # worker seeds depend on (seed, epoch) only, so a resumed epoch repeats exactly
            gen.manual_seed(runner.seed * 1000003 + runner.epoch)
        epoch_len = len(self.dataloader)
        if start < epoch_len:  # start == epoch_len: stopped after the last batch, before the epoch's end
            if start:
                sampler = _sampler(self.dataloader)
                if not hasattr(sampler, 'set_skip'):
                    raise RuntimeError('resuming in the middle of an epoch needs a sampler with set_skip '
                                       '(DefaultSampler); this one is ' + type(sampler).__name__)
                sampler.set_skip(start * _batch_size(self.dataloader))
            for batch_idx, data_batch in enumerate(self.dataloader, start=start):
                self.run_iter(batch_idx, data_batch, epoch_len)
                self._stop_point()
        runner.position = dict(epoch=runner.epoch + 1, iter=runner.iter, inner_iter=0)
        runner.call_hook('after_train_epoch')
        runner.advance_epoch()


class _Endless:
    """Iterate a dataloader forever: a finite sampler starts a new epoch when it runs out."""

    def __init__(self, dataloader, consumed_batches: int) -> None:
        self.dataloader = dataloader
        sampler = _sampler(dataloader)
        self.epoch = 0
        if consumed_batches:
            if getattr(sampler, 'infinite', False) or type(sampler).__name__ == 'InfiniteSampler':
                sampler.set_skip(consumed_batches * _batch_size(dataloader))
            else:
                self.epoch, inner = divmod(consumed_batches, len(dataloader))
                if inner:
                    if not hasattr(sampler, 'set_skip'):
                        raise RuntimeError('resuming iteration-based training needs a sampler with set_skip')
                    sampler.set_skip(inner * _batch_size(dataloader))
        if hasattr(sampler, 'set_epoch'):
            sampler.set_epoch(self.epoch)
        self._it = iter(dataloader)

    def __next__(self):
        try:
            return next(self._it)
        except StopIteration:
            self.epoch += 1
            sampler = _sampler(self.dataloader)
            if hasattr(sampler, 'set_epoch'):
                sampler.set_epoch(self.epoch)
            self._it = iter(self.dataloader)
            return next(self._it)


@LOOPS.register_module()
class IterBasedTrainLoop(_TrainLoop):
    """Train for ``max_iters`` iterations; validate every ``val_interval`` iterations from ``val_begin`` on."""

    by_epoch = False

    def __init__(self, runner: 'Runner', dataloader, max_iters: int, val_begin: int = 1,
                 val_interval: int = 1000) -> None:
        self.max_iters = check_int(max_iters, key_path('max_iters', 'train_cfg'), low=1)
        super().__init__(runner, dataloader, val_begin, val_interval)
        self.max_epochs = None

    def run(self) -> None:
        runner = self.runner
        runner.call_hook('before_train')
        runner.call_hook('before_train_epoch')
        self._take_resume_point()
        self._run_pending_val()
        data = _Endless(self.dataloader, runner.iter)
        runner.model.train()
        while runner.iter < self.max_iters and not self.stop_training:
            self.run_iter(runner.iter, next(data), None)
            due = self.val_due(runner.iter)
            self._stop_point(pending_val=due)
            if due:
                runner.val_loop.run()
                self._stop_point()
                runner.model.train()
        runner.position = dict(epoch=0, iter=runner.iter, inner_iter=0)
        runner.call_hook('after_train_epoch')
        runner.call_hook('after_train')


class _EvalLoop:
    mode = 'val'

    def __init__(self, runner: 'Runner', dataloader, evaluator, fp16: bool = False) -> None:
        self.runner = runner
        self.dataloader = dataloader
        self.evaluator = evaluator
        self.fp16 = check_bool(fp16, key_path('fp16', f'{self.mode}_cfg'))
        meta = getattr(dataloader.dataset, 'metainfo', None)
        if meta is not None:
            self.evaluator.dataset_meta = meta
            runner.visualizer.dataset_meta = meta

    def _autocast(self):
        if not self.fp16:
            return contextlib.nullcontext()
        device = 'cuda' if torch.cuda.is_available() else 'cpu'
        return torch.autocast(device, dtype=torch.float16 if device == 'cuda' else torch.bfloat16)

    def run(self) -> dict:
        """Run the whole evaluation; global RNG states are left as they were (training stays exact).

        The ``after_*_epoch`` hooks run once the training RNG state is back, so a checkpoint written
        there (the checkpoint hook defers an epoch-end save past a validation that follows it) holds
        both the validation's effects on hook state and the right RNG state.
        """
        runner, m = self.runner, self.mode
        with preserve_rng():
            runner.call_hook(f'before_{m}')
            runner.call_hook(f'before_{m}_epoch')
            runner.model.eval()
            for batch_idx, data_batch in enumerate(self._iterate()):
                # One process only: ranks may hold different numbers of validation batches, so a distributed run
                # checks (collectively) between training iterations and finishes a validation it is in.
                if m == 'val' and runner.training and runner.world_size == 1 and runner.stop_requested():
                    raise StopRequested(pending_val=True)  # the resumed run validates again from the start
                runner.call_hook(f'before_{m}_iter', batch_idx=batch_idx, data_batch=data_batch)
                with torch.no_grad(), self._autocast():
                    outputs = getattr(runner.model, f'{m}_step')(data_batch)
                # by keyword: an evaluator of another class written for MMEngine takes (data_samples, data_batch)
                self.evaluator.process(data_batch=data_batch, data_samples=outputs)
                runner.call_hook(f'after_{m}_iter', batch_idx=batch_idx, data_batch=data_batch, outputs=outputs)
            metrics = self.evaluator.evaluate(len(self.dataloader.dataset))
        runner.call_hook(f'after_{m}_epoch', metrics=metrics)
        runner.call_hook(f'after_{m}')
        return metrics

    def _iterate(self):
        return self.dataloader


@LOOPS.register_module()
class ValLoop(_EvalLoop):
    mode = 'val'


@LOOPS.register_module()
class TestLoop(_EvalLoop):
    """Like ValLoop, with a progress bar on rank 0 when the output is a terminal."""

    mode = 'test'

    def _iterate(self):
        if self.runner.rank != 0:
            return self.dataloader
        from tqdm import tqdm
        return tqdm(self.dataloader, desc='test', unit='batch', disable=None, dynamic_ncols=True)
