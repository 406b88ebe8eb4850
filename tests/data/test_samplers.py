import itertools
import random
import time

import numpy as np
import pytest
import torch

from visioncraft.data import BaseDataset, DefaultSampler, InfiniteSampler, SeededIndex, sample_seed
from visioncraft.registry import DATA_SAMPLERS


class RandomAugDataset(BaseDataset):
    """Sample i -> its index and one draw from each global RNG (the "augmentation")."""

    def __init__(self, size, **kwargs):
        self.size = size
        super().__init__(pipeline=[self.augment], **kwargs)

    def load_data_list(self):
        return [dict(i=i) for i in range(self.size)]

    @staticmethod
    def augment(results):
        results['aug'] = (random.random(), float(np.random.rand()), float(torch.rand(1)))
        return results


def pairs(iterable):
    """(index, seed) tuples: SeededIndex equality alone ignores the seed."""
    return [(int(i), getattr(i, 'seed', None)) for i in iterable]


def two_ranks(cls, dataset, **kwargs):
    """Rank 0 and rank 1 of a simulated 2-process run: built, then rank / world_size overridden."""
    out = []
    for rank in range(2):
        sampler = cls(dataset, **kwargs)
        sampler.rank, sampler.world_size = rank, 2
        out.append(sampler)
    return out


def test_registered():
    assert DATA_SAMPLERS.get('DefaultSampler') is DefaultSampler
    assert DATA_SAMPLERS.get('InfiniteSampler') is InfiniteSampler


def test_default_sampler_single_rank_order():
    data = list(range(10))
    plain = DefaultSampler(data, shuffle=False, seed=0)
    assert pairs(plain) == [(i, sample_seed(0, 0, i)) for i in range(10)]
    assert all(isinstance(i, SeededIndex) for i in plain)
    shuffled = DefaultSampler(data, shuffle=True, seed=3)
    expected = torch.randperm(10, generator=torch.Generator().manual_seed(3)).tolist()
    assert [int(i) for i in shuffled] == expected
    shuffled.set_epoch(1)
    epoch1 = [int(i) for i in shuffled]
    assert epoch1 == torch.randperm(10, generator=torch.Generator().manual_seed(4)).tolist()
    assert sorted(epoch1) == data and epoch1 != expected
    assert all(i.seed == sample_seed(3, 1, int(i)) for i in shuffled)
    shuffled.yield_seeds = False
    assert all(type(i) is int for i in shuffled)


def test_default_sampler_seed_none_uses_synced_seed():
    sampler = DefaultSampler(list(range(4)))
    assert isinstance(sampler.seed, int)


@pytest.mark.parametrize('round_up', [True, False])
def test_default_sampler_splits_between_ranks(round_up):
    data = list(range(11))
    r0, r1 = two_ranks(DefaultSampler, data, shuffle=True, seed=5, round_up=round_up)
    full = [int(i) for i in DefaultSampler(data, shuffle=True, seed=5)]
    a, b = [int(i) for i in r0], [int(i) for i in r1]
    assert a == full[0::2]
    if round_up:
        assert len(a) == len(b) == len(r0) == len(r1) == r0.num_samples == 6 and r0.total_size == 12
        assert b == (full + full[:1])[1::2]  # padded by repeating from the start
    else:
        assert (len(a), len(b)) == (6, 5) == (len(r0), len(r1)) and r0.total_size == 11
        assert sorted(a + b) == data


def test_explicit_rank_kwargs_match_attribute_override():
    data = list(range(7))
    by_kwargs = DefaultSampler(data, seed=1, rank=1, world_size=3)
    by_attrs = DefaultSampler(data, seed=1)
    by_attrs.rank, by_attrs.world_size = 1, 3
    assert pairs(by_kwargs) == pairs(by_attrs) and len(by_kwargs) == 3
    with pytest.raises(ValueError):
        DefaultSampler(data, seed=1, rank=3, world_size=3)


