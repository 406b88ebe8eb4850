"""The MMOCR user's DBNet workflow end to end on a tiny ICDAR 2015-layout dataset: convert the annotations
with the ICDAR 2015 converter, `tools/train.py` the R-18 recipe for one epoch, then `tools/test.py` with
--save-preds and --show-dir, and check the checkpoint, the hmean metrics, the predictions and the pictures
(ground truth green on the left, predictions red on the right)."""
from __future__ import annotations

import json
import pickle
from pathlib import Path

import cv2
import numpy as np

from conftest import REPO
from visioncraft.cli.converters import main_icdar2015
from visioncraft.cli.main import main as vc_main

CONFIG = REPO / 'configs/textdet/dbnet/dbnet_resnet18_fpnc_1200e_icdar2015.py'
# (h, w) of each image and its quads: (x0, y0, ..., x3, y3, text); '###' is do-not-care
TRAIN = [((96, 128), [(10, 20, 70, 20, 70, 44, 10, 44, 'hello'), (80, 60, 120, 58, 121, 80, 81, 82, '###')]),
         ((64, 96), [(8, 10, 60, 10, 60, 30, 8, 30, 'ab'), (20, 38, 88, 38, 88, 56, 20, 56, 'cd')]),
         ((128, 112), [(12, 16, 100, 16, 100, 48, 12, 48, 'word'), (30, 70, 90, 72, 90, 100, 30, 98, 'x')]),
         ((80, 80), [(6, 8, 70, 8, 70, 34, 6, 34, 'top'), (10, 46, 60, 46, 60, 70, 10, 70, 'low')])]
TEST = [((96, 128), [(16, 14, 110, 14, 110, 44, 16, 44, 'test'), (20, 60, 60, 60, 60, 84, 20, 84, '###')]),
        ((72, 100), [(10, 20, 90, 20, 90, 52, 10, 52, 'two')])]


def _make_icdar2015(root: Path) -> None:
    rng = np.random.default_rng(0)
    for split, items in (('train', TRAIN), ('test', TEST)):
        (root / 'imgs' / split).mkdir(parents=True)
        (root / 'annotations' / split).mkdir(parents=True)
        for i, ((h, w), quads) in enumerate(items, 1):
            img = rng.integers(150, 230, (h, w, 3), dtype=np.uint8)
            lines = []
            for q in quads:
                pts = np.array(q[:8], np.int32).reshape(4, 2)
                cv2.fillPoly(img, [pts], (20, 20, 20))
                lines.append(','.join(str(v) for v in q))
            cv2.imwrite(str(root / 'imgs' / split / f'img_{i}.jpg'), img)
            (root / 'annotations' / split / f'gt_img_{i}.txt').write_text('\ufeff' + '\n'.join(lines) + '\n',
                                                                         encoding='utf-8')


