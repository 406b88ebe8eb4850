"""DataSample: everything known about one image as it travels from the dataset to the metric.

Metainfo (set with :meth:`~BaseDataElement.set_metainfo`, read as attributes):
    ``img_path``, ``img_id``, ``ori_shape`` (h, w) before resizing, ``img_shape`` (h, w) fed to the model,
    ``pad_shape``, ``scale_factor`` (w_scale, h_scale), ``flip``, ``flip_direction``, ...

Data fields (set as attributes):
    ``gt_instances`` / ``pred_instances`` / ``ignored_instances``: :class:`InstanceData` (type-checked);
    ``gt_label``, ``pred_label``, ``pred_score``, ``gt_sem_seg``, ... and any other name a task needs.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .instance_data import BaseDataElement, InstanceData

__all__ = ['DataSample']


def _instances_property(name: str, doc: str) -> property:
    def getter(self: DataSample) -> InstanceData:
        try:
            return self._fields[name]
        except KeyError:
            raise AttributeError(f'this DataSample has no {name!r}; data fields: {sorted(self._fields)}') from None

    def setter(self: DataSample, value: InstanceData) -> None:
        self.set_field(value, name, field_type='data', dtype=InstanceData)

    def deleter(self: DataSample) -> None:
        self.pop(name)

    return property(getter, setter, deleter, doc)


class DataSample(BaseDataElement):
    """Per-image container of metainfo and data fields.

    Args:
        metainfo: image-level facts (``img_path``, ``ori_shape``, ``img_shape``, ``scale_factor``, ...).
        **fields: data fields (``gt_instances=InstanceData(...)``, ``gt_label=...``, ...).

    Example::

        sample = DataSample(metainfo=dict(img_shape=(480, 640)),
                            gt_instances=InstanceData(bboxes=torch.zeros(0, 4), labels=torch.zeros(0).long()))
        sample.pred_instances = InstanceData(scores=torch.rand(5))
        'pred_instances' in sample  # True
    """

    gt_instances = _instances_property('gt_instances', 'Ground-truth instances (InstanceData).')
    pred_instances = _instances_property('pred_instances', 'Predicted instances (InstanceData).')
    ignored_instances = _instances_property('ignored_instances', 'Instances to ignore in training and '
                                                                 'evaluation, e.g. crowd boxes (InstanceData).')

    def __init__(self, metainfo: dict | None = None, **fields: Any) -> None:
        super().__init__(metainfo=metainfo, **fields)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DataSample:
        """A DataSample from a plain dict: what :meth:`~BaseDataElement.to_dict` gives (and MMEngine's evaluator
        handed metrics), or a hand-written ``dict(img_id=..., pred_instances=dict(bboxes=..., ...))``.

        A ``metainfo`` key holding a dict becomes the metainfo; a dict under a key ending in ``_instances``
        (``gt_instances``, ``pred_instances``, ``ignored_instances``, ...) becomes an :class:`InstanceData` (its
        values per-instance, one length); every other key becomes a data field as it is. ``to_dict`` flattens
        metainfo and data fields into one dict, so those keys come back as data fields: reading them is the
        same (``sample.img_id``, ``sample.get('img_id')``, ``sample['img_id']``). A key that cannot be a field
        (not a str, private, a method name) or instances of different lengths raise a TypeError naming the key.
        """
        if not isinstance(data, Mapping):
            raise TypeError(f'DataSample.from_dict takes a dict, got {type(data).__name__}')
        meta = data.get('metainfo')
        out = cls(metainfo=dict(meta) if isinstance(meta, Mapping) else None)
        for key, value in data.items():
            if key == 'metainfo' and isinstance(meta, Mapping):
                continue
            try:
                if not isinstance(key, str) or key.startswith('_'):
                    raise TypeError('field names are str not starting with "_"')
                if key.endswith('_instances') and isinstance(value, Mapping):
                    value = InstanceData(**value)
                setattr(out, key, value)  # the instances properties check their type
            except (TypeError, ValueError, AttributeError) as exc:
                raise TypeError(f'DataSample.from_dict: key {key!r} cannot be a data field ({exc})') from None
        return out
