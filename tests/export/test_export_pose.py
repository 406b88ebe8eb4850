"""Export of top-down pose models and the config-free :class:`PosePredictor`: a heatmap model (HeatmapHead +
MSRAHeatmap) and a SimCC model (RTMCCHead + SimCCLabel), both with the flip test on, exported to ONNX and TorchScript,
give the keypoints and scores of :func:`inference_topdown` + :func:`merge_data_samples` on the checkpoint (the
config's test pipeline, ``model.test_step``) on two small images with given boxes and with none (the whole image).

Tolerance: keypoints within 1e-3 px, scores within 1e-4. The backends run the same network with different kernels
(TorchScript freezing folds BatchNorm into the convolutions, onnxruntime fuses its own): outputs ~1e-6 apart. The
decoders are arg-max based, so a tie between two heatmap pixels (or bins) closer than that could move a keypoint;
the weights are drawn from a seeded generator at O(1) scale (parity holds for any weights), which keeps the maps
far from such ties.
"""
from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

H, W = 96, 120  # the test images
BOXES = {'img0': np.array([[10, 8, 70, 90], [50, 20, 115, 80]], np.float32), 'img1': np.array([[5, 5, 60, 70]],
                                                                                              np.float32)}

_COMMON = """
default_scope = 'mmpose'
model = dict(
    type='TopdownPoseEstimator',
    data_preprocessor=dict(type='PoseDataPreprocessor', mean=[123.675, 116.28, 103.53],
                           std=[58.395, 57.12, 57.375], bgr_to_rgb=True),
    backbone=dict(type='TinyDetBackbone', stem_channels=8, widths=(8, 16), depths=(1, 1), out_indices=(1,)),
    head=HEAD,
    test_cfg=TEST_CFG)
test_pipeline = [dict(type='LoadImage'), dict(type='GetBBoxCenterScale'),
                 dict(type='TopdownAffine', input_size=codec['input_size']), dict(type='PackPoseInputs')]
test_dataloader = dict(batch_size=4, dataset=dict(type='CocoDataset', data_mode='topdown',
                                                  metainfo=dict(from_file='configs/_base_/datasets/coco.py'),
                                                  pipeline=test_pipeline))
"""


def pose_config(codec: str, head: str, test_cfg: str) -> str:
    """A tiny top-down config's text: the codec, the head and the test_cfg (Python source) in _COMMON."""
    return f'codec = {codec}\n' + _COMMON.replace('HEAD', head).replace('TEST_CFG', test_cfg)


CONFIGS = {
    # 48x64 crops, stride-8 features, one deconvolution: 12x16 heatmaps
    'heatmap': pose_config(
        codec="dict(type='MSRAHeatmap', input_size=(48, 64), heatmap_size=(12, 16), sigma=2)",
        head="dict(type='HeatmapHead', in_channels=16, out_channels=17, deconv_out_channels=(8,), "
             "deconv_kernel_sizes=(4,), decoder=codec)",
        test_cfg="dict(flip_test=True, flip_mode='heatmap', shift_heatmap=True)"),
    # RTMPose's head on the 6x8 feature map; 96 x bins and 128 y bins
    'simcc': pose_config(
        codec="dict(type='SimCCLabel', input_size=(48, 64), sigma=(2.0, 2.0), simcc_split_ratio=2.0, normalize=False)",
        head="dict(type='RTMCCHead', in_channels=16, out_channels=17, input_size=codec['input_size'], "
             "in_featuremap_size=(6, 8), simcc_split_ratio=2.0, final_layer_kernel_size=3, "
             "gau_cfg=dict(hidden_dims=32, s=16, expansion_factor=2), decoder=codec)",
        test_cfg="dict(flip_test=True)"),
}


@torch.no_grad()
def seeded_weights(model: torch.nn.Module, seed: int = 0) -> dict[str, torch.Tensor]:
    """A state dict drawn from a generator seeded with ``seed``: weights N(0, 1 / fan_in), biases and BatchNorm
    affines / statistics around their neutral values, so every layer's output is O(1) and varied."""
    g = torch.Generator().manual_seed(seed)
    state = {}
    for name, t in model.state_dict().items():
        if not t.is_floating_point():
            state[name] = t.clone()
        elif name.endswith('running_var'):
            state[name] = torch.rand(t.shape, generator=g) + 0.5
        elif name.endswith('running_mean'):
            state[name] = torch.randn(t.shape, generator=g) * 0.1
        elif t.dim() >= 2:
            fan_in = t[0].numel() if 'deconv' not in name else t.shape[0] * t[0, 0].numel()
            state[name] = torch.randn(t.shape, generator=g) / fan_in ** 0.5
        else:
            state[name] = (1.0 if name.endswith(('.weight', '.g', 'gamma', 'scale')) else 0.0) + \
                torch.randn(t.shape, generator=g) * 0.1
    return state


