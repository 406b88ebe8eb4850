"""The HTTP application of ``visioncraft serve`` (FastAPI): :func:`create_app` over loaded
:class:`~visioncraft.serve.models.ServedModel` s.

Routes:

* ``POST /v1/models/{name}/predict``: one image (a multipart upload in the field ``file``, the raw bytes with an
  ``image/*`` Content-Type, or JSON ``{"image": "<base64>"}``: :mod:`.inputs`) -> the model's JSON document for it,
  exactly what the inferencer writes to disk (:mod:`.models` lists them per task). The headers say how it went:
  ``Server-Timing`` (``decode``, ``queue``, ``model``, ``total``, in milliseconds), ``X-Batch-Size`` (images in the
  model call it rode in), ``X-Model``, ``X-Task``, ``X-Image-Size`` (``WIDTHxHEIGHT``).
* ``GET /v1/models``: ``{"models": [{"name", "task", "classes", ...}], "limits": {...}}``;
  ``GET /v1/models/{name}``: one of them.
* ``GET /healthz``: ``{"status": "ok", ...}``; ``GET /metrics``: Prometheus text (:mod:`.metrics`).
* ``GET /``: the web page (``visioncraft/serve/static/``; ``/static/...`` its files).

Refusals are JSON ``{"error": "<one line>"}``: 400 (not an image, truncated, malformed body, wrong field), 404
(unknown model or route), 405, 413 (too many bytes or pixels), 415 (a body that is no image), 503 with
``Retry-After`` (the model's queue is full), 500 (the model failed on this image; the server goes on).
Each model runs in its own worker thread (:class:`~visioncraft.serve.batching.BatchWorker`); the event loop only
reads bodies and awaits futures, and images are decoded in the thread pool.
"""
from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from fastapi import FastAPI, Request
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from .batching import BatchWorker, QueueFull
from .inputs import ClientError, Limits, body_limit, decode_image, image_bytes, read_body
from .metrics import CONTENT_TYPE, Metrics
from .models import ServedModel

__all__ = ['create_app', 'STATIC_DIR', 'PREDICT_ROUTE']

_logger = logging.getLogger('visioncraft')

#: the web page's files, shipped in the package
STATIC_DIR = Path(__file__).resolve().parent / 'static'
#: the predict route's template (also its label in the metrics)
PREDICT_ROUTE = '/v1/models/{name}/predict'


def _builtin(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f'{type(value).__name__} is not JSON serialisable')


def _finite(value: Any) -> Any:
    """``value`` with NaN and infinities as None (JSON has no such numbers)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite(v) for v in value]
    return value


def json_bytes(doc: Any) -> bytes:
    """``doc`` as compact UTF-8 JSON (numpy values as Python ones, NaN / inf as null)."""
    try:
        text = json.dumps(doc, ensure_ascii=False, allow_nan=False, separators=(',', ':'), default=_builtin)
    except ValueError:
        text = json.dumps(_finite(json.loads(json.dumps(doc, default=_builtin))), ensure_ascii=False,
                          allow_nan=False, separators=(',', ':'))
    return text.encode('utf-8')


def _error(status: int, reason: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({'error': ' '.join(str(reason).split())}, status_code=status, headers=headers)


class _CountRequests:
    """ASGI middleware: every HTTP answer counted in :class:`Metrics` by route template, model and status code."""

    def __init__(self, app, metrics: Metrics, models: Sequence[str]) -> None:
        self.app = app
        self.metrics = metrics
        self.models = set(models)

    async def __call__(self, scope, receive, send):
        if scope['type'] != 'http':
            await self.app(scope, receive, send)
            return
        status: dict[str, int] = {}

        async def record(message):
            if message['type'] == 'http.response.start':
                status['code'] = int(message['status'])
            await send(message)

        try:
            await self.app(scope, receive, record)
        finally:
            route = getattr(scope.get('route'), 'path', None) or 'other'
            name = (scope.get('path_params') or {}).get('name', '')
            model = name if route == PREDICT_ROUTE and name in self.models else ''
            self.metrics.count_request(route, model, status.get('code', 500))


def _replayed(scope: dict, body: bytes) -> Request:
    """A Request whose body is ``body`` (already read, within the limits) for Starlette's form parser."""
    sent = False

    async def receive():
        nonlocal sent
        if sent:
            return {'type': 'http.disconnect'}
        sent = True
        return {'type': 'http.request', 'body': body, 'more_body': False}

    return Request(scope, receive)


