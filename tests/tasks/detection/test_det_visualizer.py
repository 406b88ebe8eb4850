"""DetLocalVisualizer and show_result: colours, panels, threshold, labels, masks and frames."""
from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch

from visioncraft.registry import VISUALIZERS
from visioncraft.structures import BitmapMasks, DataSample, InstanceData, PolygonMasks
from visioncraft.tasks.detection.visualization import DetLocalVisualizer, show_result
from visioncraft.tasks.detection.visualization.det_visualizer import GT_COLOR

H, W = 300, 400
BG = 60  # flat grey background


def image():
    return np.full((H, W, 3), BG, dtype=np.uint8)


def green(px):
    px = np.asarray(px, dtype=int)
    return (px[..., 1] > 150) & (px[..., 0] < 100) & (px[..., 2] < 100)


def red(px):
    px = np.asarray(px, dtype=int)
    return (px[..., 0] > 150) & (px[..., 1] < 100) & (px[..., 2] < 100)


def edge_pixels(panel, box):
    """Pixels on the four edges of ``box`` (xyxy ints), away from the corners where labels sit."""
    x1, y1, x2, y2 = box
    xs = np.arange(x1 + 12, x2 - 12)
    ys = np.arange(y1 + 12, y2 - 12)
    return np.concatenate([panel[y2, xs], panel[ys, x1], panel[ys, x2], panel[y1 + 0, xs[len(xs) // 2:]]])


def sample(gt_boxes=((50, 60, 150, 160),), gt_labels=(1,), pred=None, meta=None, gt_masks=None, pred_masks=None):
    s = DataSample(metainfo=meta or dict(ori_shape=(H, W), img_shape=(H, W), scale_factor=(1.0, 1.0)))
    if gt_boxes is not None:
        gt = InstanceData(bboxes=torch.tensor(gt_boxes, dtype=torch.float32).reshape(-1, 4),
                          labels=torch.tensor(gt_labels, dtype=torch.int64))
        if gt_masks is not None:
            gt.masks = gt_masks
        s.gt_instances = gt
    if pred is not None:
        boxes, scores, labels = pred
        p = InstanceData(bboxes=torch.tensor(boxes, dtype=torch.float32).reshape(-1, 4),
                         scores=torch.tensor(scores, dtype=torch.float32),
                         labels=torch.tensor(labels, dtype=torch.int64))
        if pred_masks is not None:
            p.masks = pred_masks
        s.pred_instances = p
    return s


def test_registered_and_side_by_side_colours_and_threshold():
    vis = VISUALIZERS.build(dict(type='DetLocalVisualizer'))
    assert isinstance(vis, DetLocalVisualizer)
    vis.dataset_meta = dict(classes=('cat', 'dog'))
    hi, lo = (220, 100, 360, 260), (30, 200, 120, 280)
    s = sample(pred=([hi, lo], [0.9, 0.1], [0, 1]))
    out = vis.draw_sample(image(), s, pred_score_thr=0.3)
    assert out.shape == (H, 2 * W, 3) and out.dtype == np.uint8
    left, right = out[:, :W], out[:, W:]
    # ground truth, green, on the left only
    assert green(edge_pixels(left, (50, 60, 150, 160))).all()
    assert not green(edge_pixels(right, (50, 60, 150, 160))).any()
    # the high-score prediction, red, on the right only
    assert red(edge_pixels(right, hi)).all()
    assert not red(left).any()
    # the low-score prediction is not drawn: its box region is untouched background
    x1, y1, x2, y2 = lo
    assert (right[y1 - 3:y2 + 4, x1 - 3:x2 + 4] == BG).all()
    # at threshold 0.05 it is
    out2 = vis.draw_sample(image(), s, pred_score_thr=0.05)
    assert red(edge_pixels(out2[:, W:], lo)).all()


def test_single_panel_when_one_side_only():
    vis = DetLocalVisualizer()
    s = sample(pred=([(220, 100, 360, 260)], [0.9], [0]))
    assert vis.draw_sample(image(), s, draw_gt=False).shape == (H, W, 3)
    assert vis.draw_sample(image(), s, draw_pred=False).shape == (H, W, 3)
    assert vis.draw_sample(image(), sample()).shape == (H, W, 3)  # gt only
    assert (vis.draw_sample(image(), None) == BG).all()


def test_label_text_box_near_corner():
    vis = DetLocalVisualizer()
    vis.dataset_meta = dict(classes=('cat', 'dog'))
    out = vis.draw_sample(image(), sample(pred=([(220, 100, 360, 260)], [0.87], [0])))
    left, right = out[:, :W], out[:, W:]
    # gt label "dog" sits on a filled green box just above the top-left corner (50, 60)
    region = left[60 - 14:60 - 1, 50:70]
    assert green(region).mean() > 0.4          # the filled background box
    assert (~green(region) & (region != BG).any(-1)).any()  # and dark text on it
    # the prediction's label "cat 0.87" on red above (220, 100), wider than the class name alone
    region = right[100 - 14:100 - 1, 220:262]
    assert red(region).mean() > 0.4 and (region.max(-1) > 200).any()
    # with no classes the index is written instead; the label box is still there
    vis.dataset_meta = {}
    out = vis.draw_sample(image(), sample())
    assert green(out[60 - 14:60 - 1, 50:58]).mean() > 0.4


def test_label_moves_inside_when_box_touches_top():
    out = DetLocalVisualizer().draw_sample(image(), sample(gt_boxes=[(100, 0, 200, 100)]))
    assert green(out[3:14, 101:106]).mean() > 0.5  # label "1" inside the box, below its top edge


@pytest.mark.parametrize('kind', ['bitmap', 'polygon', 'tensor', 'array_resized'])
def test_masks_tint_inside_only(kind):
    m = np.zeros((H, W), dtype=np.uint8)
    m[100:200, 150:300] = 1
    if kind == 'bitmap':
        gt_masks = BitmapMasks(m[None], H, W)
    elif kind == 'polygon':
        gt_masks = PolygonMasks([[[150, 100, 300, 100, 300, 200, 150, 200]]], H, W)
    elif kind == 'tensor':
        gt_masks = torch.from_numpy(m[None].astype(bool))
    else:  # half resolution: resized to the image
        gt_masks = m[None, ::2, ::2].copy()
    s = sample(gt_boxes=[(10, 250, 60, 290)], gt_labels=[0], gt_masks=gt_masks)
    out = DetLocalVisualizer(alpha=0.5).draw_sample(image(), s)
    inside = out[110:190, 160:290]
    assert (inside[..., 1] > BG + 50).all() and (inside[..., 0] < BG).all()  # tinted green
    outside = out.copy()
    outside[98:203, 148:303] = BG     # the mask (with a pixel of tolerance for polygon rasterization)
    outside[230:295, 5:70] = BG       # the box and its label
    assert (outside == BG).all()


def test_pred_masks_red_and_filtered_by_score():
    masks = torch.zeros(2, H, W, dtype=torch.bool)
    masks[0, 50:100, 50:100] = True
    masks[1, 200:250, 200:250] = True
    s = sample(gt_boxes=None, pred=([(40, 40, 110, 110), (190, 190, 260, 260)], [0.8, 0.2], [0, 0]),
               pred_masks=masks)
    out = DetLocalVisualizer().draw_sample(image(), s)
    assert out.shape == (H, W, 3)
    assert (out[60:90, 60:90, 0] > BG + 50).all()
    assert (out[200:250, 200:250] == BG).all()


def test_gt_mapped_back_with_scale_factor_and_flip():
    # packed at half size: gt (25, 30, 75, 80) in the 150 x 200 input is (50, 60, 150, 160) in the original
    meta = dict(ori_shape=(H, W), img_shape=(H // 2, W // 2), scale_factor=(0.5, 0.5))
    s = sample(gt_boxes=[(25, 30, 75, 80)], meta=meta)
    out = DetLocalVisualizer().draw_sample(image(), s)
    assert green(edge_pixels(out, (50, 60, 150, 160))).all()
    assert not green(out[75:85, 20:30]).any()  # nothing at the unmapped left edge
    # horizontal flip in the 200-wide input: x -> 200 - x, undone before the rescale
    meta_f = dict(meta, flip=True, flip_direction='horizontal')
    s = sample(gt_boxes=[(200 - 75, 30, 200 - 25, 80)], meta=meta_f)
    out = DetLocalVisualizer().draw_sample(image(), s)
    assert green(edge_pixels(out, (50, 60, 150, 160))).all()
    # predictions stay in original pixels
    s = sample(gt_boxes=None, pred=([(50, 60, 150, 160)], [0.9], [0]), meta=meta)
    assert red(edge_pixels(DetLocalVisualizer().draw_sample(image(), s), (50, 60, 150, 160))).all()


def test_drawn_on_the_model_input_instead_of_the_original():
    # the image handed in is the 150 x 200 input: gt drawn as it is, predictions scaled down onto it
    meta = dict(ori_shape=(H, W), img_shape=(H // 2, W // 2), scale_factor=(0.5, 0.5))
    s = sample(gt_boxes=[(25, 30, 75, 80)], meta=meta)
    small = np.full((H // 2, W // 2, 3), BG, dtype=np.uint8)
    out = DetLocalVisualizer(min_draw_size=0).draw_sample(small, s)
    assert green(edge_pixels(out, (25, 30, 75, 80))).all()


def test_small_images_are_enlarged_with_their_boxes():
    s = sample(gt_boxes=[(10, 10, 50, 40)], meta=dict(ori_shape=(64, 80)))
    out = DetLocalVisualizer().draw_sample(np.full((64, 80, 3), BG, np.uint8), s)
    assert out.shape == (64 * 4, 80 * 4, 3)
    assert green(edge_pixels(out, (40, 40, 200, 160))).all()


def test_show_result_writes_png(tmp_path):
    path = tmp_path / 'img.png'
    cv2.imwrite(str(path), image())
    preds = InstanceData(bboxes=torch.tensor([[50., 60., 150., 160.]]), scores=torch.tensor([0.95]),
                         labels=torch.tensor([0]))
    out_file = tmp_path / 'sub' / 'vis.png'
    drawn = show_result(str(path), preds, out_file=out_file, classes=['cat'])
    assert drawn.shape == (H, W, 3)
    back = cv2.imread(str(out_file))[..., ::-1]
    assert np.array_equal(back, drawn)
    assert red(edge_pixels(back, (50, 60, 150, 160))).all()
    # a DataSample with gt too, drawn only when asked for
    s = sample(pred=([(220, 100, 360, 260)], [0.9], [0]))
    assert show_result(image(), s).shape == (H, W, 3)
    assert show_result(image(), s, draw_gt=True).shape == (H, 2 * W, 3)
    assert (show_result(image(), s, score_thr=0.95) == BG).all()
    with pytest.raises(FileNotFoundError):
        show_result(str(tmp_path / 'missing.png'), s)


def test_add_datasample_writes_out_file(tmp_path):
    vis = DetLocalVisualizer()
    vis.dataset_meta = dict(classes=('cat', 'dog'))
    out_file = tmp_path / 'vis' / 'a.png'
    drawn = vis.add_datasample('a', image(), sample(pred=([(220, 100, 360, 260)], [0.9], [0])),
                               out_file=out_file, pred_score_thr=0.5)
    back = cv2.imread(str(out_file))[..., ::-1]
    assert back.shape == (H, 2 * W, 3) and np.array_equal(back, drawn)
    assert green(edge_pixels(back[:, :W], (50, 60, 150, 160))).all()
    assert red(edge_pixels(back[:, W:], (220, 100, 360, 260))).all()


def test_gt_masks_padded_and_flipped_are_mapped_back():
    # input 150 x 200 padded to 160 x 208, flipped horizontally; the mask covers x 10..40 of the input
    meta = dict(ori_shape=(H, W), img_shape=(H // 2, W // 2), pad_shape=(160, 208), scale_factor=(0.5, 0.5),
                flip=True, flip_direction='horizontal')
    m = np.zeros((1, 160, 208), dtype=np.uint8)
    m[0, 50:100, 200 - 40:200 - 10] = 1
    s = sample(gt_boxes=[(200 - 40, 50, 200 - 10, 100)], gt_labels=[0], gt_masks=BitmapMasks(m), meta=meta)
    out = DetLocalVisualizer().draw_sample(image(), s)
    assert (out[110:190, 30:70, 1] > BG + 50).all()      # original x 20..80, y 100..200
    assert (out[110:190, 90:W] == BG).all() and (out[110:190, :15] == BG).all()


@pytest.mark.parametrize('flip', [False, True])
def test_real_pipeline_gt_lands_on_the_original_image(tmp_path, flip):
    """Resize x3 (+ flip) + Pad + PackDetInputs, then drawn on the file read back as the hook does."""
    from det_data_factory import make_coco

    from visioncraft.engine.hooks.visualization_hook import sample_image
    from visioncraft.tasks.detection.datasets import CocoDataset
    make_coco(tmp_path)
    pipeline = [dict(type='LoadImageFromFile'), dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
                dict(type='Resize', scale_factor=3.0, keep_ratio=True),
                dict(type='RandomFlip', prob=1.0 if flip else 0.0, direction='horizontal'),
                dict(type='Pad', size_divisor=32), dict(type='PackDetInputs')]
    ds = CocoDataset(ann_file='instances.json', data_root=str(tmp_path), data_prefix=dict(img='images/'),
                     pipeline=pipeline)
    idx = next(i for i in range(len(ds)) if ds.get_data_info(i)['img_path'].endswith('d.jpg'))
    packed = ds[idx]
    s = packed['data_samples']
    img = sample_image(s, packed, 0)
    assert img.shape[:2] == (64, 64)
    out = DetLocalVisualizer(min_draw_size=0, alpha=0.0).draw_sample(img, s)
    # bicycle [10, 10, 30, 30] (xywh) in the original 64 x 64 image: edges at x = 10 and 40
    # and y = 10 and 40 (the file has its own green shapes: look for the exact box colour; the labels
    # sit inside the bicycle's top-left corner and above the dog's at (40, 40))
    pure = (out == np.array(GT_COLOR)).all(-1)
    assert pure[28:38, 10].all() and pure[12:22, 40].all() and pure[40, 20:39].all()
    assert not pure[28:38, 11:40].any() and not pure[28:38, :10].any()