def test_augmentation_identical_for_one_and_two_ranks():
    dataset = RandomAugDataset(9)
    for epoch in (0, 1):
        single = DefaultSampler(dataset, seed=21)
        single.set_epoch(epoch)
        one_rank = {int(i): dataset[i]['aug'] for i in single}
        two_rank = {}
        for sampler in two_ranks(DefaultSampler, dataset, seed=21):
            sampler.set_epoch(epoch)
            for i in sampler:
                aug = dataset[i]['aug']
                assert two_rank.setdefault(int(i), aug) == aug  # a padded duplicate is augmented alike
        assert one_rank == two_rank and len(one_rank) == 9
    # ... and different between epochs.
    s = DefaultSampler(dataset, seed=21)
    e0 = {int(i): dataset[i]['aug'] for i in s}
    s.set_epoch(1)
    e1 = {int(i): dataset[i]['aug'] for i in s}
    assert all(e0[k] != e1[k] for k in e0)


def test_default_sampler_skip_is_one_shot():
    sampler = DefaultSampler(list(range(10)), seed=2, rank=1, world_size=2)
    full = pairs(sampler)
    sampler.set_skip(3)
    assert pairs(sampler) == full[3:]
    assert len(sampler) == 5  # the length is not reduced by the skip
    assert pairs(sampler) == full  # skip reset after one iteration
    with pytest.raises(ValueError):
        sampler.set_skip(-1)


def test_infinite_sampler_stream_is_made_of_seeded_passes():
    data = list(range(5))
    sampler = InfiniteSampler(data, seed=4)
    stream = pairs(itertools.islice(sampler, 15))
    for p in range(3):
        order = torch.randperm(5, generator=torch.Generator().manual_seed(4 + p)).tolist()
        assert stream[5 * p:5 * p + 5] == [(i, sample_seed(4, p, i)) for i in order]
    assert len(sampler) == 5
    sampler.set_epoch(3)  # no-op
    assert pairs(itertools.islice(sampler, 15)) == stream


def test_infinite_sampler_two_ranks_cover_each_pass():
    data = list(range(7))
    r0, r1 = two_ranks(InfiniteSampler, data, seed=9)
    assert len(r0) == 4
    a, b = pairs(itertools.islice(r0, 8)), pairs(itertools.islice(r1, 8))
    for p in range(2):
        order = torch.randperm(7, generator=torch.Generator().manual_seed(9 + p)).tolist()
        padded = order + order[:1]
        assert [i for i, _ in a[4 * p:4 * p + 4]] == padded[0::2]
        assert [i for i, _ in b[4 * p:4 * p + 4]] == padded[1::2]


@pytest.mark.parametrize('skip', [0, 1, 3, 4, 9, 22])
def test_infinite_sampler_skip_equals_dropping_the_stream_head(skip):
    sampler = InfiniteSampler(list(range(7)), seed=1, rank=1, world_size=2)
    stream = pairs(itertools.islice(sampler, 40))
    sampler.set_skip(skip)
    assert pairs(itertools.islice(sampler, 40 - skip)) == stream[skip:]
    assert pairs(itertools.islice(sampler, 5)) == stream[:5]  # skip applies to one iteration only


def test_infinite_sampler_skip_is_arithmetic():
    sampler = InfiniteSampler(list(range(100)), seed=0)
    sampler.set_skip(10 ** 12 + 7)  # iterating this far would never finish
    start = time.perf_counter()
    first = next(iter(sampler))
    assert time.perf_counter() - start < 1.0
    p = 10 ** 10
    order = torch.randperm(100, generator=torch.Generator().manual_seed(p)).tolist()
    assert (int(first), first.seed) == (order[7], sample_seed(0, p, order[7]))


def test_infinite_sampler_empty_dataset_is_an_error():
    with pytest.raises(ValueError, match='empty'):
        next(iter(InfiniteSampler([], seed=0)))
