"""What a multi-scale module (backbone or neck) outputs: one :class:`FeatureSpec` per feature map."""
from __future__ import annotations

from typing import NamedTuple

from torch import nn

__all__ = ['FeatureSpec', 'BackboneBase']


class FeatureSpec(NamedTuple):
    """One output feature map: ``channels`` and ``stride`` (input pixels per feature-map cell)."""

    channels: int
    stride: int


class BackboneBase(nn.Module):
    """What the shared backbones have in common: ``out_channels`` / ``strides`` lists (set by the subclass)
    exposed as :meth:`output_shape`; the modules :meth:`_frozen_modules` names kept in eval mode without
    gradients (``frozen_stages``); and, with ``self.norm_eval``, every BatchNorm kept in eval mode while
    training. A subclass calls ``self._freeze_stages()`` at the end of its ``__init__``."""

    out_channels: list[int]
    strides: list[int]
    norm_eval: bool = False

    def output_shape(self) -> list[FeatureSpec]:
        """One FeatureSpec(channels, stride) per returned feature map."""
        return [FeatureSpec(c, s) for c, s in zip(self.out_channels, self.strides)]

    def _frozen_modules(self) -> list[nn.Module]:
        return []

    def _freeze_stages(self) -> None:
        for m in self._frozen_modules():
            m.eval()
            for p in m.parameters():
                p.requires_grad_(False)

    def train(self, mode: bool = True):
        super().train(mode)
        self._freeze_stages()
        if mode and self.norm_eval:
            for m in self.modules():
                if isinstance(m, nn.BatchNorm2d):
                    m.eval()
        return self
