"""Detection models: the data preprocessor, box/anchor/point utilities, samplers, dense heads (RetinaHead,
FCOSHead, RPNHead), RoI heads, single- and two-stage detectors, and the torchvision weight converters
(``convert_torchvision``)."""
from .data_preprocessor import DetDataPreprocessor
from .detectors import FCOS, BaseDetector, RetinaNet, SingleStageDetector
from .fcos_head import FCOSHead, Scale
from .retina_head import RetinaHead
from .roi_heads import FCNMaskHead, Shared2FCBBoxHead, SingleRoIExtractor, StandardRoIHead
from .rpn_head import RPNHead
from .samplers import RandomSampler, SamplingResult
from .task_utils import (AnchorGenerator, AssignResult, DeltaXYWHBBoxCoder, MaxIoUAssigner, MlvlPointGenerator,
                         TorchvisionAnchorGenerator, TorchvisionPointGenerator, box_iof, nms_and_rescale)
from .two_stage import FasterRCNN, MaskRCNN, TwoStageDetector

__all__ = ['DetDataPreprocessor', 'BaseDetector', 'SingleStageDetector', 'RetinaNet', 'FCOS', 'RetinaHead',
           'FCOSHead', 'Scale', 'RPNHead', 'SingleRoIExtractor', 'Shared2FCBBoxHead', 'FCNMaskHead',
           'StandardRoIHead', 'TwoStageDetector', 'FasterRCNN', 'MaskRCNN', 'AnchorGenerator', 'AssignResult',
           'DeltaXYWHBBoxCoder', 'MaxIoUAssigner', 'MlvlPointGenerator', 'TorchvisionAnchorGenerator',
           'TorchvisionPointGenerator', 'box_iof', 'nms_and_rescale', 'RandomSampler',
           'SamplingResult', 'retinanet_from_torchvision']


def __getattr__(name: str):
    # imported lazily so that `python -m visioncraft.tasks.detection.models.convert_torchvision` runs cleanly
    if name == 'retinanet_from_torchvision':
        from .convert_torchvision import retinanet_from_torchvision
        return retinanet_from_torchvision
    raise AttributeError(f'module {__name__!r} has no attribute {name!r}')
