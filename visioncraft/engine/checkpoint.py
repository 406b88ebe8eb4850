"""Checkpoint files live in :mod:`visioncraft.fileio.checkpoint` (below data, models, evaluation and the engine);
this name is the same module, for existing imports."""
import sys

from ..fileio import checkpoint as _checkpoint

sys.modules[__name__] = _checkpoint
