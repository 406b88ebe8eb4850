"""2D human pose estimation, top-down (MMPose workflows): keypoint codecs, datasets, transforms, models
(SimpleBaseline, HRNet, RTMPose-style SimCC), metrics, visualizer."""
from . import codecs  # noqa: F401
from . import datasets  # noqa: F401
from . import transforms  # noqa: F401
from . import models  # noqa: F401
from . import evaluation  # noqa: F401
from . import visualization  # noqa: F401
