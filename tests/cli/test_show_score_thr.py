"""`visioncraft test --show-dir DIR --show-score-thr T`: the pictures leave out predictions scoring below T."""
from __future__ import annotations

import json
import math
import os
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from conftest import tiny_mask_rcnn, tiny_retinanet
from visioncraft.cli.main import main as vc_main
from visioncraft.config import Config, ConfigError
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
    with pytest.raises(ConfigError, match='--format-only writes result files .* jsonfile_prefix=PREFIX'):
        vc_main(base + ['--work-dir', str(tmp_path / 'c'), '--format-only'])


def _prepare(argv):
    from visioncraft.cli.test import build_parser, prepare_config
    return prepare_config(build_parser().parse_args(argv))


def test_options_go_to_the_metric_or_the_config_and_unknown_keys_are_errors(setup, monkeypatch):
    """`--options` / `--eval-options KEY=VALUE`: a metric argument goes to the test_evaluator, a config key
    (`test_dataloader.batch_size`, MMDetection 2.x's `dist_params.port`) overrides the config, anything else is
    an error naming the key."""
    monkeypatch.delenv('PORT', raising=False)
    base = [str(setup['cfg']), str(setup['ckpt'])]
    for flag in ('--options', '--eval-options'):
        cfg = _prepare(base + ['--eval', 'bbox', 'segm', flag, 'classwise=True', 'jsonfile_prefix=./r',
                               'test_dataloader.batch_size=1', 'dist_params.port=29501'])
        metric = cfg['test_evaluator']
        assert (metric['metric'], metric['classwise'], metric['outfile_prefix']) == (['bbox', 'segm'], True, './r')
        assert 'jsonfile_prefix' not in metric and cfg['test_dataloader']['batch_size'] == 1
        assert os.environ['PORT'] == '29501'
    with pytest.raises(ConfigError, match=r"--options clswise: neither an argument of the test_evaluator "
                                          r"\(CocoMetric\) nor a config key"):
        _prepare(base + ['--options', 'clswise=True'])
    with pytest.raises(ConfigError, match='--options test_dataloader.batch_sise: neither'):
        _prepare(base + ['--options', 'test_dataloader.batch_sise=1'])


def test_voc_eval_map_and_format_only_needs_a_metric_that_writes_files(setup, tmp_path):
    """`--eval mAP` (the guide's VOC line) sets VOCMetric's metric; VOCMetric writes no result files, so
    `--format-only` and `jsonfile_prefix` on it are errors naming it."""
    cfg = Config.fromfile(setup['cfg'])
    cfg['test_evaluator'] = dict(type='VOCMetric', iou_thrs=0.5)
    voc = tmp_path / 'voc_cfg.py'
    cfg.dump(voc)
    base = [str(voc), str(setup['ckpt'])]
    cfg = _prepare(base + ['--eval', 'mAP', '--options', 'iou_thrs=[0.5,0.75]'])
    assert cfg['test_evaluator'] == dict(type='VOCMetric', iou_thrs=[0.5, 0.75], metric='mAP')
    with pytest.raises(ConfigError, match=r'--format-only: the test_evaluator \(VOCMetric\) cannot write'):
        _prepare(base + ['--format-only', '--options', 'outfile_prefix=./r'])
    with pytest.raises(ConfigError, match=r'--options jsonfile_prefix: neither an argument of the test_evaluator '
                                          r'\(VOCMetric\)'):
        _prepare(base + ['--options', 'jsonfile_prefix=./r'])


def test_format_only_writes_bbox_and_segm_json_for_instance_segmentation(setup, tmp_path, monkeypatch):
    """The guide's `tools/test.py MASK_RCNN_CONFIG CKPT --format-only --options "jsonfile_prefix=./r"`:
    r.bbox.json and r.segm.json, no metric computed."""
    monkeypatch.chdir(tmp_path)
    cfg = Config.fromfile(setup['cfg'])
    model = tiny_mask_rcnn()
    for head in ('bbox_head', 'mask_head'):
        model['roi_head'][head] = dict(model['roi_head'][head], num_classes=len(DET_SHAPE_CLASSES))
    model['test_cfg'] = dict(model.get('test_cfg') or {})
    cfg['model'] = model
    cfg['test_evaluator'] = dict(cfg['test_evaluator'], metric=['bbox', 'segm'])
    cfg.dump(tmp_path / 'mask.py')
    torch.manual_seed(0)
    torch.save({'state_dict': MODELS.build(model).state_dict()}, tmp_path / 'mask.pth')
    metrics = vc_main(['test', 'mask.py', 'mask.pth', '--work-dir', 'wd', '--format-only', '--options',
                       'jsonfile_prefix=./r'])
    assert metrics == {}
    for kind in ('bbox', 'segm'):
        results = json.loads((tmp_path / f'r.{kind}.json').read_text())
        assert isinstance(results, list) and all('score' in r for r in results)
    assert all('segmentation' in r for r in json.loads((tmp_path / 'r.segm.json').read_text()))


def test_the_guides_test_dev_spellings(setup):
    """MMDetection's guide types `--format-only --options ${JSONFILE_PREFIX}` (a bare prefix) and, in its COCO
    test-dev line, `-format-only` with one dash: both mean --format-only --options jsonfile_prefix=PREFIX."""
    base = [str(setup['cfg']), str(setup['ckpt'])]
    for argv in (['--format-only', '--options', './r'], ['-format-only', '--options', 'jsonfile_prefix=./r']):
        metric = _prepare(base + argv)['test_evaluator']
        assert (metric['format_only'], metric['outfile_prefix']) == (True, './r')
    with pytest.raises(SystemExit):
        _prepare(base + ['--options', './r', './s'])
