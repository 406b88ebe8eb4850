"""Argument handling shared by ``train`` and ``test``."""
from __future__ import annotations

import argparse
import os
from pathlib import Path

__all__ = ['add_common_args', 'load_config', 'read_config', 'use_cpu_only', 'enable_visualization',
           'run_in_process_group']


def add_common_args(parser: argparse.ArgumentParser) -> None:
    from ..config import DictAction
    parser.add_argument('--work-dir', help='where logs and checkpoints go (default: ./work_dirs/<config name>)')
    parser.add_argument('--cfg-options', '-o', '--options', nargs='+', action=DictAction, default={},
                        metavar='KEY=VALUE',
                        help='override config entries: a.b=1, lists as key="[a,b]" or key=a,b, list items as '
                             'a.0.b=c; a key that does not exist is an error (prefix it with + to add it). For a '
                             'PaddleOCR-layout YAML the keys are its own: Global.epoch_num=3 Optimizer.base_lr=1e-4')
    parser.add_argument('--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'], default='none',
                        help='how the processes were started (tools/dist_*.sh use pytorch, slurm_*.sh slurm)')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=None, help=argparse.SUPPRESS)
    parser.add_argument('--show', action='store_true', help='show predictions in a window (needs a display)')
    parser.add_argument('--show-dir', help='write pictures of the predictions to this folder (relative paths '
                                           'go under WORK_DIR/TIMESTAMP)')
    parser.add_argument('--wait-time', type=float, default=2.0, help='seconds each shown picture stays')
    parser.add_argument('--interval', type=int, default=1, help='draw every N-th sample')


def load_config(args: argparse.Namespace):
    """Read the config, apply --cfg-options, --launcher and --work-dir.

    A PaddleOCR-layout YAML (``Global`` + ``Architecture``) is translated first, with ``-o`` applied to its
    PaddleOCR keys (``Global.epoch_num=3``); any other config takes ``-o`` on the internal keys."""
    if args.local_rank is not None:
        os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
    cfg = read_config(args.config, args.cfg_options)
    cfg['launcher'] = args.launcher
    if args.work_dir:
        cfg['work_dir'] = args.work_dir
    elif not cfg.get('work_dir'):
        cfg['work_dir'] = str(Path('work_dirs') / Path(args.config).stem)
    return cfg


def read_config(path: str, options: dict | None = None):
    """``path`` loaded with the overrides ``options``: a PaddleOCR YAML through
    :func:`visioncraft.config.paddleocr.load_paddleocr_config` (then ``Global.use_gpu: false`` hides the GPUs
    from this process, as PaddleOCR runs on the CPU), anything else with ``Config.fromfile`` +
    ``merge_from_dict``."""
    from ..config import Config
    from ..config.paddleocr import is_paddleocr_config, load_paddleocr_config
    if is_paddleocr_config(path):
        cfg = load_paddleocr_config(path, options)
        if not cfg['paddleocr']['use_gpu']:
            use_cpu_only()
        return cfg
    cfg = Config.fromfile(path)
    if options:
        cfg.merge_from_dict(options)
    return cfg


def use_cpu_only() -> None:
    """Hide the GPUs from this process (``CUDA_VISIBLE_DEVICES=''``), so the Runner picks the CPU. Effective
    only before CUDA is first initialised in the process; after that a warning says the GPU stays in use."""
    import logging

    import torch
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
        vis['test_out_dir' if testing else 'out_dir'] = args.show_dir
    hooks = dict(hooks)
    hooks['visualization'] = vis
    cfg['default_hooks'] = hooks


def run_in_process_group(fn, *args):
    """Run ``fn(*args)``, then leave the process group explicitly: waiting for every rank on success,
    at once on failure (see :func:`visioncraft.engine.dist.destroy_dist`)."""
    from ..engine import dist
    ok = False
    try:
        result = fn(*args)
        ok = True
        return result
    finally:
        dist.destroy_dist(wait=ok)