def create_app(models: Sequence[ServedModel], *, max_batch: int = 8, max_queue: int = 64,
               max_image_bytes: int = 20 * 2 ** 20, max_image_pixels: int = 40_000_000,
               batch_wait_ms: float = 5.0) -> FastAPI:
    """The application serving ``models`` (names must be unique).

    Args:
        max_batch: images per model call, at most (requests that arrive together share one call).
        max_queue: requests that may wait per model; the next one is answered 503 with ``Retry-After``.
        max_image_bytes / max_image_pixels: the largest image file and picture (width x height) a request may send.
        batch_wait_ms: how long a batch waits for more requests once it holds one.
    """
    names = [m.name for m in models]
    if len(set(names)) != len(names):
        dup = sorted({n for n in names if names.count(n) > 1})
        raise ValueError(f'create_app: model names must be unique; {", ".join(dup)} given twice (name them: '
                         'NAME=SOURCE)')
    served = {m.name: m for m in models}
    limits = Limits(max_image_bytes, max_image_pixels)
    workers: dict[str, BatchWorker] = {}
    metrics = Metrics(names, lambda: {n: w.depth for n, w in workers.items()})
    for m in models:
        workers[m.name] = BatchWorker(m.predict, name=m.name, max_batch=max_batch, max_queue=max_queue,
                                      max_wait_s=float(batch_wait_ms) / 1000.0,
                                      on_batch=lambda size, s, _n=m.name: metrics.observe_batch(_n, size, s))

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI):
        for w in workers.values():
            w.start()
        try:
            yield
        finally:
            for w in workers.values():
                await run_in_threadpool(w.stop)

    app = FastAPI(title='VisionCraft', summary='computer-vision models over HTTP', lifespan=lifespan,
                  docs_url=None, redoc_url=None)  # their pages load scripts from a CDN
    app.state.models, app.state.workers, app.state.metrics, app.state.limits = served, workers, metrics, limits
    app.add_middleware(_CountRequests, metrics=metrics, models=names)

    @app.exception_handler(ClientError)
    async def _client_error(_request: Request, exc: ClientError):
        return _error(exc.status, exc.reason, exc.headers)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(_request: Request, exc: StarletteHTTPException):
        reason = exc.detail if isinstance(exc.detail, str) else json.dumps(exc.detail)
        return _error(exc.status_code, reason, getattr(exc, 'headers', None))

    @app.exception_handler(Exception)
    async def _unexpected(_request: Request, exc: Exception):  # a bug: logged with its traceback by Starlette
        return _error(500, f'internal error: {type(exc).__name__}: {exc}')

    def _model(name: str) -> ServedModel:
        if name not in served:
            raise ClientError(404, f'unknown model {name!r}; served: {", ".join(served) or "none"}')
        return served[name]

    def _describe(m: ServedModel) -> dict[str, Any]:
        return dict(m.describe(), queue_depth=workers[m.name].depth)

    @app.get('/', include_in_schema=False)
    async def index():
        return FileResponse(STATIC_DIR / 'index.html', headers={'Cache-Control': 'no-cache'})

    @app.get('/healthz')
    async def healthz():
        return {'status': 'ok', 'models': names,
                'queue_depth': {n: w.depth for n, w in workers.items()}}

    @app.get('/metrics', include_in_schema=False)
    async def prometheus():
        return Response(metrics.render(), media_type=CONTENT_TYPE)

    @app.get('/v1/models')
    async def list_models():
        return {'models': [_describe(m) for m in models],
                'limits': {'max_batch': int(max_batch), 'max_queue': int(max_queue),
                           'max_image_bytes': limits.max_bytes, 'max_image_pixels': limits.max_pixels}}

    @app.get('/v1/models/{name}')
    async def one_model(name: str):
        return _describe(_model(name))

    @app.post(PREDICT_ROUTE)
    async def predict(name: str, request: Request):
        t0 = time.perf_counter()
        model = _model(name)
        worker = workers[name]
        ctype = request.headers.get('content-type')
        with worker.expect() as expected:  # a batch being gathered waits for this request
            body = await read_body(request.stream(), request.headers.get('content-length'),
                                   body_limit(ctype, limits), limits)

            async def form_of():
                return await _replayed(request.scope, body).form(max_files=1, max_fields=16)

            data = await image_bytes(ctype, body, form_of, limits)
            img = await run_in_threadpool(decode_image, data, limits)
            t1 = time.perf_counter()
            try:
                future = worker.submit(img, expected)
            except QueueFull as exc:
                raise ClientError(503, f'{exc}; try again later', headers={'Retry-After': '1'}) from None
        try:
            result = await asyncio.wrap_future(future)
        except Exception as exc:  # noqa: BLE001 - the model's error on this image; the server goes on
            _logger.warning(f'serve: {name}: the model failed on a {img.shape[1]}x{img.shape[0]} image: '
                            f'{type(exc).__name__}: {exc}')
            return _error(500, f'the model {name} failed on this image: {type(exc).__name__}: {exc}')
        total = time.perf_counter() - t0
        metrics.observe_latency(name, total)
        timing = (f'decode;dur={(t1 - t0) * 1e3:.2f}, queue;dur={result.queue_s * 1e3:.2f}, '
                  f'model;dur={result.model_s * 1e3:.2f}, total;dur={total * 1e3:.2f}')
        headers = {'Server-Timing': timing, 'X-Batch-Size': str(result.batch_size), 'X-Model': name,
                   'X-Task': model.task, 'X-Image-Size': f'{img.shape[1]}x{img.shape[0]}'}
        return Response(json_bytes(result.doc), media_type='application/json', headers=headers)

    app.mount('/static', StaticFiles(directory=STATIC_DIR), name='static')
    return app
