"""The command-line parsers of ``tools/analysis_tools/get_flops.py`` and ``benchmark.py``, from light imports only
(argparse and :mod:`visioncraft.errors`): ``--help`` and a usage error answer before torch is imported.
:func:`run_tool` parses, then imports the module that does the work (``analyze_logs.py`` needs no torch at all:
its parser is :func:`visioncraft.analysis.logs.build_parser`)."""
from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import Any

from ..argparsing import OverridesAction, add_cfg_options, add_device_arg
from ..errors import ArgumentParser

__all__ = ['OverridesAction', 'get_flops_parser', 'benchmark_parser', 'run_tool', 'TOOLS']


def get_flops_parser(prog: str = 'tools/analysis_tools/get_flops.py') -> argparse.ArgumentParser:
    p = ArgumentParser(prog=prog, description='MACs (multiply-accumulates, what MMDetection prints as "Flops"), '
                                              'FLOPs and parameters of the model of a config, on one input image.')
    p.add_argument('config', help='config file (.py, .yaml, .json, or a PaddleOCR-layout .yml)')
    p.add_argument('--shape', type=int, nargs='+', metavar='N',
                   help='H [W]: input height and width (one number: a square); default 1280 800 for a detector (as '
                        "MMDetection's get_flops.py), else the config's test input size (TopdownAffine input_size, "
                        'Resize scale)')
    add_cfg_options(p)
    return p


def benchmark_parser(prog: str = 'tools/analysis_tools/benchmark.py') -> argparse.ArgumentParser:
    p = ArgumentParser(prog=prog, description="Inference speed (images/s) of a checkpoint through the config's "
                                              'test dataloader and the model\'s predict (batch size 1).')
    p.add_argument('config', help='config file')
    p.add_argument('checkpoint', help='checkpoint file (or WORK_DIR/last_checkpoint)')
    p.add_argument('--max-iter', type=int, default=2000, help='stop after this many images (default 2000)')
    p.add_argument('--log-interval', type=int, default=50, help='print the speed every N images (default 50)')
    p.add_argument('--num-warmup', type=int, default=5, help='images run before timing starts (default 5)')
    p.add_argument('--fuse-conv-bn', action='store_true',
                   help='fold each BatchNorm into the convolution before it (faster inference, same results)')
    add_device_arg(p)
    add_cfg_options(p)
    p.add_argument('--no-progress', action='store_true', help='no progress bar')
    return p


def _run_get_flops(args: argparse.Namespace) -> Any:
    from .flops import run  # deferred: parsing (and --help) must not import torch
    return run(args)


def _run_benchmark(args: argparse.Namespace) -> Any:
    from .speed import run  # deferred: parsing (and --help) must not import torch
    return run(args)


def _logs_parser(prog: str) -> argparse.ArgumentParser:
    from .logs import build_parser  # light (no torch); here so that this module stays a table of parsers
    return build_parser(prog)


def _run_logs(args: argparse.Namespace) -> Any:
    from .logs import run  # light (no torch)
    return run(args)


#: tool name -> (parser factory, runner)
TOOLS: dict[str, tuple[Callable[[str], argparse.ArgumentParser], Callable[[argparse.Namespace], Any]]] = {
    'analyze_logs': (_logs_parser, _run_logs),
    'get_flops': (get_flops_parser, _run_get_flops),
    'benchmark': (benchmark_parser, _run_benchmark),
}


def run_tool(name: str, argv: list[str] | None = None, prog: str | None = None) -> Any:
    """Parse ``argv`` with the tool's parser, then run it (its module is imported only now)."""
    make, runner = TOOLS[name]
    parser = make(prog or f'tools/analysis_tools/{name}.py')
    return runner(parser.parse_args(sys.argv[1:] if argv is None else argv))
