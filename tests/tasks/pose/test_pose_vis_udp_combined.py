"""MMPose 1.x extras (issue 14): CombinedTargetMSELoss with the UDP combined codec, VisPredictHead and its BCELoss,
test_cfg.output_keypoint_indices, the COCO + AIC metainfo, Albumentation's built-in steps, EMAHook's
ExpMomentumEMA."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

import visioncraft  # noqa: F401  (fills the registries)
from visioncraft.registry import KEYPOINT_CODECS, MODELS, TRANSFORMS
from visioncraft.structures import DataSample, InstanceData
from visioncraft.tasks.pose.codecs.flip import flip_heatmaps
from visioncraft.tasks.pose.datasets.metainfo import parse_pose_metainfo

K = 3
FLIP_INDICES = [0, 2, 1]
UDP = dict(type='UDPHeatmap', input_size=(48, 64), heatmap_size=(12, 16), heatmap_type='combined',
           radius_factor=0.15, blur_kernel_size=3)


# -- CombinedTargetMSELoss -------------------------------------------------------------------------------------------
def test_combined_target_loss_zero_on_perfect_prediction_and_hand_computed():
    loss = MODELS.build(dict(type='CombinedTargetMSELoss', use_target_weight=True))
    codec = KEYPOINT_CODECS.build(UDP)
    enc = codec.encode(np.array([[[20.3, 30.7], [10.0, 50.5], [40.2, 8.9]]]), np.ones((1, K)))
    target = torch.from_numpy(enc['heatmaps'])[None]                    # (1, 3K, H, W)
    weights = torch.from_numpy(enc['keypoint_weights'])
    assert loss(target.clone(), target, weights).item() == 0.0
    # one keypoint, two pixels: disk (1, 0), x offsets (0.5, 0.2), y offsets (0.1, 0.3)
    tgt = torch.tensor([1.0, 0.0, 0.5, 0.2, 0.1, 0.3]).reshape(1, 3, 1, 2)
    out = torch.tensor([0.5, 0.0, 0.3, 0.2, 0.1, 0.0]).reshape(1, 3, 1, 2)
    plain = MODELS.build(dict(type='CombinedTargetMSELoss', loss_weight=2.0))
    # 0.5 * mean(0.25, 0) + 0.5 * mean((1 * -0.2)^2, 0) + 0.5 * mean(0, (0 * -0.3)^2)
    assert plain(out, tgt).item() == pytest.approx(2.0 * (0.0625 + 0.01))
    # weight 0.5: the disks are scaled by it, the offsets by the scaled target disk
    assert loss(out, tgt, torch.tensor([[0.5]])).item() == pytest.approx(0.5 * 0.0625 / 2 + 0.5 * 0.01 / 2)
    with pytest.raises(ValueError, match='K\\*3'):
        plain(torch.zeros(1, 4, 2, 2), torch.zeros(1, 4, 2, 2))


def test_udp_combined_codec_round_trip_flip_and_gradient():
    codec = KEYPOINT_CODECS.build(UDP)
    kpts = np.array([[[20.3, 30.7], [10.0, 50.5], [40.2, 8.9]]], np.float32)
    enc = codec.encode(kpts, np.ones((1, K)))
    assert enc['heatmaps'].shape == (3 * K, 16, 12)
    locs, scores = codec.decode(enc['heatmaps'])
    np.testing.assert_allclose(locs[0], kpts[0], atol=1e-3)
    blocs, _ = codec.batch_decode(torch.from_numpy(enc['heatmaps'])[None])
    np.testing.assert_allclose(blocs[0].numpy(), kpts[0], atol=1e-3)
    # the flipped-back maps of the mirrored crop are the maps of the crop: decoding gives the same keypoints
    mirrored = kpts.copy()[:, FLIP_INDICES]
    mirrored[..., 0] = 48 - 1 - mirrored[..., 0]
    back = flip_heatmaps(torch.from_numpy(codec.encode(mirrored, np.ones((1, K)))['heatmaps'])[None],
                         flip_indices=FLIP_INDICES, flip_mode='udp_combined')
    np.testing.assert_allclose(codec.batch_decode(back)[0][0].numpy(), kpts[0], atol=1e-3)
    # the loss trains a head: finite, gradient reaches the prediction
    pred = torch.zeros(1, 3 * K, 16, 12, requires_grad=True)
    value = MODELS.build(dict(type='CombinedTargetMSELoss', use_target_weight=True))(
        pred, torch.from_numpy(enc['heatmaps'])[None], torch.ones(1, K))
    value.backward()
    assert torch.isfinite(value) and value.item() > 0 and pred.grad.abs().sum() > 0


# -- VisPredictHead --------------------------------------------------------------------------------------------------
def _vis_head(use_sigmoid: bool = True):
    torch.manual_seed(0)
    return MODELS.build(dict(
        type='VisPredictHead',
        loss=dict(type='BCELoss', use_target_weight=True, use_sigmoid=use_sigmoid, loss_weight=1e-3),
        pose_cfg=dict(type='HeatmapHead', in_channels=8, out_channels=K, deconv_out_channels=None,
                      decoder=dict(type='MSRAHeatmap', input_size=(12, 16), heatmap_size=(3, 4), sigma=1.0))))


def _samples(n: int = 2):
    out = []
    for i in range(n):
        s = DataSample(metainfo=dict(input_size=(12, 16), input_center=np.array([6.0, 8.0]),
                                     input_scale=np.array([12.0, 16.0]), flip_indices=FLIP_INDICES))
        s.gt_heatmaps = torch.rand(K, 4, 3)
        s.gt_instance_labels = InstanceData(keypoint_weights=torch.tensor([[1.0, 0.0, 1.0 - i]]),
                                            keypoints_visible_weights=torch.ones(1, K))
        out.append(s)
    return out


@pytest.mark.parametrize('use_sigmoid', [True, False])
def test_vis_predict_head_outputs_visibility_and_trains(use_sigmoid):
    head = _vis_head(use_sigmoid)
    feats = (torch.randn(2, 8, 4, 3),)
    heatmaps, vis = head(feats)
    assert heatmaps.shape == (2, K, 4, 3) and vis.shape == (2, K)
    if use_sigmoid:
        assert ((vis >= 0) & (vis <= 1)).all()
    losses = head.loss(feats, _samples())
    assert {'loss_vis', 'acc_vis', 'loss_kpt'} <= set(losses)
    assert all(torch.isfinite(v) for v in losses.values())
    (losses['loss_vis'] + losses['loss_kpt']).backward()
    assert head.vis_head[2].weight.grad.abs().sum() > 0
    assert head.pose_head.final_layer.weight.grad.abs().sum() > 0
    # prediction: one probability in [0, 1] per keypoint, flip test swaps left / right before averaging
    samples = _samples()
    preds = head.predict([feats, (feats[0].flip(-1),)], samples, dict(flip_test=True, flip_mode='heatmap'))
    for p in preds:
        assert p.keypoints_visible.shape == (1, K) and p.keypoints_visible.dtype == np.float32
        assert ((p.keypoints_visible >= 0) & (p.keypoints_visible <= 1)).all()
    with torch.no_grad():
        a, b = head.vis_forward(feats), head.vis_forward((feats[0].flip(-1),))[:, FLIP_INDICES]
        expect = (a + b) / 2 if use_sigmoid else ((a + b) / 2).sigmoid()
    np.testing.assert_allclose(np.concatenate([p.keypoints_visible for p in preds]), expect.numpy(), rtol=1e-5)


def test_bce_loss_matches_definition():
    p, t, w = torch.tensor([[0.8, 0.3]]), torch.tensor([[1.0, 0.0]]), torch.tensor([[1.0, 0.5]])
    loss = MODELS.build(dict(type='BCELoss', use_sigmoid=True, use_target_weight=True))
    assert loss(p, t, w).item() == pytest.approx((-math.log(0.8) - 0.5 * math.log(0.7)) / 2, rel=1e-5)
    logits = MODELS.build(dict(type='BCELoss'))
    assert logits(torch.logit(p), t).item() == pytest.approx((-math.log(0.8) - math.log(0.7)) / 2, rel=1e-5)


# -- output_keypoint_indices, COCO + AIC metainfo ---------------------------------------------------------------------
class _Backbone(nn.Module):
    out_channels = [8]

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, 4, 1)

    def forward(self, x):
        return (self.conv(x),)


def test_output_keypoint_indices_and_head_visibility_reach_the_predictions():
    torch.manual_seed(0)
    model = MODELS.build(dict(
        type='TopdownPoseEstimator', backbone=_Backbone(),
        head=dict(type='VisPredictHead', loss=dict(type='BCELoss', use_sigmoid=True),
                  pose_cfg=dict(type='HeatmapHead', out_channels=K, deconv_out_channels=None, in_channels=8,
                                decoder=dict(type='MSRAHeatmap', input_size=(12, 16), heatmap_size=(3, 4),
                                             sigma=1.0))),
        test_cfg=dict(flip_test=False, output_keypoint_indices=[2, 0], output_heatmaps=True)))
    model.eval()
    with torch.no_grad():
        out = model(torch.rand(2, 3, 16, 12), _samples(), mode='predict')
    p = out[0].pred_instances
    assert p.keypoints.shape == (1, 2, 2) and p.keypoint_scores.shape == (1, 2)
    assert p.keypoints_visible.shape == (1, 2)
    assert out[0].pred_heatmaps.shape == (2, 4, 3)
    # the model's metainfo decides the flip of its channels, whatever the samples' layout says
    model.dataset_meta = dict(flip_indices=FLIP_INDICES)
    model.test_cfg['flip_test'] = True
    samples = _samples()
    for smp in samples:
        smp.set_metainfo(dict(flip_indices=[1, 0]))
    with torch.no_grad():
        out = model(torch.rand(2, 3, 16, 12), samples, mode='predict')
    assert out[1].pred_instances.keypoints.shape == (1, 2, 2)
    model.test_cfg['output_keypoint_indices'] = [5]
    with pytest.raises(ValueError, match='output_keypoint_indices'):
        model(torch.rand(1, 3, 16, 12), _samples(1), mode='predict')


def test_coco_aic_metainfo_is_coco_plus_head_top_and_neck():
    coco = parse_pose_metainfo(dict(from_file='configs/_base_/datasets/coco.py'))
    both = parse_pose_metainfo(dict(from_file='configs/_base_/datasets/coco_aic.py'))
    assert both['num_keypoints'] == 19
    assert [both['keypoint_id2name'][i] for i in range(17)] == [coco['keypoint_id2name'][i] for i in range(17)]
    assert (both['keypoint_id2name'][17], both['keypoint_id2name'][18]) == ('head_top', 'neck')
    assert list(both['flip_indices']) == list(coco['flip_indices']) + [17, 18]
    assert len(both['sigmas']) == len(both['dataset_keypoint_weights']) == 19


# -- Albumentation, ExpMomentumEMA -----------------------------------------------------------------------------------
def test_albumentation_builtin_steps_keep_shape_and_dtype():
    img = np.random.default_rng(0).integers(1, 255, (32, 24, 3), dtype=np.uint8)
    off = TRANSFORMS.build(dict(type='Albumentation', transforms=[dict(type='Blur', p=0.0),
                                                                   dict(type='MedianBlur', p=0.0)]))
    assert np.array_equal(off(dict(img=img.copy()))['img'], img)
    drop = TRANSFORMS.build(dict(type='Albumentation', transforms=[dict(
        type='CoarseDropout', max_holes=1, max_height=0.4, max_width=0.4, min_holes=1, min_height=0.2,
        min_width=0.2, p=1.0), dict(type='Blur', p=1.0), dict(type='MedianBlur', p=1.0)]))
    np.random.seed(0)
    out = drop(dict(img=img.copy()))['img']
    assert out.shape == img.shape and out.dtype == np.uint8 and not np.array_equal(out, img)
    hole = TRANSFORMS.build(dict(type='Albumentation', transforms=[dict(
        type='CoarseDropout', max_holes=1, max_height=0.5, max_width=0.5, min_holes=1, p=1.0)]))
    assert (hole(dict(img=img.copy()))['img'] == 0).all(axis=2).sum() == 16 * 12
    with pytest.raises(ValueError, match='blur_limit'):
        TRANSFORMS.build(dict(type='Albumentation', transforms=[dict(type='Blur', blur_limit=4)]))


def test_ema_hook_exp_momentum_schedule():
    hook = visioncraft.registry.HOOKS.build(dict(type='EMAHook', ema_type='ExpMomentumEMA', momentum=0.0002,
                                                 gamma=2000))
    assert hook.current_momentum() == pytest.approx(0.9998 * math.exp(-1 / 2000) + 0.0002)
    hook.steps = 10 ** 6
    assert hook.current_momentum() == pytest.approx(0.0002)
    with pytest.raises(ValueError, match='ema_type'):
        visioncraft.registry.HOOKS.build(dict(type='EMAHook', ema_type='Nope'))
