"""Datasets, dataset wrappers, samplers, collate functions and the transform protocol."""
from .base_dataset import BaseDataset
from . import geometric  # noqa: F401  (registers Resize, RandomCrop, Pad, ...)
from . import photometric  # noqa: F401  (registers YOLOXHSVRandomAug)
from .collate import default_collate, pseudo_collate
from .samplers import AspectRatioBatchSampler, DefaultSampler, InfiniteSampler
from .seeding import SeededIndex, derive_seed, sample_rng, sample_seed
from .transforms import BaseTransform, Compose
from .test_time_aug import TestTimeAug
from .apply_wrappers import ConditionApply, RandomApply, RandomChoice
from .worker import worker_init_fn
from .wrappers import CombinedDataset, ConcatDataset, RepeatDataset

__all__ = [
    'BaseDataset', 'ConcatDataset', 'RepeatDataset', 'CombinedDataset',
    'AspectRatioBatchSampler', 'DefaultSampler', 'InfiniteSampler',
    'pseudo_collate', 'default_collate',
    'BaseTransform', 'Compose', 'TestTimeAug', 'RandomApply', 'RandomChoice', 'ConditionApply',
    'SeededIndex', 'sample_seed', 'derive_seed', 'sample_rng',
    'worker_init_fn',
]
