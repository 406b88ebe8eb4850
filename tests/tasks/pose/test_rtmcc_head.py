"""RTMCCHead / SimCCHead (SimCC heads), the GAU block and KLDiscretLoss; an RTMPose-style estimator end to end."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

import visioncraft  # noqa: F401  (fills the registries)
from conftest import assert_gradient_step_lowers_loss, saved_state_dict
from visioncraft.registry import KEYPOINT_CODECS, MODELS
from visioncraft.structures import DataSample, InstanceData
from visioncraft.tasks.pose.models.gau import RTMCCBlock, ScaleNorm
from visioncraft.tasks.pose.models.rtmcc_head import simcc_pck_accuracy

K = 3
FLIP_INDICES = [0, 2, 1]
INPUT = (24, 32)                     # (w, h): Wx = 48, Hy = 64 bins at split ratio 2
FEAT = (3, 4)                        # (w, h) of the stride-8 feature map
CODEC = dict(type='SimCCLabel', input_size=INPUT, sigma=(2.0, 2.0), simcc_split_ratio=2.0, normalize=False)


def rtmcc_cfg(**over) -> dict:
    cfg = dict(type='RTMCCHead', in_channels=8, out_channels=K, input_size=INPUT, in_featuremap_size=FEAT,
               simcc_split_ratio=2.0, final_layer_kernel_size=3,
               gau_cfg=dict(hidden_dims=16, s=8, expansion_factor=2, dropout_rate=0., drop_path=0., act_fn='SiLU',
                            use_rel_bias=False, pos_enc=False),
               loss=dict(type='KLDiscretLoss', use_target_weight=True, beta=10., label_softmax=True),
               decoder=CODEC)
    cfg.update(over)
    return cfg


def samples_with_targets(keypoints: np.ndarray, visible: np.ndarray | None = None) -> list[DataSample]:
    """keypoints (B, K, 2) input px -> DataSamples as GenerateTarget(SimCCLabel) + PackPoseInputs make them."""
    codec = KEYPOINT_CODECS.build(CODEC)
    out = []
    for i, kpts in enumerate(keypoints):
        enc = codec.encode(kpts[None], None if visible is None else visible[i:i + 1])
        s = DataSample(metainfo=dict(flip_indices=FLIP_INDICES, input_size=INPUT))
        s.gt_instance_labels = InstanceData(**{k: torch.from_numpy(v) for k, v in enc.items()})
        out.append(s)
    return out


# -- KLDiscretLoss --------------------------------------------------------------------------------------------------
def test_kl_discret_loss_hand_checked():
    loss = MODELS.build(dict(type='KLDiscretLoss', use_target_weight=True, beta=1.0, label_softmax=False))
    # keypoint 0: uniform prediction over 3 bins, one-hot target -> KL = log 3, mean over the 3 bins = log 3 / 3,
    # on both axes; keypoint 1 has weight 0. Sum over axes / K (= 2): (2 log 3 / 3) / 2
    pred = torch.zeros(1, 2, 3)
    gt = torch.tensor([[[1.0, 0, 0], [0, 1.0, 0]]])
    w = torch.tensor([[1.0, 0.0]])
    assert loss((pred, pred), (gt, gt), w).item() == pytest.approx(math.log(3) / 3, rel=1e-6)
    # target = softmax(pred): KL 0
    logits = torch.tensor([[[0.3, -1.0, 2.0, 0.5]]])
    t = torch.softmax(logits, dim=-1)
    assert loss((logits, logits), (t, t), torch.ones(1, 1)).item() == pytest.approx(0.0, abs=1e-7)
    # beta / label_softmax / label_beta by hand with numpy, weights 0.5 and 2, both axes different
    rtm = MODELS.build(dict(type='KLDiscretLoss', beta=10., label_softmax=True, label_beta=10.))
    g = torch.Generator().manual_seed(0)
    px, py = torch.randn(1, 2, 5, generator=g), torch.randn(1, 2, 4, generator=g)
    gx, gy = torch.rand(1, 2, 5, generator=g), torch.rand(1, 2, 4, generator=g)
    w = torch.tensor([[0.5, 2.0]])

    def kl(p, t):
        p, t = p.double().numpy()[0], t.double().numpy()[0]
        logp = 10 * p - np.log(np.exp(10 * p).sum(-1, keepdims=True))
        q = np.exp(10 * t) / np.exp(10 * t).sum(-1, keepdims=True)
        return (q * (np.log(q) - logp)).mean(-1)                                       # (K,)

    want = ((kl(px, gx) + kl(py, gy)) * w.numpy()[0]).sum() / 2
    assert rtm((px, py), (gx, gy), w).item() == pytest.approx(want, rel=1e-5)
    no_w = MODELS.build(dict(type='KLDiscretLoss', beta=10., label_softmax=True, use_target_weight=False))
    assert no_w((px, py), (gx, gy), w).item() == pytest.approx((kl(px, gx) + kl(py, gy)).sum() / 2, rel=1e-5)
    with pytest.raises(ValueError, match='must match the head'):
        rtm((px, py), (gx[..., :4], gy), w)


# -- GAU ------------------------------------------------------------------------------------------------------------
def test_gau_block_shapes_rel_bias_and_residual():
    torch.manual_seed(0)
    block = RTMCCBlock(5, 16, 16, expansion_factor=2, s=8, use_rel_bias=True, pos_enc=True)
    x = torch.randn(2, 5, 16)
    assert block(x).shape == (2, 5, 16)
    bias = block.rel_pos_bias(5)[0]
    # Toeplitz: entry (i, j) = w[j - i + 4]
    assert torch.equal(bias, torch.stack([block.w[4 - i:9 - i] for i in range(5)]))
    # with o = 0 the block is the scaled identity
    torch.nn.init.zeros_(block.o.weight)
    torch.nn.init.constant_(block.res_scale.scale, 2.0)
    assert torch.allclose(block(x), 2 * x)
    narrow = RTMCCBlock(5, 16, 8, s=8)
    assert narrow(x).shape == (2, 5, 8) and not narrow.shortcut
    norm = ScaleNorm(4)
    v = torch.tensor([[3.0, 4.0, 0.0, 0.0]])
    assert torch.allclose(norm(v), v / (5.0 / 2.0))                 # ||v|| / sqrt(4) = 2.5


# -- heads ----------------------------------------------------------------------------------------------------------
def test_rtmcc_head_shapes_names_and_errors():
    head = MODELS.build(rtmcc_cfg())
    x, y = head((torch.randn(2, 8, FEAT[1], FEAT[0]),))
    assert x.shape == (2, K, 48) and y.shape == (2, K, 64)
    names = {n for n, _ in head.named_parameters()}
    assert {'final_layer.weight', 'final_layer.bias', 'mlp.0.g', 'mlp.1.weight', 'gau.uv.weight', 'gau.o.weight',
            'gau.gamma', 'gau.beta', 'gau.ln.g', 'gau.res_scale.scale', 'cls_x.weight', 'cls_y.weight'} == names
    with pytest.raises(ValueError, match='in_featuremap_size'):
        head((torch.randn(1, 8, 5, 5),))
    with pytest.raises(ValueError, match='must agree'):
        MODELS.build(rtmcc_cfg(simcc_split_ratio=3.0))
    with pytest.raises(ValueError, match='unknown keys'):
        MODELS.build(rtmcc_cfg(gau_cfg=dict(hidden=3)))
    simcc = MODELS.build(dict(type='SimCCHead', in_channels=8, out_channels=K, input_size=INPUT,
                              in_featuremap_size=FEAT, deconv_out_channels=None, decoder=CODEC))
    x, y = simcc((torch.randn(2, 8, FEAT[1], FEAT[0]),))
    assert x.shape == (2, K, 48) and y.shape == (2, K, 64)
    # MMPose's default: SimpleBaseline deconvolutions first (here one, so maps of twice FEAT), names as MMPose's
    simcc = MODELS.build(dict(type='SimCCHead', in_channels=8, out_channels=K, input_size=INPUT,
                              in_featuremap_size=FEAT, deconv_out_channels=(16,), deconv_kernel_sizes=(4,),
                              decoder=CODEC))
    x, y = simcc((torch.randn(2, 8, FEAT[1], FEAT[0]),))
    assert x.shape == (2, K, 48) and y.shape == (2, K, 64)
    assert simcc.mlp_head_x.in_features == 4 * FEAT[0] * FEAT[1]
    assert 'deconv_head.deconv_layers.0.weight' in dict(simcc.named_parameters())
    with pytest.raises(ValueError, match='vipnas'):
        MODELS.build(dict(type='SimCCHead', in_channels=8, out_channels=K, input_size=INPUT, in_featuremap_size=FEAT,
                          deconv_type='vipnas'))


TWO_SAMPLES_KEYPOINTS = np.array([[[12, 5], [6.5, 20], [17, 21]], [[11, 8], [4, 26], [20, 24.5]]], np.float32)


def two_samples_head(head_type: str):
    """``(head, feats, samples)``: a seeded RTMCCHead / SimCCHead, random stride-8 features of 2 samples and
    their targets (TWO_SAMPLES_KEYPOINTS)."""
    torch.manual_seed(0)
    cfg = rtmcc_cfg() if head_type == 'RTMCCHead' else dict(
        type='SimCCHead', in_channels=8, out_channels=K, input_size=INPUT, in_featuremap_size=FEAT,
        deconv_out_channels=None, loss=dict(type='KLDiscretLoss', use_target_weight=True, beta=10., label_softmax=True), decoder=CODEC)
    head = MODELS.build(cfg)
    feats = (torch.randn(2, 8, FEAT[1], FEAT[0]),)
    return head, feats, samples_with_targets(TWO_SAMPLES_KEYPOINTS)


@pytest.mark.parametrize('head_type', ['RTMCCHead', 'SimCCHead'])
def test_loss_decreases_when_overfitting_two_samples(head_type):
    """A gradient step lowers the KL loss by its first-order amount (see ``conftest.gradient_step``); the
    weights 150 Adam steps on the two samples give (saved, see tests/data/make_test_weights.py) have under 0.3 of
    the initial loss, every keypoint within the PCK threshold and decoded within 1 input pixel. Neither depends on
    a training trajectory, so all hold on every CPU and thread count."""
    head, feats, samples = two_samples_head(head_type)
    assert_gradient_step_lowers_loss(head, lambda: head.loss(feats, samples)['loss_kpt'])
    with torch.no_grad():
        first = head.loss(feats, samples)['loss_kpt'].item()
        head.load_state_dict(saved_state_dict(f'{head_type.lower()}_two_samples'))
        last = head.loss(feats, samples)
    assert last['loss_kpt'].item() < 0.3 * first
    assert last['acc_pose'].item() == 1.0
    head.eval()
    with torch.no_grad():
        preds = head.predict(feats, samples, dict(flip_test=False))
    got = np.concatenate([p.keypoints for p in preds])
    assert got.shape == (2, K, 2) and np.abs(got - TWO_SAMPLES_KEYPOINTS).max() <= 1.0


def test_predict_flip_test_averages_the_flipped_back_vectors():
    torch.manual_seed(0)
    head = MODELS.build(rtmcc_cfg()).eval()
    f, ff = torch.randn(2, 8, FEAT[1], FEAT[0]), torch.randn(2, 8, FEAT[1], FEAT[0])
    samples = samples_with_targets(np.full((2, K, 2), 10, np.float32))
    with torch.no_grad():
        preds = head.predict([(f,), (ff,)], samples, dict(flip_test=True))
        x, y = head((f,))
        fx, fy = head((ff,))
    # by hand: swap left / right keypoints, reverse the x bins, average
    idx = torch.tensor(FLIP_INDICES)
    ax, ay = (x + fx[:, idx].flip(-1)) / 2, (y + fy[:, idx]) / 2
    want_x, want_y = ax.argmax(-1).float() / 2, ay.argmax(-1).float() / 2
    got = torch.from_numpy(np.concatenate([p.keypoints for p in preds]))
    assert torch.equal(got[..., 0], want_x) and torch.equal(got[..., 1], want_y)
    scores = np.concatenate([p.keypoint_scores for p in preds])
    np.testing.assert_allclose(scores, torch.minimum(ax.max(-1).values, ay.max(-1).values).numpy(), rtol=1e-6)
    with pytest.raises(ValueError, match=r'feats=\[feats, feats_of_flipped_inputs\]'):
        head.predict((f,), samples, dict(flip_test=True))
    no_flip = [DataSample(metainfo=dict(input_size=INPUT)) for _ in range(2)]
    with pytest.raises(ValueError, match='flip_indices'):
        head.predict([(f,), (ff,)], no_flip, dict(flip_test=True))


def test_predict_output_heatmaps_are_outer_products():
    head = MODELS.build(rtmcc_cfg()).eval()
    with torch.no_grad():
        preds, maps = head.predict((torch.randn(2, 8, FEAT[1], FEAT[0]),), None, dict(output_heatmaps=True))
    assert len(maps) == 2 and maps[0].shape == (K, 64, 48)
    nx, ny = preds[0].keypoint_x_labels[0], preds[0].keypoint_y_labels[0]
    np.testing.assert_allclose(maps[0].numpy(), ny[:, :, None] * nx[:, None, :], rtol=1e-6)
    assert nx.min() >= 0 and nx.max() <= 1.0 + 1e-6 and ny.max() <= 1.0 + 1e-6


def test_simcc_acc_pose_hand_checked():
    gt_x, gt_y = torch.zeros(2, 2, 20), torch.zeros(2, 2, 20)
    gt_x[:, :, 4] = gt_y[:, :, 6] = 1.0                                  # every keypoint at bin (4, 6) = px (2, 3)
    pred_x, pred_y = gt_x.clone(), gt_y.clone()
    pred_x[1, 0] = 0
    pred_x[1, 0, 10] = 1.0                                               # 3 px off in x: > 0.05 * 10
    pred_y[0, 1] = -1.0                                                  # max <= 0 -> counted as a miss (MMPose)
    mask = torch.ones(2, 2, dtype=torch.bool)
    # keypoint 0: 1 of 2, keypoint 1: 1 of 2 -> 0.5
    assert simcc_pck_accuracy((pred_x, pred_y), (gt_x, gt_y), 2.0, mask).item() == pytest.approx(0.5)
    mask[1, 0] = mask[0, 1] = False
    assert simcc_pck_accuracy((pred_x, pred_y), (gt_x, gt_y), 2.0, mask).item() == pytest.approx(1.0)


def test_rtmpose_estimator_with_cspnext_trains_and_predicts():
    torch.manual_seed(0)
    model = MODELS.build(dict(
        type='TopdownPoseEstimator',
        backbone=dict(type='CSPNeXt', deepen_factor=0.167, widen_factor=0.125, out_indices=(4,)),
        head=rtmcc_cfg(in_channels=128, in_featuremap_size=(1, 1), final_layer_kernel_size=7),
        test_cfg=dict(flip_test=True)))
    kpts = np.array([[[12, 5], [6.5, 20], [17, 21]], [[11, 8], [4, 26], [20, 24.5]]], np.float32)
    samples = samples_with_targets(kpts)
    for s in samples:
        s.set_metainfo(dict(input_center=np.array([50.0, 60.0]), input_scale=np.array([48.0, 64.0])))
    inputs = torch.randn(2, 3, INPUT[1], INPUT[0])
    losses = model(inputs, samples, mode='loss')
    losses['loss_kpt'].backward()
    assert all(p.grad is not None for p in model.parameters() if p.requires_grad)
    model.eval()
    with torch.no_grad():
        out = model(inputs, samples, mode='predict')
    assert out[0].pred_instances.keypoints.shape == (1, K, 2)
    assert np.isfinite(out[1].pred_instances.keypoint_scores).all()


# -- configs --------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize('path, params, head_channels', [
    ('topdown_heatmap/coco/td-hm_hrnet-w32_8xb64-210e_coco-256x192.py', 28.54e6, 32),
    ('topdown_heatmap/coco/td-hm_hrnet-w48_8xb32-210e_coco-256x192.py', 63.60e6, 48),
    ('rtmpose/coco/rtmpose-s_8xb256-420e_coco-256x192.py', 5.47e6, 512),
    ('rtmpose/coco/rtmpose-t_8xb256-420e_coco-256x192.py', 3.34e6, 384),
])
def test_hrnet_and_rtmpose_configs_build_the_published_models(path, params, head_channels):
    from conftest import REPO, model_cfg_without_pretrained
    from visioncraft.config import Config
    from visioncraft.registry import HOOKS, TRANSFORMS, default_scope
    cfg = Config.fromfile(REPO / 'configs/body_2d_keypoint' / path)
    assert cfg.default_scope == 'mmpose' and cfg.model.head.in_channels == head_channels
    assert cfg.model.backbone.init_cfg.type == 'Pretrained'
    model = MODELS.build(model_cfg_without_pretrained(cfg)).eval()
    assert abs(sum(p.numel() for p in model.parameters()) - params) / params < 0.01
    with torch.no_grad():
        out = model(torch.zeros(1, 3, 256, 192), mode='tensor')
    if 'rtmpose' in path:
        assert cfg.model.head.decoder.type == 'SimCCLabel' and tuple(cfg.model.head.in_featuremap_size) == (6, 8)
        assert tuple(out[0].shape) == (1, 17, 384) and tuple(out[1].shape) == (1, 17, 512)
        assert cfg.optim_wrapper.optimizer.type == 'AdamW' and cfg.train_cfg.max_epochs == 420
        assert [h.type for h in cfg.custom_hooks] == ['EMAHook']
        for h in cfg.custom_hooks:
            HOOKS.build(h)
    else:
        assert cfg.model.head.deconv_out_channels is None and cfg.model.head.decoder.type == 'MSRAHeatmap'
        assert tuple(out.shape) == (1, 17, 64, 48)
    with default_scope(cfg.default_scope):
        for t in list(cfg.train_dataloader.dataset.pipeline) + list(cfg.val_dataloader.dataset.pipeline):
            TRANSFORMS.build(t)
    assert cfg.val_dataloader.dataset.bbox_file.endswith('COCO_val2017_detections_AP_H_56_person.json')
