"""What the detection datasets share: class subsets, filtering and per-image category look-up.

Each entry of a detection data list is a dict::

    dict(img_path=str, img_id=int | str, height=int, width=int,
         instances=[dict(bbox=[x1, y1, x2, y2], bbox_label=int, ignore_flag=0 | 1, mask=..., ...), ...])

with ``bbox`` in absolute pixels (continuous frame: pixel ``(i, j)`` covers ``[j, j+1) x [i, i+1)``) and
``bbox_label`` the contiguous index of the class in ``metainfo['classes']``.
"""
from __future__ import annotations

import colorsys

from visioncraft.data import BaseDataset

__all__ = ['BaseDetDataset', 'make_palette']


def make_palette(num_classes: int) -> list[tuple[int, int, int]]:
    """``num_classes`` well-separated RGB colours (hues stepped by the golden ratio), the same every run."""
    colors = []
    for i in range(num_classes):
        hue = (i * 0.618033988749895) % 1.0
        sat = 0.65 + 0.35 * ((i // 7) % 2)
        val = 0.95 - 0.25 * ((i // 3) % 2)
        r, g, b = colorsys.hsv_to_rgb(hue, sat, val)
        colors.append((int(r * 255 + 0.5), int(g * 255 + 0.5), int(b * 255 + 0.5)))
    return colors


class BaseDetDataset(BaseDataset):
    """Base of the detection datasets (see the module docstring for the entry format).

    ``filter_cfg`` keys (ignored in ``test_mode``, where every image is kept):
        ``filter_empty_gt``: drop images with no instance of the selected classes (crowd / difficult
        instances count as instances); ``min_size``: drop images whose width or height is below it.
    """

    sample_name = 'image'

    def __init__(self, *args, lazy_init: bool = False, **kwargs) -> None:
        super().__init__(*args, lazy_init=True, **kwargs)
        self._check_classes()
        if not lazy_init:
            self.full_init()

    def _check_classes(self) -> tuple[str, ...]:
        classes = self._metainfo.get('classes')
        if not classes:
            raise ValueError(f'{type(self).__name__}: metainfo has no classes; pass metainfo=dict(classes=(...))')
        classes = tuple(classes)
        if len(set(classes)) != len(classes):
            dup = sorted({c for c in classes if classes.count(c) > 1})
            raise ValueError(f'{type(self).__name__}: metainfo classes repeat {dup}')
        self._metainfo['classes'] = classes
        if 'palette' in self._user_metainfo_keys:
            if len(self._metainfo['palette']) != len(classes):
                raise ValueError(f'{type(self).__name__}: metainfo palette has {len(self._metainfo["palette"])} '
                                 f'colours for {len(classes)} classes')
        else:
            # Each class keeps its colour from the class's full list; unknown names get spare colours.
            full = dict(zip(type(self).METAINFO.get('classes', ()), type(self).METAINFO.get('palette', ())))
            spare = iter(make_palette(len(classes) + len(full))[len(full):])
            self._metainfo['palette'] = [tuple(full[c]) if c in full else next(spare) for c in classes]
        return classes

    #: the ``filter_cfg`` keys the dataset reads
    FILTER_KEYS: tuple[str, ...] = ('filter_empty_gt', 'min_size')

    def filter_data(self, data_list: list[dict]) -> list[dict]:
        if self.test_mode or not self.filter_cfg:
            return data_list
        unknown = set(self.filter_cfg) - set(self.FILTER_KEYS)
        if unknown:
            raise KeyError(f'{type(self).__name__}: unknown filter_cfg key(s) {sorted(unknown)}; accepted: '
                           f'{", ".join(self.FILTER_KEYS)}')
        filter_empty = bool(self.filter_cfg.get('filter_empty_gt', False))
        min_size = self.filter_cfg.get('min_size', 0) or 0
        out = []
        for info in data_list:
            if filter_empty and not info['instances']:
                continue
            if min(info['width'], info['height']) < min_size:
                continue
            out.append(info)
        return out

    def get_cat_ids(self, idx: int) -> list[int]:
        """Contiguous class labels of the instances of image ``idx`` (one per instance, repeats kept)."""
        return [int(inst['bbox_label']) for inst in self.get_data_info(idx)['instances']]
