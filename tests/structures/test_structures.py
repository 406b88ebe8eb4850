import copy
import pickle

import numpy as np
import pytest
import torch

from visioncraft.structures import DataSample, InstanceData


def make_instances(n=4):
    return InstanceData(metainfo=dict(img_shape=(32, 48)),
                        bboxes=torch.arange(n * 4, dtype=torch.float32).reshape(n, 4),
                        labels=torch.arange(n),
                        scores=np.linspace(0, 1, n, dtype=np.float32),
                        names=[f'obj{i}' for i in range(n)])


class TestInstanceData:
    def test_len_and_empty(self):
        assert len(InstanceData()) == 0
        assert len(make_instances(5)) == 5
        empty = InstanceData(bboxes=torch.zeros(0, 4))
        assert len(empty) == 0

    def test_length_mismatch_names_field_and_lengths(self):
        inst = make_instances(3)
        with pytest.raises(ValueError) as err:
            inst.masks = torch.zeros(5, 2, 2)
        msg = str(err.value)
        assert 'masks' in msg and '5' in msg and '3' in msg
        assert 'masks' not in inst
        with pytest.raises(ValueError):
            InstanceData(a=torch.zeros(2), b=[1, 2, 3])

    def test_rejects_non_per_instance_values(self):
        inst = InstanceData()
        with pytest.raises(TypeError):
            inst.x = 3
        with pytest.raises(TypeError):
            inst.x = torch.tensor(1.0)
        with pytest.raises(TypeError):
            inst.x = 'abc'

    def test_replace_field_with_same_length(self):
        inst = make_instances(3)
        inst.labels = torch.zeros(3, dtype=torch.long)
        assert inst.labels.tolist() == [0, 0, 0]

    @pytest.mark.parametrize('index, expected', [
        (1, [1]),
        (-1, [3]),
        (slice(1, 3), [1, 2]),
        (torch.tensor([True, False, True, False]), [0, 2]),
        (np.array([False, True, True, True]), [1, 2, 3]),
        (torch.tensor([3, 0]), [3, 0]),
        ([2, 2, 1], [2, 2, 1]),
        (np.array([0, 3]), [0, 3]),
        ([], []),
    ])
    def test_indexing(self, index, expected):
        inst = make_instances(4)
        out = inst[index]
        assert isinstance(out, InstanceData)
        assert len(out) == len(expected)
        assert out.labels.tolist() == expected
        assert out.bboxes[:, 0].tolist() == [4.0 * i for i in expected]
        assert np.allclose(out.scores, inst.scores[expected])
        assert out.names == [f'obj{i}' for i in expected]
        assert out.img_shape == (32, 48)

    def test_index_errors(self):
        inst = make_instances(3)
        with pytest.raises(IndexError):
            inst[3]
        with pytest.raises(IndexError):
            inst[torch.tensor([True, False])]
        with pytest.raises(IndexError):
            inst[[0, 5]]

    def test_cat(self):
        a, b = make_instances(2), make_instances(3)
        out = InstanceData.cat([a, b])
        assert len(out) == 5
        assert out.labels.tolist() == [0, 1, 0, 1, 2]
        assert out.names == ['obj0', 'obj1', 'obj0', 'obj1', 'obj2']
        assert out.scores.shape == (5,)
        assert out.img_shape == (32, 48)
        with pytest.raises(ValueError):
            InstanceData.cat([a, InstanceData(labels=torch.zeros(1))])
        with pytest.raises(ValueError):
            InstanceData.cat([])

    def test_new_keeps_metainfo(self):
        inst = make_instances(2)
        out = inst.new(labels=torch.tensor([7]))
        assert out.img_shape == (32, 48)
        assert out.keys() == ['labels'] and len(out) == 1

    def test_conversions(self):
        inst = make_instances(2)
        on_cpu = inst.to('cpu')
        assert on_cpu.bboxes.device.type == 'cpu' and on_cpu.names == inst.names
        as_np = inst.numpy()
        assert isinstance(as_np.bboxes, np.ndarray) and isinstance(as_np.labels, np.ndarray)
        assert isinstance(inst.bboxes, torch.Tensor)  # the original is not changed
        back = as_np.to_tensor()
        assert torch.equal(back.labels, inst.labels)
        assert inst.to(torch.float64).bboxes.dtype == torch.float64

    def test_dict_like_access(self):
        inst = make_instances(2)
        assert inst.keys() == ['bboxes', 'labels', 'scores', 'names']
        assert dict(inst.items())['names'] == ['obj0', 'obj1']
        assert inst.get('missing', 'dflt') == 'dflt'
        assert inst.get('img_shape') == (32, 48)
        assert 'labels' in inst and 'img_shape' in inst and 'nope' not in inst
        meta = inst.metainfo
        meta['img_shape'] = None
        assert inst.img_shape == (32, 48)  # metainfo returns a copy
        inst.set_metainfo(dict(scale_factor=(2.0, 2.0)))
        assert inst.metainfo_keys() == ['img_shape', 'scale_factor']
        with pytest.raises(AttributeError):
            inst.img_shape = (1, 1)  # a metainfo key cannot become a data field
        del inst.names
        assert 'names' not in inst
        del inst.scale_factor
        assert 'scale_factor' not in inst.metainfo
        with pytest.raises(AttributeError):
            inst.nothing_here
        with pytest.raises(AttributeError, match='method'):
            inst.keys = torch.zeros(2)  # would be shadowed by the method

    def test_repr_pickle_deepcopy(self):
        inst = make_instances(3)
        text = repr(inst)
        assert 'num_instances=3' in text and 'bboxes' in text and 'img_shape' in text
        for clone in (pickle.loads(pickle.dumps(inst)), copy.deepcopy(inst), inst.clone()):
            assert len(clone) == 3 and clone.img_shape == (32, 48)
            assert torch.equal(clone.bboxes, inst.bboxes)
            clone.labels[0] = 99
            assert inst.labels[0] == 0

    def test_iteration(self):
        items = list(make_instances(3))
        assert len(items) == 3 and all(len(i) == 1 for i in items)
        assert [int(i.labels) for i in items] == [0, 1, 2]


