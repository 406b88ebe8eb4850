"""configs/quickstart/textdet_synth.py (the text-detection quickstart): it loads, builds a small DBNet, generates
its data deterministically on first use, and trains, evaluates and draws end to end through the CLI (on a tiny
data set here)."""
from __future__ import annotations

import json
import pickle
from pathlib import Path

import numpy as np

from conftest import REPO, train_losses
from visioncraft.cli.main import main as vc_main
from visioncraft.config import Config
from visioncraft.registry import DATASETS, MODELS

CONFIG = REPO / 'configs' / 'quickstart' / 'textdet_synth.py'
LOADERS = ('train_dataloader', 'val_dataloader', 'test_dataloader')


def tiny_data_options(root: Path, num_train: int = 4, num_val: int = 3) -> list[str]:
    """--cfg-options that move the quickstart's data to ``root`` and shrink it (every loader must agree, or
    one dataset would regenerate the folder with the other's settings)."""
    opts = []
    for loader in LOADERS:
        ds = f'{loader}.dataset'
        opts += [f'{ds}.data_root={root}', f'{ds}.num_train={num_train}', f'{ds}.num_val={num_val}',
                 f'{ds}.size=[128,128]', f'{loader}.batch_size=2', f'{loader}.num_workers=0']
    opts += ['train_dataloader.persistent_workers=False']
    return opts


def test_config_loads_and_builds_a_small_dbnet_with_exact_unshrink():
    cfg = Config.fromfile(CONFIG)
    assert cfg.model['type'] == 'DBNet' and cfg.model['backbone']['type'] == 'TinyDetBackbone'
    assert cfg.model['det_head']['codec']['unclip_ratio'] is None
    assert cfg.val_evaluator['type'] == 'HmeanIOUMetric' and cfg.optim_wrapper['optimizer']['type'] == 'AdamW'
    keys = ('type', 'data_root', 'num_train', 'num_val', 'size', 'seed')
    assert len({tuple(str(cfg[k]['dataset'].get(x)) for x in keys) for k in LOADERS}) == 1
    assert all(int(v) <= 320 for v in cfg.train_dataloader['dataset']['size'])
    model = MODELS.build(cfg.model.to_dict() if hasattr(cfg.model, 'to_dict') else dict(cfg.model))
    assert model.det_head.codec.unclip_ratio is None
    assert sum(p.numel() for p in model.parameters()) < 2_000_000  # stays a CPU-sized model


def test_dataset_generates_deterministically_from_the_config(tmp_path):
    cfg = Config.fromfile(CONFIG)
    trees = []
    for name in ('a', 'b'):
        root = tmp_path / name
        ds_cfg = dict(cfg.train_dataloader['dataset'], data_root=str(root), num_train=3, num_val=2, size=(96, 128))
        ds = DATASETS.build(ds_cfg)
        assert len(ds) >= 1 and ds.metainfo['classes'] == ('text',)
        sample = ds[0]
        assert tuple(sample['inputs'].shape) == (3, 96, 128)
        gt = sample['data_samples'].gt_instances
        assert len(gt.polygons) >= 1 and all(p.dtype == np.float32 and p.size >= 8 for p in gt.polygons)
        trees.append({p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob('*')) if p.is_file()})
    assert trees[0] == trees[1]
    assert len([k for k in trees[0] if k.endswith('.jpg')]) == 5
    assert {'textdet_train.json', 'textdet_val.json', 'train_label.txt', 'val_label.txt'} <= set(trees[0])
    # generate=False only reads what is there
    ds = DATASETS.build(dict(cfg.val_dataloader['dataset'], data_root=str(tmp_path / 'a'), generate=False))
    assert len(ds) == 2


def test_quickstart_trains_evaluates_and_draws_through_the_cli(tmp_path):
    root, wd = tmp_path / 'synth', tmp_path / 'wd'
    # box_thresh=0 / thresh=0.05: an untrained model's maps are low; the pictures and the metric should see text
    opts = tiny_data_options(root) + ['train_cfg.max_epochs=1', 'train_cfg.val_interval=1',
                                      'default_hooks.logger.interval=1',
                                      'model.det_head.codec.box_thresh=0.0', 'model.det_head.codec.thresh=0.05']
    vc_main(['train', str(CONFIG), '--work-dir', str(wd), '--cfg-options', *opts])
    assert (wd / 'epoch_1.pth').exists() and (wd / 'textdet_synth.py').exists()
    losses = train_losses(wd)
    assert sorted(losses) == [1, 2] and all(v == v and v > 0 for v in losses.values())  # 4 images, batch 2
    ckpt = str(wd / 'last_checkpoint')  # the pointer stands for the checkpoint it names
    vc_main(['test', str(CONFIG), ckpt, '--work-dir', str(wd), '--show-dir', 'vis', '--out',
             str(tmp_path / 'preds.pkl'), '--cfg-options', *opts])
    metrics = json.loads(sorted(wd.glob('*/metrics.json'))[-1].read_text())
    assert {'icdar/precision', 'icdar/recall', 'icdar/hmean'} <= set(metrics)
    assert all(0.0 <= metrics[k] <= 1.0 for k in ('icdar/precision', 'icdar/recall', 'icdar/hmean'))
    preds = pickle.loads((tmp_path / 'preds.pkl').read_bytes())
    assert len(preds) == 3 and all('polygons' in p['pred_instances'] for p in preds)
    assert len(list(wd.glob('*/vis/*.png'))) == 3
