"""The PP-OCR configs (configs/ppocr/*.py and PaddleOCR's YAML layout in configs/det/PP-OCRv4/) build the models the
official weights are imported into: the deploy configs have exactly the imported checkpoints' layout, and a
training-form model folds into it."""
from __future__ import annotations

from pathlib import Path

import pytest

import visioncraft  # noqa: F401  (fills the registries)
from visioncraft.apis.ppocr_weights import build_ppocr_model
from visioncraft.config import Config, load_paddleocr_config
from visioncraft.models.backbones.pplcnetv3 import reparameterize_model
from visioncraft.registry import MODELS

REPO = Path(__file__).resolve().parents[2]


def _layout(model) -> dict[str, tuple]:
    return {k: tuple(v.shape) for k, v in model.state_dict().items()}


def _build(cfg) -> object:
    return MODELS.build(cfg.model.to_dict())


@pytest.fixture(scope='module')
def imported_det_layout():
    return _layout(build_ppocr_model('ppocrv4_mobile_det'))


def test_det_configs_have_the_imported_layout(imported_det_layout):
    deploy = _build(Config.fromfile(REPO / 'configs/ppocr/ppocrv4_mobile_det_deploy_icdar2015.py'))
    assert _layout(deploy) == imported_det_layout
    train_cfg = Config.fromfile(REPO / 'configs/ppocr/ppocrv4_mobile_det_500e_icdar2015.py')
    assert train_cfg.train_dataloader.batch_size == 8 and train_cfg.optim_wrapper.optimizer.type == 'Adam'
    trained = _build(train_cfg)
    assert not trained.backbone.deploy
    assert _layout(reparameterize_model(trained)) == imported_det_layout


def test_paddleocr_yaml_builds_the_same_detector(imported_det_layout):
    yml = REPO / 'configs/det/PP-OCRv4/PP-OCRv4_mobile_det.yml'
    cfg = load_paddleocr_config(yml)
    assert cfg.model.backbone.type == 'PPLCNetV3' and cfg.model.neck.type == 'RSEFPN'
    assert [s.type for s in cfg.param_scheduler] == ['LinearLR', 'CosineAnnealingLR']
    assert cfg.test_dataloader.dataset.pipeline[1].limit_side_len == 960
    deploy = _build(load_paddleocr_config(yml, {'+Architecture.Backbone.deploy': True}))
    assert _layout(deploy) == imported_det_layout


def test_rec_config_has_the_imported_layout():
    cfg = Config.fromfile(REPO / 'configs/ppocr/ppocrv4_mobile_rec.py')
    model = _build(cfg)
    assert _layout(model) == _layout(build_ppocr_model('ppocrv4_mobile_rec'))
    assert model.decoder.codec.num_classes == 6625
    assert cfg.test_dataloader.dataset.pipeline[1].image_shape == (3, 48, 320)
