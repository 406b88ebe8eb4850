"""``visioncraft train CONFIG`` (also ``tools/train.py``); the flags are :func:`.parsers.train_parser`'s."""
from __future__ import annotations

import argparse
import logging
import sys
import warnings

from ..engine import Runner
from .common import check_checkpoint_fits, check_run_config, enable_visualization, load_config, run_in_process_group
from .parsers import train_parser as build_parser

__all__ = ['build_parser', 'main', 'run', 'prepare_config']


def prepare_config(args: argparse.Namespace):
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
        _say_when_amp_falls_back_to_fp32(cfg['optim_wrapper'], log)
    if args.auto_scale_lr:
        scale = cfg.get('auto_scale_lr')
        if not scale or 'base_batch_size' not in scale:
            raise SystemExit(f'--auto-scale-lr: {args.config} has no auto_scale_lr=dict(base_batch_size=N): '
                             'add it to say which total batch size the LR was set for')
        scale = dict(scale)
        scale['enable'] = True
        cfg['auto_scale_lr'] = scale
    if getattr(args, 'resume_from', None):
        if args.resume and args.resume != args.resume_from:
            raise SystemExit(f'--resume {args.resume} and --resume-from {args.resume_from}: give one')
        args.resume = args.resume_from
    if getattr(args, 'load_from', None):
        cfg['load_from'] = args.load_from
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


def _say_when_amp_falls_back_to_fp32(optim_wrapper, log: logging.Logger) -> None:
    """``--amp`` on a CPU without native bfloat16: AmpOptimWrapper (``cpu_bf16='auto'``) trains in float32 there,
    as bfloat16 autocast is emulated and many times slower. Say so in one log line instead of the wrapper's
    two-line Python warning."""
    import torch  # here: parsing must not import torch (this module is imported after parsing)

    from ..engine.optim.wrapper import cpu_has_native_bf16
    if torch.cuda.is_available() or optim_wrapper.get('cpu_bf16', 'auto') != 'auto' or cpu_has_native_bf16():
        return
    log.warning("--amp: this CPU has no native bfloat16 (AVX512-BF16 or AMX), where bfloat16 autocast runs many "
                "times slower than float32: training in float32 (optim_wrapper.cpu_bf16='force' uses bfloat16 "
                'anyway; python benchmarks/cpu_amp.py measures both)')
    warnings.filterwarnings('ignore', message='AmpOptimWrapper: mixed precision is off on the CPU',
                            category=UserWarning)


def main(argv: list[str] | None = None, prog: str = 'visioncraft train') -> None:
    run(build_parser(prog).parse_args(argv))


def run(args: argparse.Namespace):
    """Train as the parsed ``args`` (of :func:`build_parser`) say."""
    cfg = prepare_config(args)
    if args.gpus is not None and args.gpus > 1 and cfg.get('launcher', 'none') == 'none':
        logging.getLogger('visioncraft').warning(
            f'{args.gpus} GPUs asked for (`train CONFIG {args.gpus}`, as in MMOCR\'s guide), but this command runs '
            f'one process: for {args.gpus} GPUs run `tools/dist_train.sh CONFIG {args.gpus} ...`')
    check_run_config(cfg, 'train')

    def train():
        runner = Runner(cfg)
        if cfg.get('load_from'):
            check_checkpoint_fits(runner.model, cfg['load_from'], partial=True)  # fine-tuning: a part may fit
        return runner.train()

    return run_in_process_group(train)


if __name__ == '__main__':  # pragma: no cover
    from .main import run_cli
    run_cli(main, sys.argv[1:])
