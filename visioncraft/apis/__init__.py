"""Public entry points for using trained models: build one from a config and run it on images.

One file per job: the low-level calls per task (:mod:`.detection`, :mod:`.pose`, :mod:`.ocr`), the inferencers that
chain them over inputs (:mod:`.pose_inferencer`, :mod:`.ocr_inferencer`, :mod:`.ocr_evaluation`), what they share
(:mod:`.model_loading`, :mod:`.inference_pipeline`, :mod:`.model_aliases`, :mod:`.inputs`, :mod:`.writers`), and
video (:mod:`.video`, :mod:`.display`, :mod:`.video_detection`, :mod:`.demo_args`)."""
from .detection import async_inference_detector, inference_detector, init_detector
from .inference_pipeline import LoadImageFromNDArray

__all__ = ['init_detector', 'inference_detector', 'async_inference_detector', 'LoadImageFromNDArray']

from .ocr_evaluation import evaluate_ocr
from .ocr_inferencer import OCRInferencer

__all__ += ['OCRInferencer', 'evaluate_ocr']

from .pose import inference_topdown, init_model, merge_data_samples
from .pose_inferencer import PoseInferencer

__all__ += ['init_model', 'inference_topdown', 'merge_data_samples', 'PoseInferencer']
