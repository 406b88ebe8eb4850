"""DB targets made in the data pipeline (GenerateDBTargets) equal the targets DBHead makes itself: same maps,
same loss, also when the batch is padded (the preprocessor pads at the bottom / right) and when a text's border
reaches past the image; targets made with other codec settings are refused."""
from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader

import visioncraft.tasks.textdet  # noqa: F401  (registers the text-detection modules)
from conftest import REPO
from visioncraft.config import Config
from visioncraft.data.collate import pseudo_collate
from visioncraft.registry import MODELS, TRANSFORMS

CODEC = dict(type='DBCodec', shrink_ratio=0.4, thr_min=0.3, thr_max=0.7, min_text_size=3, unclip_ratio=None)
MAP_KEYS = ('shrink_map', 'shrink_mask', 'thr_map', 'thr_mask')


def _quad(x0, y0, x1, y1):
    return np.array([x0, y0, x1, y0, x1, y1, x0, y1], np.float32)


# (h, w), polygons, ignored flags. Image 0 is 64 x 64 (a multiple of 32: not padded) with a word whose dilated
# border and a polygon that run past its right / bottom edge, so its stored maps are larger than the batch and
# get cropped; image 1 is 41 x 50 with a word at its bottom-right corner whose border reaches into the padding,
# an ignored word, a too-small one and a rotated one.
IMAGES = [
    ((64, 64), [_quad(30, 40, 62, 58), _quad(4, 4, 70, 20), _quad(2, 30, 20, 38)], [False, False, True]),
    ((41, 50), [_quad(24, 28, 49, 40), _quad(2, 2, 20, 10), _quad(30, 4, 32, 6),
                np.array([5, 20, 20, 14, 23, 22, 8, 28], np.float32)], [False, True, False, False]),
]


def _packed(codec=CODEC, images=IMAGES, generate=True) -> list[dict]:
    """PackTextDetInputs (+ GenerateDBTargets) outputs for ``images``."""
    pack = TRANSFORMS.build(dict(type='PackTextDetInputs', meta_keys=('img_path', 'ori_shape', 'img_shape')))
    gen = TRANSFORMS.build(dict(type='GenerateDBTargets', codec=codec))
    rng = np.random.default_rng(0)
    out = []
    for i, ((h, w), polys, ignored) in enumerate(images):
        results = dict(img=rng.integers(0, 255, (h, w, 3), dtype=np.uint8), img_path=f'img_{i}.jpg',
                       ori_shape=(h, w), img_shape=(h, w), gt_polygons=[p.copy() for p in polys],
                       gt_ignore_flags=np.array(ignored, np.bool_))
        packed = pack(results)
        out.append(gen(packed) if generate else packed)
    return out


def _head(codec=CODEC):
    torch.manual_seed(0)
    return MODELS.build(dict(type='DBHead', in_channels=8, codec=codec))


def _preprocess(items: list[dict]) -> dict:
    pre = MODELS.build(dict(type='ImgDataPreprocessor', mean=[127.5] * 3, std=[64.0] * 3, pad_size_divisor=32))
    return pre(pseudo_collate(items), True)


def _without_stored(samples):
    out = []
    for s in samples:
        s = s.clone()
        s.pop('gt_db_targets')
        out.append(s)
    return out


def test_stored_targets_equal_head_targets_and_loss_with_padding_and_crop():
    batch = _preprocess(_packed())
    samples = batch['data_samples']
    assert tuple(batch['inputs'].shape[-2:]) == (64, 64)
    stored = [s.gt_db_targets for s in samples]
    # image 0's targets reach past its 64 x 64 frame (cropped to the batch), image 1's are 41 x 50 + its border
    assert stored[0].shrink_map.shape[1] > 64 and stored[0].shrink_map.shape[0] > 64
    assert stored[1].shrink_map.shape[0] > 41 and stored[1].shrink_map.shape[1] > 50
    assert stored[1].shrink_map.shape[0] < 64 and stored[0].shrink_map.dtype == torch.uint8
    head = _head()
    from_pipeline = head.get_targets(samples, (64, 64), torch.device('cpu'))
    in_head = head.get_targets(_without_stored(samples), (64, 64), torch.device('cpu'))
    for k in MAP_KEYS:
        assert from_pipeline[k].dtype == in_head[k].dtype == torch.float32
        assert torch.equal(from_pipeline[k], in_head[k]), k
    # the padded area of image 1 is not all background: its word's threshold border reaches into it
    assert in_head['thr_mask'][1, 41:, :].sum() > 0 and in_head['thr_mask'][1, :, 50:].sum() > 0
    assert in_head['shrink_map'].sum() > 0 and (in_head['shrink_mask'] == 0).any()
    # a larger batch shape (another, bigger image in the batch) pads both with the background
    big_pipeline = head.get_targets(samples, (96, 128), torch.device('cpu'))
    big_head = head.get_targets(_without_stored(samples), (96, 128), torch.device('cpu'))
    for k in MAP_KEYS:
        assert torch.equal(big_pipeline[k], big_head[k]), k
    # the same loss, and the same gradients
    feats = torch.rand(2, 8, 16, 16, requires_grad=True)
    loss_a = head.loss(feats, samples)
    grad_a = torch.autograd.grad(sum(loss_a.values()), feats)[0]
    loss_b = head.loss(feats, _without_stored(samples))
    grad_b = torch.autograd.grad(sum(loss_b.values()), feats)[0]
    assert set(loss_a) == {'loss_prob', 'loss_thr', 'loss_db'}
    for k in loss_a:
        assert torch.equal(loss_a[k], loss_b[k]), k
        assert loss_a[k] > 0
    assert torch.equal(grad_a, grad_b)


