"""The pycocotools set-up the COCO metrics share (detection ``CocoMetric``, pose ``CocoPoseMetric``): importing
it with an error that names the metric, running its chatty calls quietly, and COCO objects built from dicts."""
from __future__ import annotations

import contextlib
import io
from typing import Any, Callable

__all__ = ['pycocotools', 'quiet', 'coco_from_dict']


def pycocotools(who: str = 'CocoMetric') -> tuple[Any, type, type]:
    """``(pycocotools.mask, COCO, COCOeval)``, imported on first use (an ImportError naming ``who`` and the fix
    when pycocotools is missing)."""
    try:
        from pycocotools import mask as mask_util
        from pycocotools.coco import COCO
        from pycocotools.cocoeval import COCOeval
    except ImportError as exc:
        raise ImportError(f'{who} needs pycocotools: pip install pycocotools; import failed with: {exc}') from exc
    return mask_util, COCO, COCOeval


def quiet(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> tuple[Any, str]:
    """Call ``fn`` with its stdout captured (pycocotools prints progress and summaries); ``(result, text)``."""
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        out = fn(*args, **kwargs)
    return out, buf.getvalue()


def coco_from_dict(dataset: dict, who: str = 'CocoMetric'):
    """A ``COCO`` object holding ``dataset`` (``images``, ``annotations``, ``categories``), indexed quietly."""
    coco = pycocotools(who)[1]()
    coco.dataset = dataset
    quiet(coco.createIndex)
    return coco
