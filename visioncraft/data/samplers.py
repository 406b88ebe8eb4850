"""Distributed samplers for epoch-based and iteration-based training.

Both split the dataset order between ranks by striding (rank ``r`` of ``W`` takes positions
``r, r + W, r + 2W, ...``), which is what :meth:`BaseMetric.evaluate
<visioncraft.evaluation.BaseMetric.evaluate>` assumes when it puts gathered results back in dataset order.

With ``yield_seeds`` (the default) they yield :class:`~visioncraft.data.seeding.SeededIndex` values whose
seed is ``sample_seed(seed, epoch_or_pass, dataset_index)``: it depends on the sample and the epoch, not on
the rank, the number of workers or where training resumed.
"""
from __future__ import annotations

import math
from collections.abc import Iterator, Sized

import torch
from torch.utils.data import BatchSampler, Sampler

from visioncraft.registry import DATA_SAMPLERS

from .. import dist
from .seeding import SeededIndex, sample_seed

__all__ = ['DefaultSampler', 'InfiniteSampler', 'AspectRatioBatchSampler']


def get_dist_info() -> tuple[int, int]:
    return dist.get_dist_info()


def sync_random_seed() -> int:
    return dist.sync_random_seed()


def _order(n: int, shuffle: bool, seed: int) -> list[int]:
    if not shuffle:
        return list(range(n))
    g = torch.Generator()
    g.manual_seed(int(seed))
    return torch.randperm(n, generator=g).tolist()


def _pad(indices: list[int], total: int) -> list[int]:
    """Repeat ``indices`` from the start until there are ``total`` of them."""
    if len(indices) >= total or not indices:
        return indices[:total]
    reps = math.ceil(total / len(indices))
    return (indices * reps)[:total]


class _DistSampler(Sampler[int]):
    def __init__(self, dataset: Sized, shuffle: bool, seed: int | None, rank: int | None,
                 world_size: int | None) -> None:
        dist_rank, dist_world = get_dist_info()
        self.rank = dist_rank if rank is None else int(rank)
        self.world_size = dist_world if world_size is None else int(world_size)
        if not 0 <= self.rank < self.world_size:
            raise ValueError(f'{type(self).__name__}: rank {self.rank} is not in [0, world_size={self.world_size})')
        self.dataset = dataset
        self.shuffle = shuffle
        self.seed = sync_random_seed() if seed is None else int(seed)
        self.yield_seeds = True
        self._skip = 0

    def set_skip(self, n: int) -> None:
        """Make the next ``__iter__`` skip this rank's first ``n`` indices (mid-epoch resume)."""
        if int(n) < 0:
            raise ValueError(f'{type(self).__name__}.set_skip: n must be >= 0, got {n}')
        self._skip = int(n)

    def _take_skip(self) -> int:
        skip, self._skip = self._skip, 0
        return skip

    def _emit(self, index: int, epoch: int) -> int:
        if self.yield_seeds:
            return SeededIndex(index, seed=sample_seed(self.seed, epoch, index))
        return index


@DATA_SAMPLERS.register_module()
class DefaultSampler(_DistSampler):
    """Epoch-based sampler: each epoch is a (shuffled) pass over the dataset, split between ranks.

    Args:
        dataset: anything with a length.
        shuffle: shuffle with ``torch.randperm`` seeded by ``seed + epoch``; otherwise dataset order.
        seed: shared shuffle seed; None draws one on rank 0 and broadcasts it (``sync_random_seed``).
        round_up: pad the order by repeating it from the start to a multiple of ``world_size`` so every rank
            gets the same number of samples; otherwise nothing is added and the last ranks may get one less.
        rank, world_size: override ``get_dist_info()`` (tests, custom launchers).

    Attributes:
        yield_seeds: yield :class:`SeededIndex` values (default True); set False to yield plain ints.
        num_samples: this rank's samples per epoch. total_size: samples per epoch over all ranks.
    """

    def __init__(self, dataset: Sized, shuffle: bool = True, seed: int | None = None, round_up: bool = True,
                 *, rank: int | None = None, world_size: int | None = None) -> None:
        super().__init__(dataset, shuffle, seed, rank, world_size)
        self.round_up = round_up
        self.epoch = 0

    @property
    def total_size(self) -> int:
        n = len(self.dataset)
        if self.round_up:
            return math.ceil(n / self.world_size) * self.world_size
        return n

    @property
    def num_samples(self) -> int:
        if self.round_up:
            return self.total_size // self.world_size
        return len(range(self.rank, len(self.dataset), self.world_size))

    def set_epoch(self, epoch: int) -> None:
        """Use the order of ``epoch`` from the next ``__iter__`` on."""
        self.epoch = int(epoch)

    def rank_indices(self) -> list[int]:
        """This rank's dataset indices for the current epoch, before any skip."""
        indices = _order(len(self.dataset), self.shuffle, self.seed + self.epoch)
        indices = _pad(indices, self.total_size)
        return indices[self.rank:self.total_size:self.world_size]

    def __iter__(self) -> Iterator[int]:
        # The skip and the epoch are read now, not at the first next().
        skip, epoch = self._take_skip(), self.epoch
        indices = self.rank_indices()[skip:]
        return (self._emit(index, epoch) for index in indices)

    def __len__(self) -> int:
        return self.num_samples

    def __repr__(self) -> str:
        return (f'DefaultSampler(num_samples={self.num_samples}, shuffle={self.shuffle}, seed={self.seed}, '
                f'round_up={self.round_up}, rank={self.rank}, world_size={self.world_size}, epoch={self.epoch})')


