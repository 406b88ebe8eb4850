"""`visioncraft test --show-dir DIR --show-score-thr T`: the pictures leave out predictions scoring below T."""
from __future__ import annotations

import math
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from conftest import tiny_retinanet
from visioncraft.cli.main import main as vc_main
from visioncraft.config import Config
from visioncraft.registry import MODELS
from visioncraft.data.synthetic.det_shapes import DET_SHAPE_CLASSES, generate_det_shapes
from visioncraft.tasks.detection.visualization.det_visualizer import PRED_COLOR


@pytest.fixture(scope='module')
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp('show_thr')
    data = generate_det_shapes(root / 'shapes', num_train=1, num_val=2, image_size=(96, 80), max_objects=3, seed=5)
    pipeline = [dict(type='LoadImageFromFile'), dict(type='Resize', scale=(64, 64), keep_ratio=True),
                dict(type='LoadAnnotations', with_bbox=True), dict(type='PackDetInputs')]
    model = tiny_retinanet()
    model['bbox_head'] = dict(model['bbox_head'], num_classes=len(DET_SHAPE_CLASSES))
    cfg = dict(
        model=model,
        test_dataloader=dict(batch_size=2, num_workers=0, sampler=dict(type='DefaultSampler', shuffle=False),
                             dataset=dict(type='CocoDataset', data_root=str(data),
                                          ann_file='annotations/instances_val.json',
                                          metainfo=dict(classes=DET_SHAPE_CLASSES), pipeline=pipeline,
                                          test_mode=True)),
        test_evaluator=dict(type='CocoMetric', ann_file=str(data / 'annotations' / 'instances_val.json')),
        test_cfg=dict(),
        visualizer=dict(type='DetLocalVisualizer'),
    )
    cfg_path = root / 'tiny_det.py'
    Config(cfg).dump(cfg_path)
    torch.manual_seed(0)
    net = MODELS.build(model)
    ckpt = root / 'tiny_det.pth'
    torch.save({'state_dict': net.state_dict()}, ckpt)
    return dict(root=root, data=data, cfg=cfg_path, ckpt=ckpt)


def _pictures(setup, name: str, thr: str | None) -> dict[str, np.ndarray]:
    wd = setup['root'] / name
    argv = ['test', str(setup['cfg']), str(setup['ckpt']), '--work-dir', str(wd), '--show-dir', 'pics']
    if thr is not None:
        argv += ['--show-score-thr', thr]
    vc_main(argv)
    files = sorted(wd.glob('*/pics/*.png'))
    assert len(files) == 2
    return {f.stem: cv2.imread(str(f))[..., ::-1] for f in files}  # RGB


def _prediction_panel(drawn: np.ndarray, original_path: Path) -> tuple[np.ndarray, np.ndarray]:
    """(right half of the drawing = the predictions, the original image enlarged as the visualizer does)."""
    orig = cv2.imread(str(original_path))[..., ::-1]
    h, w = orig.shape[:2]
    f = math.ceil(256 / max(h, w))
    expected = cv2.resize(orig, (w * f, h * f), interpolation=cv2.INTER_NEAREST)
    assert drawn.shape == (h * f, 2 * w * f, 3)  # ground truth left, predictions right
    return drawn[:, w * f:], expected


def test_show_score_thr_hides_and_keeps_red_boxes(setup):
    # the random RetinaNet scores about 0.01 everywhere: 0.0 keeps every prediction, 0.5 none
    low = _pictures(setup, 'low', '0.0')
    high = _pictures(setup, 'high', '0.5')
    default = _pictures(setup, 'default', None)  # the hook's default, 0.3
    red = np.array(PRED_COLOR, dtype=np.uint8)
    for stem in low:
        original = setup['data'] / 'val' / f'{stem}.png'
        pred_low, expected = _prediction_panel(low[stem], original)
        pred_high, _ = _prediction_panel(high[stem], original)
        np.testing.assert_array_equal(pred_high, expected)  # nothing drawn
        np.testing.assert_array_equal(_prediction_panel(default[stem], original)[0], expected)
        changed = np.any(pred_low != expected, axis=-1)
        assert changed.mean() > 0.05  # boxes and labels drawn
        assert np.all(pred_low[changed] == red, axis=-1).mean() > 0.5  # mostly pure red: boxes, label boxes
        # the ground-truth panel does not depend on the threshold
        np.testing.assert_array_equal(low[stem][:, :expected.shape[1]], high[stem][:, :expected.shape[1]])


def test_show_score_thr_reaches_the_hook_config(setup):
    from visioncraft.cli.test import build_parser, prepare_config
    args = build_parser().parse_args([str(setup['cfg']), str(setup['ckpt']), '--show-dir', 'd',
                                      '--show-score-thr', '0.7'])
    assert prepare_config(args)['default_hooks']['visualization']['score_thr'] == 0.7
    args = build_parser().parse_args([str(setup['cfg']), str(setup['ckpt']), '--show-dir', 'd'])
    assert 'score_thr' not in prepare_config(args)['default_hooks']['visualization']  # the hook's own default


def test_mmdetection_2x_eval_options_and_format_only(setup, tmp_path):
    """The MMDetection guide's `tools/test.py CONFIG CKPT --eval bbox --options "classwise=True"` and
    `--format-only --options "jsonfile_prefix=./results"`."""
    base = ['test', str(setup['cfg']), str(setup['ckpt'])]
    metrics = vc_main(base + ['--work-dir', str(tmp_path / 'a'), '--eval', 'bbox', '--options', 'classwise=True'])
    assert 'coco/bbox_mAP' in metrics
    assert {f'coco/bbox_{c}_precision' for c in DET_SHAPE_CLASSES} <= set(metrics)  # classwise=True reached the metric
    plain = vc_main(base + ['--work-dir', str(tmp_path / 'plain')])
    assert not any(k.endswith('_precision') for k in plain)
    prefix = tmp_path / 'results'
    vc_main(base + ['--work-dir', str(tmp_path / 'b'), '--format-only', '--options', f'jsonfile_prefix={prefix}'])
    assert Path(f'{prefix}.bbox.json').is_file()
    with pytest.raises(SystemExit, match='--format-only writes result files .* jsonfile_prefix=PREFIX'):
        vc_main(base + ['--work-dir', str(tmp_path / 'c'), '--format-only'])
    with pytest.raises(SystemExit, match='txtfile_prefix: Cityscapes'):
        vc_main(base + ['--format-only', '--options', 'txtfile_prefix=./x'])
