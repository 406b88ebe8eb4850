"""PoseLocalVisualizer (panels, keypoints by score, links, boxes, heatmaps, frames) and the visualization hooks
drawing pose samples to files, as `tools/test.py --show-dir` and validation drawing do."""
from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import cv2
import numpy as np
import pytest
import torch

from visioncraft.registry import HOOKS, VISUALIZERS, default_scope
from visioncraft.structures import DataSample, InstanceData
from visioncraft.tasks.pose.visualization import PoseLocalVisualizer, PoseVisualizationHook, heatmaps_to_image

H, W = 60, 80
RED, BLUE, YELLOW, GREEN = (255, 0, 0), (0, 0, 255), (255, 255, 0), (0, 255, 0)
META = dict(num_keypoints=3, keypoint_colors=np.array([RED, BLUE, YELLOW], np.uint8),
            skeleton_links=[(0, 1), (1, 2)], skeleton_link_colors=np.array([GREEN, GREEN], np.uint8))
KPTS = np.array([[[10.0, 10.0], [50.0, 10.0], [50.0, 40.0]]], np.float32)  # 1 x 3 x 2 image px


def _sample(pred_scores=(0.9, 0.8, 0.1), gt=True, pred=True) -> DataSample:
    s = DataSample(metainfo=dict(img_path='x.png', ori_shape=(H, W), img_shape=(H, W), id=7))
    if gt:
        s.gt_instances = InstanceData(keypoints=torch.from_numpy(KPTS + 2),
                                      keypoints_visible=torch.tensor([[1., 1., 0.]]),
                                      bboxes=torch.tensor([[5., 5., 60., 50.]]))
    if pred:
        s.pred_instances = InstanceData(keypoints=KPTS.copy(), keypoint_scores=np.array([pred_scores], np.float32),
                                        bboxes=np.array([[4., 4., 58., 48.]], np.float32),
                                        bbox_scores=np.array([0.95], np.float32))
    return s


def _vis(**kw) -> PoseLocalVisualizer:
    v = PoseLocalVisualizer(radius=2, line_width=1, **kw)
    v.dataset_meta = dict(META)
    return v


def _px(img, x, y):
    return tuple(int(c) for c in img[int(y), int(x)])


def test_gt_left_pred_right_keypoints_by_score_and_links():
    img = np.zeros((H, W, 3), np.uint8)
    out = _vis().draw_sample(img, _sample(), pred_score_thr=0.3)
    assert out.shape == (H, 2 * W, 3) and out.dtype == np.uint8
    gt, pred = out[:, :W], out[:, W:]
    # ground truth (shifted by 2 px): visible keypoints 0 and 1 in their dataset colours, invisible 2 not drawn
    assert _px(gt, 12, 12) == RED and _px(gt, 52, 12) == BLUE
    assert _px(gt, 52, 42) == (0, 0, 0)
    assert _px(gt, 31, 12) == GREEN  # link 0-1, both ends visible
    assert _px(gt, 52, 27) == (0, 0, 0)  # link 1-2: keypoint 2 is not visible
    # a ground-truth keypoint at (0, 0) is "not annotated" (bbox_file test samples carry only those): not drawn
    s = _sample()
    s.gt_instances.keypoints[0, 0] = 0
    assert not _vis().draw_sample(img, s, draw_pred=False)[:3, :3].any()
    # prediction: keypoint 2 scores 0.1 < 0.3 -> neither it nor link 1-2 is drawn
    assert _px(pred, 10, 10) == RED and _px(pred, 50, 10) == BLUE
    assert _px(pred, 50, 40) == (0, 0, 0) and _px(pred, 50, 25) == (0, 0, 0)
    assert _px(pred, 30, 10) == GREEN
    # a lower threshold draws it, with its link
    out2 = _vis().draw_sample(img, _sample(), kpt_thr=0.05)
    assert _px(out2[:, W:], 50, 40) == YELLOW and _px(out2[:, W:], 50, 25) == GREEN


def test_one_panel_explicit_colours_bbox_and_weight():
    img = np.zeros((H, W, 3), np.uint8)
    v = _vis(kpt_color='white', skeleton=[(0, 2)], link_color=(0, 255, 255), bbox_color=(255, 0, 255))
    out = v.draw_sample(img, _sample(pred_scores=(0.9, 0.9, 0.9)), draw_gt=False, draw_bbox=True)
    assert out.shape == (H, W, 3)
    assert _px(out, 10, 10) == (255, 255, 255)
    assert _px(out, 30, 25) == (0, 255, 255)  # the explicit skeleton (0, 2), not the dataset's
    assert _px(out, 30, 10) == (0, 0, 0)  # the dataset's link 0-1 is not used
    assert _px(out, 4, 30) == (255, 0, 255) and _px(out, 30, 48) == (255, 0, 255)  # box edges
    # show_keypoint_weight: a keypoint scoring 0.5 is drawn half opaque
    half = _vis(show_keypoint_weight=True).draw_sample(img, _sample(pred_scores=(0.5, 0.9, 0.9)), draw_gt=False)
    assert _px(half, 10, 12) in ((127, 0, 0), (128, 0, 0))  # below the (half-green) link
    with pytest.raises(ValueError, match='skeleton_style'):
        _vis().draw_sample(img, _sample(), skeleton_style='openpose')
    with pytest.raises(ValueError, match='alpha'):
        PoseLocalVisualizer(alpha=2.0)


