"""mmocr checkpoint names -> ours (see the package docstring)."""
from . import register_rules

register_rules('mmocr', [
])
