import functools
import random
from collections import namedtuple

import cv2
import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader, Dataset

from visioncraft.data import DefaultSampler, SeededIndex, default_collate, pseudo_collate, sample_seed, worker_init_fn
from visioncraft.registry import FUNCTIONS
from visioncraft.structures import DataSample, InstanceData

Point = namedtuple('Point', ['x', 'y'])


# -- collate ------------------------------------------------------------------------------------------------
def test_registered_names():
    assert FUNCTIONS.get('pseudo_collate') is pseudo_collate
    assert FUNCTIONS.get('default_collate') is default_collate


def test_pseudo_collate_regroups_without_stacking():
    samples = [DataSample(metainfo=dict(img_id=i)) for i in range(2)]
    batch = [dict(inputs=torch.zeros(3, 4, 5), data_samples=samples[0], meta=dict(id=0, size=(4, 5))),
             dict(inputs=torch.zeros(3, 6, 2), data_samples=samples[1], meta=dict(id=1, size=(6, 2)))]
    out = pseudo_collate(batch)
    assert set(out) == {'inputs', 'data_samples', 'meta'}
    assert isinstance(out['inputs'], list) and [t.shape[1] for t in out['inputs']] == [4, 6]
    assert out['data_samples'] == samples
    assert out['meta']['id'] == [0, 1]
    assert out['meta']['size'] == [[4, 6], [5, 2]]  # equal-length tuples are transposed
    assert pseudo_collate([(1, 'a'), (2, 'b')]) == [[1, 2], ['a', 'b']]
    assert pseudo_collate([[1, 2, 3], [4]]) == [[1, 2, 3], [4]]  # ragged lists are kept
    assert pseudo_collate([Point(1, 2), Point(3, 4)]) == Point([1, 3], [2, 4])
    assert pseudo_collate(['x', 'y']) == ['x', 'y']
    assert pseudo_collate([]) == []
    with pytest.raises(KeyError, match='sample 1'):
        pseudo_collate([dict(a=1, b=2), dict(a=1)])


def test_default_collate_stacks_but_keeps_data_elements():
    inst = [InstanceData(labels=torch.tensor([i])) for i in range(2)]
    batch = [dict(img=torch.full((2, 2), float(i)), arr=np.ones(3) * i, label=i, score=0.5, name=f'n{i}',
                  sample=DataSample(gt_instances=inst[i]), inst=inst[i], pair=(i, float(i)))
             for i in range(2)]
    out = default_collate(batch)
    assert out['img'].shape == (2, 2, 2) and out['img'][1, 0, 0] == 1
    assert isinstance(out['arr'], torch.Tensor) and out['arr'].shape == (2, 3)
    assert out['label'].tolist() == [0, 1] and out['label'].dtype == torch.int64
    assert out['score'].dtype == torch.float64
    assert out['name'] == ['n0', 'n1']
    assert isinstance(out['sample'], list) and isinstance(out['sample'][0], DataSample)
    assert out['inst'] == inst
    assert out['pair'][0].tolist() == [0, 1]
    with pytest.raises(RuntimeError, match='different shapes'):
        default_collate([torch.zeros(2), torch.zeros(3)])


# -- workers ------------------------------------------------------------------------------------------------
class SeedEcho(Dataset):
    accepts_seeded_index = True

    def __len__(self):
        return 8

    def __getitem__(self, idx):
        info = torch.utils.data.get_worker_info()
        with_seed = idx.seed if isinstance(idx, SeededIndex) else None
        return dict(idx=int(idx), seed=with_seed, kind=type(idx).__name__, worker=None if info is None else info.id)


class ThreadProbe(Dataset):
    def __len__(self):
        return 4

    def __getitem__(self, idx):
        info = torch.utils.data.get_worker_info()
        return dict(cv2_threads=cv2.getNumThreads(), torch_threads=torch.get_num_threads(),
                    worker=info.id, first_random=random.random(), first_np=float(np.random.rand()),
                    torch_seed=torch.initial_seed())


