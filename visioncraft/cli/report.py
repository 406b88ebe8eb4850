"""``visioncraft report WORK_DIR [--out report.html] [--num-samples 8]``: the one-file HTML report of a run
(:func:`visioncraft.analysis.report.build_report`); the flags are :func:`.parsers.report_parser`'s."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..analysis.report import build_report
from .parsers import report_parser as build_parser
from .parsers import resolve_device

__all__ = ['build_parser', 'main', 'run']


def main(argv: list[str] | None = None, prog: str = 'visioncraft report') -> Path:
    return run(build_parser(prog).parse_args(argv))


def run(args: argparse.Namespace) -> Path:
    """Write the report the parsed ``args`` ask for; returns the HTML file's path."""
    out = build_report(args.work_dir, args.out, num_samples=args.num_samples, device=resolve_device(args.device),
                       log=print)
    print(f'report written to {out}')
    return out


if __name__ == '__main__':  # pragma: no cover
    from .main import run_cli
    run_cli(main, sys.argv[1:])
