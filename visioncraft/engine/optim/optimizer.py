"""Every ``torch.optim`` optimizer, registered in :data:`OPTIMIZERS` under its class name at import.

``dict(type='SGD', lr=0.02, momentum=0.9)`` in a config builds ``torch.optim.SGD``; whatever optimizers the
installed torch provides (``AdamW``, ``RMSprop``, ``Adafactor``, ...) are picked up without a list here.
"""
from __future__ import annotations

import inspect

import torch

from visioncraft.registry import OPTIMIZERS

__all__ = ['TORCH_OPTIMIZERS', 'register_torch_optimizers']


def register_torch_optimizers() -> list[str]:
    """Register each :class:`torch.optim.Optimizer` subclass found in ``torch.optim``; return their names."""
    names = []
    for name, obj in sorted(vars(torch.optim).items()):
        if (inspect.isclass(obj) and issubclass(obj, torch.optim.Optimizer)
                and obj is not torch.optim.Optimizer and not name.startswith('_')):
            OPTIMIZERS.register_module(name=name, module=obj)
            names.append(name)
    return names


TORCH_OPTIMIZERS: list[str] = register_torch_optimizers()
