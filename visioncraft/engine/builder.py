"""Build dataloaders and hooks from their config dicts."""
from __future__ import annotations

import copy
import functools
from typing import Any

import torch
from torch.utils.data import DataLoader

from ..data.validation import check_not_empty
from ..config.checks import check_bool, check_int
from ..data.worker import SmallTensorsByValue, WatchedDataLoader, worker_init_fn
from ..dist import get_dist_info
from ..registry import DATA_SAMPLERS, DATASETS, FUNCTIONS, HOOKS
from .hooks import Hook, get_priority

__all__ = ['build_dataloader', 'build_hook', 'DEFAULT_HOOKS']

_LOADER_KEYS = {'dataset', 'sampler', 'batch_sampler', 'collate_fn', 'batch_size', 'num_workers',
                'persistent_workers', 'pin_memory', 'drop_last', 'prefetch_factor', 'timeout',
                'multiprocessing_context', 'in_order'}


def _check_loader_values(cfg: dict, key: str) -> None:
    """``batch_size`` an int >= 1, ``num_workers`` an int >= 0, ``prefetch_factor`` an int >= 1 (or None),
    ``drop_last`` / ``persistent_workers`` / ``pin_memory`` True or False: else a ConfigValueError naming
    ``<key>.<name>``. Integral floats (``8.0``) become ints in ``cfg``."""
    for name, low in (('batch_size', 1), ('num_workers', 0), ('prefetch_factor', 1)):
        if name in cfg and not (name == 'prefetch_factor' and cfg[name] is None):
            cfg[name] = check_int(cfg[name], f'{key}.{name}', low=low)
    for name in ('drop_last', 'persistent_workers', 'pin_memory'):
        if name in cfg:
            check_bool(cfg[name], f'{key}.{name}')


def build_dataloader(cfg: dict | DataLoader, *, seed: int, key: str, shuffle_default: bool) -> DataLoader:
    """Build ``train_dataloader`` / ``val_dataloader`` / ``test_dataloader`` from its config.

    ``cfg``: ``dict(batch_size=, num_workers=, persistent_workers=, drop_last=, pin_memory=,
    sampler=dict(type='DefaultSampler', shuffle=, round_up=), dataset=dict(type=..., pipeline=[...]),
    collate_fn=dict(type='pseudo_collate'))``. A built DataLoader is returned as is.

    Worker processes get OpenCV/torch threading off and deterministic seeds; the loader draws its
    worker base seed from its own generator, so building it never disturbs the global RNG.
    """
    if isinstance(cfg, DataLoader):
        return cfg
    cfg = copy.deepcopy(dict(cfg))
    unknown = set(cfg) - _LOADER_KEYS
    if unknown:
        raise KeyError(f'{key}: unknown key(s) {sorted(unknown)}; accepted: {sorted(_LOADER_KEYS)}')
    if 'dataset' not in cfg:
        raise KeyError(f'{key}: needs a "dataset" entry')
    _check_loader_values(cfg, key)  # before the dataset is built: a typo costs no time
    dataset = DATASETS.build(cfg.pop('dataset'), key_path=f'{key}.dataset')
    if hasattr(dataset, 'full_init'):
        dataset.full_init()
    check_not_empty(dataset, key)  # an empty dataset is an error naming its file and filter, before the first step
    sampler_cfg = cfg.pop('sampler', None) or dict(type='DefaultSampler', shuffle=shuffle_default)
    if isinstance(sampler_cfg, dict):
        sampler_cfg = dict(sampler_cfg)
        sampler_cfg.setdefault('seed', seed)
        sampler = DATA_SAMPLERS.build(sampler_cfg, default_args=dict(dataset=dataset), key_path=f'{key}.sampler')
    else:
        sampler = sampler_cfg
    if hasattr(sampler, 'yield_seeds') and not getattr(dataset, 'accepts_seeded_index', False):
        sampler.yield_seeds = False
    batch_sampler = cfg.pop('batch_sampler', None)
    if isinstance(batch_sampler, dict):
        batch_sampler = DATA_SAMPLERS.build(
            batch_sampler, default_args=dict(sampler=sampler, batch_size=cfg.pop('batch_size', 1)),
            key_path=f'{key}.batch_sampler')
    collate = cfg.pop('collate_fn', None) or dict(type='pseudo_collate')
    if isinstance(collate, dict):
        collate = dict(collate)
        fn = FUNCTIONS.get(collate.pop('type'), key_path=f'{key}.collate_fn')
        collate = functools.partial(fn, **collate) if collate else fn
    num_workers = int(cfg.pop('num_workers', 0))
    if num_workers > 0:  # small tensors go from the workers inside the pickle, not one shared-memory file each
        collate = SmallTensorsByValue(collate)
    rank, _ = get_dist_info()
    init_fn = functools.partial(worker_init_fn, num_workers=num_workers, rank=rank, seed=seed)
    if num_workers == 0:
        cfg.pop('persistent_workers', None)
        cfg.pop('prefetch_factor', None)
    generator = torch.Generator()
    generator.manual_seed(int(seed) + 7919 * rank)
    kwargs: dict[str, Any] = dict(num_workers=num_workers, collate_fn=collate, worker_init_fn=init_fn,
                                  generator=generator)
    if batch_sampler is not None:
        kwargs['batch_sampler'] = batch_sampler
        cfg.pop('drop_last', None)
    else:
        kwargs.update(sampler=sampler, batch_size=int(cfg.pop('batch_size', 1)), drop_last=cfg.pop('drop_last', False))
    kwargs.update(cfg)
    return WatchedDataLoader(dataset, **kwargs)


# name -> default config; a config's default_hooks entries replace these by name (None removes one).
DEFAULT_HOOKS: dict[str, dict] = dict(
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=10),
    param_scheduler=dict(type='ParamSchedulerHook'),
    checkpoint=dict(type='CheckpointHook', interval=1),
    sampler_seed=dict(type='DistSamplerSeedHook'),
)


def build_hook(cfg: dict | Hook, key: str) -> tuple[Hook, int]:
    """(hook, priority). ``cfg`` may carry ``priority`` (int or name such as 'NORMAL')."""
    if isinstance(cfg, Hook):
        return cfg, get_priority(cfg.priority)
    cfg = dict(cfg)
    priority = cfg.pop('priority', None)
    hook = HOOKS.build(cfg, key_path=key)
    if not isinstance(hook, Hook):
        raise TypeError(f'{key}: {type(hook).__name__} is not a Hook')
    return hook, get_priority(priority if priority is not None else hook.priority)
