"""What ``train`` and ``test`` share once their arguments are parsed (the parsers: :mod:`.parsers`)."""
from __future__ import annotations

import argparse
import logging
import os
from pathlib import Path

import torch

from ..config import Config, ConfigError
from ..config.compat.mmdet2 import is_translated
from ..engine import dist
from ..engine.builder import _LOADER_KEYS
# ArgumentParser lives below every layer (datasets' converters use it); re-exported here
from ..errors import ArgumentParser, DeviceError, read_checkpoint
from ..fileio.checkpoint import check_weights_fit, partial_weights_allowed
from ..registry import set_default_scope
from .parsers import add_common_args  # the parsers live in a light module (--help without torch); re-exported

__all__ = ['ArgumentParser', 'add_common_args', 'load_config', 'read_config', 'use_cpu_only', 'enable_visualization',
           'run_in_process_group']


def split_dist_params(options: dict | None) -> tuple[dict, dict]:
    """``(the other overrides, MMDetection 2.x's dist_params.* overrides without the prefix)``: the guide sets the
    Slurm port with ``--options 'dist_params.port=29501'``, a key this library's configs do not have."""
    options = dict(options or {})
    dist_params = {k.split('.', 1)[1]: options.pop(k) for k in list(options) if k.startswith('dist_params.')}
    return options, dist_params


def apply_dist_params(cfg, dist_params: dict) -> None:
    """MMDetection 2.x's ``dist_params``: ``port`` is the rendezvous port of a Slurm / MPI launch (``PORT``, which
    tools/slurm_*.sh also read), ``backend`` is ``env_cfg.dist_cfg.backend``; anything else is an error."""
    unknown = sorted(set(dist_params) - {'port', 'backend'})
    if unknown:
        raise ConfigError(f'--options dist_params.{unknown[0]}: MMDetection 2.x dist_params takes port and backend '
                          f'here (this library reads the rest from the launcher)')
    if 'port' in dist_params:
        port = dist_params['port']
        if isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536:
            raise ConfigError(f'--options dist_params.port must be a port number (1-65535), got {port!r}')
        os.environ['PORT'] = str(port)
    if 'backend' in dist_params:
        env = dict(cfg.get('env_cfg') or {})
        env['dist_cfg'] = dict(env.get('dist_cfg') or {}, backend=str(dist_params['backend']))
        cfg['env_cfg'] = env


def load_config(args: argparse.Namespace):
    """Read the config, apply --cfg-options, --launcher and --work-dir.

    A PaddleOCR-layout YAML (``Global`` + ``Architecture``) is translated first, with ``-o`` applied to its
    PaddleOCR keys (``Global.epoch_num=3``); any other config takes ``-o`` on the internal keys."""
    if args.local_rank is not None:
        os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
    options, dist_params = split_dist_params(args.cfg_options)
    cfg = read_config(args.config, options)
    env_cfg = cfg.get('env_cfg')
    dist_cfg = env_cfg.get('dist_cfg') if isinstance(env_cfg, dict) else None  # a wrong type: checked later
    if isinstance(dist_cfg, dict) and 'port' in dist_cfg:  # a 2.x config's dist_params.port (the flag's wins)
        dist_params = {'port': dist_cfg.pop('port'), **dist_params}
    apply_dist_params(cfg, dist_params)
    cfg['launcher'] = args.launcher
    if getattr(args, 'strict_config', False):
        cfg['strict_config'] = True
    if args.work_dir:
        cfg['work_dir'] = args.work_dir
    elif not cfg.get('work_dir'):
        cfg['work_dir'] = str(Path('work_dirs') / Path(args.config).stem)
    return cfg