def images(root: Path) -> dict[str, Path]:
    """Two smooth random BGR pictures (blurred noise: structure at several scales)."""
    rng = np.random.default_rng(3)
    out = {}
    for name in ('img0', 'img1'):
        img = cv2.GaussianBlur(rng.integers(0, 256, (H, W, 3)).astype(np.float32), (0, 0), 2.0)
        img = cv2.normalize(img, None, 0, 255, cv2.NORM_MINMAX).astype(np.uint8)
        out[name] = root / f'{name}.png'
        cv2.imwrite(str(out[name]), img)
    return out


@pytest.fixture(scope='module')
def exported(tmp_path_factory):
    from visioncraft.config import Config
    from visioncraft.export import export_model
    from visioncraft.registry import MODELS, default_scope
    root = tmp_path_factory.mktemp('export_pose')
    imgs = images(root)
    out = dict(imgs=imgs)
    for kind, text in CONFIGS.items():
        cfg_file = root / f'tiny_{kind}.py'
        cfg_file.write_text(text)
        with default_scope('mmpose'):
            model = MODELS.build(Config.fromfile(cfg_file).model)
        ckpt = root / f'tiny_{kind}.pth'
        torch.save({'state_dict': seeded_weights(model)}, ckpt)
        written = export_model(str(cfg_file), str(ckpt), root / f'inference_{kind}')
        out[kind] = dict(cfg=cfg_file, ckpt=ckpt, model_dir=root / f'inference_{kind}', written=written)
    return out


@pytest.mark.parametrize('kind', ['heatmap', 'simcc'])
def test_export_directory(exported, kind):
    import onnx
    d = exported[kind]['model_dir']
    assert set(exported[kind]['written']) == {'torchscript', 'onnx', 'inference.json'}
    info = json.loads((d / 'inference.json').read_text())
    assert info['task'] == 'pose' and info['model_type'] == 'TopdownPoseEstimator'
    assert [s['type'] for s in info['preprocess']['pipeline']] == ['LoadImageFromNDArray', 'GetBBoxCenterScale',
                                                                   'TopdownAffine', 'PackPoseInputs']
    assert info['preprocess']['data_preprocessor']['type'] == 'PoseDataPreprocessor'
    post = info['postprocess']
    assert post['flip_test'] is True and post['num_keypoints'] == 17
    assert post['head_output'] == ('heatmaps' if kind == 'heatmap' else 'simcc')
    assert post['codec']['type'] == ('MSRAHeatmap' if kind == 'heatmap' else 'SimCCLabel')
    assert len(info['dataset_meta']['flip_indices']) == 17 and info['dataset_meta']['skeleton_links']
    graph = onnx.load(str(d / 'model.onnx'))
    dims = [x.dim_param or x.dim_value for x in graph.graph.input[0].type.tensor_type.shape.dim]
    assert dims == ['batch', 3, 64, 48]
    out_dims = [x.dim_param or x.dim_value for x in graph.graph.output[0].type.tensor_type.shape.dim]
    if kind == 'heatmap':
        assert out_dims == ['batch', 17, 16, 12]
    else:  # x logits (96 bins) then y logits (128 bins); ONNX's shape inference leaves K symbolic here
        assert out_dims[0] == 'batch' and out_dims[-1] == 96 + 128


@pytest.mark.parametrize('kind', ['heatmap', 'simcc'])
def test_exported_equals_checkpoint(exported, kind):
    from visioncraft.apis import inference_topdown, init_model, merge_data_samples
    from visioncraft.export import PosePredictor, load_predictor
    e = exported[kind]
    model = init_model(str(e['cfg']), str(e['ckpt']), device='cpu')
    predictors = [PosePredictor(e['model_dir'], backend='onnxruntime'),
                  PosePredictor(e['model_dir'], backend='torchscript')]
    assert isinstance(load_predictor(e['model_dir']), PosePredictor)
    for predictor in predictors:
        assert predictor.dataset_meta['num_keypoints'] == 17
        assert predictor.dataset_meta['flip_indices'] == list(model.dataset_meta['flip_indices'])
    spread = []
    for name, path in exported['imgs'].items():
        img = cv2.imread(str(path))
        for boxes in (BOXES[name], None):
            want = merge_data_samples(inference_topdown(model, img, boxes)).pred_instances
            n = 1 if boxes is None else len(boxes)
            assert want.keypoints.shape == (n, 17, 2)
            spread.append(float(np.ptp(want.keypoints[..., 0])))
            for predictor in predictors:
                got = predictor(img, boxes).pred_instances
                where = f'{kind} {predictor.backend} {name} boxes={boxes is not None}'
                assert got.keypoints.shape == (n, 17, 2) and got.keypoints.dtype == np.float32, where
                np.testing.assert_allclose(got.keypoints, want.keypoints, atol=1e-3, rtol=0, err_msg=where)
                np.testing.assert_allclose(got.keypoint_scores, want.keypoint_scores, atol=1e-4, rtol=0,
                                           err_msg=where)
                np.testing.assert_allclose(got.bboxes, want.bboxes, atol=1e-4, err_msg=where)
                np.testing.assert_allclose(got.bbox_scores, want.bbox_scores, err_msg=where)
    # the keypoints are spread over the boxes (not all on one pixel): the comparison covers the decoding
    assert min(spread) > 5.0, spread


