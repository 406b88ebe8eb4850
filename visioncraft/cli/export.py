"""``visioncraft export CONFIG CHECKPOINT --out-dir DIR [--format onnx torchscript]`` (MMOCR / MMDeploy users).

Writes the self-contained inference directory of :func:`visioncraft.export.export_model`: ``model.pt``,
``model.onnx`` and ``inference.json`` (see docs/export.md).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .common import ArgumentParser

__all__ = ['build_parser', 'main']


def build_parser(prog: str = 'visioncraft export') -> argparse.ArgumentParser:
    from ..config import DictAction
    p = ArgumentParser(prog=prog, description='Export a trained model to TorchScript and ONNX with its '
                                              'pre- and post-processing settings (inference.json).')
    p.add_argument('config', help='config file (.py, .yaml or .json)')
    p.add_argument('checkpoint', help='checkpoint file (or http(s) URL)')
    p.add_argument('--out-dir', required=True, help='the inference directory to write')
    p.add_argument('--format', nargs='+', default=['torchscript', 'onnx'], metavar='FORMAT',
                   help='torchscript and/or onnx (default: both)')
    p.add_argument('--opset', type=int, default=None, help='ONNX opset (default 17)')
    p.add_argument('--cfg-options', '-o', nargs='+', action=DictAction, default={}, metavar='KEY=VALUE',
                   help='override config entries before export (e.g. model.det_head.codec.box_thresh=0.5)')
    return p


def main(argv: list[str] | None = None, prog: str = 'visioncraft export') -> dict[str, Path]:
    args = build_parser(prog).parse_args(argv)
    from ..export.core import FORMATS
    bad = [f for f in args.format if f not in FORMATS]
    if bad:
        raise SystemExit(f'error: unknown --format {", ".join(bad)} (choose from {", ".join(FORMATS)})')
    if not Path(args.config).is_file():
        raise FileNotFoundError(f'config file not found: {args.config}')
    if not args.checkpoint.startswith(('http://', 'https://')) and not Path(args.checkpoint).is_file():
        raise FileNotFoundError(f'checkpoint file not found: {args.checkpoint}')
    from ..config import Config
    from ..export import export_model
    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    written = export_model(cfg, args.checkpoint, args.out_dir, formats=tuple(args.format), opset=args.opset)
    for kind, path in written.items():
        print(f'{kind}: {path}')
    return written


if __name__ == '__main__':  # pragma: no cover
    from .main import run_cli
    run_cli(main, sys.argv[1:])
