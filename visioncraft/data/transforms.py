"""The transform protocol and :class:`Compose`, which chains transforms into a pipeline.

A transform takes the results dict of one sample (``img``, ``gt_bboxes``, ``img_shape``, ...) and returns
the updated dict, or ``None`` to say "drop this sample" (the dataset then fetches another one).
Random transforms draw from the global ``random`` / numpy / torch RNGs, which the dataset seeds per sample
(see :mod:`visioncraft.data.seeding`).
"""
from __future__ import annotations

import inspect
from abc import ABCMeta, abstractmethod
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

from visioncraft.registry import TRANSFORMS

__all__ = ['BaseTransform', 'Compose']


class BaseTransform(metaclass=ABCMeta):
    """Base class of data transforms: implement :meth:`transform`."""

    @abstractmethod
    def transform(self, results: dict) -> dict | None:
        """Return the transformed ``results`` (may be the same dict, changed in place), or None to drop the
        sample."""

    def __call__(self, results: dict) -> dict | None:
        return self.transform(results)

    def __repr__(self) -> str:
        # Show the constructor arguments that are stored under the same name.
        try:
            params = [p for p in inspect.signature(type(self).__init__).parameters if p != 'self']
        except (TypeError, ValueError):
            params = []
        shown = [f'{p}={getattr(self, p)!r}' for p in params if p in vars(self)]
        return f'{type(self).__name__}({", ".join(shown)})'


@TRANSFORMS.register_module()
class Compose:
    """Apply transforms in order; stop and return None as soon as one returns None.

    Args:
        transforms: transform configs (``dict(type='Resize', ...)``, built through ``TRANSFORMS``) and/or
            callables. ``None`` means an empty pipeline.
    """

    def __init__(self, transforms: Sequence[dict | Callable] | None = None) -> None:
        if transforms is None:
            transforms = []
        elif isinstance(transforms, Mapping) or callable(transforms):
            transforms = [transforms]
        self.transforms: list[Callable[[dict], dict | None]] = []
        for i, t in enumerate(transforms):
            if isinstance(t, Mapping):
                t = TRANSFORMS.build(t, key_path=f'pipeline[{i}]')
            if not callable(t):
                raise TypeError(f'pipeline[{i}] must be a transform config dict or a callable, '
                                f'got {type(t).__name__}: {t!r}')
            self.transforms.append(t)

    def __call__(self, data: Any) -> Any:
        for t in self.transforms:
            data = t(data)
            if data is None:
                return None
        return data

    def __len__(self) -> int:
        return len(self.transforms)

    def __iter__(self) -> Iterator[Callable]:
        return iter(self.transforms)

    def __getitem__(self, i: int) -> Callable:
        return self.transforms[i]

    def __repr__(self) -> str:
        if not self.transforms:
            return 'Compose([])'
        body = ''.join(f'\n    {t!r},' for t in self.transforms)
        return f'Compose([{body}\n])'
