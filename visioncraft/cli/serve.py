"""``visioncraft serve MODEL [MODEL ...] [--host 127.0.0.1] [--port 8000] ...``: serve models over HTTP.

Each ``MODEL`` is ``[NAME=]SOURCE[,WEIGHTS][+SOURCE[,WEIGHTS]]`` (:mod:`visioncraft.serve.models`); every one is
loaded before the server starts (a mistake in any is one ``error: ...`` line, exit status 2), then uvicorn serves
:func:`visioncraft.serve.app.create_app` until Ctrl-C. docs/serve.md describes the routes and the web page.
"""
from __future__ import annotations

import argparse
import importlib.util
import logging
import sys
import time

from ..errors import mark_user_error
from .parsers import resolve_device
from .parsers import serve_parser as build_parser

__all__ = ['build_parser', 'main', 'run', 'check_serve_dependencies']

_logger = logging.getLogger('visioncraft')
_NEEDED = (('fastapi', 'fastapi'), ('uvicorn', 'uvicorn'), ('python_multipart', 'python-multipart'))


def check_serve_dependencies() -> None:
    """A clear error when the ``serve`` extra is not installed."""
    missing = [pip for module, pip in _NEEDED if importlib.util.find_spec(module) is None]
    if missing:
        raise mark_user_error(ModuleNotFoundError(
            f'visioncraft serve needs {", ".join(missing)}: pip install "visioncraft[serve]"'))


def _check_args(args: argparse.Namespace) -> None:
    for flag, value, low in (('--max-batch', args.max_batch, 1), ('--max-queue', args.max_queue, 1),
                             ('--max-image-pixels', args.max_image_pixels, 1)):
        if value < low:
            raise SystemExit(f'error: {flag} must be >= {low}, got {value}')
    if not args.max_image_mb > 0:
        raise SystemExit(f'error: --max-image-mb must be > 0, got {args.max_image_mb}')
    if not 0 <= args.batch_wait_ms <= 1000:
        raise SystemExit(f'error: --batch-wait-ms must be between 0 and 1000, got {args.batch_wait_ms}')
    if not 0 <= args.port <= 65535:
        raise SystemExit(f'error: --port must be between 0 and 65535, got {args.port}')


def main(argv: list[str] | None = None, prog: str = 'visioncraft serve'):
    return run(build_parser(prog).parse_args(argv))


def build_app(args: argparse.Namespace):
    """Load the models the parsed ``args`` name and return the application (the server is not started)."""
    from ..serve.app import create_app
    from ..serve.models import load_served_model, parse_model_spec
    specs = [parse_model_spec(text) for text in args.models]  # every argument checked before a model loads
    names = [s.name for s in specs]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise SystemExit(f'error: two models are named {", ".join(dup)}: name them with NAME=SOURCE...')
    device = resolve_device(args.device)  # 'auto': CUDA when there is one
    models = []
    for spec in specs:
        t0 = time.perf_counter()
        model = load_served_model(spec, device=device, backend=args.backend)
        extra = f', {len(model.classes)} classes' if model.classes else ''
        print(f'{model.name}: {model.task}{extra}, loaded in {time.perf_counter() - t0:.1f} s on {device}',
              flush=True)
        models.append(model)
    return create_app(models, max_batch=args.max_batch, max_queue=args.max_queue,
                      max_image_bytes=int(args.max_image_mb * 2 ** 20), max_image_pixels=args.max_image_pixels,
                      batch_wait_ms=args.batch_wait_ms)


def run(args: argparse.Namespace):
    """Serve as the parsed ``args`` (of :func:`build_parser`) say, until interrupted."""
    _check_args(args)
    check_serve_dependencies()
    app = build_app(args)
    import uvicorn  # here: an optional dependency, checked above
    host = args.host
    shown = f'[{host}]' if ':' in host else host
    if host not in ('127.0.0.1', 'localhost', '::1'):
        print(f'visioncraft serve: listening on {host}: anyone who can reach this machine can use the models (there '
              'is no authentication)', file=sys.stderr, flush=True)
    print(f'serving {len(app.state.models)} model(s) at http://{shown}:{args.port}/ (web page; API: '
          f'/v1/models, /v1/models/NAME/predict, /healthz, /metrics); Ctrl-C stops', flush=True)
    uvicorn.run(app, host=host, port=args.port, log_level=args.log_level, timeout_graceful_shutdown=10)


if __name__ == '__main__':  # pragma: no cover
    from .main import run_cli
    run_cli(main, sys.argv[1:])
