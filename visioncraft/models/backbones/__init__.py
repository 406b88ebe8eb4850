"""Shared backbones. Each declares what it outputs (``out_channels``, ``strides``, ``output_shape()``)."""
from .base import FeatureSpec
from .mobilenet_v3 import MobileNetV3
from .resnet import ResNet, ResNetV1d
from .tiny_det import TinyDetBackbone

__all__ = ['FeatureSpec', 'MobileNetV3', 'ResNet', 'ResNetV1d', 'TinyDetBackbone']
