"""The ``visioncraft`` command: ``visioncraft {train,test,config,export,predict,ocr} ...``."""
from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

__all__ = ['main', 'entry', 'run_cli']

_COMMANDS = {
    'train': 'train a model from a config file',
    'test': 'evaluate a checkpoint on the test set',
    'config': 'print the merged config (after _base_ and --cfg-options)',
    'export': 'export a checkpoint to TorchScript + ONNX with its pre/post-processing (inference.json)',
    'predict': 'run an exported model on an image or a folder (no config needed)',
    'ocr': 'detect and read text (a detector + a recogniser, configs or exported) in an image or a folder',
    'pose': 'detect persons and estimate their 2D poses (top-down) in images, a folder, a video or a webcam',
}


def _config_cmd(argv: list[str]) -> None:
    from ..config import DictAction
    from .common import ArgumentParser
    p = ArgumentParser(prog='visioncraft config', description=_COMMANDS['config'])
    p.add_argument('config')
    p.add_argument('--cfg-options', '-o', nargs='+', action=DictAction, default={}, metavar='KEY=VALUE')
    p.add_argument('--format', choices=['py', 'yaml', 'json'], default='py')
    args = p.parse_args(argv)
    from .common import read_config
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


def main(argv: list[str] | None = None) -> Any:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv:
        raise SystemExit(f"visioncraft: give a command ({', '.join(_COMMANDS)}); 'visioncraft -h' says what each does")
    if argv[0] in ('-h', '--help'):
        lines = '\n'.join(f'  {k:<8}{v}' for k, v in _COMMANDS.items())
        print(f'usage: visioncraft COMMAND [ARGS]\n\ncommands:\n{lines}\n\n'
              "'visioncraft COMMAND -h' shows a command's options.")
        raise SystemExit(0)
    cmd, rest = argv[0], argv[1:]
    if cmd == 'train':
        from .train import main as train_main
        train_main(rest)
    elif cmd == 'test':
        from .test import main as test_main
        test_main(rest)
    elif cmd == 'config':
        _config_cmd(rest)
    elif cmd == 'export':
        from .export import main as export_main
        export_main(rest)
    elif cmd == 'predict':
        from .predict import predict_main
        predict_main(rest)
    elif cmd == 'ocr':
        from .ocr import main as ocr_main
        return ocr_main(rest)  # the per-image results (or the metrics with --eval), for scripts and tests
    elif cmd == 'pose':
        from .pose import main as pose_main
        return pose_main(rest)  # the per-image persons, for scripts and tests
    else:
        import difflib
        close = difflib.get_close_matches(cmd, list(_COMMANDS), n=1)
        hint = f"; did you mean '{close[0]}'?" if close else ''
        raise SystemExit(f"visioncraft: unknown command {cmd!r}{hint} (commands: {', '.join(_COMMANDS)})")


def run_cli(fn: Callable[..., Any], *args: Any) -> Any:
    """Run a command (every entry point goes through here: ``visioncraft``, tools/*.py, demo/*.py, the
    converters); a mistake in the user's input (a config key or value, a type name, a path, an unreadable image,
    annotation or checkpoint file, a device) is printed as one ``error: ...`` line with exit status 2, Ctrl-C as
    one line with status 130, not a traceback. ``VISIONCRAFT_DEBUG=1`` shows the traceback. ``SystemExit``
    subclasses pass through untouched. See :mod:`visioncraft.errors`."""
    from ..errors import run_entry_point
    return run_entry_point(fn, *args)


def entry() -> None:
    """The ``visioncraft`` console command."""
    run_cli(main)


if __name__ == '__main__':  # pragma: no cover
    entry()
