"""Export trained models (TorchScript, ONNX) with their pre- / post-processing settings, and run them with no
config: :func:`export_model` writes the directory, :class:`TextDetPredictor` reads it (see docs/export.md)."""
from . import textdet  # noqa: F401  (registers the text-detection exporter)
from .core import EXPORTERS, Exporter, export_model
from .predictor import TextDetPredictor

__all__ = ['export_model', 'TextDetPredictor', 'EXPORTERS', 'Exporter']
