"""``TestTimeAug``: one sample becomes several augmented views, for test-time augmentation (``--tta``).

``transforms`` is a list of steps, each a list of alternatives; the views are every combination of one alternative
per step (``[[Resize 1333x800, Resize 1333x640], [RandomFlip prob=1, RandomFlip prob=0], [PackDetInputs]]`` gives 4
views), each applied to its own copy of the sample. The result is ``dict(inputs=[view 1, ...], data_samples=[view
1, ...])`` (the keys of the last transform's output, one list entry per view); collated by ``pseudo_collate``, a
batch holds ``inputs[view][sample]``, the layout a TTA model (:class:`visioncraft.models.tta.BaseTTAModel`) takes.
This is MMEngine's / MMCV's ``TestTimeAug`` contract, so upstream ``tta_pipeline`` configs work unchanged.
"""
from __future__ import annotations

import copy
import itertools
from collections.abc import Mapping, Sequence

from visioncraft.registry import TRANSFORMS

from .transforms import BaseTransform, Compose

__all__ = ['TestTimeAug']


@TRANSFORMS.register_module()
class TestTimeAug(BaseTransform):
    """Every combination of one alternative per step of ``transforms``, each on a copy of the sample.

    Args:
        transforms: a list of steps; each step a list of transform configs (or one config: a step with one
            alternative). The last transform of every view must return a dict (``PackDetInputs``' ``inputs`` and
            ``data_samples``); all views must return the same keys.
    """

    def __init__(self, transforms: Sequence[Sequence[dict] | dict]) -> None:
        if not isinstance(transforms, Sequence) or isinstance(transforms, (str, bytes)) or not transforms:
            raise ValueError(f'TestTimeAug: transforms must be a non-empty list of steps (each a list of '
                             f'transform configs), got {transforms!r}')
        steps = []
        for i, step in enumerate(transforms):
            alternatives = [step] if isinstance(step, Mapping) or callable(step) else list(step)
            if not alternatives:
                raise ValueError(f'TestTimeAug: transforms[{i}] is an empty list of alternatives')
            steps.append([Compose([t]) for t in alternatives])
        self.steps = steps
        self.views = [list(chain) for chain in itertools.product(*steps)]

    def transform(self, results: dict) -> dict:
        outputs = []
        for v, chain in enumerate(self.views):
            out = copy.deepcopy(results)
            for t in chain:
                out = t(out)
                if out is None:
                    raise ValueError(f'TestTimeAug: view {v} dropped the sample ({chain}); test-time views must '
                                     'keep every sample')
            if not isinstance(out, Mapping):
                raise TypeError(f'TestTimeAug: view {v} returned a {type(out).__name__}, not a dict')
            outputs.append(out)
        keys = list(outputs[0])
        for v, out in enumerate(outputs[1:], 1):
            if list(out) != keys:
                raise ValueError(f'TestTimeAug: view {v} returned keys {sorted(out)} but view 0 {sorted(keys)}')
        return {k: [out[k] for out in outputs] for k in keys}

    def __repr__(self) -> str:
        return f'TestTimeAug({len(self.views)} views: {self.steps!r})'
