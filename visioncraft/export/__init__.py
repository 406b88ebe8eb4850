"""Export trained models (TorchScript, ONNX) with their pre- / post-processing settings, and run them with no
config: :func:`export_model` writes the directory, :class:`TextDetPredictor` / :class:`TextRecogPredictor` read it
(:func:`load_predictor` picks the one its ``inference.json`` names; see docs/export.md)."""
from ..registry import EXPORTERS
from . import textdet  # noqa: F401  (registers the text-detection exporter in EXPORTERS)
from . import textrecog  # noqa: F401  (registers the text-recognition exporters in EXPORTERS)
from . import attention_recog  # noqa: F401  (registers the attention-recogniser exporter in EXPORTERS)
from . import pose  # noqa: F401  (registers the top-down pose exporter in EXPORTERS)
from . import detection  # noqa: F401  (registers the detector exporters in EXPORTERS)
from . import textcls  # noqa: F401  (registers the text-direction classifier exporter in EXPORTERS)
from .core import Exporter, export_model
from .predictor import TextDetPredictor, TextRecogPredictor, exported_task, load_predictor
from .attention_recog import AttentionRecogPredictor
from .pose_predictor import PosePredictor
from .det_predictor import DetPredictor

__all__ = ['export_model', 'TextDetPredictor', 'TextRecogPredictor', 'load_predictor', 'exported_task', 'EXPORTERS',
           'Exporter']
__all__ += ['PosePredictor', 'AttentionRecogPredictor']
__all__ += ['DetPredictor']
from .textcls import TextClsPredictor  # noqa: E402

__all__ += ['TextClsPredictor']
