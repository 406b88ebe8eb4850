"""evaluation/coco_utils.py: the pycocotools set-up both COCO metrics (detection, pose) share."""
from __future__ import annotations

import builtins

import pytest

from visioncraft.evaluation import coco_utils


def test_coco_from_dict_is_indexed_and_quiet(capsys):
    coco = coco_utils.coco_from_dict(dict(images=[dict(id=1, width=4, height=4)], categories=[dict(id=0, name='a')],
                                          annotations=[dict(id=1, image_id=1, category_id=0, bbox=[0, 0, 2, 2],
                                                            area=4, iscrowd=0)]))
    assert coco.getAnnIds(imgIds=[1]) == [1] and coco.loadCats([0])[0]['name'] == 'a'
    assert capsys.readouterr().out == ''  # pycocotools' 'creating index...' was captured
    out, text = coco_utils.quiet(print, 'chatty')
    assert out is None and text == 'chatty\n'


def test_missing_pycocotools_names_the_metric(monkeypatch):
    real = builtins.__import__

    def no_pycocotools(name, *args, **kwargs):
        if name.startswith('pycocotools'):
            raise ImportError('No module named pycocotools')
        return real(name, *args, **kwargs)

    monkeypatch.setattr(builtins, '__import__', no_pycocotools)
    with pytest.raises(ImportError, match='CocoPoseMetric needs pycocotools: pip install pycocotools'):
        coco_utils.pycocotools('CocoPoseMetric')


def test_both_coco_metrics_use_it():
    from visioncraft.tasks.detection.evaluation import coco_metric as det
    from visioncraft.tasks.pose.evaluation import coco_metric as pose
    for mod in (det, pose):
        assert mod.coco_from_dict is coco_utils.coco_from_dict and mod.quiet is coco_utils.quiet
