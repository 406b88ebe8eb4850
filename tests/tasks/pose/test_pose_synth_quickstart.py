"""The pose quickstart's data and config: PoseSynthDataset generates synthetic people on first use and reads them
as COCO keypoints (top-down entries, pycocotools loads the JSON), and the quickstart config trains its model a few
steps through the Runner and validates with the COCO keypoint metric, on a tiny generated set."""
from __future__ import annotations

import json

import numpy as np
import pytest

import visioncraft  # noqa: F401  (fills the registries)
from conftest import REPO
from visioncraft.config import Config
from visioncraft.registry import DATASETS, default_scope

QUICKSTART = REPO / 'configs/quickstart/pose_synth.py'


@pytest.fixture(scope='module')
def people(tmp_path_factory):
    return tmp_path_factory.mktemp('people')


def test_pose_synth_dataset_generates_and_reads_coco_keypoints(people):
    from pycocotools.coco import COCO
    ds = DATASETS.build(dict(type='PoseSynthDataset', data_root=str(people), num_train=6, num_val=3, seed=2))
    coco = COCO(str(people / 'annotations/person_keypoints_train.json'))
    anns = [a for a in coco.loadAnns(coco.getAnnIds()) if a['num_keypoints'] > 0]
    assert len(ds) == len(anns) > 0
    info = ds.get_data_info(0)
    assert info['keypoints'].shape == (1, 17, 2) and info['bbox'].shape == (1, 4)
    assert info['img_path'].endswith('train/000001.jpg') and info['flip_indices'][1] == 2
    raw = np.asarray(anns[0]['keypoints'], np.float32).reshape(17, 3)
    np.testing.assert_allclose(info['keypoints'][0], raw[:, :2])
    np.testing.assert_array_equal(info['keypoints_visible'][0], (raw[:, 2] > 0).astype(np.float32))
    val = DATASETS.build(dict(type='PoseSynthDataset', data_root=str(people), split='val', num_train=6, num_val=3,
                              seed=2, test_mode=True))
    assert len(val) > 0 and val.get_data_info(0)['img_path'].endswith('val/000001.jpg')
    with pytest.raises(ValueError, match="split must be 'train' or 'val'"):
        DATASETS.build(dict(type='PoseSynthDataset', data_root=str(people), split='test', generate=False))


def test_quickstart_config_trains_and_validates(people, tmp_path):
    from visioncraft.engine import Runner
    cfg = Config.fromfile(QUICKSTART)
    assert cfg.default_scope == 'mmpose' and cfg.model.head.decoder.type == 'UDPHeatmap'
    # UDP targets need the UDP warp in both pipelines (the estimator maps keypoints back with its exact inverse)
    for key in ('train_dataloader', 'val_dataloader'):
        affine = [t for t in cfg[key].dataset.pipeline if t['type'] == 'TopdownAffine']
        assert len(affine) == 1 and affine[0]['use_udp']
    root = str(people)
    for key in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        cfg[key].dataset.update(data_root=root, num_train=6, num_val=3, seed=2)
        cfg[key].update(num_workers=0, persistent_workers=False, batch_size=4)
    cfg.val_evaluator.ann_file = f'{root}/annotations/person_keypoints_val.json'
    cfg.test_evaluator = cfg.val_evaluator
    cfg.train_cfg.max_epochs = 1
    cfg.train_cfg.val_interval = 1
    cfg.param_scheduler = []
    cfg.default_hooks.logger.interval = 1
    cfg.work_dir = str(tmp_path / 'work')
    runner = Runner(cfg)
    runner.train()
    metrics = runner.test()
    assert {'coco/AP', 'coco/AR'} <= set(metrics) and 0.0 <= metrics['coco/AP'] <= 1.0
    scalars = [json.loads(line) for line in next((tmp_path / 'work').glob('*/vis_data/scalars.json')).open()]
    assert any('loss_kpt' in s for s in scalars)
    with default_scope('mmpose'):
        assert DATASETS.get('CocoDataset').__name__ == 'CocoPoseDataset'
