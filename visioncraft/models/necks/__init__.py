"""Shared necks: modules between a backbone and a task head."""
from .fpn import FPN

__all__ = ['FPN']
