"""configs/quickstart/det_shapes.py (the README's `make quickstart`): it loads, builds, generates its data
deterministically, and trains, evaluates and draws end to end through the CLI (on a tiny data set here)."""
from __future__ import annotations

import json
import pickle
from pathlib import Path

from conftest import LOADERS, REPO, quickstart_det_options, train_losses
from visioncraft.cli.main import main as vc_main
from visioncraft.config import Config
from visioncraft.registry import DATASETS, MODELS

CONFIG = REPO / 'configs' / 'quickstart' / 'det_shapes.py'


def test_config_loads_and_builds_a_detector_for_its_four_classes():
    cfg = Config.fromfile(CONFIG)
    assert cfg.model['type'] == 'RetinaNet' and cfg.model['backbone']['type'] == 'TinyDetBackbone'
    assert cfg.model['bbox_head']['num_classes'] == 4
    assert cfg.val_evaluator['type'] == 'CocoMetric'
    # the three loaders read the same generated folder with the same generation settings
    keys = ('type', 'data_root', 'num_train', 'num_val')
    assert len({tuple(cfg[k]['dataset'].get(x) for x in keys) for k in LOADERS}) == 1
    assert cfg.val_evaluator['ann_file'].startswith(cfg.train_dataloader['dataset']['data_root'])
    model = MODELS.build(cfg.model.to_dict() if hasattr(cfg.model, 'to_dict') else dict(cfg.model))
    assert model.bbox_head.num_classes == 4
    assert sum(p.numel() for p in model.parameters()) < 3_000_000  # stays a CPU-sized model


def test_dataset_generates_deterministically_from_the_config(tmp_path):
    cfg = Config.fromfile(CONFIG)
    trees = []
    for name in ('a', 'b'):
        ds_cfg = dict(cfg.train_dataloader['dataset'], data_root=str(tmp_path / name), num_train=3, num_val=2)
        ds = DATASETS.build(ds_cfg)
        assert len(ds) == 3 and ds.metainfo['classes'] == ('circle', 'square', 'triangle', 'star')
        sample = ds[0]
        assert tuple(sample['inputs'].shape) == (3, 128, 128) and len(sample['data_samples'].gt_instances) >= 1
        root = tmp_path / name
        trees.append({p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob('*')) if p.is_file()})
    assert trees[0] == trees[1] and len([k for k in trees[0] if k.endswith('.png')]) == 5


def test_quickstart_trains_evaluates_and_draws_through_the_cli(tmp_path):
    root, wd = tmp_path / 'det_shapes', tmp_path / 'wd'
    # score_thr=0: an untrained model's scores are low, and the pictures and the metric should see boxes
    opts = quickstart_det_options(root) + ['train_cfg.max_epochs=1', 'default_hooks.logger.interval=1',
                                      'model.test_cfg.score_thr=0.0']
    vc_main(['train', str(CONFIG), '--work-dir', str(wd), '--cfg-options', *opts])
    assert (wd / 'epoch_1.pth').exists() and (wd / 'det_shapes.py').exists()
    losses = train_losses(wd)
    assert sorted(losses) == [1, 2] and all(v == v and v > 0 for v in losses.values())  # 4 images, batch 2
    ckpt = str(wd / 'last_checkpoint')  # the pointer stands for the checkpoint it names
    vc_main(['test', str(CONFIG), ckpt, '--work-dir', str(wd), '--show-dir', 'vis', '--out',
             str(tmp_path / 'preds.pkl'), '--cfg-options', *opts])
    metrics = json.loads(next(wd.glob('*/metrics.json')).read_text())
    assert {'coco/bbox_mAP', 'coco/bbox_mAP_50', 'coco/bbox_mAP_75'} <= set(metrics)
    assert all(-1.0 <= v <= 1.0 for v in metrics.values())
    preds = pickle.loads((tmp_path / 'preds.pkl').read_bytes())
    assert len(preds) == 3 and all(len(p['pred_instances']['bboxes']) > 0 for p in preds)
    assert len(list(wd.glob('*/vis/*.png'))) == 3
