"""Reading data samples: mapping-style access on DataSample / InstanceData (what metrics ported from MMDetection,
MMOCR and MMPose do), DataSample.from_dict, and to_numpy, the one copy metrics, visualizers and models share."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import visioncraft.structures as structures
from visioncraft.structures import DataSample, InstanceData, to_numpy


def _sample():
    sample = DataSample(metainfo=dict(img_id=3, ori_shape=(20, 30)))
    sample.gt_instances = InstanceData(bboxes=torch.zeros(1, 4), labels=torch.tensor([2]))
    sample.pred_instances = InstanceData(bboxes=torch.ones(2, 4), scores=torch.tensor([0.9, 0.2]),
                                         labels=torch.tensor([2, 0]))
    sample.gt_text = 'word'
    return sample


def test_mapping_style_reading_of_data_samples_and_instances():
    sample = _sample()
    # MMDetection / MMPose metrics: data_sample['pred_instances']['bboxes'], data_sample['img_id']
    assert sample['pred_instances'] is sample.pred_instances
    assert torch.equal(sample['pred_instances']['bboxes'], torch.ones(2, 4))
    assert sample['img_id'] == 3 and sample['ori_shape'] == (20, 30)  # metainfo too
    # MMOCR metrics: data_sample.get('gt_text'), 'key' in data_sample
    assert sample.get('gt_text') == 'word' and sample.get('pred_text') is None and sample.get('x', 7) == 7
    assert 'gt_instances' in sample and 'img_id' in sample and 'pred_text' not in sample
    assert 'scores' in sample['pred_instances'] and sample['gt_instances'].get('scores') is None
    assert sorted(sample.keys()) == ['gt_instances', 'gt_text', 'pred_instances']
    assert sorted(k for k, _ in sample['pred_instances'].items()) == ['bboxes', 'labels', 'scores']
    with pytest.raises(KeyError, match="no field or metainfo key 'pred_text'"):
        sample['pred_text']
    with pytest.raises(KeyError, match="'masks'"):
        sample['pred_instances']['masks']
    with pytest.raises(TypeError, match='str'):
        sample[0]
    with pytest.raises(TypeError, match='not iterable'):
        iter(sample)
    # InstanceData keeps indexing instances by position
    assert len(sample['pred_instances'][1]) == 1 and len(list(sample['pred_instances'])) == 2


def test_from_dict_takes_to_dict_back():
    sample = _sample()
    back = DataSample.from_dict(sample.to_dict())
    assert isinstance(back.pred_instances, InstanceData) and len(back.pred_instances) == 2
    assert torch.equal(back.pred_instances.scores, sample.pred_instances.scores)
    assert back.img_id == 3 and back['ori_shape'] == (20, 30) and back.gt_text == 'word'
    assert back.to_dict().keys() == sample.to_dict().keys()
    meta = DataSample.from_dict(dict(metainfo=dict(img_path='a.jpg'), pred_text='x'))
    assert meta.metainfo == dict(img_path='a.jpg') and meta.keys() == ['pred_text']
    with pytest.raises(TypeError, match="key 'pred_instances'.*length 3"):
        DataSample.from_dict(dict(pred_instances=dict(bboxes=torch.zeros(2, 4), scores=torch.zeros(3))))
    with pytest.raises(TypeError, match="key 'keys'"):
        DataSample.from_dict(dict(keys=[1]))
    with pytest.raises(TypeError, match="key 'gt_instances'"):
        DataSample.from_dict(dict(gt_instances=[1, 2]))
    with pytest.raises(TypeError, match='takes a dict'):
        DataSample.from_dict([1])


def test_to_numpy_detaches_and_casts_without_copying_when_it_can():
    t = torch.arange(3.0, requires_grad=True)
    a = to_numpy(t * 2)
    assert isinstance(a, np.ndarray) and a.tolist() == [0.0, 2.0, 4.0]
    b = np.arange(3, dtype=np.float64)
    assert to_numpy(b, np.float64) is b
    assert to_numpy([1, 2], np.int64).dtype == np.int64


def test_the_metric_and_visualizer_helpers_are_this_one():
    from visioncraft.tasks.detection.evaluation import _utils as det
    from visioncraft.tasks.detection.visualization import det_visualizer
    from visioncraft.tasks.pose.evaluation import coco_metric as pose_coco
    from visioncraft.tasks.textdet.evaluation import hmean_iou_metric
    from visioncraft.tasks.textdet.visualization import textdet_visualizer
    from visioncraft.visualization import visualizer
    assert det.to_numpy is pose_coco.to_numpy is visualizer.to_numpy is to_numpy
    assert hmean_iou_metric.to_numpy is textdet_visualizer.to_numpy is det_visualizer.to_numpy is to_numpy
    assert not hasattr(structures, 'get_key')  # samples are DataSamples: read them, no dict-or-element helper
