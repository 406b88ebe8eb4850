"""Top-down pose transforms: bbox centre/scale, flip, bbox jitter, affine, targets, keypoint conversion, pack,
pixel-level augmentation (Albumentation)."""
from .warp import get_udp_warp_matrix, get_warp_matrix  # noqa: F401
from .common import (GetBBoxCenterScale, LoadImage, PoseRandomFlip, RandomBBoxTransform,  # noqa: F401
                     RandomHalfBody)
from .topdown import TopdownAffine  # noqa: F401
from .target import GenerateTarget  # noqa: F401
from .converting import KeypointConverter  # noqa: F401
from .formatting import PackPoseInputs  # noqa: F401
from .albumentation import Albumentation  # noqa: F401
