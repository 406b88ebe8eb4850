"""Transforms that run other transforms: by chance (:class:`RandomApply`), one of several (:class:`RandomChoice`),
or by a condition on the sample (:class:`ConditionApply`).

These are MMCV 2.x's ``RandomApply`` / ``RandomChoice`` and MMOCR 1.x's ``ConditionApply`` contracts, so upstream
pipelines that use them run unchanged. The draws use NumPy's global RNG, which the dataset seeds per sample.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from visioncraft.registry import TRANSFORMS

from .transforms import BaseTransform, Compose

__all__ = ['RandomApply', 'RandomChoice', 'ConditionApply']


def _compose(transforms: Any, where: str) -> Compose:
    if transforms is None:
        return Compose([])
    if isinstance(transforms, Compose):
        return transforms
    if isinstance(transforms, (str, bytes)) or not (isinstance(transforms, (Mapping, Sequence))
                                                    or callable(transforms)):
        raise TypeError(f'{where}: expected a transform config, a list of them or a callable, got {transforms!r}')
    return Compose(transforms)


@TRANSFORMS.register_module()
class RandomApply(BaseTransform):
    """Run ``transforms`` (one config or a list, run in order) with probability ``prob``, else pass the sample on
    unchanged. ``prob=0`` never applies them, ``prob=1`` always does."""

    def __init__(self, transforms: dict | Callable | Sequence[dict | Callable], prob: float = 0.5) -> None:
        if isinstance(prob, bool) or not isinstance(prob, (int, float)) or not 0 <= prob <= 1:
            raise ValueError(f'RandomApply: prob must be a number in [0, 1], got {prob!r}')
        self.prob = float(prob)
        self.transforms = _compose(transforms, 'RandomApply.transforms')

    def __iter__(self):
        return iter(self.transforms)

    def transform(self, results: dict) -> dict | None:
        if np.random.rand() < self.prob:
            return self.transforms(results)
        return results


@TRANSFORMS.register_module()
class RandomChoice(BaseTransform):
    """Run one pipeline picked at random from ``transforms`` (a list of candidates, each a transform config or a
    list of them), with probabilities ``prob`` (one per candidate, summing to 1; default: uniform)."""

    def __init__(self, transforms: Sequence[dict | Callable | Sequence[dict | Callable]],
                 prob: Sequence[float] | None = None) -> None:
        if isinstance(transforms, (str, bytes, Mapping)) or not isinstance(transforms, Sequence) or not transforms:
            raise ValueError(f'RandomChoice: transforms must be a non-empty list of candidates, got {transforms!r}')
        self.transforms = [_compose(t, f'RandomChoice.transforms[{i}]') for i, t in enumerate(transforms)]
        if prob is not None:
            prob = [float(p) for p in prob]
            if len(prob) != len(self.transforms):
                raise ValueError(f'RandomChoice: {len(self.transforms)} candidates but {len(prob)} probabilities '
                                 f'({prob})')
            if min(prob) < 0 or not math.isclose(sum(prob), 1.0, abs_tol=1e-6):
                raise ValueError(f'RandomChoice: prob must be >= 0 and sum to 1, got {prob}')
        self.prob = prob

    def __iter__(self):
        return iter(self.transforms)

    def transform(self, results: dict) -> dict | None:
        idx = int(np.random.choice(len(self.transforms), p=self.prob))
        return self.transforms[idx](results)


#: names a ConditionApply condition may use besides ``results`` (the sample's dict)
_CONDITION_NAMES = {name: obj for name, obj in (
    ('min', min), ('max', max), ('len', len), ('abs', abs), ('round', round), ('int', int), ('float', float),
    ('bool', bool), ('any', any), ('all', all), ('sum', sum), ('tuple', tuple), ('list', list), ('np', np),
    ('True', True), ('False', False), ('None', None))}


@TRANSFORMS.register_module()
class ConditionApply(BaseTransform):
    """Run ``true_transforms`` when ``condition`` holds for the sample, else ``false_transforms`` (MMOCR's
    ``ConditionApply``).

    Args:
        condition: a Python expression over ``results`` (the sample's dict), e.g.
            ``"results['img_shape'][1] < results['img_shape'][0]"`` (a tall image). It may also use ``min``,
            ``max``, ``len``, ``abs``, ``round``, ``int``, ``float``, ``bool``, ``any``, ``all``, ``sum`` and ``np``.
        true_transforms / false_transforms: a transform config, a list of them, or None (pass the sample on).
    """

    def __init__(self, condition: str, true_transforms: Any = None, false_transforms: Any = None) -> None:
        if not isinstance(condition, str) or not condition.strip():
            raise ValueError(f'ConditionApply: condition must be a Python expression string, got {condition!r}')
        try:
            self._code = compile(condition.strip(), '<ConditionApply.condition>', 'eval')
        except SyntaxError as exc:
            raise ValueError(f'ConditionApply: condition {condition!r} is not a valid expression: {exc.msg}') from None
        self.condition = condition
        self.true_transforms = _compose(true_transforms, 'ConditionApply.true_transforms')
        self.false_transforms = _compose(false_transforms, 'ConditionApply.false_transforms')

    def holds(self, results: dict) -> bool:
        """Whether the condition is true for ``results``; an error in it names the condition and the sample."""
        try:
            return bool(eval(self._code, {'__builtins__': _CONDITION_NAMES}, {'results': results}))  # noqa: S307
        except Exception as exc:  # noqa: BLE001  (any failure of the user's expression)
            where = results.get('img_path', 'a sample')
            raise ValueError(f'ConditionApply: condition {self.condition!r} failed on {where}: '
                             f'{type(exc).__name__}: {exc}') from None

    def transform(self, results: dict) -> dict | None:
        branch = self.true_transforms if self.holds(results) else self.false_transforms
        return branch(results)
