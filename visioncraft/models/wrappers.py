"""DistributedModel: DDP whose train step runs the forward through DDP so gradients are synchronised."""
from __future__ import annotations

from torch.nn.parallel import DistributedDataParallel

from ..registry import MODEL_WRAPPERS
from .base import parse_losses

__all__ = ['DistributedModel']


@MODEL_WRAPPERS.register_module()
class DistributedModel(DistributedDataParallel):
    """``DistributedDataParallel`` with the model's ``train_step`` / ``val_step`` / ``test_step``.

    The training forward goes through ``DistributedDataParallel.__call__`` (gradient all-reduce);
    validation and testing call the wrapped module directly (no synchronisation needed).
    """

    @property
    def data_preprocessor(self):
        return self.module.data_preprocessor

    def train_step(self, data: dict, optim_wrapper):
        with optim_wrapper.optim_context(self):
            data = self.module.data_preprocessor(data, training=True)
            losses = self(**data, mode='loss')
        total, log_vars = parse_losses(losses)
        optim_wrapper.update_params(total)
        return log_vars

    def val_step(self, data: dict):
        return self.module.val_step(data)

    def test_step(self, data: dict):
        return self.module.test_step(data)
