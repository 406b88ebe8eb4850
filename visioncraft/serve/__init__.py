"""Serve models over HTTP: ``visioncraft serve MODEL [MODEL ...]`` (docs/serve.md).

* :mod:`.models`: the ``MODEL`` argument (``[NAME=]SOURCE[,WEIGHTS][+SOURCE[,WEIGHTS]]``) and the loaded models,
  each answering the JSON its inferencer writes to disk;
* :mod:`.batching`: one worker thread per model, fed by a bounded queue, batching requests that arrive together;
* :mod:`.inputs`: request bodies (multipart, raw bytes, base64 JSON) into images, within the limits;
* :mod:`.metrics`: the Prometheus counters of ``GET /metrics``;
* :mod:`.app`: the FastAPI application (:func:`~visioncraft.serve.app.create_app`) and the web page in ``static/``.

FastAPI, uvicorn and python-multipart are an optional extra (``pip install 'visioncraft[serve]'``); only
:mod:`.app` needs them, so this package imports without them.
"""
from __future__ import annotations

__all__ = ['create_app', 'load_served_model', 'parse_model_spec']


def __getattr__(name: str):
    # lazy: the models need torch, the application FastAPI; `import visioncraft.serve` needs neither
    if name == 'create_app':
        from .app import create_app
        return create_app
    if name in ('load_served_model', 'parse_model_spec'):
        from . import models
        return getattr(models, name)
    raise AttributeError(f'module {__name__!r} has no attribute {name!r}')