def read_config(path: str, options: dict | None = None):
    """``path`` loaded with the overrides ``options`` by ``Config.fromfile``: a PaddleOCR-layout YAML is translated
    (``options`` set its PaddleOCR keys first; then ``Global.use_gpu: false`` hides the GPUs from this process, as
    PaddleOCR runs on the CPU, and ``-o Global.use_gpu=True`` on a machine without a CUDA GPU is a
    :class:`~visioncraft.errors.DeviceError`), an MMDetection 2.x config takes those naming its own keys before it
    is translated (config/compat/mmdet2.py), the others after."""
    cfg = Config.fromfile(path, options or None)
    pd = cfg.get('paddleocr')
    if isinstance(pd, dict) and not pd.get('use_gpu', True):
        use_cpu_only()
    elif isinstance(pd, dict) and _asks_for_gpu(options) and not torch.cuda.is_available():
        # asked for on the command line (-o Global.use_gpu=True), not the file's default: PaddleOCR refuses it too
        raise DeviceError('-o Global.use_gpu=True: this machine has no CUDA GPU that PyTorch can use '
                          '(torch.cuda.is_available() is False); run with -o Global.use_gpu=False')
    return cfg


def _asks_for_gpu(options: dict | None) -> bool:
    """Whether the ``-o`` overrides set ``Global.use_gpu`` to a true value."""
    value = (options or {}).get('Global.use_gpu')
    return value is True or (isinstance(value, str) and value.strip().lower() in ('true', '1', 'yes'))


def use_cpu_only() -> None:
    """Hide the GPUs from this process (``CUDA_VISIBLE_DEVICES=''``), so the Runner picks the CPU. Effective
    only before CUDA is first initialised in the process; after that a warning says the GPU stays in use."""
    if torch.cuda.is_initialized():
        logging.getLogger('visioncraft').warning(
            'Global.use_gpu is false but CUDA is already initialised in this process: the GPU stays in use')
        return
    os.environ['CUDA_VISIBLE_DEVICES'] = ''


def enable_visualization(cfg, args: argparse.Namespace, *, testing: bool) -> None:
    if not (args.show or args.show_dir):
        return
    hooks = cfg.get('default_hooks') or {}
    vis = dict(hooks.get('visualization') or dict(type='VisualizationHook'))
    vis.update(draw=True, show=bool(args.show), wait_time=args.wait_time, interval=args.interval)
    if getattr(args, 'show_score_thr', None) is not None:  # `test --show-score-thr`
        vis['score_thr'] = float(args.show_score_thr)
    if args.show_dir:
        vis['test_out_dir' if testing else 'out_dir'] = show_dir_path(cfg, args.show_dir)
    hooks = dict(hooks)
    hooks['visualization'] = vis
    cfg['default_hooks'] = hooks


def show_dir_path(cfg, show_dir: str) -> str:
    """Where ``--show-dir DIR`` writes: an absolute DIR, or a relative one with a separator (``./vis``,
    ``out/vis``), as given (the latter from the current directory); a bare name (``vis``) under
    WORK_DIR/TIMESTAMP/ as MMDetection 3.x does, except for a config translated from MMDetection 2.x or one that
    sets ``show_dir_in_cwd = True`` (the configs under MMDetection 2.x's names, which its guides run), where it goes
    in the current directory as those guides say. Returned absolute when it goes as given, else as it is."""
    path = Path(show_dir)
    if path.is_absolute() or len(path.parts) > 1 or show_dir.startswith('.') or is_translated(cfg) \
            or cfg.get('show_dir_in_cwd') is True:
        return str(path.absolute())
    return show_dir


def run_in_process_group(fn, *args):
    """Run ``fn(*args)``, then leave the process group explicitly: waiting for every rank on success,
    at once on failure (see :func:`visioncraft.engine.dist.destroy_dist`)."""
    ok = False
    try:
        result = fn(*args)
        ok = True
        return result
    finally:
        dist.destroy_dist(wait=ok)


# -- checking a config before the Runner gets it ---------------------------------------------------------------
_LOG_LEVELS = ('CRITICAL', 'FATAL', 'ERROR', 'WARNING', 'WARN', 'INFO', 'DEBUG', 'NOTSET')


