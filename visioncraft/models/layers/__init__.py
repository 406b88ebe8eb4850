"""Shared layers that backbones, necks and heads build from (registered in ``MODELS`` on import)."""
from .deform_conv import ModulatedDeformConv2d
from .squeeze_excite import SqueezeExcite

__all__ = ['ModulatedDeformConv2d', 'SqueezeExcite']
