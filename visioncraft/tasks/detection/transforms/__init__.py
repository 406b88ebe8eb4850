"""Detection transforms: annotation loading and packing (the geometric ones live in visioncraft.data)."""
from . import mmdet2_pipeline  # noqa: F401  (MMDetection 2.x's pipeline-only names: an error saying what replaced them)
from .filter import FilterAnnotations
from .loading import LoadAnnotations
from .packing import PackDetInputs

__all__ = ['FilterAnnotations', 'LoadAnnotations', 'PackDetInputs']