def check_run_config(cfg, mode: str) -> None:
    """Check the top-level entries the Runner reads for ``mode`` ('train' or 'test') before it reads them, so a
    missing section or a value of the wrong type is a :class:`~visioncraft.config.ConfigError` naming the config
    file and the key, not an error from deep inside the engine. Only the shape is checked (a dict where a dict
    goes, a positive int where a count goes); what the values mean is checked as they are built."""
    where = getattr(cfg, 'filename', None) or 'config'

    def fail(key: str, what: str):
        raise ConfigError(f'{where}: {key}: {what}')

    def typename(v) -> str:
        return 'None' if v is None else type(v).__name__

    def need_dict(key: str, value, *, required: bool = False, hint: str = ''):
        if value is None:
            if required:
                fail(key, f'missing: {mode} needs it{hint}')
            return None
        if not isinstance(value, dict):
            fail(key, f'must be a dict{hint}, got {typename(value)} {value!r:.80}')
        return value

    def need_int(key: str, value, low: int, *, optional: bool = True):
        if value is None and optional:
            return
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            fail(key, f'must be an integer >= {low}, got {value!r:.80}')

    def need_number(key: str, value):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not value >= 0 \
                or value == float('inf'):
            fail(key, f'must be a number >= 0, got {value!r:.80}')

    def need_dicts(key: str, value):  # a dict, or a list / tuple of dicts
        if value is None or isinstance(value, dict):
            return
        if not isinstance(value, (list, tuple)):
            fail(key, f'must be a dict or a list of dicts, got {typename(value)} {value!r:.80}')
        for i, v in enumerate(value):
            if not isinstance(v, dict):
                fail(f'{key}.{i}', f'must be a dict, got {typename(v)} {v!r:.80}')

    model = need_dict('model', cfg.get('model'), required=True, hint=" such as dict(type='RetinaNet', ...)")
    if 'type' not in model:
        fail('model', f'needs a "type" (the model class); got keys {sorted(model)}')
    scope = cfg.get('default_scope')
    if scope is not None:
        try:
            previous = set_default_scope(scope)
        except ValueError as exc:
            fail('default_scope', str(exc))
        set_default_scope(previous)
    env = need_dict('env_cfg', cfg.get('env_cfg')) or {}
    for sub in ('mp_cfg', 'dist_cfg'):
        need_dict(f'env_cfg.{sub}', env.get(sub))
    randomness = need_dict('randomness', cfg.get('randomness')) or {}
    if randomness.get('seed') is not None:
        need_int('randomness.seed', randomness['seed'], 0)
    level = cfg.get('log_level', 'INFO')
    if not (isinstance(level, int) and not isinstance(level, bool)) and str(level).upper() not in _LOG_LEVELS:
        fail('log_level', f'must be one of {", ".join(_LOG_LEVELS[2:])}, got {level!r:.80}')
    loader_keys = _LOADER_KEYS
    phases = ('train', 'val') if mode == 'train' else ('test',)
    for phase in ('train', 'val', 'test'):
        required = phase == phases[0]
        hint = '' if phase != 'val' else ' (or None to skip validation)'
        loader = need_dict(f'{phase}_dataloader', cfg.get(f'{phase}_dataloader'), required=required, hint=hint)
        if loader is not None:
            if loader_keys is not None and set(loader) - set(loader_keys):
                fail(f'{phase}_dataloader', f'unknown key(s) {sorted(set(loader) - set(loader_keys))}; accepted: '
                     f'{", ".join(sorted(loader_keys))}')
            if not isinstance(loader.get('dataset'), dict) and not hasattr(loader.get('dataset'), '__getitem__'):
                fail(f'{phase}_dataloader.dataset', f"must be a dataset config dict(type='...', ...), got "
                     f"{typename(loader.get('dataset'))}")
            need_int(f'{phase}_dataloader.batch_size', loader.get('batch_size'), 1)
            need_int(f'{phase}_dataloader.num_workers', loader.get('num_workers'), 0)
            need_dict(f'{phase}_dataloader.sampler', loader.get('sampler'))
        loop = cfg.get(f'{phase}_cfg')
        need_dict(f'{phase}_cfg', loop, required=required and phase == 'train')
        if required and phase != 'train' and loop is None:
            fail(f'{phase}_cfg', f'missing: {mode} needs it (test_cfg = dict() is enough)')
        need_dicts(f'{phase}_evaluator', cfg.get(f'{phase}_evaluator'))
        if required and phase != 'train' and cfg.get(f'{phase}_evaluator') is None:
            fail(f'{phase}_evaluator', f"missing: {mode} needs a metric, such as dict(type='CocoMetric')")
    if mode == 'train':
        train_cfg = cfg['train_cfg']
        for k in ('max_epochs', 'max_iters', 'val_interval', 'val_begin'):
            need_int(f'train_cfg.{k}', train_cfg.get(k), 0 if k == 'val_begin' else 1)
        optim = need_dict('optim_wrapper', cfg.get('optim_wrapper'), required=True,
                          hint=" such as dict(optimizer=dict(type='SGD', lr=0.01))")
        optimizer = need_dict('optim_wrapper.optimizer', optim.get('optimizer')) or {}
        for k in ('lr', 'weight_decay', 'momentum', 'eps'):
            if k in optimizer:
                need_number(f'optim_wrapper.optimizer.{k}', optimizer[k])
        if 'betas' in optimizer:
            betas = optimizer['betas']
            if not isinstance(betas, (list, tuple)) or len(betas) != 2:
                fail('optim_wrapper.optimizer.betas', f'must be two numbers, got {betas!r:.80}')
            for i, v in enumerate(betas):
                need_number(f'optim_wrapper.optimizer.betas.{i}', v)
        need_dicts('param_scheduler', cfg.get('param_scheduler'))
        scale = need_dict('auto_scale_lr', cfg.get('auto_scale_lr'))
        if scale:
            need_int('auto_scale_lr.base_batch_size', scale.get('base_batch_size'), 1)
    hooks = need_dict('default_hooks', cfg.get('default_hooks')) or {}
    for k, v in hooks.items():
        for name, opt in (need_dict(f'default_hooks.{k}', v) or {}).items():
            if name in ('interval', 'max_keep_ckpts'):
                need_int(f'default_hooks.{k}.{name}', opt, -1)
    need_dicts('custom_hooks', cfg.get('custom_hooks'))
    need_dict('visualizer', cfg.get('visualizer'))
    load_from = cfg.get('load_from')
    if load_from is not None and not isinstance(load_from, (str, os.PathLike)):
        fail('load_from', f'must be a checkpoint path, got {typename(load_from)} {load_from!r:.80}')


def check_checkpoint_fits(model, path, *, partial: bool | None = None) -> None:
    """Fail before a run when the checkpoint file ``path`` cannot be read, holds no weights, or does not fit
    ``model`` (a :class:`~visioncraft.errors.CheckpointError` naming the file). ``partial=True`` (training's
    ``load_from``: fine-tuning) only refuses a checkpoint of which not one weight fits; otherwise (test, eval) a bad
    fit, a shape mismatch or more than 1% of the model's weights missing, is an error too
    (:func:`~visioncraft.fileio.checkpoint.fit_problem`) unless ``$VISIONCRAFT_ALLOW_PARTIAL_WEIGHTS`` is set. An
    http(s) URL is left to the Runner (it downloads it)."""
    if not path or str(path).startswith(('http://', 'https://')):
        return
    _, state_dict = read_checkpoint(path)
    check_weights_fit(model, state_dict, path, partial=partial_weights_allowed(partial))
