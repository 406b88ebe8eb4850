"""Pose models: top-down estimator, heads, losses, backbones (HRNet, CSPNeXt)."""
from . import data_preprocessor  # noqa: F401  (H4a: PoseDataPreprocessor)
from . import losses  # noqa: F401  (H4a: KeypointMSELoss, KeypointOHKMMSELoss)
from . import heatmap_head  # noqa: F401  (H4a: HeatmapHead)
from . import estimator  # noqa: F401  (H4a: TopdownPoseEstimator)
from . import losses_simcc  # noqa: F401  (H4b: KLDiscretLoss)
from . import rtmcc_head  # noqa: F401  (H4b: RTMCCHead, SimCCHead)
from . import vis_head  # noqa: F401  (VisPredictHead)
