"""Every recipe under configs/textdet/ loads with Config.fromfile and builds its model (pretrained backbone
weights dropped, so nothing downloads), and the model's forward runs on a small batch; the recipes carry the
textdet runtime (TextDetLocalVisualizer) and MMOCR's DBNet settings."""
from __future__ import annotations

import pytest
import torch

import visioncraft  # noqa: F401  (fills the registries)
from config_files import recipes
from conftest import REPO, model_cfg_without_pretrained as _model_cfg
from visioncraft.config import Config
from visioncraft.registry import MODELS

CONFIGS = recipes(REPO / 'configs' / 'textdet')


def test_there_are_textdet_configs():
    names = {p.name for p in CONFIGS}
    assert {'dbnet_resnet18_fpnc_1200e_icdar2015.py', 'dbnet_resnet50-dcnv2_fpnc_1200e_icdar2015.py',
            'dbnet_mobilenetv3-large_fpnc_1200e_icdar2015.py', 'dbnetpp_resnet50-dcnv2_fpnc_1200e_icdar2015.py'} <= names


@pytest.mark.parametrize('path', CONFIGS, ids=[p.relative_to(REPO / 'configs' / 'textdet').as_posix()
                                               for p in CONFIGS])
def test_config_loads_and_model_builds(path):
    cfg = Config.fromfile(path)
    for key in ('model', 'train_dataloader', 'val_dataloader', 'test_dataloader', 'val_evaluator',
                'optim_wrapper', 'train_cfg', 'param_scheduler'):
        assert key in cfg, f'{path.name} has no {key}'
    assert cfg.visualizer.type == 'TextDetLocalVisualizer'
    assert cfg.val_evaluator.type == 'HmeanIOUMetric'
    assert cfg.model.backbone.init_cfg.type == 'Pretrained'  # the recipe starts from ImageNet weights
    model = MODELS.build(_model_cfg(cfg)).eval()
    assert type(model).__name__ == 'DBNet'
    with torch.no_grad():
        feats = model.neck(model.backbone(torch.zeros(1, 3, 64, 64)))
    feats = feats[0] if isinstance(feats, (list, tuple)) else feats
    assert tuple(feats.shape) == (1, 256, 16, 16)  # 4 levels x 64 channels at stride 4


def test_dbnet_variants():
    r18 = Config.fromfile(REPO / 'configs/textdet/dbnet/dbnet_resnet18_fpnc_1200e_icdar2015.py')
    opt = r18.optim_wrapper.optimizer
    assert (opt.type, opt.lr, opt.momentum, opt.weight_decay) == ('SGD', 0.007, 0.9, 0.0001)
    assert r18.train_cfg.max_epochs == 1200 and r18.param_scheduler[0].type == 'PolyLR'
    assert r18.model.backbone.depth == 18

    r50 = Config.fromfile(REPO / 'configs/textdet/dbnet/dbnet_resnet50-dcnv2_fpnc_1200e_icdar2015.py')
    bb = r50.model.backbone
    assert bb.depth == 50 and bb.dcn.type == 'DCNv2' and tuple(bb.stage_with_dcn) == (False, True, True, True)
    assert bb.init_cfg.checkpoint == 'torchvision://resnet50'
    assert list(r50.model.neck.in_channels) == [256, 512, 1024, 2048]
    assert r50.train_cfg.max_epochs == 1200 and r50.model.det_head.postprocessor.text_repr_type == 'quad'
    model = MODELS.build(_model_cfg(r50))
    assert model.backbone.dcn is not None and model.backbone.stage_with_dcn == (False, True, True, True)

    mv3 = Config.fromfile(REPO / 'configs/textdet/dbnet/dbnet_mobilenetv3-large_fpnc_1200e_icdar2015.py')
    assert mv3.model.backbone.type == 'MobileNetV3' and 'depth' not in mv3.model.backbone
    model = MODELS.build(_model_cfg(mv3))
    assert list(model.backbone.out_channels) == list(mv3.model.neck.in_channels) == [24, 40, 112, 960]


def test_dbnetpp_is_the_r50_recipe_with_adaptive_scale_fusion():
    pp = Config.fromfile(REPO / 'configs/textdet/dbnetpp/dbnetpp_resnet50-dcnv2_fpnc_1200e_icdar2015.py')
    assert pp.model.neck.asf_cfg.attention_type == 'ScaleChannelSpatial'
    assert pp.model.backbone.depth == 50 and tuple(pp.model.backbone.stage_with_dcn) == (False, True, True, True)
    resize = pp.test_dataloader.dataset.pipeline[1]
    assert (resize.type, tuple(resize.scale), resize.keep_ratio) == ('Resize', (4068, 1024), True)
    assert pp.val_dataloader.dataset.pipeline[1].scale == (4068, 1024)
    model = MODELS.build(_model_cfg(pp))
    assert type(model.neck.asf_attn).__name__ == 'ScaleChannelSpatialAttention'
