"""TopdownPoseEstimator + HeatmapHead + heatmap losses + PoseDataPreprocessor, and the SimpleBaseline configs.

A tiny estimator (a 3-conv stride-8 backbone module and a one-deconv HeatmapHead: 64x48 crops -> 16x12 heatmaps of
3 keypoints) runs every mode; the losses are checked against hand-computed values.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

import visioncraft  # noqa: F401  (fills the registries)
from conftest import REPO, assert_gradient_step_lowers_loss, model_cfg_without_pretrained, saved_state_dict
from visioncraft.config import Config
from visioncraft.registry import KEYPOINT_CODECS, MODELS
from visioncraft.structures import DataSample, InstanceData
from visioncraft.tasks.pose.models.accuracy import heatmap_pck_accuracy
from visioncraft.tasks.pose.models.estimator import input_to_image_coords

K = 3
FLIP_INDICES = [0, 2, 1]   # keypoint 0 is central, 1 and 2 are a left/right pair
INPUT_W, INPUT_H = 48, 64
CODEC = dict(type='MSRAHeatmap', input_size=(INPUT_W, INPUT_H), heatmap_size=(12, 16), sigma=1.0)


class _StubBackbone(nn.Module):
    """Three stride-2 3x3 convs: float (B, 3, H, W) -> ((B, 32, H/8, W/8),)."""

    out_channels = [32]

    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(3, 16, 3, 2, 1), nn.BatchNorm2d(16), nn.ReLU(),
                                  nn.Conv2d(16, 32, 3, 2, 1), nn.BatchNorm2d(32), nn.ReLU(),
                                  nn.Conv2d(32, 32, 3, 2, 1), nn.BatchNorm2d(32), nn.ReLU())

    def forward(self, x):
        return (self.body(x),)


def _tiny_estimator(**over):
    torch.manual_seed(0)
    cfg = dict(type='TopdownPoseEstimator', backbone=_StubBackbone(),
               head=dict(type='HeatmapHead', out_channels=K, deconv_out_channels=(16,), deconv_kernel_sizes=(4,),
                         decoder=CODEC),
               test_cfg=dict(flip_test=False))
    cfg.update(over)
    return MODELS.build(cfg)


def _keypoints(i: int) -> np.ndarray:
    """(1, K, 2) input-pixel keypoints of sample i (one a 'nose' on the centre line, two a left/right pair)."""
    return np.array([[[24, 14 + 4 * i], [14 + 2 * i, 40], [34 - 2 * i, 44]]], np.float32)


def _batch(n: int = 2, with_targets: bool = True, seed: int = 0, with_flip_indices: bool = True) -> dict:
    """Packed top-down samples as PackPoseInputs makes them: uint8 BGR crops and DataSamples."""
    codec = KEYPOINT_CODECS.build(CODEC)
    g = torch.Generator().manual_seed(seed)
    inputs, samples = [], []
    for i in range(n):
        img = torch.randint(0, 60, (3, INPUT_H, INPUT_W), dtype=torch.uint8, generator=g)
        kpts = _keypoints(i)
        for x, y in kpts[0].astype(int):  # a bright blob under each keypoint: something to learn
            img[:, max(y - 2, 0):y + 3, max(x - 2, 0):x + 3] = 200 + 20 * (x > 24)
        inputs.append(img)
        center, scale = np.array([100.0 + 10 * i, 80.0], np.float32), np.array([96.0, 128.0], np.float32)
        s = DataSample(metainfo=dict(
            id=i, img_id=i, img_path=f'img{i}.jpg', category_id=1, ori_shape=(240, 320), img_shape=(240, 320),
            input_size=(INPUT_W, INPUT_H), input_center=center, input_scale=scale, flip=False,
            flip_direction=None, dataset_name='tiny'))
        if with_flip_indices:
            s.set_metainfo(dict(flip_indices=FLIP_INDICES))
        s.gt_instances = InstanceData(
            bboxes=torch.tensor([[60.0 + 10 * i, 30.0, 140.0 + 10 * i, 130.0]]), bbox_scores=torch.tensor([0.9]),
            bbox_centers=torch.from_numpy(center[None]), bbox_scales=torch.from_numpy(scale[None]),
            keypoints=torch.from_numpy(input_to_image_coords(kpts[None], np.array([[INPUT_W, INPUT_H]]),
                                                             center[None], scale[None])[0]),
            keypoints_visible=torch.ones(1, K))
        if with_targets:
            enc = codec.encode(kpts, np.ones((1, K), np.float32))
            s.gt_heatmaps = torch.from_numpy(enc['heatmaps'])
            s.gt_instance_labels = InstanceData(keypoint_weights=torch.from_numpy(enc['keypoint_weights']))
        samples.append(s)
    return dict(inputs=inputs, data_samples=samples)


# -- losses ----------------------------------------------------------------------------------------------------
def test_keypoint_mse_loss_hand_checked_with_target_weights():
    out = torch.zeros(1, 2, 1, 2)
    tgt = torch.tensor([[[[1.0, 3.0]], [[2.0, 0.0]]]])          # squared errors: 1, 9 | 4, 0
    w = torch.tensor([[0.5, 2.0]])
    loss = MODELS.build(dict(type='KeypointMSELoss', use_target_weight=True))
    assert loss(out, tgt, w).item() == pytest.approx((0.5 * (1 + 9) + 2.0 * (4 + 0)) / 4)
    plain = MODELS.build(dict(type='KeypointMSELoss', use_target_weight=False, loss_weight=3.0))
    assert plain(out, tgt, w).item() == pytest.approx(3.0 * (1 + 9 + 4 + 0) / 4)
    # an all-zero target channel is skipped: channel 1 has target 0 everywhere
    tgt2 = torch.tensor([[[[1.0, 3.0]], [[0.0, 0.0]]]])
    out2 = torch.tensor([[[[0.0, 0.0]], [[5.0, 5.0]]]])
    skip = MODELS.build(dict(type='KeypointMSELoss', skip_empty_channel=True))
    assert skip(out2, tgt2).item() == pytest.approx((1 + 9) / 4)
    mask = torch.tensor([[[[1.0, 0.0]]]])                        # (B, 1, H, W) pixel mask
    assert plain(out, tgt, mask=mask).item() == pytest.approx(3.0 * (1 + 4) / 4)
    with pytest.raises(ValueError, match='target_weights must be'):
        loss(out, tgt, torch.ones(1, 3))


def test_keypoint_ohkm_mse_loss_keeps_the_hardest_keypoints():
    out = torch.zeros(2, 3, 1, 1)
    tgt = torch.tensor([1.0, 2.0, 3.0, 4.0, 0.0, 1.0]).view(2, 3, 1, 1)   # per-keypoint losses 1,4,9 | 16,0,1
    loss = MODELS.build(dict(type='KeypointOHKMMSELoss', topk=2))
    assert loss(out, tgt).item() == pytest.approx(((4 + 9) / 2 + (16 + 1) / 2) / 2)
    w = torch.tensor([[1.0, 1.0, 0.0], [0.5, 1.0, 1.0]])                    # weights enter squared
    weighted = MODELS.build(dict(type='KeypointOHKMMSELoss', topk=2, use_target_weight=True))
    assert weighted(out, tgt, w).item() == pytest.approx(((1 + 4) / 2 + (4 + 1) / 2) / 2)
    with pytest.raises(ValueError, match='larger than the number of keypoints'):
        MODELS.build(dict(type='KeypointOHKMMSELoss', topk=4))(out, tgt)


def test_acc_pose_is_pck_of_the_heatmap_maxima():
    tgt = torch.zeros(2, 2, 8, 8)
    tgt[0, 0, 2, 2] = tgt[0, 1, 5, 5] = tgt[1, 0, 4, 4] = 1.0        # sample 1, keypoint 1: empty target
    out = torch.zeros(2, 2, 8, 8)
    out[0, 0, 2, 2] = out[0, 1, 0, 0] = out[1, 0, 4, 4] = out[1, 1, 7, 7] = 1.0
    mask = torch.tensor([[True, True], [True, False]])
    # keypoint 0: 2 of 2 right; keypoint 1: 0 of 1 right -> mean over keypoints 0.5
    assert heatmap_pck_accuracy(out, tgt, mask).item() == pytest.approx(0.5)
    assert heatmap_pck_accuracy(out, tgt, torch.zeros(2, 2, dtype=torch.bool)).item() == 0.0


# -- the head --------------------------------------------------------------------------------------------------
def test_heatmap_head_shapes_and_mmpose_parameter_names():
    head = MODELS.build(dict(type='HeatmapHead', in_channels=64, out_channels=17, decoder=None))
    out = head((torch.zeros(2, 64, 8, 6),))
    assert tuple(out.shape) == (2, 17, 64, 48)                          # three x2 deconvs
    names = {n for n, _ in head.named_parameters()}
    assert {'deconv_layers.0.weight', 'deconv_layers.1.weight', 'final_layer.weight', 'final_layer.bias'} <= names
    assert head.deconv_layers[0].weight.std().item() == pytest.approx(0.001, rel=0.1)
    with_convs = MODELS.build(dict(type='HeatmapHead', in_channels=8, out_channels=4, deconv_out_channels=(8,),
                                   deconv_kernel_sizes=(3,), conv_out_channels=(8,), conv_kernel_sizes=(3,)))
    assert tuple(with_convs(torch.zeros(1, 8, 5, 5)).shape) == (1, 4, 10, 10)
    with pytest.raises(ValueError, match='same length'):
        MODELS.build(dict(type='HeatmapHead', in_channels=8, out_channels=4, deconv_out_channels=(8, 8),
                          deconv_kernel_sizes=(4,)))
    with pytest.raises(ValueError, match='4, 3 or 2'):
        MODELS.build(dict(type='HeatmapHead', in_channels=8, out_channels=4, deconv_out_channels=(8,),
                          deconv_kernel_sizes=(5,)))


# -- the estimator ---------------------------------------------------------------------------------------------
def test_loss_predict_tensor_modes():
    model = _tiny_estimator()
    data = model.data_preprocessor(_batch(), training=True)
    assert data['inputs'].dtype == torch.float32 and tuple(data['inputs'].shape) == (2, 3, INPUT_H, INPUT_W)
    losses = model(**data, mode='loss')
    assert set(losses) == {'loss_kpt', 'acc_pose'} and losses['loss_kpt'].requires_grad
    assert 0.0 <= float(losses['acc_pose']) <= 1.0
    model.eval()
    with torch.no_grad():
        raw = model(**model.data_preprocessor(_batch(), training=False), mode='tensor')
        out = model.test_step(_batch(with_targets=False))
    assert tuple(raw.shape) == (2, K, 16, 12)
    assert len(out) == 2
    for i, s in enumerate(out):
        p = s.pred_instances
        assert isinstance(p.keypoints, np.ndarray) and p.keypoints.shape == (1, K, 2)
        assert p.keypoints.dtype == np.float32 and p.keypoint_scores.shape == (1, K)
        np.testing.assert_allclose(p.bboxes, [[60.0 + 10 * i, 30.0, 140.0 + 10 * i, 130.0]])
        np.testing.assert_allclose(p.bbox_scores, [0.9])
    with pytest.raises(ValueError, match="mode must be"):
        model(data['inputs'], mode='bogus')


def test_predict_maps_decoded_keypoints_back_to_image_pixels():
    model = _tiny_estimator().eval()
    batch = _batch(with_targets=False)
    with torch.no_grad():
        data = model.data_preprocessor(batch, training=False)
        heatmaps = model(**data, mode='tensor')
        out = model(**data, mode='predict')
    kpts, scores = model.head.decoder.batch_decode(heatmaps)
    for i, s in enumerate(out):
        center, scale = s.metainfo['input_center'], s.metainfo['input_scale']
        # by hand: x_img = x_in / 48 * scale_w + center_x - scale_w / 2 (and the same for y)
        want = kpts[i].numpy() / np.array([INPUT_W, INPUT_H]) * scale + center - 0.5 * scale
        np.testing.assert_allclose(s.pred_instances.keypoints[0], want, rtol=1e-5, atol=1e-4)
        np.testing.assert_allclose(s.pred_instances.keypoint_scores[0], scores[i].numpy(), rtol=1e-6)


def test_input_to_image_coords_known_crop():
    # a 48x64 crop of the 96x128 image region centred at (100, 200): (0, 0) -> (52, 136), centre -> centre,
    # (48, 64) -> (148, 264)
    kpts = np.array([[[[0.0, 0.0], [24.0, 32.0], [48.0, 64.0]]]], np.float32)
    out = input_to_image_coords(kpts, np.array([[48, 64]]), np.array([[100.0, 200.0]]), np.array([[96.0, 128.0]]))
    np.testing.assert_allclose(out[0, 0], [[52, 136], [100, 200], [148, 264]])


def test_predict_without_pipeline_metainfo_names_the_missing_key():
    model = _tiny_estimator().eval()
    batch = _batch(with_targets=False)
    batch['data_samples'] = [DataSample(metainfo=dict(img_shape=(64, 48))) for _ in batch['data_samples']]
    with pytest.raises(ValueError, match="'input_size'.*TopdownAffine"):
        model.test_step(batch)


def test_flip_test_equals_the_average_of_the_two_passes():
    from visioncraft.tasks.pose.codecs.flip import flip_heatmaps
    model = _tiny_estimator(test_cfg=dict(flip_test=True, flip_mode='heatmap', shift_heatmap=True,
                                          output_heatmaps=True)).eval()
    # non-trivial BatchNorm statistics, so that the flipped pass differs from the plain one
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.uniform_(-0.2, 0.2)
            m.running_var.uniform_(0.5, 1.5)
    batch = _batch(with_targets=False)
    with torch.no_grad():
        inputs = model.data_preprocessor(batch, training=False)['inputs']
        plain = model.head(model.backbone(inputs))
        flipped = model.head(model.backbone(inputs.flip(-1)))
        want = (plain + flip_heatmaps(flipped, flip_indices=FLIP_INDICES, shift_heatmap=True)) * 0.5
        out = model.test_step(batch)
    got = torch.stack([s.pred_heatmaps for s in out])
    torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-6)
    assert not torch.allclose(got, plain, atol=1e-6)
    kpts, _ = model.head.decoder.batch_decode(want)
    for i, s in enumerate(out):
        m = s.metainfo
        img = input_to_image_coords(kpts[i:i + 1].numpy()[None], np.array([m['input_size']]),
                                    m['input_center'][None], m['input_scale'][None])[0]
        np.testing.assert_allclose(s.pred_instances.keypoints, img, rtol=1e-5, atol=1e-3)


def test_flip_test_takes_flip_indices_from_the_model_metainfo():
    model = _tiny_estimator(test_cfg=dict(flip_test=True), metainfo=dict(flip_indices=FLIP_INDICES)).eval()
    out = model.test_step(_batch(with_targets=False, with_flip_indices=False))
    assert out[0].metainfo['flip_indices'] == FLIP_INDICES
    bare = _tiny_estimator(test_cfg=dict(flip_test=True)).eval()
    with pytest.raises(ValueError, match='flip_indices'):
        bare.test_step(_batch(with_targets=False, with_flip_indices=False))


def test_overfits_two_samples():
    """A gradient step lowers the heatmap loss by its first-order amount (see ``conftest.gradient_step``); the
    weights 80 Adam steps on the two samples give (saved, see tests/data/make_test_weights.py) have under a tenth
    of the initial loss and put every keypoint within one heatmap cell of where it was drawn. Neither depends on a
    training trajectory, so both hold on every CPU and thread count."""
    model = _tiny_estimator()
    model.train()

    def loss():
        return model(**model.data_preprocessor(_batch(), training=True), mode='loss')['loss_kpt']

    assert_gradient_step_lowers_loss(model, loss)
    trained = saved_state_dict('topdown_two_samples')
    with torch.no_grad():
        first = loss().item()
        model.load_state_dict(trained)
        last = loss().item()  # (train mode: batch statistics, as during training)
    assert last < first / 10, (first, last)
    model.load_state_dict(trained)  # the saved BatchNorm statistics (the train-mode forward moved them)
    model.eval()
    out = model.test_step(_batch(with_targets=False))
    for s in out:  # the learnt keypoints are where they were drawn, within one heatmap cell (4 input pixels)
        gt = s.gt_instances.keypoints.numpy()
        err = np.abs(s.pred_instances.keypoints - gt) / (s.metainfo['input_scale'] / [INPUT_W, INPUT_H])
        assert err.max() <= 4.0, err


def test_pose_data_preprocessor_normalises_bgr_to_rgb_and_keeps_samples_on_cpu_at_test_time():
    pre = MODELS.build(dict(type='PoseDataPreprocessor', mean=[10.0, 20.0, 30.0], std=[2.0, 2.0, 2.0],
                            bgr_to_rgb=True))
    img = torch.zeros(3, 4, 4, dtype=torch.uint8)
    img[0], img[2] = 50, 90            # B = 50, R = 90
    sample = DataSample(metainfo=dict(input_size=(4, 4)))
    out = pre(dict(inputs=[img], data_samples=[sample]), training=False)
    assert out['inputs'][0, 0, 0, 0].item() == pytest.approx((90 - 10) / 2)      # R first
    assert out['inputs'][0, 2, 0, 0].item() == pytest.approx((50 - 30) / 2)
    assert out['data_samples'][0] is sample and sample.metainfo['batch_input_shape'] == (4, 4)
    # the same values as the shared ImgDataPreprocessor (bit for bit), and a float input is not normalised in place
    shared = MODELS.build(dict(type='ImgDataPreprocessor', mean=[10.0, 20.0, 30.0], std=[2.0, 3.0, 4.0],
                               bgr_to_rgb=True))
    pre = MODELS.build(dict(type='PoseDataPreprocessor', mean=[10.0, 20.0, 30.0], std=[2.0, 3.0, 4.0],
                            bgr_to_rgb=True))
    imgs = [torch.randint(0, 255, (3, 8, 6), dtype=torch.uint8) for _ in range(3)]
    assert torch.equal(pre(dict(inputs=imgs))['inputs'], shared(dict(inputs=imgs))['inputs'])
    floats = torch.stack(imgs).float()
    before = floats.clone()
    plain = MODELS.build(dict(type='PoseDataPreprocessor', mean=[10.0, 20.0, 30.0], std=[2.0, 3.0, 4.0]))
    assert torch.equal(plain(dict(inputs=floats))['inputs'], (before - plain.mean) / plain.std)
    assert torch.equal(floats, before)


# -- configs ---------------------------------------------------------------------------------------------------
@pytest.mark.parametrize('name,depth', [('td-hm_res50_8xb64-210e_coco-256x192.py', 50),
                                        ('td-hm_res101_8xb64-210e_coco-256x192.py', 101)])
def test_simplebaseline_configs(name, depth):
    cfg = Config.fromfile(REPO / 'configs/body_2d_keypoint/topdown_heatmap/coco' / name)
    assert cfg.default_scope == 'mmpose'
    assert cfg.visualizer.type == 'PoseLocalVisualizer'
    ckpt = cfg.default_hooks.checkpoint
    assert (ckpt.save_best, ckpt.rule) == ('coco/AP', 'greater')
    assert cfg.optim_wrapper.optimizer.type == 'Adam' and cfg.optim_wrapper.optimizer.lr == 5e-4
    assert [s.type for s in cfg.param_scheduler] == ['LinearLR', 'MultiStepLR']
    assert list(cfg.param_scheduler[1].milestones) == [170, 200] and cfg.train_cfg.max_epochs == 210
    assert cfg.auto_scale_lr.base_batch_size == 512
    codec = cfg.model.head.decoder
    assert (codec.type, tuple(codec.input_size), tuple(codec.heatmap_size), codec.sigma) == \
        ('MSRAHeatmap', (192, 256), (48, 64), 2)
    assert [t.type for t in cfg.train_dataloader.dataset.pipeline] == [
        'LoadImage', 'GetBBoxCenterScale', 'RandomFlip', 'RandomHalfBody', 'RandomBBoxTransform', 'TopdownAffine',
        'GenerateTarget', 'PackPoseInputs']
    assert cfg.val_dataloader.dataset.bbox_file.endswith('COCO_val2017_detections_AP_H_56_person.json')
    assert cfg.val_dataloader.dataset.metainfo.from_file == 'configs/_base_/datasets/coco.py'
    assert cfg.val_evaluator.type == 'CocoMetric'
    assert cfg.val_evaluator.ann_file.endswith('person_keypoints_val2017.json')
    assert cfg.model.backbone.depth == depth
    assert cfg.model.backbone.init_cfg.checkpoint == f'torchvision://resnet{depth}'
    model = MODELS.build(model_cfg_without_pretrained(cfg)).eval()
    assert model.test_cfg['flip_test'] and model.test_cfg['shift_heatmap']
    with torch.no_grad():
        heatmaps = model(torch.zeros(1, 3, 256, 192), mode='tensor')
    assert tuple(heatmaps.shape) == (1, 17, 64, 48)


def _coco_person(rng) -> dict:
    """One top-down data info (the dataset's layout) of a 17-keypoint person in a 240 x 320 image."""
    from visioncraft.tasks.pose.datasets.metainfo import parse_pose_metainfo
    meta = parse_pose_metainfo(dict(from_file='configs/_base_/datasets/coco.py'))
    kpts = np.stack([rng.uniform(120, 200, 17), rng.uniform(40, 220, 17)], 1)[None].astype(np.float32)
    vis = np.ones((1, 17), np.float32)
    vis[0, 3] = 0
    info = dict(img=rng.integers(0, 255, (240, 320, 3), dtype=np.uint8), img_id=1, img_path=None, id=7,
                category_id=1, bbox=np.array([[110, 30, 210, 230]], np.float32), bbox_score=np.ones(1, np.float32),
                keypoints=kpts, keypoints_visible=vis, num_keypoints=16, area=np.array([20000.0], np.float32),
                iscrowd=0)
    for key in ('flip_indices', 'dataset_name', 'dataset_keypoint_weights', 'upper_body_ids', 'lower_body_ids'):
        info[key] = meta[key]
    return info


def test_res50_config_pipelines_feed_the_estimator():
    """The recipe's train / val pipelines (in its 'mmpose' scope) make what the estimator consumes, and decoding the
    codec's own heatmaps of a val crop maps back to the person's keypoints in image pixels."""
    from visioncraft.data.collate import pseudo_collate
    from visioncraft.data.transforms import Compose
    from visioncraft.registry import default_scope
    cfg = Config.fromfile(REPO / 'configs/body_2d_keypoint/topdown_heatmap/coco/td-hm_res50_8xb64-210e_coco-256x192.py')
    rng = np.random.default_rng(0)
    with default_scope(cfg.default_scope):
        train = Compose(cfg.train_dataloader.dataset.pipeline)
        val_pipeline = list(cfg.val_dataloader.dataset.pipeline)
        to_crop, pack = Compose(val_pipeline[:-1]), Compose(val_pipeline[-1:])
    torch.manual_seed(0)
    model = MODELS.build(dict(type='TopdownPoseEstimator', backbone=_StubBackbone(),
                              head=dict(type='HeatmapHead', out_channels=17, deconv_out_channels=(16,),
                                        deconv_kernel_sizes=(4,), decoder=cfg.codec),
                              test_cfg=dict(flip_test=True)))
    batch = pseudo_collate([train(_coco_person(rng)) for _ in range(2)])
    losses = model(**model.data_preprocessor(batch, training=True), mode='loss')
    assert torch.isfinite(losses['loss_kpt']) and losses['loss_kpt'] > 0

    info = _coco_person(rng)
    want = info['keypoints'][0].copy()
    cropped = to_crop(info)
    heatmaps = model.head.decoder.encode(cropped['transformed_keypoints'], cropped['keypoints_visible'])['heatmaps']
    batch = pseudo_collate([pack(cropped)])
    model.eval()
    with torch.no_grad():
        assert tuple(model(**model.data_preprocessor(batch), mode='tensor').shape) == (1, 17, 64, 48)
        out = model.test_step(batch)[0]          # flip test on the real network: runs, right shapes
        assert out.pred_instances.keypoints.shape == (1, 17, 2)
        model.test_cfg['flip_test'] = False
        model.head.forward = lambda feats: torch.from_numpy(heatmaps)[None]   # an oracle head
        out = model.test_step(batch)[0]
    cell = out.metainfo['input_scale'] / np.asarray(out.metainfo['input_size'])   # image px per input px
    err = np.abs(out.pred_instances.keypoints[0] - want) / cell
    visible = info['keypoints_visible'][0] > 0
    assert err[visible].max() <= 4.0, err              # within one heatmap cell (4 input pixels)
    np.testing.assert_allclose(out.pred_instances.bboxes, [[110, 30, 210, 230]])


@pytest.mark.parametrize('use_udp', [False, True])
def test_topdown_affine_and_back_mapping_round_trip(use_udp):
    """TopdownAffine's transformed keypoints, mapped back with the sample's packed metainfo, are the image keypoints
    again: exactly for UDP crops (input_udp), and for plain crops as MMPose's formula gives them."""
    from visioncraft.registry import TRANSFORMS
    rng = np.random.default_rng(0)
    kpts = rng.uniform(40, 160, size=(1, 5, 2)).astype(np.float32)
    results = dict(img=np.zeros((200, 200, 3), np.uint8), bbox_center=np.array([[100.0, 100.0]], np.float32),
                   bbox_scale=np.array([[150.0, 200.0]], np.float32), keypoints=kpts,
                   keypoints_visible=np.ones((1, 5), np.float32))
    out = TRANSFORMS.build(dict(type='TopdownAffine', input_size=(48, 64), use_udp=use_udp))(results)
    packed = TRANSFORMS.build(dict(type='PackPoseInputs'))(out)['data_samples']
    assert packed.metainfo['input_udp'] is use_udp
    back = input_to_image_coords(out['transformed_keypoints'][None], np.array([packed.input_size]),
                                 np.array([packed.input_center]), np.array([packed.input_scale]),
                                 udp=np.array([packed.input_udp]))[0]
    np.testing.assert_allclose(back, kpts, atol=1e-3)
