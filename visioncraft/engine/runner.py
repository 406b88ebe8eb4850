"""Runner: builds what a config describes, then trains, validates or tests.

``Runner(cfg)`` takes a :class:`~visioncraft.config.Config` (or a dict). Every entry may be a config
dict or an already-built object (a model, a DataLoader, a Hook...), so the same class serves config
files and plain Python. Loops, the optimizer and the schedulers are built when they are first needed,
so ``test()`` never touches the training data.

Recognised top-level keys: ``model, work_dir, train_dataloader, val_dataloader, test_dataloader,
train_cfg, val_cfg, test_cfg, optim_wrapper, param_scheduler, val_evaluator, test_evaluator,
default_hooks, custom_hooks, visualizer, load_from, resume, launcher, env_cfg, randomness,
auto_scale_lr, log_level, find_unused_parameters, sync_bn, experiment_name, requeue, default_scope,
model_wrapper_cfg, custom_imports, strict_config`` (:data:`visioncraft.config.checks.RUNNER_KEYS`). Any other
top-level key is a variable of the config, unless it is close to a known key (``train_dataloder``): then it is
logged as a warning naming the known key, or, with ``strict_config=True``, an error.

Stopping: SIGTERM (what Slurm and most schedulers send before they kill a job), SIGINT (Ctrl-C) and SIGUSR1
(Slurm's ``--signal=USR1@SECONDS`` warning) make :meth:`Runner.train` finish the current iteration, write a
checkpoint of exactly that point (``iter_N.pth``, or the epoch's at an epoch boundary, with ``last_checkpoint``
updated), log one line and raise :class:`TrainingInterrupted`, a ``SystemExit`` with status 128 + the signal
number (143 for SIGTERM, 130 for SIGINT). A second signal stops at once. With ``requeue=True`` (``--requeue``)
and ``SLURM_JOB_ID`` set, the job is requeued (``scontrol requeue``); a requeued job
(``SLURM_RESTART_COUNT`` > 0) resumes from its work dir by itself.
"""
from __future__ import annotations

import contextlib
import copy
import os
import platform
import signal
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .. import __version__, dist
from ..config import Config
from ..config.checks import check_bool, check_int, check_mapping, mmcv_era_key_report, top_level_key_report
from ..config.compat.mmdet2 import translation_note
from ..errors import UserError
from ..evaluation import Evaluator
from ..fileio.checkpoint import (LAST_CHECKPOINT, checkpoint_candidates, checkpoint_meta, extract_state_dict,
                                 load_checkpoint_file, load_model_weights, read_last_checkpoint, save_checkpoint,
                                 write_last_checkpoint)
from ..models.backbones.pretrained import pretrained_weights_skipped
from ..registry import (EVALUATORS, LOOPS, MODEL_WRAPPERS, MODELS, VISUALIZERS, config_file_context,
                        set_default_scope)
from .builder import DEFAULT_HOOKS, build_dataloader, build_hook
from .hooks import HOOK_POINTS, Hook, get_priority
from .logging import FILE_ONLY, MessageHub, setup_logger
from .loops import StopRequested
from .optim import build_optim_wrapper, build_param_schedulers
from .randomness import get_rng_state, set_random_seed, set_rng_state

__all__ = ['Runner', 'TrainingInterrupted', 'ResumeError', 'STOP_SIGNALS']

#: the signals that stop training cleanly (finish the iteration, save, exit)
STOP_SIGNALS = tuple(getattr(signal, n) for n in ('SIGTERM', 'SIGINT', 'SIGUSR1') if hasattr(signal, n))


class TrainingInterrupted(SystemExit):
    """Training stopped on a signal. ``code`` is 128 + the signal number (130 for SIGINT, 143 for SIGTERM),
    the status a shell, Slurm and job schedulers report for a job a signal ended; ``checkpoint`` is the file
    written (None when a second signal stopped at once)."""

    def __init__(self, signum: int, checkpoint: Path | None = None) -> None:
        super().__init__(128 + int(signum))
        self.signum = int(signum)
        self.checkpoint = checkpoint


class ResumeError(UserError, FileNotFoundError):
    """``--resume`` found a ``last_checkpoint`` pointer but no checkpoint it could load, or was given a
    weights-only file (a model-zoo checkpoint: that is ``load_from``)."""


#: the keys of a checkpoint that carry training state (ours and MMEngine's): a checkpoint with none of them (a
#: model-zoo file: ``state_dict`` and ``meta`` only) cannot be resumed
TRAINING_STATE_KEYS = ('optimizer', 'param_schedulers', 'hooks', 'rng', 'message_hub')


def _as_dict(x: Any) -> Any:
    return x.to_dict() if hasattr(x, 'to_dict') else x


