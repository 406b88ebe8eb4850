"""init_model / inference_topdown / merge_data_samples / PoseInferencer, the top-down demos and `visioncraft pose`,
on a tiny randomly initialised TopdownPoseEstimator and a tiny RetinaNet person detector saved in tmp_path."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from conftest import tiny_retinanet
from visioncraft.apis import PoseInferencer, inference_topdown, init_detector, init_model, merge_data_samples
from visioncraft.config import Config
from visioncraft.registry import MODELS, default_scope, get_default_scope
from visioncraft.structures import DataSample

REPO = Path(__file__).resolve().parents[2]
H, W = 90, 120
INPUT_W, INPUT_H = 48, 64  # the pose model's crop (w, h); heatmaps 12 x 16 (stride 4)

POSE_CONFIG = """
default_scope = 'mmpose'
codec = dict(type='MSRAHeatmap', input_size=(48, 64), heatmap_size=(12, 16), sigma=2)
model = dict(
    type='TopdownPoseEstimator',
    data_preprocessor=dict(type='PoseDataPreprocessor', mean=[123.675, 116.28, 103.53],
                           std=[58.395, 57.12, 57.375], bgr_to_rgb=True),
    backbone=dict(type='TinyDetBackbone', stem_channels=8, widths=(8, 16), depths=(0, 0), out_indices=(1,),
                  init_cfg=dict(type='Pretrained', checkpoint='/nonexistent/never-loaded.pth')),
    head=dict(type='HeatmapHead', in_channels=16, out_channels=17, deconv_out_channels=(8,),
              deconv_kernel_sizes=(4,), loss=dict(type='KeypointMSELoss', use_target_weight=True), decoder=codec),
    test_cfg=dict(flip_test=True, flip_mode='heatmap', shift_heatmap=True),
)
test_pipeline = [
    dict(type='LoadImage'),
    dict(type='GetBBoxCenterScale'),
    dict(type='TopdownAffine', input_size=codec['input_size']),
    dict(type='PackPoseInputs'),
]
test_dataloader = dict(batch_size=4, dataset=dict(type='CocoDataset', data_mode='topdown',
                                                  metainfo=dict(from_file='configs/_base_/datasets/coco.py'),
                                                  pipeline=test_pipeline))
