"""Visualizer and its backends."""
from .backends import BaseVisBackend, LocalVisBackend, TensorboardVisBackend
from .visualizer import Visualizer

__all__ = ['BaseVisBackend', 'LocalVisBackend', 'TensorboardVisBackend', 'Visualizer']
