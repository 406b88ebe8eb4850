"""Detection transforms: annotation loading and packing (the geometric ones live in visioncraft.data)."""
from .loading import LoadAnnotations
from .packing import PackDetInputs

__all__ = ['LoadAnnotations', 'PackDetInputs']
