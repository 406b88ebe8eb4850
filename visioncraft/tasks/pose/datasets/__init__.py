"""Pose datasets (COCO, AI Challenger, MPII, synthetic people), dataset metainfo, CombinedDataset."""
from .metainfo import parse_pose_metainfo  # noqa: F401
from .coco_style import AicDataset, BaseCocoStyleDataset, CocoPoseDataset  # noqa: F401
from .mpii import MpiiDataset  # noqa: F401
from .combined import PoseCombinedDataset  # noqa: F401
from .synth_dataset import PoseSynthDataset  # noqa: F401
