"""``visioncraft export CONFIG CHECKPOINT --out-dir DIR [--format onnx torchscript]`` (MMOCR / MMDeploy users).

Writes the self-contained inference directory of :func:`visioncraft.export.export_model`: ``model.pt``,
``model.onnx`` and ``inference.json`` (see docs/export.md).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..config import Config
from ..export import export_model
from ..export.artifacts import FORMATS
from ..registry import config_file_context
from .parsers import export_parser as build_parser

__all__ = ['build_parser', 'main', 'run']


def main(argv: list[str] | None = None, prog: str = 'visioncraft export') -> dict[str, Path]:
    return run(build_parser(prog).parse_args(argv))


def run(args: argparse.Namespace) -> dict[str, Path]:
    """Export as the parsed ``args`` (of :func:`build_parser`) say; returns the written files."""
    bad = [f for f in args.format if f not in FORMATS]
    if bad:
        raise SystemExit(f'error: unknown --format {", ".join(bad)} (choose from {", ".join(FORMATS)})')
    if not Path(args.config).is_file():
        raise FileNotFoundError(f'config file not found: {args.config}')
    if not args.checkpoint.startswith(('http://', 'https://')) and not Path(args.checkpoint).is_file():
        raise FileNotFoundError(f'checkpoint file not found: {args.checkpoint}')
    cfg = Config.fromfile(args.config, args.cfg_options or None)  # a PaddleOCR YAML: translated, options on its keys
    with config_file_context(args.config):  # a build error names the config file and the key path
        written = export_model(cfg, args.checkpoint, args.out_dir, formats=tuple(args.format), opset=args.opset)
    for kind, path in written.items():
        print(f'{kind}: {path}')
    return written


if __name__ == '__main__':  # pragma: no cover
    from .main import run_cli
    run_cli(main, sys.argv[1:])