def test_mixed_batch_and_empty_image():
    """One sample with stored targets, one without; an image with no text stores the background."""
    images = [IMAGES[0], ((40, 40), [], [])]
    items = _packed(images=images)
    items[0]['data_samples'].pop('gt_db_targets')
    batch = _preprocess(items)
    head = _head()
    mixed = head.get_targets(batch['data_samples'], (64, 64), torch.device('cpu'))
    plain = head.get_targets(_without_stored(batch['data_samples'][1:]), (64, 64), torch.device('cpu'))
    ref0 = head.get_targets(batch['data_samples'][:1], (64, 64), torch.device('cpu'))
    for k in MAP_KEYS:
        assert torch.equal(mixed[k][1], plain[k][0]) and torch.equal(mixed[k][0], ref0[k][0])
    assert mixed['shrink_map'][1].sum() == 0 and mixed['shrink_mask'][1].min() == 1
    assert torch.all(mixed['thr_map'][1] == torch.tensor(0.3, dtype=torch.float32))


def test_other_codec_settings_are_refused():
    head = _head()
    samples = _preprocess(_packed(codec=dict(CODEC, shrink_ratio=0.5)))['data_samples']
    with pytest.raises(ValueError, match=r'img_0\.jpg.*shrink_ratio=0\.5.*shrink_ratio=0\.4.*db_codec'):
        head.loss(torch.rand(2, 8, 16, 16), samples)
    samples = _preprocess(_packed(codec=dict(CODEC, min_text_size=5)))['data_samples']
    with pytest.raises(ValueError, match='min_text_size=5.0'):
        head.get_targets(samples, (64, 64), torch.device('cpu'))
    # decode-only settings do not change the targets: accepted
    samples = _preprocess(_packed(codec=dict(CODEC, thresh=0.45, box_thresh=0.2)))['data_samples']
    head.get_targets(samples, (64, 64), torch.device('cpu'))
    # an int and a float of the same value are the same setting
    assert (_head(dict(CODEC, min_text_size=3)).codec.target_fingerprint()
            == _head(dict(CODEC, min_text_size=3.0)).codec.target_fingerprint())


def test_transform_needs_a_packed_sample():
    gen = TRANSFORMS.build(dict(type='GenerateDBTargets', codec=CODEC))
    with pytest.raises(KeyError, match='after PackTextDetInputs'):
        gen(dict(img=np.zeros((8, 8, 3), np.uint8), gt_polygons=[]))
    with pytest.raises(TypeError, match='DBCodec'):
        TRANSFORMS.build(dict(type='GenerateDBTargets', codec=dict(type='DeltaXYWHBBoxCoder')))


class _Items(torch.utils.data.Dataset):
    def __init__(self, items):
        self.items = items

    def __len__(self):
        return len(self.items)

    def __getitem__(self, i):
        return self.items[i]


def test_targets_cross_worker_processes():
    """The stored maps survive pickling and a DataLoader worker, then equal the head's own."""
    items = _packed()
    again = pickle.loads(pickle.dumps(items[1]))
    assert torch.equal(again['data_samples'].gt_db_targets.thr_map, items[1]['data_samples'].gt_db_targets.thr_map)
    loader = DataLoader(_Items(items), batch_size=2, num_workers=1, collate_fn=pseudo_collate)
    (batch,) = list(loader)
    samples = _preprocess([dict(inputs=i, data_samples=s) for i, s in
                           zip(batch['inputs'], batch['data_samples'])])['data_samples']
    head = _head()
    a = head.get_targets(samples, (64, 64), torch.device('cpu'))
    b = head.get_targets(_without_stored(samples), (64, 64), torch.device('cpu'))
    assert all(torch.equal(a[k], b[k]) for k in MAP_KEYS)


def test_quickstart_config_uses_one_codec_for_targets_and_head():
    cfg = Config.fromfile(str(REPO / 'configs/quickstart/textdet_synth.py'))
    gens = [t for t in cfg.train_dataloader.dataset.pipeline if t['type'] == 'GenerateDBTargets']
    assert len(gens) == 1 and cfg.train_dataloader.dataset.pipeline[-1]['type'] == 'GenerateDBTargets'
    codec = TRANSFORMS.build(gens[0]).codec
    head_codec = MODELS.build(dict(cfg.model.det_head, in_channels=8)).codec
    assert codec.target_fingerprint() == head_codec.target_fingerprint()