def test_predictor_details(exported):
    from visioncraft.apis import inference_topdown, init_model
    from visioncraft.export import PosePredictor
    e = exported['heatmap']
    predictor = PosePredictor(e['model_dir'], backend='onnxruntime')
    img = cv2.imread(str(exported['imgs']['img0']))
    # xywh boxes and box scores, as inference_topdown reads them
    xywh = BOXES['img0'].copy()
    xywh[:, 2:] -= xywh[:, :2]
    got = predictor(img, xywh, bbox_format='xywh', bbox_scores=[0.9, 0.4]).pred_instances
    ref = predictor(img, BOXES['img0']).pred_instances
    np.testing.assert_allclose(got.keypoints, ref.keypoints, atol=1e-4)
    np.testing.assert_allclose(got.bbox_scores, [0.9, 0.4])
    # no boxes: an empty result of the right shapes
    empty = predictor(img, np.zeros((0, 4))).pred_instances
    assert empty.keypoints.shape == (0, 17, 2) and empty.keypoint_scores.shape == (0, 17)
    # flip test off = the eager model with flip_test off
    model = init_model(str(e['cfg']), str(e['ckpt']), device='cpu', cfg_options={'model.test_cfg.flip_test': False})
    want = inference_topdown(model, img, BOXES['img0'][:1])[0].pred_instances
    got = PosePredictor(e['model_dir'], backend='torchscript', flip_test=False)(img, BOXES['img0'][:1]).pred_instances
    np.testing.assert_allclose(got.keypoints, want.keypoints, atol=1e-3)
    np.testing.assert_allclose(got.keypoint_scores, want.keypoint_scores, atol=1e-4)
    with pytest.raises(ValueError, match='PosePredictor needs a pose export'):
        _not_pose(exported)


def _not_pose(exported):
    """A copy of the heatmap export whose inference.json names another task."""
    from visioncraft.export import PosePredictor
    src = exported['heatmap']['model_dir']
    dst = src.parent / 'not_pose'
    dst.mkdir(exist_ok=True)
    info = json.loads((src / 'inference.json').read_text())
    info['task'] = 'textdet'
    (dst / 'inference.json').write_text(json.dumps(info))
    return PosePredictor(dst, backend='onnxruntime')


def test_cli_export_and_predict(exported, tmp_path):
    from visioncraft.cli.main import main
    e = exported['simcc']
    main(['export', str(e['cfg']), str(e['ckpt']), '--work-dir', str(tmp_path / 'onnx_only'), '--format', 'onnx'])
    assert sorted(p.name for p in (tmp_path / 'onnx_only').iterdir()) == ['inference.json', 'model.onnx']
    img_dir = tmp_path / 'imgs'
    img_dir.mkdir()
    for path in exported['imgs'].values():
        (img_dir / path.name).write_bytes(path.read_bytes())
    results = main(['predict', '--model-dir', str(tmp_path / 'onnx_only'), str(img_dir), '--out-dir',
                    str(tmp_path / 'out')])
    assert set(results) == {'img0.png', 'img1.png'}
    persons = json.loads((tmp_path / 'out' / 'predictions' / 'img0.json').read_text())
    assert len(persons) == 1 and len(persons[0]['keypoints']) == 17 and len(persons[0]['keypoint_scores']) == 17
    assert persons[0]['bbox'] == [[0.0, 0.0, float(W), float(H)]]
    from visioncraft.export import PosePredictor
    want = PosePredictor(e['model_dir'])(cv2.imread(str(exported['imgs']['img0']))).pred_instances
    np.testing.assert_allclose(persons[0]['keypoints'], want.keypoints[0], atol=1e-3)
    drawn = cv2.imread(str(tmp_path / 'out' / 'visualizations' / 'img0.png'))
    assert drawn is not None and drawn.shape == (H, W, 3)
