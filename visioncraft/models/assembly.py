"""One model assembly for every task family: ``backbone -> neck -> head``, each part sized from what the part
before it declares it outputs (:meth:`~visioncraft.models.backbones.base.BackboneBase.output_shape`, else its
``out_channels`` / ``strides``), as detectron2's builders read ``Backbone.output_shape()``.

Detectors (RetinaNet, FCOS, Faster / Mask R-CNN), DBNet, the top-down pose estimator and the text recognisers
(whose "neck" is the sequence encoder) all call :func:`assemble`.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from torch import nn

from .base import build_submodule

__all__ = ['Features', 'Assembly', 'feature_shape', 'assemble']


@dataclass
class Features:
    """What a part outputs: ``channels`` per feature map (empty when undeclared) and their ``strides`` (None
    when undeclared), finest first."""

    channels: list[int] = field(default_factory=list)
    strides: list[int] | None = None

    def pick(self, which: Literal['all', 'first', 'last']) -> list[int] | int | None:
        """The channels a following part's ``in_channels`` takes: the list, the first or the last level."""
        if not self.channels:
            return None
        return list(self.channels) if which == 'all' else self.channels[0 if which == 'first' else -1]


@dataclass
class Assembly:
    backbone: nn.Module
    neck: nn.Module | None
    head: nn.Module | None
    features: Features  # what the head gets (the neck's output, else the backbone's)


def feature_shape(module: nn.Module) -> Features:
    """A built part's :class:`Features`: from ``output_shape()`` when it has one, else from its ``out_channels``
    (a list, or one int for a single output) and ``strides`` attributes."""
    shape = getattr(module, 'output_shape', None)
    if callable(shape):
        try:
            specs = list(shape())
        except AttributeError:  # a BackboneBase that declares out_channels but no strides
            specs = []
        if specs:
            return Features([int(s.channels) for s in specs], [int(s.stride) for s in specs])
    channels = getattr(module, 'out_channels', None)
    if isinstance(channels, int):
        channels = [channels]
    strides = getattr(module, 'strides', None)
    return Features(list(channels or []), list(strides) if strides is not None else None)


def assemble(owner: str, *, backbone: dict | nn.Module, neck: dict | nn.Module | None = None,
             head: dict | nn.Module | None = None, neck_key: str = 'neck', head_key: str = 'head',
             neck_takes: Literal['all', 'last'] = 'all',
             head_takes: Literal['all', 'first', 'last'] = 'first') -> Assembly:
    """Build ``backbone``, then ``neck`` and ``head`` (configs or modules) with the ``in_channels`` they leave unset
    filled from the part before them.

    Args:
        owner: the model's name, for messages.
        neck_key / head_key: the config keys, for messages (a recogniser's neck is its ``encoder``).
        neck_takes: the neck gets every level's channels (``'all'``, an FPN) or the last one (``'last'``, a
            sequence encoder). An ``FPN`` config also gets the backbone's strides as ``in_strides``.
        head_takes: the head gets the first level's channels (dense heads shared across levels), the last
            (pose, recognition), or all of them.

    A neck config whose explicit ``in_channels`` list differs from what the backbone outputs is an error naming
    both (a wrong ``out_indices`` or depth would otherwise fail at the first forward pass).
    """
    backbone = build_submodule(backbone, 'backbone')
    feats = feature_shape(backbone)
    built_neck = None
    if neck is not None:
        fill = {}
        if isinstance(neck, dict):
            given = neck.get('in_channels')
            if neck_takes == 'all' and isinstance(given, (list, tuple)) and feats.channels \
                    and list(given) != feats.channels:
                raise ValueError(f'{owner}: {neck_key}.in_channels={list(given)} but the backbone outputs '
                                 f'{feats.channels} channels (backbone out_indices / depth?)')
            fill['in_channels'] = feats.pick(neck_takes)
            if neck.get('type') in ('FPN', 'mmdet.FPN') and feats.strides:
                fill['in_strides'] = list(feats.strides)
        built_neck = build_submodule(neck, neck_key, **fill)
        feats = feature_shape(built_neck)
    built_head = None
    if head is not None:
        built_head = build_submodule(head, head_key, in_channels=feats.pick(head_takes))
    return Assembly(backbone, built_neck, built_head, feats)
