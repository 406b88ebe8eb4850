"""The ``visioncraft`` command: ``visioncraft {train,test,config,export,predict,ocr,pose,det} ...``.

Each command's arguments are parsed (:mod:`.parsers`) before its module, torch and the tasks are imported:
``--help``, ``--version`` and a usage error answer at once (:func:`run_command`; ``tools/*.py`` go through it too).
"""
from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import Any

from ..errors import run_entry_point
from .parsers import build_parser  # light: argparse only, so `visioncraft COMMAND -h` answers without torch

__all__ = ['main', 'entry', 'run_cli', 'run_command']

_COMMANDS = {
    'train': 'train a model from a config file',
    'test': 'evaluate a checkpoint on the test set',
    'config': 'print the merged config (after _base_ and --cfg-options)',
    'export': 'export a checkpoint to TorchScript + ONNX with its pre/post-processing (inference.json)',
    'predict': 'run an exported model on an image or a folder (no config needed)',
    'ocr': 'detect and read text in an image or a folder (PP-OCRv4 by default, or your detector + recogniser)',
    'pose': 'detect persons and estimate their 2D poses (top-down) in images, a folder, a video or a webcam',
}
_COMMANDS['det'] = 'detect objects (boxes, masks) in images, a folder, a URL, a video or a webcam; JSON + drawings'
_COMMANDS['report'] = "one self-contained HTML page of a work dir: curves, metrics, config, sample predictions"
_COMMANDS['import-weights'] = 'official PP-OCR weights (an ONNX file) -> a checkpoint to fine-tune, test or export'
_COMMANDS['serve'] = 'serve models over HTTP: a predict API, a web page to try them, health and metrics'
_COMMANDS['models'] = 'list the named models (config, upstream weights URL and sha256, published metric)'


def main(argv: list[str] | None = None) -> Any:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv:
        raise SystemExit(f"visioncraft: give a command ({', '.join(_COMMANDS)}); 'visioncraft -h' says what each does")
    if argv[0] in ('-V', '--version'):
        from .. import __version__  # the package's __init__ is light: no torch
        print(f'visioncraft {__version__}')
        raise SystemExit(0)
    if argv[0] in ('-h', '--help'):
        width = max(map(len, _COMMANDS)) + 2
        lines = '\n'.join(f'  {k:<{width}}{v}' for k, v in _COMMANDS.items())
        print(f'usage: visioncraft [--version] COMMAND [ARGS]\n\ncommands:\n{lines}\n\n'
              "'visioncraft COMMAND -h' shows a command's options.")
        raise SystemExit(0)
    cmd, rest = argv[0], argv[1:]
    if cmd not in _COMMANDS:
        import difflib
        close = difflib.get_close_matches(cmd, list(_COMMANDS), n=1)
        hint = f"; did you mean '{close[0]}'?" if close else ''
        raise SystemExit(f"visioncraft: unknown command {cmd!r}{hint} (commands: {', '.join(_COMMANDS)})")
    # the results: the metrics of test, the per-image results of ocr / predict / pose, for scripts and tests
    return run_command(cmd, rest, f'visioncraft {cmd}')


def run_command(command: str, argv: list[str] | None = None, prog: str | None = None) -> Any:
    """Parse ``argv`` with ``command``'s parser (:mod:`.parsers`, light), then import the module that runs the
    command (torch, the tasks) and run it: ``--help`` and a usage error answer before anything heavy is
    imported. ``command`` is a ``visioncraft`` subcommand or a tool of :data:`.parsers.PARSERS` (``eval``,
    ``infer_det``, ``infer_rec``, ``export_model``, ``predict_det``); ``prog`` names it in usage and errors."""
    parser = build_parser(command, prog)
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    return _run(command, args, parser.prog)


def _run(command: str, args: argparse.Namespace, prog: str) -> Any:
    """Run the parsed ``command``: only its module is imported, after parsing."""
    if command == 'train':
        from .train import run  # deferred: --help must not import torch (nor any other command's module)
        return run(args)
    if command == 'test':
        from .test import run  # deferred: --help must not import torch (nor any other command's module)
        return run(args)
    if command == 'config':
        return _run_config(args)
    if command == 'export':
        from .export import run  # deferred: --help must not import torch (nor any other command's module)
        return run(args)
    if command == 'predict':
        from .ocr_predict import run_predict  # deferred: --help must not import torch (nor any other command's)
        return run_predict(args)
    if command == 'predict_det':
        from .ocr_predict import run_predict_det  # deferred: --help must not import torch (nor any other command's)
        return run_predict_det(args)
    if command == 'ocr':
        from .ocr import run  # deferred: --help must not import torch (nor any other command's module)
        return run(args)
    if command == 'pose':
        from .pose import run  # deferred: --help must not import torch (nor any other command's module)
        return run(args)
    if command == 'det':
        from .det import run  # deferred: --help must not import torch (nor any other command's module)
        return run(args)
    if command == 'report':
        from .report import run  # deferred: --help must not import torch (nor any other command's module)
        return run(args)
    if command == 'import-weights':
        from .import_weights import run  # deferred: --help must not import torch (nor any other command's module)
        return run(args)
    if command == 'serve':
        from .serve import run  # deferred: --help must not import torch (nor FastAPI)
        return run(args)
    if command == 'models':
        return _run_models(args)
    from . import paddle_tools  # deferred: --help must not import torch (nor any other command's module)
    tools = {'eval': paddle_tools.run_eval, 'infer_det': paddle_tools.run_infer_det,
             'infer_rec': paddle_tools.run_infer_rec, 'export_model': paddle_tools.run_export}
    return tools[command](args, prog)


def _run_config(args: argparse.Namespace) -> None:
    from .common import read_config  # deferred: --help must not import torch (visioncraft.config does)
    cfg = read_config(args.config, args.cfg_options)  # a PaddleOCR-layout YAML is shown translated
    if args.format == 'py':
        print(cfg.pretty_text)
    else:
        import tempfile
        from pathlib import Path
        with tempfile.TemporaryDirectory() as d:
            out = Path(d) / f'config.{args.format}'
            cfg.dump(out)
            print(out.read_text())


def _run_models(args: argparse.Namespace) -> list[dict]:
    from ..model_index import format_table, list_models  # light: no torch, the listing answers at once
    models = list_models(args.task)
    if args.download:
        from ..apis.model_index import fetch_weights  # deferred: the download and conversion import torch
        print(fetch_weights(args.download))
        return []
    rows = [dict(name=m.name, task=m.task, config=m.config, url=m.url, sha256=m.sha256, source=m.source,
                 metric=m.metric, aliases=list(m.aliases)) for m in models]
    if args.json:
        import json
        print(json.dumps(rows, indent=1))
    else:
        print(format_table(models))
    return rows


def run_cli(fn: Callable[..., Any], *args: Any) -> Any:
    """Run a command (every entry point goes through here: ``visioncraft``, tools/*.py, demo/*.py, the
    converters); a mistake in the user's input (a config key or value, a type name, a path, an unreadable image,
    annotation or checkpoint file, a device) is printed as one ``error: ...`` line with exit status 2, Ctrl-C as
    one line with status 130, not a traceback. ``VISIONCRAFT_DEBUG=1`` shows the traceback. ``SystemExit``
    subclasses pass through untouched. See :mod:`visioncraft.errors`."""
    return run_entry_point(fn, *args)


def entry() -> None:
    """The ``visioncraft`` console command."""
    run_cli(main)


if __name__ == '__main__':  # pragma: no cover
    entry()
