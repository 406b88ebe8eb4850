"""The process-group helpers live in :mod:`visioncraft.dist` (below data, models, evaluation and the engine, so
all of them can use it); this name is the same module, for existing imports."""
import sys

from .. import dist as _dist

sys.modules[__name__] = _dist
