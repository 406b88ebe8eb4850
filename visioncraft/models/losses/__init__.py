"""Shared losses (registered in MODELS): focal, L1, smooth L1."""
from .basic import FocalLoss, L1Loss, SmoothL1Loss, weighted_reduce

__all__ = ['FocalLoss', 'L1Loss', 'SmoothL1Loss', 'weighted_reduce']
