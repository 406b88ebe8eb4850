"""Pretrained weights for backbones: ``init_cfg=dict(type='Pretrained', checkpoint=..., prefix=...)``.

Shared by every backbone (ResNet, MobileNetV3, ...), so they resolve names, cache downloads and report
failures the same way.
"""
from __future__ import annotations

import contextlib
import contextvars
import logging
from collections.abc import Callable, Iterator

import torchvision
from torch import nn

from ...fileio.checkpoint import LoadReport, extract_state_dict, load_checkpoint_file, load_model_weights

__all__ = ['resolve_checkpoint_path', 'check_pretrained_init_cfg', 'load_pretrained', 'pretrained_weights_skipped']

_logger = logging.getLogger('visioncraft')
#: why pretrained weights are not loaded now (None: they are); see :func:`pretrained_weights_skipped`
_skip_reason: contextvars.ContextVar[str | None] = contextvars.ContextVar('skip_pretrained', default=None)


@contextlib.contextmanager
def pretrained_weights_skipped(reason: str) -> Iterator[None]:
    """Within this block :func:`load_pretrained` loads (and downloads) nothing and says so with ``reason``: a
    model about to get every weight from a checkpoint (testing, inference, ``load_from``) must never fetch its
    backbone's ImageNet weights first (offline, that fetch would fail)."""
    token = _skip_reason.set(reason)
    try:
        yield
    finally:
        _skip_reason.reset(token)


def resolve_checkpoint_path(checkpoint: str) -> str:
    """``'torchvision://resnet50'`` -> torchvision's ImageNet (V1) weight URL; other strings unchanged."""
    if not checkpoint.startswith('torchvision://'):
        return checkpoint
    name = checkpoint[len('torchvision://'):]
    try:
        weights = torchvision.models.get_model_weights(name)
    except (ValueError, KeyError) as exc:
        raise ValueError(f'{checkpoint!r}: torchvision has no model named {name!r}') from exc
    # IMAGENET1K_V1 is the checkpoint older toolboxes meant by 'torchvision://<name>'.
    entry = getattr(weights, 'IMAGENET1K_V1', None) or weights.DEFAULT
    return entry.url


def check_pretrained_init_cfg(init_cfg: dict | None, owner: str) -> None:
    """Raise ``ValueError`` unless ``init_cfg`` is None or ``dict(type='Pretrained', checkpoint=...)``."""
    if init_cfg is not None and init_cfg.get('type') != 'Pretrained':
        raise ValueError(f"{owner} init_cfg must be None or dict(type='Pretrained', checkpoint=...), got {init_cfg}")


def load_pretrained(module: nn.Module, init_cfg: dict, *, name: str,
                    keep: Callable[[str], bool] | None = None):
    """Load ``init_cfg['checkpoint']`` into ``module`` and return the
    :class:`~visioncraft.fileio.checkpoint.LoadReport` (also logged).

    ``checkpoint`` is a local file, an http(s) URL (downloaded once into ``$TORCH_HOME/hub/checkpoints``;
    offline, the ``RuntimeError`` names the URL and that cache path) or ``'torchvision://<model name>'``.
    ``init_cfg['prefix']`` (optional) keeps only the keys under that prefix and strips it (e.g.
    ``'backbone.'`` to take the backbone out of a detector checkpoint); ``keep(key)`` then filters the
    remaining keys (e.g. drops a classifier). ``name`` appears in the messages.
    """
    source = init_cfg.get('checkpoint')
    if not source:
        raise ValueError(f"{name} init_cfg=dict(type='Pretrained') needs a 'checkpoint'")
    skip = _skip_reason.get()
    if skip is not None:
        _logger.info(f'{name}: pretrained weights {source} not loaded: {skip}')
        return LoadReport([], [], [])
    path = resolve_checkpoint_path(str(source))
    try:
        ckpt = load_checkpoint_file(path)
    except RuntimeError as exc:
        raise RuntimeError(f'{name} pretrained weights ({source}): {exc}') from exc
    state = extract_state_dict(ckpt)
    prefix = init_cfg.get('prefix')
    if prefix:
        prefix = prefix.rstrip('.') + '.'
        state = {k[len(prefix):]: v for k, v in state.items() if k.startswith(prefix)}
    if keep is not None:
        state = {k: v for k, v in state.items() if keep(k)}
    report = load_model_weights(module, state, logger=_logger, source=source)
    _logger.info(f'{name}: loaded {source}: {report}')
    return report
