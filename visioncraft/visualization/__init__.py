"""Visualizer and its backends."""
from .backends import BaseVisBackend, LocalVisBackend, TensorboardVisBackend
from .visualizer import Visualizer, draw_polygons, rgb_uint8, to_numpy

__all__ = ['BaseVisBackend', 'LocalVisBackend', 'TensorboardVisBackend', 'Visualizer', 'rgb_uint8', 'to_numpy']
