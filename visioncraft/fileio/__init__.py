"""File input and output shared by every layer: checkpoints (atomic writes, weights-only loading, the URL cache,
the work dir's ``last_checkpoint`` pointer). Imports nothing of VisionCraft above it."""
from .checkpoint import *  # noqa: F401,F403
from .checkpoint import __all__  # noqa: F401
