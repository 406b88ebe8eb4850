"""BaseModel: the three steps the loops call, and loss parsing.

A model's ``forward(inputs, data_samples, mode)`` has three modes:

* ``'loss'``: a dict of named losses (and other logged scalars); every key containing ``loss`` is
  summed into the total that is back-propagated.
* ``'predict'``: a list of data samples with predictions (``pred_*`` fields), in input order.
* ``'tensor'``: the raw network outputs (for export and debugging).

Batches arrive as the collate function made them (``dict(inputs=[...], data_samples=[...])``); the
model's ``data_preprocessor`` moves them to the model's device, normalises and stacks them.
"""
from __future__ import annotations

from collections import OrderedDict
from typing import Any

import torch
from torch import nn

from ..registry import MODELS

__all__ = ['BaseModel', 'NonFiniteLossError', 'build_submodule', 'parse_losses']


class NonFiniteLossError(FloatingPointError):
    """A loss term became NaN or infinite; training stops before the weights are updated."""


def parse_losses(losses: dict[str, Any]) -> tuple[torch.Tensor, 'OrderedDict[str, float]']:
    """Sum the ``*loss*`` terms; return (total, all values as floats for logging).

    Raises NonFiniteLossError naming the term(s) that are not finite.
    """
    log_vars: OrderedDict[str, torch.Tensor] = OrderedDict()
    for name, value in losses.items():
        if isinstance(value, torch.Tensor):
            log_vars[name] = value.mean()
        elif isinstance(value, (list, tuple)) and value and all(isinstance(v, torch.Tensor) for v in value):
            log_vars[name] = sum(v.mean() for v in value)
        elif isinstance(value, (int, float)):
            log_vars[name] = torch.tensor(float(value))
        else:
            raise TypeError(f'loss {name!r} must be a tensor or a list of tensors, got {type(value).__name__}')
    loss_terms = [v for k, v in log_vars.items() if 'loss' in k]
    if not loss_terms:
        raise ValueError(f"the model's loss dict has no key containing 'loss': {list(log_vars)}")
    total = sum(loss_terms)
    values = torch.stack([v.detach().float() for v in log_vars.values()] + [total.detach().float()]).cpu()
    if not bool(torch.isfinite(values).all()):
        bad = [f'{k}={values[i].item()}' for i, k in enumerate(log_vars) if not torch.isfinite(values[i])]
        raise NonFiniteLossError(f"non-finite loss: {', '.join(bad) or f'loss={values[-1].item()}'}")
    out: OrderedDict[str, float] = OrderedDict(loss=float(values[-1]))
    for i, k in enumerate(log_vars):
        out[k] = float(values[i])
    return total, out


class BaseModel(nn.Module):
    """Base of every trainable model.

    Args:
        data_preprocessor: config or module that turns a collated batch into model inputs
            (default: :class:`~visioncraft.models.BaseDataPreprocessor`, which only moves to device).
        init_cfg: weight initialisation config, applied by :meth:`init_weights`.
    """

    def __init__(self, *, data_preprocessor: dict | nn.Module | None = None, init_cfg: dict | None = None) -> None:
        super().__init__()
        if data_preprocessor is None:
            data_preprocessor = dict(type='BaseDataPreprocessor')
        self.data_preprocessor = MODELS.build(data_preprocessor, key_path='data_preprocessor')
        self.init_cfg = init_cfg

    def init_weights(self) -> None:
        """Run child modules' ``init_weights`` (override for ``init_cfg`` handling)."""
        for m in self.children():
            if hasattr(m, 'init_weights') and m is not self:
                m.init_weights()

    def forward(self, inputs: torch.Tensor, data_samples: list | None = None, mode: str = 'tensor'):
        raise NotImplementedError

    def train_step(self, data: dict, optim_wrapper) -> 'OrderedDict[str, float]':
        """Preprocess, forward in 'loss' mode, check the losses are finite, update the weights."""
        with optim_wrapper.optim_context(self):
            data = self.data_preprocessor(data, training=True)
            losses = self(**data, mode='loss')
        total, log_vars = parse_losses(losses)
        optim_wrapper.update_params(total)
        return log_vars

    @torch.no_grad()
    def val_step(self, data: dict) -> list:
        data = self.data_preprocessor(data, training=False)
        return self(**data, mode='predict')

    test_step = val_step


def build_submodule(cfg: dict | nn.Module, key: str, **fill: Any) -> nn.Module:
    """A model part from its config (``MODELS.build``, errors naming ``key``), or ``cfg`` itself when it is
    already a module. ``fill`` sets keys the config leaves unset or None (e.g. a neck's ``in_channels`` from the
    backbone's ``out_channels``); a None value in ``fill`` sets nothing."""
    if isinstance(cfg, nn.Module):
        return cfg
    cfg = dict(cfg)
    for k, v in fill.items():
        if cfg.get(k) is None and v is not None:
            cfg[k] = v
    return MODELS.build(cfg, key_path=key)