"""

DET_TEST_PIPELINE = [dict(type='LoadImageFromFile'), dict(type='Resize', scale=(64, 64), keep_ratio=True),
                     dict(type='PackDetInputs')]


@pytest.fixture(scope='module')
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp('pose_api')
    pose_cfg = root / 'tiny_pose.py'
    pose_cfg.write_text(POSE_CONFIG)
    torch.manual_seed(0)
    with default_scope('mmpose'):
        model_cfg = Config.fromfile(pose_cfg).model
        model_cfg.backbone.init_cfg = None
        pose = MODELS.build(model_cfg)
    pose_ckpt = root / 'pose.pth'
    torch.save({'state_dict': pose.state_dict()}, pose_ckpt)

    det_cfg = root / 'tiny_det.py'
    det_cfg.write_text(f'model = {tiny_retinanet()!r}\n'
                       f'test_dataloader = dict(batch_size=1, dataset=dict(type="CocoDataset", '
                       f'pipeline={DET_TEST_PIPELINE!r}))\n')
    det = MODELS.build(Config.fromfile(det_cfg).model)
    det_ckpt = root / 'det.pth'
    torch.save({'state_dict': det.state_dict(), 'meta': {'dataset_meta': {'classes': ['person', 'b', 'c']}}},
               det_ckpt)

    rng = np.random.default_rng(0)
    imgs = root / 'imgs'
    imgs.mkdir()
    for i in range(2):
        cv2.imwrite(str(imgs / f'img{i}.png'), rng.integers(0, 255, (H, W, 3), dtype=np.uint8))
    video = root / 'clip.avi'
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*'MJPG'), 5.0, (W, H))
    assert writer.isOpened()
    for _ in range(4):
        writer.write(rng.integers(0, 255, (H, W, 3), dtype=np.uint8))
    writer.release()
    return dict(root=root, pose_cfg=pose_cfg, pose_ckpt=pose_ckpt, det_cfg=det_cfg, det_ckpt=det_ckpt,
                img=imgs / 'img0.png', imgs=imgs, video=video)


@pytest.fixture(scope='module')
def model(files):
    return init_model(files['pose_cfg'], str(files['pose_ckpt']), device='cpu')


def _crop_region(box_xyxy, padding=1.25):
    """The image region GetBBoxCenterScale + TopdownAffine crop for an xyxy box: (x1, y1, x2, y2)."""
    x1, y1, x2, y2 = box_xyxy
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
    w, h = (x2 - x1) * padding, (y2 - y1) * padding
    aspect = INPUT_W / INPUT_H
    if w > h * aspect:
        h = w / aspect
    else:
        w = h * aspect
    return cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2


def _inside(kpts, region, tol=1.0):
    x1, y1, x2, y2 = region
    k = np.asarray(kpts).reshape(-1, 2)
    return bool((k[:, 0] >= x1 - tol).all() and (k[:, 0] <= x2 + tol).all() and (k[:, 1] >= y1 - tol).all()
                and (k[:, 1] <= y2 + tol).all())


def test_init_model_meta_and_scope(files, model):
    assert get_default_scope() is None  # building in the config's scope does not leak it
    assert not model.training and model.cfg.default_scope == 'mmpose'
    meta = model.dataset_meta
    assert meta['num_keypoints'] == 17 and len(meta['flip_indices']) == 17 and meta['skeleton_links']
    assert np.asarray(meta['keypoint_colors']).shape == (17, 3)
    # the checkpoint's dataset_meta wins over the config's
    ckpt = torch.load(files['pose_ckpt'], weights_only=False)
    from visioncraft.engine.runner import _plain  # what the runner writes into checkpoints (weights_only-safe)
    ckpt['meta'] = {'dataset_meta': _plain(dict(meta, dataset_name='custom'))}
    path = files['root'] / 'pose_meta.pth'
    torch.save(ckpt, path)
    from_ckpt = init_model(files['pose_cfg'], str(path)).dataset_meta
    assert from_ckpt['dataset_name'] == 'custom'
    assert from_ckpt['keypoint_colors'].dtype == np.uint8 and from_ckpt['keypoint_colors'].shape == (17, 3)
    assert from_ckpt['keypoint_id2name'][0] == meta['keypoint_id2name'][0]
    # a detector built afterwards still reads its plain 'CocoDataset' as the detection dataset
    det = init_detector(files['det_cfg'], str(files['det_ckpt']), device='cpu')
    assert det.dataset_meta['classes'] == ['person', 'b', 'c']


def test_inference_topdown_shapes_and_back_mapping(files, model):
    boxes = np.array([[10, 20, 50, 80], [60, 5, 110, 60]], np.float32)
    out = inference_topdown(model, str(files['img']), boxes)
    assert len(out) == 2 and all(isinstance(s, DataSample) for s in out)
    for s, box in zip(out, boxes):
        pred = s.pred_instances
        assert pred.keypoints.shape == (1, 17, 2) and pred.keypoint_scores.shape == (1, 17)
        np.testing.assert_allclose(np.asarray(pred.bboxes).reshape(4), box)
        assert _inside(pred.keypoints, _crop_region(box))
        assert tuple(s.metainfo['ori_shape']) == (H, W)
    # the same boxes as xywh, and from an array instead of a file
    xywh = boxes.copy()
    xywh[:, 2:] -= xywh[:, :2]
    again = inference_topdown(model, cv2.imread(str(files['img'])), xywh, bbox_format='xywh')
    for a, b in zip(out, again):
        np.testing.assert_allclose(a.pred_instances.keypoints, b.pred_instances.keypoints, atol=1e-4)
    # no boxes: the whole image; empty boxes: nothing
    whole = inference_topdown(model, str(files['img']))
    assert len(whole) == 1 and _inside(whole[0].pred_instances.keypoints, _crop_region((0, 0, W, H)))
    assert inference_topdown(model, str(files['img']), np.zeros((0, 4))) == []
    with pytest.raises(ValueError, match='N x 4'):
        inference_topdown(model, str(files['img']), np.zeros((2, 3)))
    with pytest.raises(FileNotFoundError, match='nope.png'):
        inference_topdown(model, 'nope.png')


def test_back_mapping_of_a_known_heatmap_peak(files, monkeypatch):
    model = init_model(files['pose_cfg'], str(files['pose_ckpt']), cfg_options={'model.test_cfg.flip_test': False})
    hm = torch.zeros(1, 17, 16, 12)
    hm[:, :, 4, 3] = 1.0  # peak at heatmap (u, v) = (3, 4) -> input (12, 16) px

    def fake_forward(feats):
        return hm.expand(feats[0].shape[0], -1, -1, -1).clone()

    monkeypatch.setattr(model.head, 'forward', fake_forward)
    box = (10.0, 20.0, 50.0, 80.0)
    kpts = inference_topdown(model, str(files['img']), np.array([box]))[0].pred_instances.keypoints
    x1, y1, x2, y2 = _crop_region(box)
    expected = (x1 + 12 / INPUT_W * (x2 - x1), y1 + 16 / INPUT_H * (y2 - y1))
    np.testing.assert_allclose(kpts[0], np.tile(expected, (17, 1)), atol=0.5)


def test_merge_data_samples_with_heatmaps(files, model):
    model.test_cfg['output_heatmaps'] = True
    try:
        two = inference_topdown(model, str(files['img']), np.array([[10, 20, 50, 80], [60, 5, 110, 60]]))
        one = inference_topdown(model, str(files['img']), np.array([[10, 20, 50, 80]]))
    finally:
        model.test_cfg['output_heatmaps'] = False
    merged = merge_data_samples(two)
    assert merged.pred_instances.keypoints.shape == (2, 17, 2)
    assert merged.pred_instances.bboxes.shape == (2, 4)
    assert merged.pred_heatmaps.shape == (17, H, W)  # pasted back into the image frame
    single = merge_data_samples(one).pred_heatmaps
    x1, y1, x2, y2 = _crop_region((10, 20, 50, 80))
    assert np.all(single[:, :, int(np.ceil(x2)) + 1:] == 0)  # nothing right of the crop
    assert np.all(single[:, int(np.ceil(y2)) + 1:, :] == 0)  # nor below it
    assert single[:, int(y1) + 2:int(y2) - 1, int(x1) + 2:int(x2) - 1].max() > 0
    assert np.all(merged.pred_heatmaps >= single - 1e-6)  # the maximum over the persons


@pytest.fixture(scope='module')
def inferencer(files):
    return PoseInferencer(str(files['pose_cfg']), str(files['pose_ckpt']), det_model=str(files['det_cfg']),
                          det_weights=str(files['det_ckpt']), det_cat_ids=(0, 1, 2), device='cpu')


def _check_persons(persons):
    assert persons, 'no person found'
    for p in persons:
        assert len(p['keypoints']) == 17 and len(p['keypoint_scores']) == 17
        assert len(p['bbox']) == 1 and len(p['bbox'][0]) == 4 and isinstance(p['bbox_score'], float)
        assert _inside(p['keypoints'], _crop_region(p['bbox'][0]))


def test_inferencer_image_detects_filters_and_writes(files, inferencer, tmp_path):
    img = cv2.imread(str(files['img']))
    boxes, scores = inferencer.detect(img, bbox_thr=0.0, nms_thr=0.3)
    assert len(boxes) >= 1 and np.all(np.diff(scores) <= 0)
    from torchvision.ops import box_iou
    iou = box_iou(torch.from_numpy(boxes), torch.from_numpy(boxes)).fill_diagonal_(0)
    assert float(iou.max()) <= 0.3 + 1e-6  # NMS'd
    none, _ = inferencer.detect(img, bbox_thr=1.01)
    assert len(none) == 0

    results = list(inferencer(str(files['img']), bbox_thr=0.0, out_dir=tmp_path, return_vis=True, draw_bbox=True))
    assert len(results) == 1
    preds = results[0]['predictions']
    assert len(preds) == 1 and len(preds[0]) == len(boxes)
    _check_persons(preds[0])
    assert results[0]['visualization'][0].shape == (H, W, 3)
    assert json.loads((tmp_path / 'predictions' / 'img0.json').read_text()) == preds[0]
    assert cv2.imread(str(tmp_path / 'visualizations' / 'img0.png')).shape == (H, W, 3)
    # a threshold nothing passes: one image, no persons, still a JSON file
    empty = next(inferencer(str(files['img']), bbox_thr=1.01, out_dir=tmp_path / 'none'))
    assert empty['predictions'] == [[]]
    assert json.loads((tmp_path / 'none' / 'predictions' / 'img0.json').read_text()) == []


def test_inferencer_folder_video_and_heatmaps(files, inferencer, tmp_path):
    res = list(inferencer(str(files['imgs']), bbox_thr=0.0, out_dir=tmp_path / 'f', batch_size=2))
    assert len(res) == 1 and len(res[0]['predictions']) == 2
    assert sorted(p.name for p in (tmp_path / 'f' / 'predictions').iterdir()) == ['img0.json', 'img1.json']
    assert sorted(p.name for p in (tmp_path / 'f' / 'visualizations').iterdir()) == ['img0.png', 'img1.png']

    res = list(inferencer(str(files['video']), bbox_thr=0.0, out_dir=tmp_path / 'v', batch_size=3))
    assert [len(r['predictions']) for r in res] == [3, 1]
    frames = json.loads((tmp_path / 'v' / 'predictions' / 'clip.json').read_text())
    assert [f['frame_id'] for f in frames] == [0, 1, 2, 3]
    _check_persons(frames[0]['instances'])
    cap = cv2.VideoCapture(str(tmp_path / 'v' / 'visualizations' / 'clip.avi'))
    n = 0
    while cap.read()[0]:
        n += 1
    cap.release()
    assert n == 4

    # draw_heatmap: the drawing gets the heatmaps under it; the model's test_cfg is restored afterwards
    out = next(inferencer(cv2.imread(str(files['img'])), bbox_thr=0.0, draw_heatmap=True, return_vis=True))
    assert out['visualization'][0].shape == (2 * H, W, 3)
    assert inferencer.pose_model.test_cfg['output_heatmaps'] is False


def test_alias_without_weights_and_bad_inputs(files, inferencer):
    from visioncraft.apis.model_aliases import resolve_pose2d  # PoseInferencer('human') downloads: test_model_index
    cfg = resolve_pose2d('human', 'weights.pth')  # the alias names our COCO-17 config
    assert Path(cfg).is_file() and 'coco-256x192' in Path(cfg).name
    with pytest.raises(FileNotFoundError, match='neither a model alias'):
        PoseInferencer('no_such_model')
    with pytest.raises(FileNotFoundError, match='missing.png'):
        next(inferencer(str(files['root'] / 'missing.png')))
    with pytest.raises(ValueError, match='skeleton_style'):
        next(inferencer(str(files['img']), skeleton_style='openpose'))
    from visioncraft.apis.video import VideoIOError
    with pytest.raises(VideoIOError):  # no display here (or no camera): a clear error, not a hang
        next(inferencer('webcam', show=True))


@pytest.mark.slow
def test_topdown_demo_subprocess(files, tmp_path, capsys):
    out = tmp_path / 'demo_out'
    env = dict(os.environ, PYTHONPATH=str(REPO), OMP_NUM_THREADS='1')
    proc = subprocess.run([sys.executable, str(REPO / 'demo' / 'topdown_demo_with_detector.py'),
                           str(files['det_cfg']), str(files['det_ckpt']), str(files['pose_cfg']),
                           str(files['pose_ckpt']), '--input', str(files['img']), '--output-root', str(out),
                           '--save-predictions', '--device', 'cpu', '--det-cat-id', '0', '--bbox-thr', '0.0',
                           '--draw-bbox', '--show-kpt-idx', '--radius', '2', '--thickness', '2'],
                          capture_output=True, text=True, env=env, cwd=str(tmp_path), timeout=240)
    assert proc.returncode == 0, proc.stderr
    assert cv2.imread(str(out / 'img0.png')).shape == (H, W, 3)
    doc = json.loads((out / 'results_img0.json').read_text())
    assert doc['meta_info']['num_keypoints'] == 17
    for p in doc['instance_info']:
        assert len(p['keypoints']) == 17 and len(p['bbox'][0]) == 4
    # a wrong input is one clear line and exit status 2 (in-process: a second interpreter start is slow here)
    demo = _load_demo('topdown_demo_with_detector')
    from visioncraft.apis.demo_args import run_demo
    with pytest.raises(SystemExit) as exc:
        run_demo(demo.main, [str(files['det_cfg']), str(files['det_ckpt']), str(files['pose_cfg']),
                             str(files['pose_ckpt']), '--input', str(tmp_path / 'missing.jpg'), '--device', 'cpu'])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert 'missing.jpg' in err and 'Traceback' not in err


def _load_demo(name: str):
    import importlib.util
    spec = importlib.util.spec_from_file_location(name, REPO / 'demo' / f'{name}.py')
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_pose_image_demo_and_cli(files, tmp_path):
    demo = _load_demo('pose_image_demo')
    out_file = tmp_path / 'drawn.jpg'
    assert demo.main([str(files['img']), str(files['pose_cfg']), str(files['pose_ckpt']), '--device', 'cpu',
                      '--out-file', str(out_file), '--draw-heatmap']) == 0
    assert cv2.imread(str(out_file)).shape == (2 * H, W, 3)  # the drawing over its heatmaps

    from visioncraft.cli.main import main as cli_main
    res = cli_main(['pose', str(files['imgs']), '--pose2d', str(files['pose_cfg']), '--pose2d-weights',
                    str(files['pose_ckpt']), '--det-model', str(files['det_cfg']), '--det-weights',
                    str(files['det_ckpt']), '--det-cat-ids', '0', '1', '2', '--bbox-thr', '0', '--out-dir',
                    str(tmp_path / 'cli')])
    assert sorted(res) == ['img0.png', 'img1.png']
    _check_persons(res['img0.png'])
    assert (tmp_path / 'cli' / 'predictions' / 'img1.json').is_file()
    assert (tmp_path / 'cli' / 'visualizations' / 'img1.png').is_file()


def test_counts_are_singular_and_an_undrawn_pose_is_reported(files, model, tmp_path, capsys, caplog):
    from visioncraft.cli.main import main as cli_main
    cli_main(['pose', str(files['img']), '--pose2d', str(files['pose_cfg']), '--pose2d-weights',
              str(files['pose_ckpt']), '--out-dir', str(tmp_path / 'one'), '--no-progress', '--device', 'cpu'])
    assert capsys.readouterr().out.strip().splitlines()[-1].startswith('1 image, 1 person in ')  # the whole image
    best = float(np.max(inference_topdown(model, str(files['img']))[0].pred_instances.keypoint_scores))
    alone = PoseInferencer(str(files['pose_cfg']), str(files['pose_ckpt']), device='cpu')
    caplog.clear()
    with caplog.at_level('WARNING', logger='visioncraft'):
        persons = next(alone(str(files['img']), kpt_thr=best + 0.01))['predictions'][0]
    assert len(persons) == 1  # predicted, and returned, but not drawn
    lines = [r.getMessage() for r in caplog.records if 'kpt_thr' in r.getMessage()]
    assert lines == [f'PoseInferencer: img0.png: 1 person found, but no keypoint scores >= kpt_thr={best + 0.01:g}: '
                     f'no keypoint is drawn; best keypoint score {best:.3g}']


def test_exported_pose_directory_as_pose2d(files, inferencer, tmp_path):
    """A pose model written by `visioncraft export` runs in the same inferencer with the checkpoint's keypoints."""
    from visioncraft.export import export_model
    export_model(str(files['pose_cfg']), str(files['pose_ckpt']), tmp_path / 'pose_export', formats=('torchscript',))
    exported = PoseInferencer(str(tmp_path / 'pose_export'), det_model=str(files['det_cfg']),
                              det_weights=str(files['det_ckpt']), det_cat_ids=(0, 1, 2), device='cpu',
                              backend='torchscript')
    assert exported.pose_model is None and exported.dataset_meta['num_keypoints'] == 17
    got = next(exported(str(files['img']), bbox_thr=0.0))['predictions'][0]
    want = next(inferencer(str(files['img']), bbox_thr=0.0))['predictions'][0]
    assert len(got) == len(want) > 0
    for g, w in zip(got, want):
        np.testing.assert_allclose(g['bbox'], w['bbox'], atol=1e-4)
        np.testing.assert_allclose(g['keypoints'], w['keypoints'], atol=1e-2)
        np.testing.assert_allclose(g['keypoint_scores'], w['keypoint_scores'], atol=1e-4)
    with pytest.raises(ValueError, match='an export holds its own weights'):
        PoseInferencer(str(tmp_path / 'pose_export'), str(files['pose_ckpt']))
