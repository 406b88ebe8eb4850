"""Shared model parts: BaseModel, data preprocessors, the DDP wrapper, backbones, necks, losses, demo models."""
from .base import BaseModel, NonFiniteLossError, parse_losses
from .classifiers import TinyClassifier
from .data_preprocessor import BaseDataPreprocessor, ImgDataPreprocessor
from .wrappers import DistributedModel
from . import backbones, layers, losses, necks  # noqa: F401  (register on import)
from .backbones import FeatureSpec, MobileNetV3, ResNet, TinyDetBackbone
from .necks import FPN

__all__ = ['BaseModel', 'NonFiniteLossError', 'parse_losses', 'BaseDataPreprocessor', 'ImgDataPreprocessor',
           'DistributedModel', 'TinyClassifier', 'FeatureSpec', 'ResNet', 'MobileNetV3', 'TinyDetBackbone', 'FPN']
