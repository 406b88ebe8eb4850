"""MMDetection 2.x's Cityscapes test line, `tools/test.py configs/cityscapes/mask_rcnn_r50_fpn_1x_cityscapes.py CKPT
--format-only --options "txtfile_prefix=./mask_rcnn_cityscapes_test_results"`: the test_evaluator becomes a
CityscapesMetric that only writes the txt / png files into that folder."""
from __future__ import annotations

from pathlib import Path

import pytest

from visioncraft.cli.test import build_parser, prepare_config
from visioncraft.config import ConfigError

REPO = Path(__file__).resolve().parents[2]
CONFIG = str(REPO / 'configs' / 'cityscapes' / 'mask_rcnn_r50_fpn_1x_cityscapes.py')
CKPT = 'checkpoints/mask_rcnn_r50_fpn_1x_cityscapes_20200227-afe51d5a.pth'


def _prepare(*flags):
    return prepare_config(build_parser().parse_args([CONFIG, CKPT, *flags]))


def test_format_only_txtfile_prefix_makes_a_format_only_cityscapes_metric():
    cfg = _prepare('--format-only', '--options', 'txtfile_prefix=./mask_rcnn_cityscapes_test_results')
    assert cfg['test_evaluator'] == dict(type='CityscapesMetric', format_only=True,
                                         txtfile_prefix='./mask_rcnn_cityscapes_test_results')
    # with a config override beside it (the config is loaded again with it): the mapping still holds
    cfg = _prepare('--format-only', '--options', 'txtfile_prefix=./r', 'test_dataloader.batch_size=2')
    assert cfg['test_evaluator']['type'] == 'CityscapesMetric' and cfg['test_dataloader']['batch_size'] == 2


def test_txtfile_prefix_without_format_only_or_with_json_results_is_an_error():
    with pytest.raises(ConfigError, match='txtfile_prefix=DIR: the Cityscapes result files are written with '
                                          '--format-only'):
        _prepare('--options', 'txtfile_prefix=./r')
    with pytest.raises(ConfigError, match='writes the Cityscapes txt / png files only'):
        _prepare('--format-only', '--options', 'txtfile_prefix=./r', 'jsonfile_prefix=./j')


def test_eval_cityscapes_adds_an_evaluating_cityscapes_metric():
    cfg = _prepare('--eval', 'bbox', 'cityscapes', '--options', 'txtfile_prefix=./r')
    coco, cityscapes = cfg['test_evaluator']
    assert coco['type'] == 'CocoMetric' and coco['metric'] == ['bbox']
    assert cityscapes == dict(type='CityscapesMetric', txtfile_prefix='./r')
    assert _prepare('--eval', 'cityscapes')['test_evaluator'] == dict(type='CityscapesMetric')