@DATA_SAMPLERS.register_module()
class InfiniteSampler(_DistSampler):
    """Endless sampler for iteration-based training.

    The stream is made of passes ``p = 0, 1, 2, ...``; pass ``p`` is a permutation seeded with ``seed + p``
    (or dataset order when ``shuffle`` is False) padded to a multiple of ``world_size``, of which this rank
    takes ``[rank::world_size]``. Sample seeds are ``sample_seed(seed, p, index)``.

    Args:
        dataset: anything with a non-zero length.
        shuffle: shuffle every pass.
        seed: shared seed; None draws one on rank 0 and broadcasts it.
        rank, world_size: override ``get_dist_info()``.
    """

    def __init__(self, dataset: Sized, shuffle: bool = True, seed: int | None = None,
                 *, rank: int | None = None, world_size: int | None = None) -> None:
        super().__init__(dataset, shuffle, seed, rank, world_size)

    @property
    def num_samples(self) -> int:
        """This rank's items per pass."""
        return math.ceil(len(self.dataset) / self.world_size)

    @property
    def total_size(self) -> int:
        return self.num_samples * self.world_size

    def set_epoch(self, epoch: int) -> None:
        """No-op: the stream has no epochs."""

    def pass_indices(self, p: int) -> list[int]:
        """This rank's dataset indices in pass ``p``."""
        indices = _pad(_order(len(self.dataset), self.shuffle, self.seed + p), self.total_size)
        return indices[self.rank:self.total_size:self.world_size]

    def __iter__(self) -> Iterator[int]:
        per_pass = self.num_samples
        if per_pass == 0:
            raise ValueError('InfiniteSampler: the dataset is empty')
        return self._stream(self._take_skip())

    def _stream(self, skip: int) -> Iterator[int]:
        p, offset = divmod(skip, self.num_samples)  # whole passes are jumped, not iterated
        while True:
            for index in self.pass_indices(p)[offset:]:
                yield self._emit(index, p)
            offset = 0
            p += 1

    def __len__(self) -> int:
        return self.num_samples

    def __repr__(self) -> str:
        return (f'InfiniteSampler(per_pass={self.num_samples}, shuffle={self.shuffle}, seed={self.seed}, '
                f'rank={self.rank}, world_size={self.world_size})')


@DATA_SAMPLERS.register_module(['AspectRatioBatchSampler', 'mmdet.AspectRatioBatchSampler'])
class AspectRatioBatchSampler(BatchSampler):
    """Batches of images that are all landscape (``width >= height``) or all portrait, so a padded batch wastes
    little (MMDetection 3.x's ``train_dataloader.batch_sampler=dict(type='AspectRatioBatchSampler')``).

    Indices come from ``sampler`` in its order and go into one of two buckets by the ``width`` / ``height`` of
    ``dataset.get_data_info(index)``; a bucket that reaches ``batch_size`` is yielded. At the end of the pass the
    remainders of both buckets are yielded together, in ``batch_size`` chunks (the last chunk dropped with
    ``drop_last``), so an epoch has as many batches as plain batching: ``ceil(N / batch_size)`` (floor with
    ``drop_last``). Mid-epoch resume skips samples of the sampler's order, so the batches after a resume are
    grouped again from there (the same samples, possibly other batch companions).

    Args:
        sampler: the index sampler (``train_dataloader.sampler``; the builder passes it).
        batch_size: images per batch (``train_dataloader.batch_size``; the builder passes it).
        drop_last: drop the last incomplete batch.
    """

    def __init__(self, sampler: Sampler, batch_size: int, drop_last: bool = False) -> None:
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f'AspectRatioBatchSampler: batch_size must be a positive int, got {batch_size!r}')
        if not hasattr(sampler, 'dataset'):
            raise TypeError(f'AspectRatioBatchSampler: the sampler {type(sampler).__name__} has no dataset; it needs '
                            'one whose get_data_info(i) gives width and height (DefaultSampler, InfiniteSampler)')
        super().__init__(sampler, batch_size, drop_last)

    def _is_portrait(self, index: int) -> bool:
        dataset = self.sampler.dataset
        info = dataset.get_data_info(int(index)) if hasattr(dataset, 'get_data_info') else None
        if not isinstance(info, dict) or 'width' not in info or 'height' not in info:
            raise KeyError(f'AspectRatioBatchSampler: sample {int(index)} of {type(dataset).__name__} has no '
                           'width / height in get_data_info(); use a dataset that records image sizes (CocoDataset, '
                           'VOCDataset) or drop train_dataloader.batch_sampler')
        return info['width'] < info['height']

    def __iter__(self):
        buckets: tuple[list, list] = ([], [])
        for index in self.sampler:
            bucket = buckets[self._is_portrait(index)]
            bucket.append(index)
            if len(bucket) == self.batch_size:
                yield list(bucket)
                bucket.clear()
        rest = buckets[0] + buckets[1]
        while rest:
            batch, rest = rest[:self.batch_size], rest[self.batch_size:]
            if len(batch) == self.batch_size or not self.drop_last:
                yield batch

    def __len__(self) -> int:
        n = len(self.sampler)
        return n // self.batch_size if self.drop_last else math.ceil(n / self.batch_size)
