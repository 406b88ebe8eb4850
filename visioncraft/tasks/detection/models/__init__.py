"""Detection models: the data preprocessor, prior generators (anchors, points), the box coder, box helpers,
the assigner and samplers, dense heads (RetinaHead, FCOSHead, RPNHead), RoI heads, single- and two-stage
detectors, and the torchvision weight converters (``convert_torchvision``)."""
from .data_preprocessor import DetDataPreprocessor
from .detectors import FCOS, BaseDetector, RetinaNet, SingleStageDetector
from .fcos_head import FCOSHead, Scale
from .retina_head import RetinaHead
from .roi_heads import FCNMaskHead, Shared2FCBBoxHead, SingleRoIExtractor, StandardRoIHead
from .rpn_head import RPNHead
from .shared_heads import BBoxHead, ResLayer
from .samplers import OHEMSampler, RandomSampler, SamplingResult
from .assigners import AssignResult, MaxIoUAssigner
from .bbox_coder import DeltaXYWHBBoxCoder
from .box_ops import box_iof, nms_and_rescale
from .prior_generators import (AnchorGenerator, MlvlPointGenerator, TorchvisionAnchorGenerator,
                               TorchvisionPointGenerator)
from .two_stage import FasterRCNN, MaskRCNN, TwoStageDetector
from .tta import DetTTAModel
from .batch_augments import BatchFixedSizePad

__all__ = ['DetDataPreprocessor', 'BaseDetector', 'SingleStageDetector', 'RetinaNet', 'FCOS', 'RetinaHead',
           'FCOSHead', 'Scale', 'RPNHead', 'SingleRoIExtractor', 'Shared2FCBBoxHead', 'FCNMaskHead',
           'StandardRoIHead', 'TwoStageDetector', 'FasterRCNN', 'MaskRCNN', 'AnchorGenerator', 'AssignResult',
           'DeltaXYWHBBoxCoder', 'MaxIoUAssigner', 'MlvlPointGenerator', 'TorchvisionAnchorGenerator',
           'TorchvisionPointGenerator', 'box_iof', 'nms_and_rescale', 'RandomSampler', 'OHEMSampler',
           'SamplingResult', 'retinanet_from_torchvision']


def __getattr__(name: str):
    # imported lazily so that `python -m visioncraft.tasks.detection.models.convert_torchvision` runs cleanly
    if name == 'retinanet_from_torchvision':
        from .convert_torchvision import retinanet_from_torchvision  # deferred: see above
        return retinanet_from_torchvision
    raise AttributeError(f'module {__name__!r} has no attribute {name!r}')
__all__ += ['DetTTAModel', 'BatchFixedSizePad']
__all__ += ['BBoxHead', 'ResLayer']