class Runner:
    def __init__(self, cfg: Any) -> None:
        if not isinstance(cfg, Config):
            cfg = Config(dict(cfg))
        self.cfg = cfg
        self._cfg_file = cfg.filename
        # a top-level key that looks like a misspelt known one ('train_dataloder') would be ignored without a word:
        # warned about below, an error with strict_config=True
        with config_file_context(self._cfg_file):
            key_warnings = top_level_key_report(cfg, self._cfg_file) + mmcv_era_key_report(cfg, self._cfg_file)
        # MMEngine's DefaultScope: a config's default_scope ('mmpose') decides what plain names that two toolboxes
        # share ('CocoDataset') mean for everything built from now on (datasets and metrics are built lazily).
        scope = cfg.get('default_scope')
        if scope is not None:
            try:
                set_default_scope(scope)
            except ValueError as exc:
                raise ValueError(f'{self._cfg_file or "config"}: default_scope: {exc}') from None
        env_cfg = _as_dict(cfg.get('env_cfg')) or {}
        self._setup_env(env_cfg)
        dist.init_dist(cfg.get('launcher', 'none') or 'none',
                       backend=(env_cfg.get('dist_cfg') or {}).get('backend'))
        self.rank, self.world_size = dist.get_dist_info()
        self.launcher = cfg.get('launcher', 'none') or 'none'

        randomness = dict(_as_dict(cfg.get('randomness')) or {})
        self.seed = set_random_seed(randomness.get('seed'), deterministic=randomness.get('deterministic', False),
                                    diff_rank_seed=randomness.get('diff_rank_seed', False))
        if 'work_dir' not in cfg or not cfg.work_dir:
            raise KeyError('the config needs work_dir (tools/train.py sets ./work_dirs/<config name> by default)')
        self.work_dir = Path(cfg.work_dir).absolute()
        stamp = time.strftime('%Y%m%d_%H%M%S')
        n = 1
        while self.rank == 0 and (self.work_dir / stamp).exists():  # two runs in one second
            stamp = f"{time.strftime('%Y%m%d_%H%M%S')}_{n}"
            n += 1
        self.timestamp = dist.broadcast_object(stamp)
        self.log_dir = self.work_dir / self.timestamp
        if self.rank == 0:
            self.log_dir.mkdir(parents=True, exist_ok=True)
        self.logger = setup_logger(self.log_dir / f'{self.timestamp}.log', rank=self.rank,
                                   level=cfg.get('log_level', 'INFO'))
        name = Path(self._cfg_file).stem if self._cfg_file else 'config'
        self.experiment_name = cfg.get('experiment_name') or f'{name}_{self.timestamp}'
        self.message_hub = MessageHub()
        self._log_env()
        for line in key_warnings:
            self.logger.warning(line)
        note = translation_note(cfg)  # a config read from MMDetection 2.x's layout says so
        if note:
            self.logger.info(note)

        with config_file_context(self._cfg_file):
            vis_cfg = _as_dict(cfg.get('visualizer')) or dict(type='Visualizer',
                                                               vis_backends=[dict(type='LocalVisBackend')])
            if isinstance(vis_cfg, dict):
                vis_cfg = dict(vis_cfg)
                vis_cfg.setdefault('type', 'Visualizer')
                if self.rank != 0:
                    vis_cfg['vis_backends'] = []
                vis_cfg['save_dir'] = str(self.log_dir / 'vis_data')
            self.visualizer = VISUALIZERS.build(vis_cfg, key_path='visualizer')
            if self.rank == 0:
                self.visualizer.add_config(cfg.pretty_text)
                cfg.dump(self.work_dir / f'{name}.py')
            self.model = self._build_model(cfg.get('model'))
            self.hooks: list[tuple[int, Hook]] = []
            self._register_hooks(_as_dict(cfg.get('default_hooks')) or {}, _as_dict(cfg.get('custom_hooks')) or [])

        self._epoch = 0
        self._iter = 0
        self.position = dict(epoch=0, iter=0, inner_iter=0)
        self.resuming = False
        self.training = False  # inside train()'s loop (a stop signal also ends a validation it runs)
        self._stop_signal: int | None = None
        self._resume_point = (0, False)  # (batches of the epoch done, validation pending) from resume()
        self._train_loop = self._val_loop = self._test_loop = None
        self.optim_wrapper = None
        self.param_schedulers: list = []

    @classmethod
    def from_cfg(cls, cfg: Any) -> 'Runner':
        return cls(cfg)

    # -- properties ---------------------------------------------------------------------------
    @property
    def epoch(self) -> int:
        return self._epoch

    @property
    def iter(self) -> int:
        return self._iter

    def advance_iter(self) -> None:
        """One more training iteration done (the train loop calls this; the Runner owns the count)."""
        self._iter += 1

    def advance_epoch(self) -> None:
        """One more training epoch done."""
        self._epoch += 1

    def take_resume_point(self) -> tuple[int, bool]:
        """``(batches of the current epoch already done, a validation is pending)`` where :meth:`resume` left
        training, for the train loop to start from; ``(0, False)`` afterwards."""
        point, self._resume_point = self._resume_point, (0, False)
        return point

    @property
    def train_loop_built(self) -> bool:
        return self._train_loop is not None

    @property
    def max_epochs(self) -> int | None:
        return self.train_loop.max_epochs

    @property
    def max_iters(self) -> int:
        return self.train_loop.max_iters

    @property
    def train_loop(self):
        if self._train_loop is None:
            self._train_loop = self._build_train_loop()
        return self._train_loop

    @property
    def val_loop(self):
        if self._val_loop is None:
            self._val_loop = self._build_eval_loop('val')
        return self._val_loop or None

    @property
    def test_loop(self):
        if self._test_loop is None:
            self._test_loop = self._build_eval_loop('test')
            if not self._test_loop:
                raise KeyError('testing needs test_dataloader, test_cfg and test_evaluator in the config')
        return self._test_loop

    @property
    def device(self) -> torch.device:
        if torch.cuda.is_available():
            return torch.device('cuda', dist.get_local_rank() % torch.cuda.device_count())
        return torch.device('cpu')

    # -- set-up ---------------------------------------------------------------------------------
    def _setup_env(self, env_cfg: dict) -> None:
        mp_cfg = env_cfg.get('mp_cfg') or {}
        method = mp_cfg.get('mp_start_method')
        if method:
            import multiprocessing as mp
            if mp.get_start_method(allow_none=True) != method:
                mp.set_start_method(method, force=True)
        if mp_cfg.get('opencv_num_threads') is not None:
            import cv2
            cv2.setNumThreads(int(mp_cfg['opencv_num_threads']))
        if env_cfg.get('cudnn_benchmark'):
            torch.backends.cudnn.benchmark = True

    def _log_env(self) -> None:
        import numpy as np

        lines = [f'Python: {platform.python_version()}', f'PyTorch: {torch.__version__}',
                 f'NumPy: {np.__version__}', f'VisionCraft: {__version__}',
                 f'CUDA available: {torch.cuda.is_available()}', f'launcher: {self.launcher}',
                 f'distributed: {dist.is_distributed()}, world size: {self.world_size}', f'seed: {self.seed}',
                 f'work dir: {self.work_dir}']
        self.logger.info('Environment\n    ' + '\n    '.join(lines))
        # the merged config goes to the log file (and the work dir, below); the console gets where it is
        self.logger.info(f'Config:\n{self.cfg.pretty_text}', extra=FILE_ONLY)
        name = Path(self._cfg_file).stem if self._cfg_file else 'config'
        self.logger.info(f'Config: the merged config is {self.work_dir / f"{name}.py"} (and in '
                         f'{self.log_dir / f"{self.timestamp}.log"})')

    def _checkpoint_named(self) -> str | None:
        """The checkpoint the config says this run loads: ``load_from``, or ``resume=PATH``."""
        resume = self.cfg.get('resume')
        if isinstance(resume, str) and resume not in ('auto', 'True', 'true'):
            return resume
        return self.cfg.get('load_from') or None

    def _build_model(self, model_cfg: Any) -> nn.Module:
        if model_cfg is None:
            raise KeyError('the config needs a "model" entry')
        model = MODELS.build(_as_dict(model_cfg), key_path='model')
        if isinstance(model_cfg, dict) and hasattr(model, 'init_weights'):
            # a checkpoint that will be loaded (testing, load_from, --resume PATH) replaces every weight: the
            # backbone's pretrained init_cfg is not fetched for nothing (offline, the fetch would fail)
            source = self._checkpoint_named()
            with (pretrained_weights_skipped(f'the weights come from {source}') if source
                  else contextlib.nullcontext()):
                model.init_weights()
        model = model.to(self.device)
        if dist.is_distributed():
            if self.cfg.get('sync_bn') and self.device.type != 'cuda':
                self.logger.warning("sync_bn is set, but PyTorch's SyncBatchNorm runs on GPUs only: "
                                    'kept plain BatchNorm for this CPU run')
            elif self.cfg.get('sync_bn'):
                model = nn.SyncBatchNorm.convert_sync_batchnorm(model)
                self.logger.info('Converted BatchNorm layers to SyncBatchNorm')
            wrapper = _as_dict(self.cfg.get('model_wrapper_cfg')) or dict(type='DistributedModel')
            wrapper = dict(wrapper)
            wrapper.setdefault('find_unused_parameters', bool(self.cfg.get('find_unused_parameters', False)))
            if self.device.type == 'cuda':
                wrapper.setdefault('device_ids', [self.device.index])
            model = MODEL_WRAPPERS.build(wrapper, default_args=dict(module=model), key_path='model_wrapper_cfg')
        return model

    def _register_hooks(self, default_hooks: dict, custom_hooks: list) -> None:
        merged = dict(DEFAULT_HOOKS)
        for k, v in default_hooks.items():
            merged[k] = v
        for k, v in merged.items():
            if v is not None:
                self.register_hook(v, key=f'default_hooks.{k}')
        for i, v in enumerate(custom_hooks):
            self.register_hook(v, key=f'custom_hooks.{i}')

    def register_hook(self, hook: dict | Hook, priority: int | str | None = None, key: str = 'hook') -> Hook:
        """Add a hook; it runs after hooks of the same or higher priority registered before it."""
        built, prio = build_hook(hook, key)
        if priority is not None:
            prio = get_priority(priority)
        idx = len(self.hooks)
        for i, (p, _) in enumerate(self.hooks):
            if prio < p:
                idx = i
                break
        self.hooks.insert(idx, (prio, built))
        return built

    def get_hook(self, cls_name: str) -> Hook | None:
        return next((h for _, h in self.hooks if type(h).__name__ == cls_name), None)

    def call_hook(self, point: str, **kwargs: Any) -> None:
        if point not in HOOK_POINTS:
            raise ValueError(f'unknown hook point {point!r}')
        for _, hook in self.hooks:
            getattr(hook, point)(self, **kwargs)

    # -- loops ----------------------------------------------------------------------------------
    def _loader(self, key: str, shuffle: bool):
        cfg = self.cfg.get(key)
        if cfg is None:
            return None
        with config_file_context(self._cfg_file):
            return build_dataloader(_as_dict(cfg), seed=self.seed, key=key, shuffle_default=shuffle)

    def _build_train_loop(self):
        train_cfg = _as_dict(self.cfg.get('train_cfg'))
        if not train_cfg:
            raise KeyError('training needs train_cfg, e.g. dict(by_epoch=True, max_epochs=12, val_interval=1)')
        if self.cfg.get('train_dataloader') is None:
            raise KeyError('training needs train_dataloader in the config')
        with config_file_context(self._cfg_file):
            check_mapping(train_cfg, 'train_cfg', 'dict(by_epoch=True, max_epochs=12, val_interval=1)')
            check_bool(train_cfg.get('by_epoch', True), 'train_cfg.by_epoch')
        loader = self._loader('train_dataloader', shuffle=True)
        train_cfg = dict(train_cfg)
        if 'type' in train_cfg:
            loop_type = train_cfg.pop('type')
            train_cfg.pop('by_epoch', None)
        else:
            by_epoch = train_cfg.pop('by_epoch', 'max_iters' not in train_cfg)
            loop_type = 'EpochBasedTrainLoop' if by_epoch else 'IterBasedTrainLoop'
        with config_file_context(self._cfg_file):
            return LOOPS.build(dict(type=loop_type, **train_cfg), default_args=dict(runner=self, dataloader=loader),
                               key_path='train_cfg')

    def _build_eval_loop(self, mode: str):
        """False (not None) when the config has no such loop, so the property does not retry."""
        loop_cfg = self.cfg.get(f'{mode}_cfg')
        loader_cfg = self.cfg.get(f'{mode}_dataloader')
        evaluator_cfg = self.cfg.get(f'{mode}_evaluator')
        if loop_cfg is None or loader_cfg is None or evaluator_cfg is None:
            return False
        with config_file_context(self._cfg_file):
            evaluator_cfg = _as_dict(evaluator_cfg)
            evaluator = (evaluator_cfg if isinstance(evaluator_cfg, Evaluator) else
                         EVALUATORS.build(evaluator_cfg, key_path=f'{mode}_evaluator')
                         if isinstance(evaluator_cfg, dict) and evaluator_cfg.get('type') in EVALUATORS
                         else Evaluator(evaluator_cfg))
            loop_cfg = dict(_as_dict(loop_cfg))
            loop_cfg.setdefault('type', 'ValLoop' if mode == 'val' else 'TestLoop')
            loader = self._loader(f'{mode}_dataloader', shuffle=False)
            return LOOPS.build(loop_cfg, default_args=dict(runner=self, dataloader=loader, evaluator=evaluator),
                               key_path=f'{mode}_cfg')

    # -- the three entry points ------------------------------------------------------------------
    def train(self) -> nn.Module:
        loop = self.train_loop
        with config_file_context(self._cfg_file):
            optim_cfg = _as_dict(self.cfg.get('optim_wrapper'))
            if optim_cfg is None:
                raise KeyError('training needs optim_wrapper, e.g. dict(optimizer=dict(type="SGD", lr=0.01))')
            optim_cfg = self._scale_lr(copy.deepcopy(optim_cfg), loop.dataloader)
            model = getattr(self.model, 'module', self.model)
            self.optim_wrapper = build_optim_wrapper(model, optim_cfg)
            sched_cfg = _as_dict(self.cfg.get('param_scheduler')) or []
            self.param_schedulers = build_param_schedulers(
                sched_cfg, self.optim_wrapper, epoch_length=len(loop.dataloader),
                max_epochs=loop.max_epochs, max_iters=loop.max_iters)
        _ = self.val_loop  # built before training so configuration errors surface early
        self.call_hook('before_run')
        self.load_or_resume()
        if hasattr(self.optim_wrapper, 'initialize_count_status'):
            self.optim_wrapper.initialize_count_status(cur_iter=self.iter, max_iters=loop.max_iters)
        previous = self._catch_stop_signals()
        self.training = True
        try:
            try:
                loop.run()
            except StopRequested as stop:
                raise self._stop_on_signal(stop.pending_val) from None
        finally:
            self.training = False
            self._restore_signals(previous)
            self.call_hook('after_run')
            self.visualizer.close()
            self.release_workers()
        return self.model

    # -- stopping on a signal --------------------------------------------------------------------------
    def _catch_stop_signals(self) -> dict:
        """Install the stop handlers (main thread only: Python delivers signals there); the old ones back."""
        self._stop_signal = None
        if threading.current_thread() is not threading.main_thread():
            return {}
        previous = {}
        for signum in STOP_SIGNALS:
            try:
                previous[signum] = signal.signal(signum, self._on_stop_signal)
            except (ValueError, OSError):  # pragma: no cover - platforms without the signal
                pass
        return previous

    @staticmethod
    def _restore_signals(previous: dict) -> None:
        for signum, handler in previous.items():
            signal.signal(signum, handler if handler is not None else signal.SIG_DFL)

    def _on_stop_signal(self, signum: int, frame: Any) -> None:
        name = signal.Signals(signum).name
        if self._stop_signal is not None:  # the second one: stop now, without a checkpoint
            self.logger.warning(f'{name} again: stopping at once, without a checkpoint')
            raise TrainingInterrupted(signum)
        self._stop_signal = signum
        self.logger.warning(f'{name} received: finishing iteration {self.iter + 1}, then writing a checkpoint '
                            f'and stopping (send it again to stop at once)')

    def stop_requested(self) -> bool:
        """Whether a stop signal came (on any rank: every rank stops at the same iteration)."""
        return dist.any_rank(self._stop_signal is not None)

    def _stop_on_signal(self, pending_val: bool) -> TrainingInterrupted:
        """Write the checkpoint of where training stopped, log it, requeue when asked; the exception to raise."""
        signum = self._stop_signal if self._stop_signal is not None else signal.SIGTERM
        loop = self.train_loop
        pos = dict(self.position)
        hook = self.get_hook('CheckpointHook')
        if loop.by_epoch and pos['inner_iter'] == 0:
            tmpl = hook.filename_tmpl if hook is not None and hook.by_epoch else 'epoch_{}.pth'
            name = tmpl.format(pos['epoch'])
        else:
            tmpl = hook.filename_tmpl if hook is not None and not hook.by_epoch else 'iter_{}.pth'
            name = tmpl.format(pos['iter'])
        self.position = dict(pos, pending_val=True) if pending_val else pos
        try:
            if hook is not None:
                path = hook.save_latest(self, name)
            else:
                path = self.work_dir / name
                self.save_checkpoint(path)
                if self.rank == 0:
                    write_last_checkpoint(self.work_dir, path)
        finally:
            self.position = pos
        where = f'iteration {pos["iter"]}'
        if loop.by_epoch:
            where += (f' (end of epoch {pos["epoch"]})' if pos['inner_iter'] == 0 else
                      f' (epoch {pos["epoch"] + 1}, batch {pos["inner_iter"]}/{len(loop.dataloader)})')
        if pending_val:
            where += ', before its validation'
        self.logger.warning(f'{signal.Signals(signum).name}: stopped after {where}; checkpoint written to {path} '
                            f'(--resume continues from it); exit status {128 + signum}')
        if self.cfg.get('requeue') and os.environ.get('SLURM_JOB_ID') and self.rank == 0:
            self._slurm_requeue(os.environ['SLURM_JOB_ID'])
        return TrainingInterrupted(signum, Path(path))

    def _slurm_requeue(self, job_id: str) -> None:
        try:
            done = subprocess.run(['scontrol', 'requeue', job_id], capture_output=True, text=True, timeout=60)
        except (OSError, subprocess.SubprocessError) as exc:
            self.logger.error(f'requeue: could not run scontrol requeue {job_id}: {exc}')
            return
        if done.returncode == 0:
            self.logger.warning(f'requeue: Slurm job {job_id} requeued; it resumes from {self.work_dir}')
        else:
            self.logger.error(f'requeue: scontrol requeue {job_id} failed ({done.returncode}): '
                              f'{(done.stderr or done.stdout).strip()}')

    def release_workers(self) -> None:
        """Stop the DataLoader worker processes of every built loop now (persistent workers otherwise
        live until garbage collection, which can stall whatever runs then, e.g. after an exception)."""
        for loop in (self._train_loop, self._val_loop, self._test_loop):
            loader = getattr(loop, 'dataloader', None)
            if hasattr(loader, 'shutdown_workers'):  # WatchedDataLoader: also iterators an exception interrupted
                loader.shutdown_workers()
            it = getattr(loader, '_iterator', None)
            if it is not None and hasattr(it, '_shutdown_workers'):
                it._shutdown_workers()
            if loader is not None and hasattr(loader, '_iterator'):
                loader._iterator = None

    def val(self) -> dict:
        loop = self.val_loop
        if loop is None:
            raise KeyError('validation needs val_dataloader, val_cfg and val_evaluator in the config')
        return self._evaluate(loop)

    def test(self) -> dict:
        return self._evaluate(self.test_loop)

    def _evaluate(self, loop) -> dict:
        self.call_hook('before_run')
        self.load_or_resume()
        try:
            return loop.run()
        finally:
            self.call_hook('after_run')
            self.visualizer.close()
            self.release_workers()

    def _scale_lr(self, optim_cfg: dict, loader) -> dict:
        scale = _as_dict(self.cfg.get('auto_scale_lr')) or {}
        check_mapping(scale, 'auto_scale_lr', 'dict(enable=True, base_batch_size=16)')
        if not check_bool(scale.get('enable', False), 'auto_scale_lr.enable'):
            return optim_cfg
        if 'base_batch_size' not in scale:
            raise KeyError('auto_scale_lr needs base_batch_size (the total batch size the LR was set for)')
        base = check_int(scale['base_batch_size'], 'auto_scale_lr.base_batch_size', low=1)
        real = self.world_size * int(loader.batch_size or 1)
        ratio = real / float(base)
        opt = optim_cfg.get('optimizer')
        if not isinstance(opt, dict) or 'lr' not in opt:
            raise KeyError('auto_scale_lr needs optim_wrapper.optimizer.lr in the config')
        old = opt['lr']
        opt['lr'] = old * ratio
        self.logger.info(f'LR is set based on batch size of {scale["base_batch_size"]} and the current batch size '
                         f'is {real} ({self.world_size} x {loader.batch_size}). Scaling the original LR {old} to '
                         f'{opt["lr"]}.')
        return optim_cfg

    # -- checkpoints ----------------------------------------------------------------------------
    def load_or_resume(self) -> None:
        resume = self.cfg.get('resume', False)
        load_from = self.cfg.get('load_from')
        restarts = os.environ.get('SLURM_RESTART_COUNT', '0')
        if (not resume and self._train_loop is not None and os.environ.get('SLURM_JOB_ID')
                and restarts.isdigit() and int(restarts) > 0):
            self.logger.info(f'Slurm restarted this job (SLURM_RESTART_COUNT={restarts}): resuming from the '
                             f'work dir {self.work_dir}')
            resume = 'auto'
        if resume and self._train_loop is not None:
            ckpt = None
            if isinstance(resume, str) and resume not in ('auto', 'True', 'true'):
                path = resume
            elif load_from:
                path = load_from
            else:
                found = self._find_resume_checkpoint()
                if found is None:
                    return
                path, ckpt = found
            self.resume(path, ckpt)
            return
        if self._train_loop is not None:
            self._set_aside_earlier_checkpoints()
        if load_from:
            self.load_weights(load_from)

    def _set_aside_earlier_checkpoints(self) -> None:
        """A training run that does not resume, in a work dir that holds an earlier run's checkpoints, would
        overwrite them (``epoch_1.pth``, ``last_checkpoint``...). Move them first to
        ``work_dir/earlier_checkpoints_<this run's timestamp>/`` and say so, so nothing is lost and the
        user learns that ``--resume`` would have continued that run."""
        folders = {self.work_dir}
        hook = self.get_hook('CheckpointHook')
        if hook is not None and hasattr(hook, '_dir'):
            folders.add(Path(hook._dir(self)))
        found = []
        for folder in sorted(folders):
            if not folder.is_dir():
                continue
            found += checkpoint_candidates(folder)
            found += [p for p in folder.iterdir() if p.is_file() and p.suffix == '.pth'
                      and p.name.startswith(('best_', 'latest', 'last_'))]
            if (folder / LAST_CHECKPOINT).is_file():
                found.append(folder / LAST_CHECKPOINT)
        found = sorted(set(found))
        if not found:
            return
        target = self.work_dir / f'earlier_checkpoints_{self.timestamp}'
        if self.rank == 0:
            target.mkdir(parents=True, exist_ok=True)
            for path in found:
                dest = target / (path.name if path.parent == self.work_dir
                                 else f'{path.parent.name}_{path.name}')
                os.replace(path, dest)
        dist.barrier()
        names = ', '.join(p.name for p in found[:6]) + (f' and {len(found) - 6} more' if len(found) > 6 else '')
        self.logger.warning(f'{self.work_dir} held checkpoints of an earlier run ({names}); this run does not '
                            f'resume (no --resume), so they were moved to {target} instead of being '
                            'overwritten. Use --resume to continue a run.')

    def _find_resume_checkpoint(self) -> tuple[str, dict] | None:
        """``(path, loaded checkpoint)`` to resume from in the work dir: the one ``last_checkpoint`` names, else
        (missing or unreadable) the newest loadable ``epoch_N`` / ``iter_N`` checkpoint, saying so. None for a
        work dir without checkpoints and pointer (a fresh start, logged); :class:`ResumeError` for a pointer
        with nothing loadable behind it."""
        named, found = read_last_checkpoint(self.work_dir)
        problem = None
        if found is not None:
            try:
                return str(found), load_checkpoint_file(found)
            except Exception as exc:  # noqa: BLE001 - a torn or foreign file: look for another one
                problem = f'{found} cannot be loaded ({exc})'
        elif named is not None:
            problem = f'last_checkpoint names {named}, which does not exist'
        tried = []
        for cand in checkpoint_candidates(self.work_dir):
            if found is not None and cand.resolve() == found.resolve():
                continue
            try:
                ckpt = load_checkpoint_file(cand)
            except Exception as exc:  # noqa: BLE001
                tried.append(f'{cand.name} ({exc})')
                continue
            why = problem or 'the work dir has no last_checkpoint pointer'
            self.logger.warning(f'--resume: {why}; resuming from the newest loadable checkpoint in the work dir, '
                                f'{cand}')
            return str(cand), ckpt
        if named is not None:
            more = f'; unloadable: {", ".join(tried)}' if tried else ''
            raise ResumeError(f'--resume: {problem} and {self.work_dir} holds no other loadable checkpoint '
                              f'(epoch_N.pth / iter_N.pth){more}. Give the checkpoint with --resume PATH, or '
                              f'delete {self.work_dir / "last_checkpoint"} to start from scratch')
        if tried:
            raise ResumeError(f'--resume: {self.work_dir} holds checkpoints but none loads: {", ".join(tried)}')
        self.logger.info(f'--resume: no checkpoint found in {self.work_dir} (no last_checkpoint pointer, no '
                         'epoch_N.pth or iter_N.pth): starting from scratch')
        return None

    def load_weights(self, path: str) -> None:
        ckpt = load_checkpoint_file(path)
        self.logger.info(f'Load weights from {path}')
        load_model_weights(self.model, extract_state_dict(ckpt), logger=self.logger, source=path,
                           meta=checkpoint_meta(ckpt))
        meta = ckpt.get('meta', {}) if isinstance(ckpt, dict) else {}
        if meta.get('dataset_meta') and hasattr(self.visualizer, 'dataset_meta') and not self.visualizer.dataset_meta:
            self.visualizer.dataset_meta = meta['dataset_meta']

    def resume(self, path: str, ckpt: dict | None = None) -> None:
        """Continue training from checkpoint ``path`` (``ckpt``: its content, when already loaded)."""
        if ckpt is None:
            ckpt = load_checkpoint_file(path)
        if not isinstance(ckpt, dict) or not any(k in ckpt for k in TRAINING_STATE_KEYS):
            raise ResumeError(
                f'--resume {path}: the file holds model weights only (no optimizer, scheduler, hook or random '
                'state: a model-zoo or published checkpoint), so there is no training run to continue. To start '
                f'training from these weights use --cfg-options load_from={path} (or load_from = ... in the config) '
                'without --resume')
        self.resuming = True
        meta = ckpt.get('meta', {})
        report = load_model_weights(self.model, extract_state_dict(ckpt), source=path)
        if not report.clean:
            self.logger.warning(f'Resumed weights differ from the model:\n{report}')
        missing = []
        if self.optim_wrapper is not None:
            if 'optimizer' in ckpt:
                self.optim_wrapper.load_state_dict(ckpt['optimizer'])
            else:
                missing.append('the optimizer state: the optimizer starts fresh (momentum / Adam moments '
                               'and step counts from zero)')
        states = ckpt.get('param_schedulers')
        if self.param_schedulers and not states:
            names = ', '.join(type(s).__name__ for s in self.param_schedulers)
            missing.append(f'the parameter schedulers\' state: {names} restart from their beginning (warm-up '
                           f'included) at iteration {int(meta.get("iter", 0))}, not where the checkpoint stopped')
        for sched, state in zip(self.param_schedulers, states or []):
            sched.load_state_dict(state)
        hook_states = ckpt.get('hooks', {})
        fresh_hooks = []
        for key, hook in self._hook_keys():
            if key in hook_states:
                hook.load_state_dict(hook_states[key])
            elif hook.state_dict():
                fresh_hooks.append(key)
        if fresh_hooks:
            missing.append(f'the state of {", ".join(fresh_hooks)}: kept as initialised')
        if 'rng' in ckpt and meta.get('seed') == self.seed:
            set_rng_state(ckpt['rng'])
        elif 'rng' in ckpt:
            self.logger.warning(f'the checkpoint was trained with seed {meta.get("seed")} and this run uses '
                                f'{self.seed}: RNG states not restored, so the run will not repeat exactly')
        else:
            missing.append('the random number generators\' states: the run will not repeat exactly')
        if missing:
            self.logger.warning(f'{path} is not a full training checkpoint (a best_* or weights-only file?). '
                                'Missing, and re-initialised:\n    ' + '\n    '.join(missing))
        self._epoch = int(meta.get('epoch', 0))
        self._iter = int(meta.get('iter', 0))
        self.position = dict(epoch=self._epoch, iter=self._iter, inner_iter=int(meta.get('inner_iter', 0)))
        loop = self.train_loop
        pending_val = bool(meta.get('pending_val', False)) and loop.val_due(self._epoch if loop.by_epoch
                                                                            else self._iter)
        self._resume_point = (int(meta.get('inner_iter', 0)), pending_val)
        for key, now in (('max_epochs', loop.max_epochs), ('max_iters', loop.max_iters)):
            before = meta.get(key)
            if before is not None and now is not None and before != now:
                self.logger.info(f'{key} changed from {before} (checkpoint) to {now} (config): training '
                                 f'continues to {now}')
        changes = resume_config_changes(meta.get('cfg'), self.cfg, optimizer_restored='optimizer' in ckpt,
                                        schedulers_restored=bool(states))
        if changes:
            self.logger.warning(f'--resume: the config differs from the one {path} was trained with:\n    '
                                + '\n    '.join(changes))
        self.call_hook('after_load_checkpoint', checkpoint=ckpt)
        self.logger.info(f'Resumed from {path}: epoch {self._epoch}, iteration {self._iter}'
                         + (' (its validation first)' if pending_val else ''))

    def _hook_keys(self) -> list[tuple[str, Hook]]:
        seen: dict[str, int] = {}
        out = []
        for _, hook in self.hooks:
            name = type(hook).__name__
            n = seen.get(name, 0)
            seen[name] = n + 1
            out.append((name if n == 0 else f'{name}.{n}', hook))
        return out

    def save_checkpoint(self, path: str | os.PathLike, *, save_optimizer: bool = True,
                        save_param_scheduler: bool = True) -> None:
        """Write a checkpoint that resumes at :attr:`position` (rank 0 writes; every rank runs hooks)."""
        model = getattr(self.model, 'module', self.model)
        loop = self._train_loop
        dataset = getattr(getattr(loop, 'dataloader', None), 'dataset', None)
        meta = dict(self.position, seed=self.seed, timestamp=self.timestamp, experiment_name=self.experiment_name,
                    visioncraft_version=__version__, torch_version=str(torch.__version__),
                    max_epochs=getattr(loop, 'max_epochs', None), max_iters=getattr(loop, 'max_iters', None),
                    dataset_meta=_plain(getattr(dataset, 'metainfo', None)),
                    cfg=self.cfg.pretty_text)
        ckpt: dict[str, Any] = dict(meta=meta, state_dict={k: v.detach().cpu() for k, v in model.state_dict().items()})
        if save_optimizer and self.optim_wrapper is not None:
            ckpt['optimizer'] = self.optim_wrapper.state_dict()
        if save_param_scheduler and self.param_schedulers:
            ckpt['param_schedulers'] = [s.state_dict() for s in self.param_schedulers]
        ckpt['hooks'] = {k: h.state_dict() for k, h in self._hook_keys() if h.state_dict()}
        ckpt['rng'] = get_rng_state()
        self.call_hook('before_save_checkpoint', checkpoint=ckpt)
        if self.rank == 0:
            save_checkpoint(ckpt, path)
        dist.barrier()


