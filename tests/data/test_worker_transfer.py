"""Batches from DataLoader workers: small tensors travel inside the pickle (SmallTensorsByValue), large ones and
tensor subclasses through PyTorch's shared memory; either way the main process gets the same batch as with
num_workers=0."""
from __future__ import annotations

import pickle

import numpy as np
import torch
from torchvision import tv_tensors

from visioncraft.data.worker import SMALL_TENSOR_BYTES, SmallTensorsByValue, _SmallTensorsByValue
from visioncraft.engine.builder import build_dataloader
from visioncraft.structures import DataSample, InstanceData


class _Samples(torch.utils.data.Dataset):
    def __len__(self):
        return 6

    def __getitem__(self, i):
        g = torch.Generator().manual_seed(i)
        sample = DataSample(metainfo=dict(img_id=i, flip_indices=[0, 2, 1]),
                            gt_instances=InstanceData(keypoints=torch.rand(1, 3, 2, generator=g),
                                                      visible=torch.tensor([[True, False, True]])))
        sample.gt_heatmaps = torch.rand(3, 8, 6, generator=g).half()
        sample.bf16 = torch.rand(4, generator=g).to(torch.bfloat16)  # no NumPy dtype: shared memory
        sample.boxes = tv_tensors.BoundingBoxes(torch.rand(2, 4, generator=g), format='XYXY', canvas_size=(8, 8))
        big = torch.randint(0, 255, (SMALL_TENSOR_BYTES + 1,), dtype=torch.uint8, generator=g)
        return dict(inputs=torch.randint(0, 255, (3, 16, 12), dtype=torch.uint8, generator=g), big=big,
                    data_samples=sample)


def _batches(num_workers):
    loader = build_dataloader(dict(dataset=_Samples(), batch_size=3, num_workers=num_workers,
                                   sampler=dict(type='DefaultSampler', shuffle=False)),
                              seed=0, key='test_dataloader', shuffle_default=False)
    return list(loader)


def test_worker_batches_equal_in_process_batches():
    local, remote = _batches(0), _batches(1)
    assert len(local) == len(remote) == 2
    for a, b in zip(local, remote):
        assert type(b) is dict and set(a) == set(b)
        for x, y in zip(a['inputs'] + a['big'], b['inputs'] + b['big']):
            assert x.dtype == y.dtype and torch.equal(x, y)
        for s, t in zip(a['data_samples'], b['data_samples']):
            assert type(t) is DataSample and t.metainfo == s.metainfo
            assert torch.equal(s.gt_instances.keypoints, t.gt_instances.keypoints)
            assert t.gt_instances.visible.dtype == torch.bool and torch.equal(s.gt_instances.visible,
                                                                              t.gt_instances.visible)
            assert t.gt_heatmaps.dtype == torch.float16 and torch.equal(s.gt_heatmaps, t.gt_heatmaps)
            assert t.bf16.dtype == torch.bfloat16 and torch.equal(s.bf16, t.bf16)
            assert type(t.boxes) is tv_tensors.BoundingBoxes and torch.equal(s.boxes, t.boxes)


def test_small_tensors_are_copied_into_the_pickle():
    batch = dict(small=torch.arange(6.0).reshape(2, 3)[:, 1:], big=torch.zeros(SMALL_TENSOR_BYTES // 4 + 1))
    wrapped = _SmallTensorsByValue(batch)
    rebuild, (payload,) = wrapped.__reduce__()
    assert np.frombuffer(np.arange(6.0, dtype=np.float32)[[1, 2, 4, 5]].tobytes(), np.float32).size == 4
    out = rebuild(payload)
    assert torch.equal(out['small'], torch.tensor([[1.0, 2.0], [4.0, 5.0]]))  # a non-contiguous view, by value
    assert out['big'].shape == batch['big'].shape
    assert len(payload) > batch['small'].numel() * 4  # the small tensor's bytes are in the payload
    assert pickle.loads(pickle.dumps(wrapped))['small'].dtype == torch.float32
    # outside a worker the collate function's batch is returned unchanged
    fn = SmallTensorsByValue(lambda samples: samples)
    assert fn([1, 2]) == [1, 2]
