"""MMOCR 1.x's ``ConcatDataset``: the generic one plus a ``pipeline`` shared by its datasets."""
from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any

from visioncraft.data.transforms import Compose
from visioncraft.data.wrappers import ConcatDataset
from visioncraft.registry import DATASETS

__all__ = ['MMOCRConcatDataset']

# metainfo keys that name the dataset itself; concatenated MMOCR datasets (MJSynth + SynthText) always differ there
_OWN_NAME_KEYS = ('dataset_name',)


def _pipeline_is_empty(pipeline: Any) -> bool:
    return pipeline is None or (not isinstance(pipeline, Compose) and len(pipeline) == 0) or \
        (isinstance(pipeline, Compose) and len(pipeline) == 0)


@DATASETS.register_module(['mmocr.ConcatDataset'])
class MMOCRConcatDataset(ConcatDataset):
    """``ConcatDataset(datasets, pipeline=..., verify_meta=True, force_apply=False, lazy_init=False)`` as MMOCR 1.x
    configs write it (the plain name ``ConcatDataset`` under ``default_scope='mmocr'``).

    Args:
        datasets: datasets or their configs.
        pipeline: transforms given to every dataset whose own ``pipeline`` is None / empty (all of them with
            ``force_apply``). A dataset that has its own pipeline and is not forced keeps it.
        verify_meta: the datasets' metainfo must agree (except ``dataset_name``, each dataset's own name);
            False: no check.
        force_apply: replace the datasets' own pipelines with ``pipeline``.
        lazy_init: as :class:`~visioncraft.data.ConcatDataset`.
    """

    def __init__(self, datasets: Sequence[Any], pipeline: Sequence[Any] | None = None, verify_meta: bool = True,
                 force_apply: bool = False, lazy_init: bool = False, ignore_keys: Sequence[str] | None = None
                 ) -> None:
        pipeline = list(pipeline or [])
        prepared = []
        for i, ds in enumerate(datasets or []):
            if isinstance(ds, dict) and pipeline and (force_apply or _pipeline_is_empty(ds.get('pipeline'))):
                ds = copy.deepcopy(ds)
                ds['pipeline'] = copy.deepcopy(pipeline)
            elif not isinstance(ds, dict) and pipeline and (force_apply or _pipeline_is_empty(
                    getattr(ds, 'pipeline', None))):
                if not hasattr(ds, 'pipeline'):
                    raise TypeError(f'ConcatDataset (MMOCR): datasets[{i}] ({type(ds).__name__}) has no pipeline '
                                    'to set; give it as a config dict')
                ds.pipeline = Compose(copy.deepcopy(pipeline))
            prepared.append(ds)
        self.verify_meta, self.force_apply = bool(verify_meta), bool(force_apply)
        keys = set(ignore_keys or ()) | set(_OWN_NAME_KEYS)
        if not verify_meta:  # build them here to learn every metainfo key, and ignore them all
            prepared = [DATASETS.build(d, key_path=f'datasets[{i}]') if isinstance(d, dict) else d
                        for i, d in enumerate(prepared)]
            for d in prepared:
                keys |= set(getattr(d, 'metainfo', {}) or {})
        super().__init__(prepared, ignore_keys=sorted(keys, key=str), lazy_init=lazy_init)
