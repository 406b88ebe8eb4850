"""PipelineSwitchHook: from a given epoch on, the training dataset runs another pipeline (MMDetection's hook,
used by RTMDet / RTMPose configs for their weaker-augmentation last stage)."""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ...data.transforms import Compose
from ...registry import HOOKS
from .hook import Hook, Priority

__all__ = ['PipelineSwitchHook', 'set_dataset_pipeline']


def set_dataset_pipeline(dataset: Any, pipeline: Compose, where: str = 'train_dataloader.dataset') -> int:
    """Give ``dataset`` the ``pipeline``; through wrappers (``dataset`` / ``datasets`` attributes) every dataset
    inside that runs a pipeline of its own. Returns how many datasets got it; a dataset with no pipeline anywhere
    is a TypeError naming ``where``."""
    if hasattr(dataset, 'pipeline') and not hasattr(dataset, 'datasets'):
        dataset.pipeline = pipeline
        return 1
    inner = getattr(dataset, 'datasets', None)
    if inner is None and hasattr(dataset, 'dataset'):
        inner = [dataset.dataset]
    if not inner:
        raise TypeError(f'PipelineSwitchHook: {where} ({type(dataset).__name__}) has no pipeline to switch')
    return sum(set_dataset_pipeline(d, pipeline, f'{where}.datasets[{i}]') for i, d in enumerate(inner))


@HOOKS.register_module()
class PipelineSwitchHook(Hook):
    """At the start of epoch ``switch_epoch`` (0-based, as the runner counts: the switch is in effect for epochs
    ``switch_epoch + 1 ..`` in 1-based log numbering, MMDetection's semantics) the training dataset's pipeline
    becomes ``switch_pipeline``. A resumed run past that epoch switches at its first epoch. Worker processes kept
    alive between epochs (``persistent_workers=True``) are restarted so they run the new pipeline.

    Args:
        switch_epoch: the epoch (>= 0) from which the new pipeline runs.
        switch_pipeline: transform configs (built when training starts, so a bad step fails at once, not at
            ``switch_epoch``).

    Wrappers (RepeatDataset, ConcatDataset, ...) pass the pipeline on to every dataset inside them.
    """

    priority = Priority.NORMAL

    def __init__(self, switch_epoch: int, switch_pipeline: Sequence[dict]) -> None:
        if isinstance(switch_epoch, bool) or not isinstance(switch_epoch, int) or switch_epoch < 0:
            raise ValueError(f'PipelineSwitchHook: switch_epoch must be an int >= 0, got {switch_epoch!r}')
        if isinstance(switch_pipeline, (str, dict)) or not isinstance(switch_pipeline, Sequence):
            raise TypeError(f'PipelineSwitchHook: switch_pipeline must be a list of transform configs, got '
                            f'{type(switch_pipeline).__name__}')
        self.switch_epoch = switch_epoch
        self.switch_pipeline = list(switch_pipeline)
        self._compose: Compose | None = None
        self.switched = False

    def before_train(self, runner) -> None:
        self._compose = Compose(self.switch_pipeline)

    def before_train_epoch(self, runner) -> None:
        if self.switched or runner.epoch < self.switch_epoch:
            return
        if self._compose is None:
            self._compose = Compose(self.switch_pipeline)
        loader = runner.train_loop.dataloader
        set_dataset_pipeline(loader.dataset, self._compose)
        # persistent workers hold a copy of the old dataset: end them, the next epoch starts fresh ones
        it = getattr(loader, '_iterator', None)
        if it is not None:
            shutdown = getattr(it, '_shutdown_workers', None)
            if callable(shutdown):
                shutdown()
            loader._iterator = None
        self.switched = True
        logger = getattr(runner, 'logger', None)
        if logger is not None:
            logger.info(f'PipelineSwitchHook: epoch {runner.epoch + 1} on runs the switch_pipeline '
                        f'({len(self.switch_pipeline)} steps)')
