"""``visioncraft train CONFIG`` (also ``tools/train.py``)."""
from __future__ import annotations

import argparse
import sys

from .common import (ArgumentParser, add_common_args, check_checkpoint_fits, check_run_config, enable_visualization,
                     load_config, run_in_process_group)

__all__ = ['build_parser', 'main', 'prepare_config']


def build_parser(prog: str = 'visioncraft train') -> argparse.ArgumentParser:
    p = ArgumentParser(prog=prog, description='Train a model from a config file.')
    p.add_argument('config', nargs='?', help='config file (.py, .yaml or .json)')
    p.add_argument('-c', '--config-file', dest='config_opt',
                   help='config file, PaddleOCR style (-c FILE -o k=v); a PaddleOCR-layout YAML (Global + '
                        'Architecture) is translated and -o then sets its PaddleOCR keys (docs/paddleocr.md)')
    p.add_argument('--resume', nargs='?', const='auto', default=None, metavar='PATH',
                   help='resume from PATH, or with no PATH from the latest checkpoint in the work dir')
    p.add_argument('--amp', action='store_true',
                   help='mixed precision: fp16 with dynamic loss scaling on CUDA, bf16 autocast on the CPU')
    p.add_argument('--auto-scale-lr', action='store_true',
                   help='scale the LR linearly by (GPUs x batch size) / auto_scale_lr.base_batch_size')
    p.add_argument('--no-validate', action='store_true', help='do not validate during training')
    p.add_argument('--requeue', action='store_true',
                   help='under Slurm (SLURM_JOB_ID set): when SIGTERM / SIGINT / SIGUSR1 stops training, requeue '
                        'the job (scontrol requeue) after writing the checkpoint; the requeued job resumes by itself')
    add_common_args(p)
    return p


def prepare_config(args: argparse.Namespace):
    import logging
    args.config = args.config or args.config_opt
    if not args.config:
        raise SystemExit('visioncraft train: give a config file (positional or -c FILE)')
    cfg = load_config(args)
    log = logging.getLogger('visioncraft')
    if args.amp:
        ow = dict(cfg.get('optim_wrapper') or {})
        if ow.get('type') == 'AmpOptimWrapper':
            log.warning('--amp: optim_wrapper is already an AmpOptimWrapper; kept as configured')
        else:
            ow['type'] = 'AmpOptimWrapper'
            ow.setdefault('loss_scale', 'dynamic')
            cfg['optim_wrapper'] = ow
    if args.auto_scale_lr:
        scale = cfg.get('auto_scale_lr')
        if not scale or 'base_batch_size' not in scale:
            raise SystemExit(f'--auto-scale-lr: {args.config} has no auto_scale_lr=dict(base_batch_size=N): '
                             'add it to say which total batch size the LR was set for')
        scale = dict(scale)
        scale['enable'] = True
        cfg['auto_scale_lr'] = scale
    if args.resume == 'auto':
        cfg['resume'] = True
    elif args.resume:
        cfg['resume'] = True
        cfg['load_from'] = args.resume
    if args.requeue:
        cfg['requeue'] = True
    if args.no_validate:
        cfg['val_cfg'] = None
        cfg['val_dataloader'] = None
        cfg['val_evaluator'] = None
    enable_visualization(cfg, args, testing=False)
    return cfg


def main(argv: list[str] | None = None, prog: str = 'visioncraft train') -> None:
    args = build_parser(prog).parse_args(argv)
    cfg = prepare_config(args)
    check_run_config(cfg, 'train')
    from ..engine import Runner

    def run():
        runner = Runner(cfg)
        if cfg.get('load_from'):
            check_checkpoint_fits(runner.model, cfg['load_from'])  # before anything runs: a clear error
        return runner.train()

    run_in_process_group(run)


if __name__ == '__main__':  # pragma: no cover
    from .main import run_cli
    run_cli(main, sys.argv[1:])
