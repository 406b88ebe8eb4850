"""AspectRatioBatchSampler and LoadImageFromFile's MMOCR / MMEngine arguments."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from visioncraft.data import AspectRatioBatchSampler, DefaultSampler
from visioncraft.data.loading import LoadImageFromFile


class _Sizes:
    def __init__(self, sizes):
        self.sizes = sizes

    def __len__(self):
        return len(self.sizes)

    def get_data_info(self, i):
        w, h = self.sizes[i]
        return dict(width=w, height=h)


def _portrait(ds, batch):
    return {ds.sizes[int(i)][0] < ds.sizes[int(i)][1] for i in batch}


def test_batches_group_by_orientation_and_keep_every_sample():
    ds = _Sizes([(100, 50), (50, 100)] * 5 + [(60, 60)])
    sampler = DefaultSampler(ds, shuffle=True, seed=0, rank=0, world_size=1)
    bs = AspectRatioBatchSampler(sampler, batch_size=2)
    batches = list(bs)
    assert len(batches) == len(bs) == 6
    assert sorted(int(i) for b in batches for i in b) == list(range(11))
    assert all(len(_portrait(ds, b)) == 1 for b in batches if len(b) == 2 and b is not batches[-1])
    dropped = AspectRatioBatchSampler(sampler, batch_size=2, drop_last=True)
    assert len(list(dropped)) == len(dropped) == 5


def test_missing_sizes_and_bad_batch_size_are_errors():
    class NoSize(_Sizes):
        def get_data_info(self, i):
            return {}
    sampler = DefaultSampler(NoSize([(1, 1)] * 2), shuffle=False, seed=0, rank=0, world_size=1)
    with pytest.raises(KeyError, match='sample 0 of NoSize has no width / height'):
        list(AspectRatioBatchSampler(sampler, batch_size=2))
    with pytest.raises(ValueError, match='batch_size must be a positive int'):
        AspectRatioBatchSampler(sampler, batch_size=0)


def test_load_image_mmocr_arguments(tmp_path):
    path = tmp_path / 'a.png'
    cv2.imwrite(str(path), np.full((8, 20, 3), 7, np.uint8))
    out = LoadImageFromFile(color_type='color_ignore_orientation', backend_args=None)(dict(img_path=str(path)))
    assert out['img'].shape == (8, 20, 3)
    assert LoadImageFromFile(ignore_empty=True, min_size=10)(dict(img_path=str(path))) is None
    with pytest.raises(Exception, match=r'is 20x8 pixels, under min_size=10'):
        LoadImageFromFile(min_size=10)(dict(img_path=str(path)))
    with pytest.raises(ValueError, match="imdecode_backend='pillow'"):
        LoadImageFromFile(imdecode_backend='pillow')
    with pytest.raises(ValueError, match='petrel'):
        LoadImageFromFile(backend_args=dict(backend='petrel'))
