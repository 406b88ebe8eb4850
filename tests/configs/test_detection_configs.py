"""Every detection config (configs/faster_rcnn/, mask_rcnn/, retinanet/, fcos/, pascal_voc/, cityscapes/,
torchvision/: MMDetection's layout) loads with Config.fromfile and builds its model (pretrained backbone weights
dropped, so nothing downloads); the two-stage recipes carry MMDetection's settings. The files that only give a
recipe an older name (MMDetection 2.x's faster_rcnn_r50_fpn_1x_coco.py) are checked by test_guide_config_paths.py."""
from __future__ import annotations

import pytest

import visioncraft  # noqa: F401  (fills the registries)
from config_files import recipes
from conftest import REPO, model_cfg_without_pretrained as _model_cfg
from visioncraft.apis.model_aliases import DET_CONFIG_DIRS
from visioncraft.config import Config
from visioncraft.registry import MODELS

CONFIGS = sorted(p for d in DET_CONFIG_DIRS for p in recipes(REPO / 'configs' / d))


def test_there_are_detection_configs():
    names = {p.name for p in CONFIGS}
    assert {'faster-rcnn_r50_fpn_1x_coco.py', 'faster-rcnn_r50_fpn_2x_coco.py', 'faster-rcnn_r101_fpn_1x_coco.py',
            'faster-rcnn_r50_fpn_1x_voc0712.py', 'mask-rcnn_r50_fpn_1x_coco.py',
            'retinanet_r50_fpn_1x_coco.py'} <= names


@pytest.mark.parametrize('path', CONFIGS, ids=[p.relative_to(REPO / 'configs').as_posix()
                                               for p in CONFIGS])
def test_config_loads_and_model_builds(path):
    cfg = Config.fromfile(path)
    for key in ('model', 'train_dataloader', 'val_dataloader', 'val_evaluator', 'optim_wrapper', 'train_cfg'):
        assert key in cfg, f'{path.name} has no {key}'
    model = MODELS.build(_model_cfg(cfg))
    assert sum(p.numel() for p in model.parameters()) > 1_000_000


def test_two_stage_recipes():
    frcnn = Config.fromfile(REPO / 'configs/faster_rcnn/faster-rcnn_r50_fpn_1x_coco.py')
    opt = frcnn.optim_wrapper.optimizer
    assert (opt.type, opt.lr, opt.momentum, opt.weight_decay) == ('SGD', 0.02, 0.9, 0.0001)
    assert frcnn.train_cfg.max_epochs == 12 and frcnn.model.backbone.init_cfg.checkpoint == 'torchvision://resnet50'
    model = MODELS.build(_model_cfg(frcnn))
    assert type(model).__name__ == 'FasterRCNN' and model.neck.strides == [4, 8, 16, 32, 64]
    assert model.rpn_head.train_cfg['sampler']['num'] == 256
    assert model.rpn_head.train_proposal_cfg['max_per_img'] == 1000
    assert model.rpn_head.test_cfg['max_per_img'] == 1000 and model.roi_head.sampler.num == 512
    assert model.roi_head.bbox_head.num_classes == 80 and model.roi_head.bbox_head.fc_cls.out_features == 81
    assert model.roi_head.test_cfg['max_per_img'] == 100 and model.roi_head.bbox_roi_extractor.finest_scale == 56

    two_x = Config.fromfile(REPO / 'configs/faster_rcnn/faster-rcnn_r50_fpn_2x_coco.py')
    assert two_x.train_cfg.max_epochs == 24 and two_x.param_scheduler[1].milestones == [16, 22]

    r101 = Config.fromfile(REPO / 'configs/faster_rcnn/faster-rcnn_r101_fpn_1x_coco.py')
    assert r101.model.backbone.depth == 101 and r101.model.backbone.init_cfg.checkpoint == 'torchvision://resnet101'
    assert r101.model.rpn_head.type == 'RPNHead'

    voc = Config.fromfile(REPO / 'configs/pascal_voc/faster-rcnn_r50_fpn_1x_voc0712.py')
    ds = voc.train_dataloader.dataset
    assert ds.type == 'RepeatDataset' and ds.times == 3 and ds.dataset.type == 'ConcatDataset'
    assert [d.ann_file for d in ds.dataset.datasets] == ['VOC2007/ImageSets/Main/trainval.txt',
                                                         'VOC2012/ImageSets/Main/trainval.txt']
    assert voc.val_dataloader.dataset.ann_file == 'VOC2007/ImageSets/Main/test.txt'
    assert voc.val_evaluator.type == 'VOCMetric' and voc.model.roi_head.bbox_head.num_classes == 20
    assert voc.train_cfg.max_epochs == 4

    mask = Config.fromfile(REPO / 'configs/mask_rcnn/mask-rcnn_r50_fpn_1x_coco.py')
    assert list(mask.val_evaluator.metric) == ['bbox', 'segm']
    assert any(t.type == 'LoadAnnotations' and t.with_mask for t in mask.train_dataloader.dataset.pipeline)
    model = MODELS.build(_model_cfg(mask))
    assert type(model).__name__ == 'MaskRCNN' and model.roi_head.mask_head.num_classes == 80
    assert model.roi_head.mask_roi_extractor.output_size == (14, 14)
    assert model.roi_head.bbox_head.num_classes == 80  # inherited from Faster R-CNN's config
