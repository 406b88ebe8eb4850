"""Text-detection transforms (annotation loading, packing, rotate, text-aware crop, side-limit resize)."""
from .textdet_transforms import (ColorJitter, DetResizeForTest, LoadOCRAnnotations, PackTextDetInputs,  # noqa: F401
                                 RandomRotate, TextDetRandomCrop, clip_polygons, polygons_to_bboxes)
from .wrappers import AdditiveGaussianNoise, ImgAugWrapper, Rot90, TorchVisionWrapper  # noqa: F401,E402  (MMOCR 1.x)
