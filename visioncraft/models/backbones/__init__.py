"""Shared backbones. Each declares what it outputs (``out_channels``, ``strides``, ``output_shape()``)."""
from .base import FeatureSpec
from .resnet import ResNet

__all__ = ['FeatureSpec', 'ResNet']
