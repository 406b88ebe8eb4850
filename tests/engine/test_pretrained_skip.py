"""Testing or inferring from a checkpoint never fetches the backbone's pretrained weights (issue: tools/test.py
downloaded torchvision://resnet50 even with a full checkpoint, and failed offline)."""
from __future__ import annotations

from pathlib import Path

import pytest

from conftest import log_text, tiny_retinanet
from visioncraft.engine import Runner
from visioncraft.models.backbones import ResNet
from visioncraft.models.backbones.pretrained import pretrained_weights_skipped


def _model(missing: Path) -> dict:
    return tiny_retinanet(backbone=dict(type='ResNet', depth=18, frozen_stages=1,
                                        init_cfg=dict(type='Pretrained', checkpoint=str(missing))))


def test_a_run_that_loads_a_checkpoint_does_not_fetch_pretrained_weights(make_cfg, tmp_path):
    missing = tmp_path / 'offline' / 'resnet18-imagenet.pth'  # stands for a URL that cannot be fetched
    with pytest.raises(Exception, match='resnet18-imagenet.pth'):
        Runner(dict(make_cfg('fresh'), model=_model(missing)))  # training from scratch needs them: it tries
    ckpt = tmp_path / 'full.pth'
    ckpt.write_bytes(b'not read until the run loads it')
    runner = Runner(dict(make_cfg('test'), model=_model(missing), load_from=str(ckpt)))
    assert f'pretrained weights {missing} not loaded: the weights come from {ckpt}' in log_text(runner.work_dir)
    runner = Runner(dict(make_cfg('resume'), model=_model(missing), resume=str(ckpt)))
    assert 'not loaded: the weights come from' in log_text(runner.work_dir)


def test_the_skip_is_scoped_to_its_block(tmp_path):
    missing = tmp_path / 'none.pth'
    backbone = ResNet(depth=18, init_cfg=dict(type='Pretrained', checkpoint=str(missing)))
    with pretrained_weights_skipped('a test'):
        backbone.init_weights()
    with pytest.raises(Exception, match='none.pth'):
        backbone.init_weights()