def test_dbnet_mmocr_workflow_train_test_metrics_preds_pictures(tmp_path):
    root = tmp_path / 'icdar2015'
    _make_icdar2015(root)
    main_icdar2015([str(root)])
    ann = json.loads((root / 'textdet_train.json').read_text())
    assert len(ann['data_list']) == 4 and [i['ignore'] for i in ann['data_list'][0]['instances']] == [False, True]
    assert len(json.loads((root / 'textdet_test.json').read_text())['data_list']) == 2

    wd = tmp_path / 'work'
    data = [f'train_dataloader.dataset.data_root={root}', f'val_dataloader.dataset.data_root={root}',
            f'test_dataloader.dataset.data_root={root}',
            'train_dataloader.batch_size=2', 'train_dataloader.num_workers=0',
            'val_dataloader.num_workers=0', 'test_dataloader.num_workers=0',
            # small pictures keep this test fast: rescale around the tiny images' size, crop, fit 128 x 128
            'train_dataloader.dataset.pipeline.5.scale=(128,96)', 'train_dataloader.dataset.pipeline.7.scale=(128,128)',
            'train_dataloader.dataset.pipeline.8.size=(128,128)', 'test_dataloader.dataset.pipeline.1.scale=(160,128)',
            'val_dataloader.dataset.pipeline.1.scale=(160,128)']
    vc_main(['train', str(CONFIG), '--work-dir', str(wd), '--cfg-options', 'train_cfg.max_epochs=1',
             'model.backbone.init_cfg=None', *data])
    ckpt = wd / 'epoch_1.pth'
    assert ckpt.exists()

    # An untrained model predicts little: low thresholds make it predict boxes, so the picture has a red panel.
    vc_main(['test', str(CONFIG), str(ckpt), '--work-dir', str(wd), '--save-preds', '--show-dir', 'vis',
             '--cfg-options', 'model.backbone.init_cfg=None', '+model.det_head.postprocessor.mask_thr=0.0',
             '+model.det_head.postprocessor.min_text_score=0.0', '+default_hooks.visualization.score_thr=0.0', *data])
    metrics = json.loads(next(wd.glob('*/metrics.json')).read_text())
    assert {'icdar/precision', 'icdar/recall', 'icdar/hmean'} <= set(metrics)
    assert all(0.0 <= metrics[k] <= 1.0 for k in ('icdar/precision', 'icdar/recall', 'icdar/hmean'))

    preds = pickle.loads(next(wd.glob('*/predictions.pkl')).read_bytes())
    assert len(preds) == 2
    for p, ((h, w), _) in zip(sorted(preds, key=lambda p: p['img_path']), TEST):
        polys = p['pred_instances']['polygons']
        assert len(polys) >= 1 and all(np.asarray(q).dtype == np.float32 and len(q) == 8 for q in polys)
        # original-image pixels; MMOCR's DBPostprocessor does not clip the unclipped (grown) polygons to the image,
        # so only their centres must lie inside it
        centres = np.stack([np.asarray(q).reshape(-1, 2).mean(0) for q in polys])
        assert np.isfinite(centres).all()
        assert (centres[:, 0] >= 0).all() and (centres[:, 0] <= w).all() and (centres[:, 1] >= 0).all() \
            and (centres[:, 1] <= h).all()

    pics = sorted(wd.glob('*/vis/*.png'))
    assert [p.stem for p in pics] == ['img_1', 'img_2']
    (h, w), quads = TEST[0]
    pic = cv2.imread(str(pics[0]))[..., ::-1]  # RGB
    factor = pic.shape[1] // (2 * w)  # small images are enlarged by an integer factor
    assert factor >= 1 and pic.shape[:2] == (h * factor, 2 * w * factor)
    left, right = pic[:, :w * factor], pic[:, w * factor:]
    green, red = np.array([0, 255, 0], np.uint8), np.array([255, 0, 0], np.uint8)
    # the first quad's top edge (original pixels (16..110, 14)) is drawn green in the left panel, where the
    # quad is, i.e. not rescaled by the test resize's scale_factor
    y, x0, x1 = 14 * factor, 20 * factor, 100 * factor
    assert (left[y - 1:y + 2, x0:x1] == green).all(-1).any(0).mean() > 0.9
    assert (left == green).all(-1).sum() > 0 and not (left == red).all(-1).any()
    assert not (right == green).all(-1).any()
    # predictions are drawn red in the right panel (with thresholds 0 the untrained model's one quad may grow past
    # the picture on every side, MMOCR's decoding does not clip it: then nothing of it is on the canvas)
    first = sorted(preds, key=lambda p: p['img_path'])[0]['pred_instances']['polygons']
    xy = np.concatenate([np.asarray(q).reshape(-1, 2) for q in first])
    if ((xy[:, 0] >= 0) & (xy[:, 0] < w) & (xy[:, 1] >= 0) & (xy[:, 1] < h)).any():
        assert (right == red).all(-1).any()