def test_seeded_index_reaches_dataloader_workers():
    sampler = DefaultSampler(SeedEcho(), seed=3)
    loader = DataLoader(SeedEcho(), batch_size=2, sampler=sampler, num_workers=2, collate_fn=pseudo_collate)
    rows = [dict(zip(batch, values)) for batch in loader for values in zip(*batch.values())]
    assert sorted(r['idx'] for r in rows) == list(range(8))
    assert {r['kind'] for r in rows} == {'SeededIndex'}
    assert all(r['seed'] == sample_seed(3, 0, r['idx']) for r in rows)
    assert {r['worker'] for r in rows} == {0, 1}


@pytest.fixture
def restore_threads():
    cv2_before, torch_before = cv2.getNumThreads(), torch.get_num_threads()
    state = random.getstate(), np.random.get_state()
    yield
    cv2.setNumThreads(cv2_before)
    torch.set_num_threads(torch_before)
    random.setstate(state[0])
    np.random.set_state(state[1])


@pytest.mark.parametrize('disable_threads', [True, False])
def test_worker_init_fn_inside_real_workers(restore_threads, disable_threads):
    cv2.setNumThreads(4)  # what forked workers would inherit
    init = functools.partial(worker_init_fn, num_workers=2, rank=1, seed=100, disable_threads=disable_threads)
    loader = DataLoader(ThreadProbe(), batch_size=1, num_workers=2, worker_init_fn=init, collate_fn=pseudo_collate)
    rows = [{k: v[0] for k, v in batch.items()} for batch in loader]
    assert {r['worker'] for r in rows} == {0, 1}
    for r in rows:
        assert r['torch_threads'] == 1
        assert r['cv2_threads'] == (1 if disable_threads else 4)
    # Each worker's first draws come from seed + worker_id + rank * num_workers + its torch seed
    # (the loader's per-iteration base seed + worker_id), so streams differ per worker and per epoch.
    for w in (0, 1):
        first = next(r for r in rows if r['worker'] == w)  # the loader returns batches in order
        expect = (100 + w + 1 * 2 + first['torch_seed']) % 2 ** 32
        assert first['first_random'] == random.Random(expect).random()
        assert first['first_np'] == np.random.RandomState(expect).rand()
    again = [{k: v[0] for k, v in batch.items()} for batch in loader]
    assert {r['first_random'] for r in again}.isdisjoint({r['first_random'] for r in rows})


def test_worker_init_fn_in_process(restore_threads):
    worker_init_fn(1, num_workers=4, rank=2, seed=10)
    assert torch.get_num_threads() == 1 and cv2.getNumThreads() == 1
    assert random.random() == random.Random((10 + 1 + 8 + torch.initial_seed()) % 2 ** 32).random()
    before = np.random.get_state()[1].copy()
    worker_init_fn(0, num_workers=4, rank=0, seed=None)  # no seed: RNGs untouched
    assert np.array_equal(np.random.get_state()[1], before)


class RandomAug(Dataset):
    accepts_seeded_index = True

    def __len__(self):
        return 6

    def __getitem__(self, idx):
        from visioncraft.data import sample_rng
        with sample_rng(idx.seed):
            return dict(idx=int(idx), aug=(random.random(), float(np.random.rand()), float(torch.rand(1))))


def test_augmentation_does_not_depend_on_num_workers():
    def run(num_workers):
        loader = DataLoader(RandomAug(), batch_size=2, sampler=DefaultSampler(RandomAug(), seed=8),
                            num_workers=num_workers, collate_fn=pseudo_collate,
                            worker_init_fn=functools.partial(worker_init_fn, num_workers=num_workers, rank=0,
                                                             seed=num_workers))
        return {i: a for batch in loader for i, a in zip(batch['idx'], batch['aug'])}

    assert run(0) == run(2)