def test_no_dataset_meta_defaults_and_none_sample():
    img = np.full((H, W, 3), 30, np.uint8)
    v = PoseLocalVisualizer(radius=2)
    out = v.draw_sample(img, _sample(), draw_gt=False)
    assert _px(out, 10, 10) == RED  # default keypoint colour, no links
    assert _px(out, 30, 10) == (30, 30, 30)
    assert np.array_equal(v.draw_sample(img, None), img)


def test_heatmaps_to_image_and_heatmap_panel():
    hm = np.zeros((2, 16, 12), np.float32)  # K x h x w in the crop frame
    hm[0, 8, 3] = 1.0
    center, scale = np.array([40.0, 30.0]), np.array([24.0, 32.0])  # crop: x 28..52, y 14..46 in the image
    big = heatmaps_to_image(hm, center, scale, (H, W))
    assert big.shape == (2, H, W)
    y, x = np.unravel_index(np.argmax(big[0]), big[0].shape)
    # u=3 -> x = 3 * 24 / 12 + 40 - 12 = 34; v=8 -> y = 8 * 32 / 16 + 30 - 16 = 30
    assert abs(x - 34) <= 1 and abs(y - 30) <= 1
    assert big[1].max() == 0
    s = _sample()
    s.set_metainfo(dict(input_center=center, input_scale=scale, input_size=(12, 16)))
    s.pred_heatmaps = torch.from_numpy(hm)
    img = np.zeros((H, W, 3), np.uint8)
    out = _vis().draw_sample(img, s, draw_heatmap=True)
    assert out.shape == (2 * H, 2 * W, 3)  # heatmap under the prediction, the plain image under the gt
    heat = out[H:, W:]
    assert heat[30, 34, 0] > 32 and heat[5, 5, 0] == 0 and heat[5, 5, 2] > 32  # JET: hot is red, cold blue
    assert not out[H:, :W].any()


def test_keypoints_mapped_into_the_crop_when_given_the_crop():
    s = _sample(gt=False)
    # crop of (w, h) = (40, 30) input pixels covering image x 0..80, y 0..60: scale 0.5
    s.set_metainfo(dict(input_center=np.array([40.0, 30.0]), input_scale=np.array([80.0, 60.0]),
                        input_size=(40, 30)))
    crop = np.zeros((30, 40, 3), np.uint8)
    out = _vis().draw_sample(crop, s)
    assert out.shape == (30, 40, 3)
    assert _px(out, 5, 5) == RED and _px(out, 25, 5) == BLUE


def test_registry_names_and_scope():
    v = VISUALIZERS.build(dict(type='PoseLocalVisualizer', radius=4, vis_backends=[dict(type='LocalVisBackend')]))
    assert isinstance(v, PoseLocalVisualizer) and v.radius == 4
    with default_scope('mmpose'):
        assert VISUALIZERS.get('PoseLocalVisualizer') is PoseLocalVisualizer
        assert HOOKS.get('PoseVisualizationHook') is PoseVisualizationHook
    hook = HOOKS.build(dict(type='PoseVisualizationHook', enable=True, kpt_thr=0.5))
    assert hook.draw and hook.score_thr == 0.5


def _fake_runner(tmp_path: Path, meta: dict) -> SimpleNamespace:
    vis = PoseLocalVisualizer(radius=2, vis_backends=[dict(type='LocalVisBackend')], save_dir=tmp_path / 'vis_data')
    vis.dataset_meta = meta  # what the val / test loop does with the dataset's metainfo
    return SimpleNamespace(visualizer=vis, log_dir=tmp_path, iter=12)


@pytest.mark.parametrize('hook_type', ['VisualizationHook', 'PoseVisualizationHook'])
def test_hooks_draw_gt_and_predictions_to_files(tmp_path, hook_type):
    img_path = tmp_path / 'person.png'
    cv2.imwrite(str(img_path), np.zeros((H, W, 3), np.uint8))
    samples = []
    for inst_id in (3, 4):  # two persons of one image, one top-down sample each
        s = _sample(pred_scores=(0.9, 0.9, 0.9))
        s.set_metainfo(dict(img_path=str(img_path), id=inst_id))
        samples.append(s)
    runner = _fake_runner(tmp_path, dict(META))
    hook = HOOKS.build(dict(type=hook_type, draw=True, test_out_dir='show', out_dir='val_show', interval=1))
    hook.after_test_iter(runner, 0, data_batch=dict(inputs=[None, None]), outputs=samples)
    files = sorted((tmp_path / 'show').glob('*.png'))
    if hook_type == 'PoseVisualizationHook':
        assert [f.name for f in files] == ['person_3.png', 'person_4.png']  # persons do not overwrite each other
    else:
        assert [f.name for f in files] == ['person.png']
    drawn = cv2.imread(str(files[0]))[..., ::-1]
    assert drawn.shape == (H, 2 * W, 3)  # ground truth | prediction
    assert _px(drawn, 12, 12) == RED and _px(drawn, W + 10, 10) == RED and _px(drawn, W + 50, 40) == YELLOW
    assert _px(drawn, W + 30, 10) == GREEN  # skeleton link of the prediction
    hook.after_val_iter(runner, 0, data_batch=dict(inputs=[None]), outputs=samples[:1])
    val_files = list((tmp_path / 'val_show').glob('*.png'))
    assert [f.name for f in val_files] == ['person_12.png']
    assert cv2.imread(str(val_files[0])).shape == (H, 2 * W, 3)
