"""structures.access: get_key / to_numpy, the one copy metrics, visualizers and models share."""
from __future__ import annotations

import numpy as np
import torch

from visioncraft.structures import DataSample, InstanceData, get_key, to_numpy


def test_get_key_reads_dicts_data_elements_and_attributes():
    sample = DataSample(metainfo=dict(img_id=3))
    sample.gt_instances = InstanceData(bboxes=torch.zeros(1, 4))
    assert get_key(sample, 'img_id') == 3 and get_key(sample, 'gt_instances') is sample.gt_instances
    assert get_key({'a': 1}, 'a') == 1 and get_key({'a': 1}, 'b', 7) == 7
    assert get_key(None, 'anything', 'd') == 'd'

    class Plain:
        x = 5
    assert get_key(Plain(), 'x') == 5 and get_key(Plain(), 'y') is None


def test_to_numpy_detaches_and_casts_without_copying_when_it_can():
    t = torch.arange(3.0, requires_grad=True)
    a = to_numpy(t * 2)
    assert isinstance(a, np.ndarray) and a.tolist() == [0.0, 2.0, 4.0]
    b = np.arange(3, dtype=np.float64)
    assert to_numpy(b, np.float64) is b
    assert to_numpy([1, 2], np.int64).dtype == np.int64


def test_the_metric_and_visualizer_helpers_are_this_one():
    from visioncraft.tasks.detection.evaluation import _utils as det
    from visioncraft.tasks.pose.evaluation import _utils as pose
    from visioncraft.visualization import visualizer
    assert det.get_key is pose.get_key is get_key
    assert det.to_numpy is pose.to_numpy is visualizer.to_numpy is to_numpy
