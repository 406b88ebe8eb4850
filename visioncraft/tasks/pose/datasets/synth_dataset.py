"""PoseSynthDataset: the synthetic people (``visioncraft.data.synthetic.people``), generated on first use and read
as COCO keypoints."""
from __future__ import annotations

from collections.abc import Sequence

from visioncraft.data.synthetic.people import generate_pose_synth
from visioncraft.registry import DATASETS

from .coco_style import CocoPoseDataset

__all__ = ['PoseSynthDataset']


@DATASETS.register_module(['PoseSynthDataset', 'mmpose.PoseSynthDataset'])
class PoseSynthDataset(CocoPoseDataset):
    """The synthetic people of :func:`~visioncraft.data.synthetic.people.generate_pose_synth`, generated under
    ``data_root`` on first use (regenerated when its stored settings differ), read as :class:`CocoPoseDataset`.

    Args:
        data_root: folder of the data set (created if missing).
        split: ``'train'`` or ``'val'``: sets ``ann_file`` (``annotations/person_keypoints_{split}.json``) and
            ``data_prefix`` (``{split}/``) unless they are given.
        generate: generate (or regenerate) before loading; False only reads.
        num_train / num_val / seed / img_size / people_per_image / height_range / occluder_prob: generation
            settings (used only when generating); see ``generate_pose_synth``.
        **kwargs: the rest of :class:`CocoPoseDataset`'s arguments (pipeline, bbox_file, test_mode, ...).
    """

    def __init__(self, data_root: str = 'data/pose_synth', split: str = 'train', *, generate: bool = True,
                 num_train: int = 3000, num_val: int = 300, seed: int = 0,
                 img_size: Sequence[int] = (320, 240), people_per_image: Sequence[int] = (1, 3),
                 height_range: Sequence[float] = (0.4, 0.95), occluder_prob: float = 0.35, **kwargs) -> None:
        if split not in ('train', 'val'):
            raise ValueError(f"PoseSynthDataset: split must be 'train' or 'val', got {split!r}")
        if generate:
            generate_pose_synth(data_root, num_train=num_train, num_val=num_val, seed=seed, img_size=tuple(img_size),
                                people_per_image=tuple(people_per_image), height_range=tuple(height_range),
                                occluder_prob=occluder_prob)
        kwargs.setdefault('ann_file', f'annotations/person_keypoints_{split}.json')
        kwargs.setdefault('data_prefix', dict(img=f'{split}/'))
        super().__init__(data_root=data_root, **kwargs)
