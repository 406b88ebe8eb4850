"""Inference speed: images per second through a config's test dataloader (``tools/analysis_tools/benchmark.py``).

Each image (batch size 1) goes through the model's ``test_step`` (data preprocessor, forward in ``'predict'`` mode
with its post-processing); only that is timed, not the data loading. The first ``--num-warmup`` images are run
but not counted (cuDNN autotuning, allocator warm-up); CUDA is synchronised around every timed step.
"""
from __future__ import annotations

import argparse
import copy
import sys
import time
from typing import Any

import torch
from torch import nn

from ..engine.builder import build_dataloader
from ..errors import check_device, mark_user_error, read_checkpoint
from ..fileio.checkpoint import check_weights_fit, load_model_weights
from ..registry import config_file_context, default_scope
from .arguments import benchmark_parser
from .flops import build_model, load_config

__all__ = ['fuse_conv_bn', 'benchmark', 'resolve_device', 'main', 'run']

_CONVS = (nn.Conv1d, nn.Conv2d, nn.Conv3d)
_NORMS = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d, nn.SyncBatchNorm)


def fuse_conv_bn(module: nn.Module) -> int:
    """Fold every BatchNorm into the convolution registered just before it in the same parent (how ConvModule,
    the ResNet blocks and most backbones declare them), in place: the convolution gets the normalisation's
    scale and shift, the BatchNorm becomes ``nn.Identity``. For inference only (eval mode). Returns how many were
    fused."""
    fused = 0
    last_name, last_conv = None, None
    for name, child in list(module.named_children()):
        if isinstance(child, _NORMS) and last_conv is not None and child.track_running_stats \
                and child.running_mean is not None and last_conv.out_channels == child.num_features:
            setattr(module, last_name, torch.nn.utils.fusion.fuse_conv_bn_eval(last_conv.eval(), child.eval()))
            setattr(module, name, nn.Identity())
            fused += 1
            last_name, last_conv = None, None
        elif isinstance(child, _CONVS):
            last_name, last_conv = name, child
        else:
            fused += fuse_conv_bn(child)
            last_name, last_conv = None, None
    return fused


def resolve_device(device: str) -> str:
    """``'auto'``: ``'cuda:0'`` when CUDA is available, else ``'cpu'``; anything else checked (a device this
    machine lacks is a :class:`~visioncraft.errors.DeviceError` naming ``--device``)."""
    if device == 'auto':
        return 'cuda:0' if torch.cuda.is_available() else 'cpu'
    check_device(device, '--device')
    return device


def _sync(device: torch.device) -> None:
    if device.type == 'cuda':
        torch.cuda.synchronize(device)


def benchmark(model: nn.Module, loader, *, max_iter: int = 2000, log_interval: int = 50, num_warmup: int = 5,
              progress: bool = True) -> dict[str, Any]:
    """Time ``model.test_step`` on the batches of ``loader`` (each one image), at most ``max_iter`` of them, the
    first ``num_warmup`` not counted; prints a line every ``log_interval`` timed images and the result.

    Returns ``dict(fps=images/s, ms_per_img, images=timed images, warmup=num_warmup, seconds=timed seconds)``."""
    if max_iter < 1 or log_interval < 1 or num_warmup < 0:
        raise mark_user_error(ValueError(f'--max-iter and --log-interval must be >= 1 and --num-warmup >= 0, got '
                                         f'{max_iter}, {log_interval} and {num_warmup}'))
    total = min(max_iter, len(loader)) if hasattr(loader, '__len__') else max_iter
    if total <= num_warmup:
        raise mark_user_error(ValueError(f'the test set gives {total} image(s) (--max-iter {max_iter}), no more '
                                         f'than --num-warmup {num_warmup}: nothing would be timed; lower '
                                         f'--num-warmup'))
    device = next((p.device for p in model.parameters()), torch.device('cpu'))
    bar = None
    if progress:
        from tqdm import tqdm
        bar = tqdm(total=total, unit='img', file=sys.stderr, dynamic_ncols=True, desc='benchmark', disable=None)  # terminal only
    timed, seconds = 0, 0.0
    try:
        for i, batch in enumerate(loader):
            if i >= total:
                break
            _sync(device)
            start = time.perf_counter()
            with torch.no_grad():
                model.test_step(batch)
            _sync(device)
            elapsed = time.perf_counter() - start
            if bar is not None:
                bar.update(1)
            if i < num_warmup:
                continue
            n = len(batch['inputs']) if isinstance(batch, dict) and 'inputs' in batch else 1
            timed += n
            seconds += elapsed
            if (i + 1 - num_warmup) % log_interval == 0:
                fps = timed / seconds
                msg = (f'Done image [{i + 1:<3}/ {total}], fps: {fps:.1f} img / s, times per image: '
                       f'{1000 / fps:.1f} ms / img')
                if bar is not None:
                    bar.write(msg)  # above the bar, on stdout
                else:
                    print(msg)
    finally:
        if bar is not None:
            bar.close()
    if timed == 0 or seconds <= 0:
        raise RuntimeError('no image was timed (an empty test dataloader?)')
    fps = timed / seconds
    print(f'Overall fps: {fps:.1f} img / s, times per image: {1000 / fps:.1f} ms / img '
          f'({timed} images timed after {num_warmup} warm-up)')
    return dict(fps=fps, ms_per_img=1000 / fps, images=timed, warmup=num_warmup, seconds=seconds)


def run(args: argparse.Namespace) -> dict[str, Any]:
    """``benchmark.py`` with the parsed ``args`` (:func:`~visioncraft.analysis.arguments.benchmark_parser`)."""
    device = torch.device(resolve_device(args.device))
    cfg = load_config(args.config, args.cfg_options)
    model = build_model(cfg)
    # WORK_DIR/last_checkpoint (and latest.pth) stand for the checkpoint they name, as everywhere
    _, state_dict = read_checkpoint(args.checkpoint, map_location='cpu')
    check_weights_fit(model, state_dict, args.checkpoint)  # not one weight fits: an error naming the file
    load_model_weights(model, state_dict, source=args.checkpoint)
    if args.fuse_conv_bn:
        print(f'--fuse-conv-bn: {fuse_conv_bn(model)} BatchNorm layer(s) folded into their convolutions')
    model.to(device).eval()
    loader_cfg = copy.deepcopy(cfg.get('test_dataloader'))
    if not isinstance(loader_cfg, dict) and not hasattr(loader_cfg, 'keys'):
        raise KeyError(f'{cfg.filename or "the config"}: has no test_dataloader to read images from')
    loader_cfg = dict(loader_cfg)
    loader_cfg['batch_size'] = 1  # images per second of single-image inference, as MMDetection measures it
    loader_cfg.pop('persistent_workers', None)
    with config_file_context(cfg.filename), default_scope(cfg.get('default_scope')):
        loader = build_dataloader(loader_cfg, seed=0, key='test_dataloader', shuffle_default=False)
    print(f'benchmark: {type(model).__name__} on {device}, {min(args.max_iter, len(loader))} of {len(loader)} '
          f'test images, {args.num_warmup} warm-up')
    with default_scope(cfg.get('default_scope')):
        return benchmark(model, loader, max_iter=args.max_iter, log_interval=args.log_interval,
                         num_warmup=args.num_warmup, progress=not args.no_progress)


def main(argv: list[str] | None = None, prog: str = 'tools/analysis_tools/benchmark.py') -> dict[str, Any]:
    return run(benchmark_parser(prog).parse_args(sys.argv[1:] if argv is None else argv))
