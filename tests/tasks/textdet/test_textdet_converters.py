"""ICDAR 2015 -> MMOCR JSON -> PaddleOCR label file -> MMOCR JSON round trip, and the CLI wrappers."""
import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

import visioncraft  # noqa: F401
from visioncraft.registry import DATASETS
from visioncraft.tasks.textdet.datasets import icdar2015_to_mmocr, mmocr_to_paddle, paddle_to_mmocr

REPO = Path(__file__).resolve().parents[3]


def _icdar(root):
    for split in ('train', 'test'):
        (root / 'imgs' / split).mkdir(parents=True)
        (root / 'annotations' / split).mkdir(parents=True)
    cv2.imwrite(str(root / 'imgs/train/img_1.jpg'), np.zeros((30, 60, 3), np.uint8))
    (root / 'annotations/train/gt_img_1.txt').write_text(
        '\ufeff1,2,30,2,30,12,1,12,a,b\n40,1,50,1,50,9,40,9,###\n', encoding='utf-8')
    cv2.imwrite(str(root / 'imgs/test/img_7.jpg'), np.zeros((20, 40, 3), np.uint8))
    (root / 'annotations/test/gt_img_7.txt').write_text('0,0,5,0,5,5,0,5,Ü\n', encoding='utf-8')
    return root


def test_round_trip(tmp_path):
    root = _icdar(tmp_path)
    ann = icdar2015_to_mmocr(str(root / 'imgs/train'), str(root / 'annotations/train'), str(tmp_path / 'a.json'),
                             img_prefix='imgs/train/')
    entry = ann['data_list'][0]
    assert (entry['img_path'], entry['height'], entry['width']) == ('imgs/train/img_1.jpg', 30, 60)
    assert [i['text'] for i in entry['instances']] == ['a,b', '###']
    assert mmocr_to_paddle(str(tmp_path / 'a.json'), str(tmp_path / 'p.txt')) == 1
    line = (tmp_path / 'p.txt').read_text(encoding='utf-8')
    assert line.startswith('imgs/train/img_1.jpg\t')
    back = paddle_to_mmocr(str(tmp_path / 'p.txt'), str(tmp_path / 'b.json'), img_dir=str(root))
    assert back['data_list'] == ann['data_list']
    # the datasets read the same instances from the JSON and the label file
    ds_json = DATASETS.build(dict(type='OCRDataset', ann_file=str(tmp_path / 'a.json')))
    ds_pad = DATASETS.build(dict(type='PaddleOCRDetDataset', label_file_list=str(tmp_path / 'p.txt')))
    assert ds_json.get_data_info(0)['instances'] == ds_pad.get_data_info(0)['instances']


@pytest.mark.slow
def _run_script(script: Path, *args: str) -> int:
    """The tool script as ``python SCRIPT ARGS`` runs it, in this interpreter (a fresh one costs seconds; the
    failing call below shows the scripts as real processes); returns its exit status."""
    import runpy
    argv = sys.argv
    sys.argv = [str(script), *args]
    try:
        runpy.run_path(str(script), run_name='__main__')
    except SystemExit as exc:
        return int(exc.code or 0)
    finally:
        sys.argv = argv
    return 0


def test_cli_wrappers(tmp_path):
    root = _icdar(tmp_path)
    tool = REPO / 'tools/dataset_converters/textdet'
    assert _run_script(tool / 'icdar2015.py', str(root)) == 0
    test = json.loads((root / 'textdet_test.json').read_text(encoding='utf-8'))
    assert test['data_list'][0]['instances'][0]['text'] == 'Ü'
    assert (root / 'textdet_train.json').exists()
    assert _run_script(tool / 'mmocr_to_paddle.py', str(root / 'textdet_test.json'), str(tmp_path / 'p.txt')) == 0
    assert _run_script(tool / 'paddle_to_mmocr.py', str(tmp_path / 'p.txt'), str(tmp_path / 'b.json'),
                       '--img-dir', str(root)) == 0
    assert json.loads((tmp_path / 'b.json').read_text(encoding='utf-8'))['data_list'] == test['data_list']
    bad = subprocess.run([sys.executable, str(tool / 'icdar2015.py'), str(tmp_path / 'nope')], cwd=REPO,
                         capture_output=True, text=True)
    assert bad.returncode == 2 and 'nope' in bad.stderr and 'Traceback' not in bad.stderr


@pytest.mark.slow
def test_icdar2015_base_config_runs_end_to_end(tmp_path):
    """configs/textdet/_base_/datasets/icdar2015.py in the DBNet R-18 recipe: converted data, the DBNet train / test
    pipelines, the metric."""
    import copy

    from visioncraft.config import Config
    from visioncraft.registry import METRICS
    root = tmp_path / 'icdar2015'
    root.mkdir()
    _icdar(root)
    subprocess.run([sys.executable, str(REPO / 'tools/dataset_converters/textdet/icdar2015.py'), str(root)],
                   check=True, cwd=REPO)
    cfg = Config.fromfile(str(REPO / 'configs/textdet/dbnet/dbnet_resnet18_fpnc_1200e_icdar2015.py'))
    assert cfg.icdar2015_textdet_data_root == 'data/icdar2015'
    assert cfg.val_evaluator == dict(type='HmeanIOUMetric')
    cfg = cfg.to_dict()
    train = copy.deepcopy(cfg['train_dataloader']['dataset'])
    train.update(data_root=str(root), filter_cfg=None)  # the tiny images are under min_size
    train['pipeline'][5] = dict(type='RandomResize', scale=(60, 30), ratio_range=(0.5, 3.0), keep_ratio=True)
    ds = DATASETS.build(train)
    out = ds[0]
    assert tuple(out['inputs'].shape) == (3, 640, 640)
    assert len(out['data_samples'].gt_instances) >= 1
    test = copy.deepcopy(cfg['test_dataloader']['dataset'])
    test.update(data_root=str(root))
    sample = DATASETS.build(test)[0]['data_samples']
    gt = sample.gt_instances
    np.testing.assert_allclose(gt.polygons[0], [0, 0, 5, 0, 5, 5, 0, 5])  # original pixels
    sample.pred_instances = type(gt)(polygons=[gt.polygons[0]], scores=torch.tensor([0.9]))
    metric = METRICS.build(cfg['test_evaluator'])
    metric.process(None, [sample])
    assert metric.evaluate(1)['icdar/hmean'] == 1.0
