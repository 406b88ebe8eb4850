"""Detection models: the data preprocessor, anchor utilities, RetinaHead, single-stage detectors and the
torchvision RetinaNet weight converter."""
from .data_preprocessor import DetDataPreprocessor
from .detectors import RetinaNet, SingleStageDetector
from .retina_head import RetinaHead
from .task_utils import AnchorGenerator, AssignResult, DeltaXYWHBBoxCoder, MaxIoUAssigner

__all__ = ['DetDataPreprocessor', 'RetinaNet', 'SingleStageDetector', 'RetinaHead', 'AnchorGenerator',
           'AssignResult', 'DeltaXYWHBBoxCoder', 'MaxIoUAssigner', 'retinanet_from_torchvision']


def __getattr__(name: str):
    # imported lazily so that `python -m visioncraft.tasks.detection.models.convert_torchvision` runs cleanly
    if name == 'retinanet_from_torchvision':
        from .convert_torchvision import retinanet_from_torchvision
        return retinanet_from_torchvision
    raise AttributeError(f'module {__name__!r} has no attribute {name!r}')