#: the settings a resumed run compares with its checkpoint's config (dotted prefixes)
RESUME_COMPARED = ('optim_wrapper', 'param_scheduler', 'train_cfg', 'train_dataloader.batch_size',
                   'train_dataloader.sampler', 'auto_scale_lr', 'randomness')


def _flatten(value: Any, prefix: str = '') -> dict[str, Any]:
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for k, v in value.items():
            out.update(_flatten(v, f'{prefix}.{k}' if prefix else str(k)))
        return out
    if isinstance(value, (list, tuple)) and any(isinstance(v, dict) for v in value):
        out = {}
        for i, v in enumerate(value):
            out.update(_flatten(v, f'{prefix}.{i}'))
        return out
    return {prefix: value}


def resume_config_changes(checkpoint_cfg: str | None, cfg: Any, *, optimizer_restored: bool,
                          schedulers_restored: bool) -> list[str]:
    """One line per setting under :data:`RESUME_COMPARED` whose value in ``cfg`` differs from the config text
    saved in the checkpoint's meta, saying which one the resumed run uses: the optimizer's hyper-parameters
    (``optim_wrapper.optimizer.lr``, ``weight_decay``...) come back with the optimizer's state, so the
    checkpoint's win; everything else (batch size, epochs, intervals, the schedulers' arguments, which continue
    from the checkpoint's step) is the config's. An unreadable or missing saved config gives no lines."""
    if not checkpoint_cfg:
        return []
    try:
        before = Config.fromstring(checkpoint_cfg, 'py').to_dict()
    except Exception:  # noqa: BLE001 - an old or foreign checkpoint: nothing to compare with
        return []
    now = cfg.to_dict() if hasattr(cfg, 'to_dict') else dict(cfg)

    def compared(flat: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in flat.items() if any(k == p or k.startswith(p + '.') for p in RESUME_COMPARED)}

    old, new = compared(_flatten(before)), compared(_flatten(now))
    lines = []
    for key in sorted(set(old) | set(new)):
        if old.get(key, '<unset>') == new.get(key, '<unset>'):
            continue
        if optimizer_restored and key.startswith('optim_wrapper.optimizer.') and not key.endswith('.type'):
            winner = "the checkpoint's value is used (restored with the optimizer's state)"
        elif schedulers_restored and key.startswith('param_scheduler'):
            winner = "the config's value is used, from the checkpoint's step on"
        else:
            winner = "the config's value is used"
        lines.append(f'{key}: {old.get(key, "<unset>")!r} (checkpoint) -> {new.get(key, "<unset>")!r} (config): '
                     f'{winner}')
    return lines


def _plain(x: Any) -> Any:
    """Make metadata loadable with weights_only=True (tuples/lists/dicts of plain values)."""
    if x is None or isinstance(x, (str, int, float, bool)):
        return x
    if isinstance(x, dict):
        return {str(k): _plain(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_plain(v) for v in x]
    if hasattr(x, 'tolist'):
        return x.tolist()
    return str(x)