class TestDataSample:
    def test_fields_and_metainfo(self):
        sample = DataSample(metainfo=dict(img_path='a.jpg', ori_shape=(10, 20)), gt_label=torch.tensor(3))
        sample.set_metainfo(dict(img_shape=(5, 10), scale_factor=(0.5, 0.5)))
        assert sample.metainfo_keys() == ['img_path', 'ori_shape', 'img_shape', 'scale_factor']
        assert sample.img_shape == (5, 10)
        assert sample.keys() == ['gt_label']
        sample.set_field(torch.tensor(0.9), 'pred_score')
        sample.set_field('x', 'note', field_type='metainfo')
        assert sample.note == 'x' and 'note' in sample.metainfo
        with pytest.raises(TypeError):
            sample.set_field(3, 'pred_label', dtype=torch.Tensor)
        assert sample.get('absent') is None and 'pred_score' in sample

    def test_instances_properties_type_checked(self):
        sample = DataSample()
        assert not hasattr(sample, 'gt_instances') and 'gt_instances' not in sample
        sample.gt_instances = make_instances(2)
        sample.pred_instances = InstanceData(scores=torch.rand(5))
        sample.ignored_instances = InstanceData()
        assert len(sample.gt_instances) == 2 and 'pred_instances' in sample
        for name in ('gt_instances', 'pred_instances', 'ignored_instances'):
            with pytest.raises(TypeError):
                setattr(sample, name, {'bboxes': torch.zeros(1, 4)})
        with pytest.raises(TypeError):
            DataSample(gt_instances=[1, 2])
        del sample.pred_instances
        assert 'pred_instances' not in sample

    def test_conversions_and_pickle(self):
        sample = DataSample(metainfo=dict(img_id=7), gt_instances=make_instances(2),
                            gt_sem_seg=torch.zeros(1, 4, 4))
        as_np = sample.numpy()
        assert isinstance(as_np.gt_instances.bboxes, np.ndarray)
        assert isinstance(as_np.gt_sem_seg, np.ndarray)
        assert sample.cpu().gt_instances.bboxes.device.type == 'cpu'
        restored = pickle.loads(pickle.dumps(sample))
        assert restored.img_id == 7 and torch.equal(restored.gt_instances.labels, sample.gt_instances.labels)
        d = sample.to_dict()
        assert d['img_id'] == 7 and isinstance(d['gt_instances'], dict) and 'bboxes' in d['gt_instances']
        assert 'gt_instances' in repr(sample) and 'img_id' in repr(sample)
