"""What a multi-scale module (backbone or neck) outputs: one :class:`FeatureSpec` per feature map."""
from __future__ import annotations

from typing import NamedTuple

__all__ = ['FeatureSpec']


class FeatureSpec(NamedTuple):
    """One output feature map: ``channels`` and ``stride`` (input pixels per feature-map cell)."""

    channels: int
    stride: int
