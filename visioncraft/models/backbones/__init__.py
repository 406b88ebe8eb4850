"""Shared backbones. Each declares what it outputs (``out_channels``, ``strides``, ``output_shape()``)."""
from .base import FeatureSpec
from .mobilenet_v3 import MobileNetV3
from .resnet import ResNet, ResNetV1d, ResNeXt
from .tiny_det import TinyDetBackbone
from .hrnet import HRNet  # noqa: E402  (H4b)
from .cspnext import CSPNeXt  # noqa: E402  (H4b)

__all__ = ['FeatureSpec', 'MobileNetV3', 'ResNet', 'ResNetV1d', 'ResNeXt', 'TinyDetBackbone']
__all__ += ['HRNet', 'CSPNeXt']  # H4b
from .pplcnetv3 import PPLCNetV3  # noqa: E402  (PP-OCRv4)
from .pp_mobilenet_v3 import PPMobileNetV3  # noqa: E402  (PP-OCR classifier)
__all__ += ['PPLCNetV3', 'PPMobileNetV3']
from .paddle_det import PPDetMobileNetV3, PPResNetVd  # noqa: E402  (PaddleOCR det_mv3_db / det_r*_vd_db)
__all__ += ['PPDetMobileNetV3', 'PPResNetVd']
