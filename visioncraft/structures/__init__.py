"""Data structures passed between datasets, models and metrics."""
from .data_sample import DataSample
from .instance_data import BaseDataElement, InstanceData

__all__ = ['BaseDataElement', 'DataSample', 'InstanceData']
