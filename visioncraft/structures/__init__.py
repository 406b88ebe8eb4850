"""Data structures passed between datasets, models and metrics."""
from .access import to_numpy
from .data_sample import DataSample
from .instance_data import BaseDataElement, InstanceData
from .masks import BitmapMasks, PolygonMasks, bitmap_to_polygons, polygons_to_bitmap, rle_to_bitmap

__all__ = ['to_numpy', 'BaseDataElement', 'DataSample', 'InstanceData', 'BitmapMasks', 'PolygonMasks',
           'polygons_to_bitmap', 'rle_to_bitmap', 'bitmap_to_polygons']
