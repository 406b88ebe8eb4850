"""Public entry points for using trained models: build one from a config and run it on images.

One file per job: the low-level calls per task (:mod:`.detection`, :mod:`.pose`, :mod:`.ocr`); the inferencers that
run them over inputs, all on one base (:mod:`.base_inferencer`: inputs, batching, device, progress, JSON and picture
outputs): :mod:`.det_inferencer`, :mod:`.pose_inferencer`, :mod:`.textdet_inferencer`, :mod:`.textrec_inferencer`,
:mod:`.ocr_inferencer` (and :mod:`.ocr_evaluation`); what
they share (:mod:`.model_loading`, :mod:`.inference_pipeline`, :mod:`.model_aliases`, :mod:`.inputs`,
:mod:`.writers`); and video (:mod:`.video`, :mod:`.display`, :mod:`.video_detection`, :mod:`.demo_args`)."""
from .detection import async_inference_detector, inference_detector, init_detector
from .detection import set_random_seed, show_result_pyplot  # MMDetection 2.x's mmdet.apis names
from .inference_pipeline import LoadImageFromNDArray

__all__ = ['init_detector', 'inference_detector', 'async_inference_detector', 'LoadImageFromNDArray',
           'show_result_pyplot', 'set_random_seed']

from .base_inferencer import BaseInferencer
from .det_inferencer import DetInferencer

__all__ += ['BaseInferencer', 'DetInferencer']

from .ocr_evaluation import evaluate_ocr
from .ocr_inferencer import OCRInferencer

__all__ += ['OCRInferencer', 'evaluate_ocr']

from .pose import inference_topdown, init_model, merge_data_samples
from .pose_inferencer import PoseInferencer

__all__ += ['init_model', 'inference_topdown', 'merge_data_samples', 'PoseInferencer']

from .ppocr_system import OCRLine, PPOCRSystem
from .ppocr_weights import PPOCR_MODELS, build_ppocr_model, import_ppocr_weights

__all__ += ['OCRLine', 'PPOCRSystem', 'PPOCR_MODELS', 'build_ppocr_model', 'import_ppocr_weights']

from .textdet_inferencer import TextDetInferencer
from .textrec_inferencer import TextRecInferencer

__all__ += ['TextDetInferencer', 'TextRecInferencer']
