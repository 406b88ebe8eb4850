"""What an export directory holds, by name: shared by the exporter (:mod:`.core`, which writes it) and the
runtimes that read it (:mod:`.predictor`, :mod:`visioncraft.apis.ocr`), so reading an export never imports the
exporting side (which needs the model-building API)."""
from __future__ import annotations

__all__ = ['FORMATS', 'INFERENCE_JSON', 'MODEL_FILES', 'FORMAT_VERSION']

#: the graph formats ``visioncraft export`` writes
FORMATS = ('torchscript', 'onnx')
#: the file that describes an export: task, pre/post-processing settings, format version
INFERENCE_JSON = 'inference.json'
#: the graph file of each format
MODEL_FILES = {'torchscript': 'model.pt', 'onnx': 'model.onnx'}
#: the inference.json layout version; a predictor refuses a newer one
FORMAT_VERSION = 1
