"""Shared model parts: BaseModel, data preprocessors, the DDP wrapper, small demo models."""
from .base import BaseModel, NonFiniteLossError, parse_losses
from .classifiers import TinyClassifier
from .data_preprocessor import BaseDataPreprocessor, ImgDataPreprocessor
from .wrappers import DistributedModel

__all__ = ['BaseModel', 'NonFiniteLossError', 'parse_losses', 'BaseDataPreprocessor', 'ImgDataPreprocessor',
           'DistributedModel', 'TinyClassifier']
