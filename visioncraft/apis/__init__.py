"""Public entry points for using trained models: build one from a config and run it on images."""
from .det_inference import LoadImageFromNDArray, async_inference_detector, inference_detector, init_detector

from .ocr import OCRInferencer, evaluate_ocr

__all__ = ['init_detector', 'inference_detector', 'async_inference_detector', 'LoadImageFromNDArray']
__all__ += ['OCRInferencer', 'evaluate_ocr']

from .pose_inference import PoseInferencer, inference_topdown, init_model, merge_data_samples

__all__ += ['init_model', 'inference_topdown', 'merge_data_samples', 'PoseInferencer']
