"""TextDetLocalVisualizer: gt polygons green on the left, predictions red on the right."""
import numpy as np
import torch

import visioncraft  # noqa: F401
from visioncraft.registry import VISUALIZERS
from visioncraft.structures import DataSample, InstanceData


def _sample(scale=1.0, preds=True):
    s = DataSample(metainfo=dict(ori_shape=(300, 400), img_shape=(int(300 * scale), int(400 * scale)),
                                 scale_factor=(scale, scale)))
    s.gt_instances = InstanceData(polygons=[np.array([50, 50, 150, 50, 150, 100, 50, 100], np.float32) * scale,
                                            np.array([200, 200, 250, 200, 250, 250], np.float32) * scale],
                                  ignored=torch.tensor([False, True]), texts=['', ''])
    if preds:
        s.pred_instances = InstanceData(polygons=[np.array([300, 20, 380, 20, 380, 80, 300, 80], np.float32),
                                                  np.array([10, 200, 40, 200, 40, 240, 10, 240], np.float32)],
                                        scores=torch.tensor([0.9, 0.1]))
    return s


def _has(img, color, x0, y0, x1, y1):
    return bool((img[y0:y1, x0:x1] == np.array(color, np.uint8)).all(-1).any())


def test_panels_colours_and_score_threshold():
    vis = VISUALIZERS.build(dict(type='TextDetLocalVisualizer', name='t1'))
    out = vis.draw_sample(np.zeros((300, 400, 3), np.uint8), _sample(), pred_score_thr=0.5)
    assert out.shape == (300, 800, 3)
    gt, pred = out[:, :400], out[:, 400:]
    assert _has(gt, (0, 255, 0), 45, 45, 155, 55)  # gt polygon edge, green
    assert _has(gt, (128, 128, 128), 195, 195, 255, 255)  # do-not-care in grey
    assert not _has(gt, (255, 0, 0), 0, 0, 400, 300)
    assert _has(pred, (255, 0, 0), 295, 15, 385, 25)
    assert not _has(pred, (255, 0, 0), 5, 195, 45, 245)  # score 0.1 < thr
    assert not _has(pred, (0, 255, 0), 0, 0, 400, 300)


def test_gt_in_resized_frame_is_mapped_back_with_rescale_gt_and_single_panel():
    vis = VISUALIZERS.build(dict(type='TextDetLocalVisualizer', name='t2', rescale_gt=True))
    out = vis.draw_sample(np.zeros((300, 400, 3), np.uint8), _sample(scale=0.5, preds=False))
    assert out.shape == (300, 400, 3)
    assert _has(out, (0, 255, 0), 45, 45, 155, 55) and not _has(out, (0, 255, 0), 20, 20, 30, 30)


def test_gt_is_drawn_as_packed_by_default_after_a_resize():
    # the default test pipeline loads the annotations after the resize: gt stays in original pixels
    vis = VISUALIZERS.build(dict(type='TextDetLocalVisualizer', name='t2b'))
    s = _sample(preds=False)
    s.set_metainfo(dict(img_shape=(150, 200), scale_factor=(0.5, 0.5)))
    out = vis.draw_sample(np.zeros((300, 400, 3), np.uint8), s)
    assert _has(out, (0, 255, 0), 45, 45, 155, 55) and not _has(out, (0, 255, 0), 20, 20, 30, 30)


def test_add_datasample_writes_a_file(tmp_path):
    vis = VISUALIZERS.build(dict(type='TextDetLocalVisualizer', name='t3', save_dir=str(tmp_path),
                                 vis_backends=[dict(type='LocalVisBackend')]))
    vis.add_datasample('img', np.zeros((300, 400, 3), np.uint8), _sample())
    assert list(tmp_path.rglob('*.png'))
