"""Which upstream configs `make compat` checks, and why the others in the same folders are left out.

One :class:`Toolbox` per upstream package: the wheel it comes from, the configs in scope (shell patterns on the path
under the wheel's ``<pkg>/.mim/configs/``), the exclusions (a pattern and the reason, each) and, per model family, the
one config that is also trained for an iteration and tested on generated data (:data:`TRAIN_CASES`).

A config is in scope when it matches an ``include`` pattern and no ``exclude`` pattern. Exclusions name what
VisionCraft does not have (a backbone, a model, a package) or files that are not model configs; everything else in the
folders stays in scope, also when it fails today (that failure is then work to do, counted by ``make compat``).
docs/compat.md lists the same exclusions.
"""
from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field

__all__ = ['Toolbox', 'TrainCase', 'TOOLBOXES', 'TRAIN_CASES', 'in_scope', 'exclusion_reason', 'select']


@dataclass(frozen=True)
class Toolbox:
    name: str                      # the package, as pip knows it
    version: str
    include: tuple[str, ...]       # shell patterns on the path under <name>/.mim/configs/
    exclude: tuple[tuple[str, str], ...] = ()   # (pattern, reason)


@dataclass(frozen=True)
class TrainCase:
    """One config trained for one iteration and tested on a tiny generated dataset laid out where it looks."""
    toolbox: str
    family: str
    config: str                    # path under <toolbox>/.mim/configs/
    cfg_options: dict = field(default_factory=dict)   # shrink batch and image size (the data is generated tiny)


_NOT_A_MODEL = 'a fragment, not a model config: its models are checked through the configs that inherit it'

MMDET = Toolbox('mmdet', '3.3.0', include=(
    'faster_rcnn/*.py', 'retinanet/*.py', 'fcos/*.py', 'mask_rcnn/*.py', 'pascal_voc/*.py', 'cityscapes/*.py',
), exclude=(
    ('pascal_voc/ssd*.py', 'SSD (VGG16 backbone, SSDHead, SSD data augmentation) is not a VisionCraft model'),
    ('retinanet/retinanet_tta.py', 'test-time augmentation settings only (tta_model / tta_pipeline), no model; '
                                   'VisionCraft has no test-time augmentation'),
    ('*-wandb_*.py', 'logs to Weights & Biases (WandbVisBackend): an external service reached over the network'),
))

# MMPose top-down models on COCO, MPII, AIC and CrowdPose; VisionCraft's pose backbones are ResNet, ResNetV1d,
# HRNet and CSPNeXt, so the configs built on other backbones are left out (one pattern per backbone).
_POSE_BACKBONE = 'backbone {} (MMPose / MMPretrain) is not implemented in VisionCraft'
MMPOSE = Toolbox('mmpose', '1.3.2', include=(
    'body_2d_keypoint/topdown_heatmap/coco/*.py', 'body_2d_keypoint/topdown_heatmap/mpii/*.py',
    'body_2d_keypoint/topdown_heatmap/aic/*.py', 'body_2d_keypoint/topdown_heatmap/crowdpose/*.py',
    'body_2d_keypoint/simcc/coco/*.py', 'body_2d_keypoint/simcc/mpii/*.py',
    'body_2d_keypoint/rtmpose/coco/*.py', 'body_2d_keypoint/rtmpose/mpii/*.py',
    'body_2d_keypoint/rtmpose/crowdpose/*.py',
), exclude=tuple((f'body_2d_keypoint/*/*/*{pat}*.py', _POSE_BACKBONE.format(name)) for pat, name in (
    ('_alexnet_', 'AlexNet'), ('_cpm_', 'CPM'), ('_hrformer-', 'HRFormer'), ('_hourglass52_', 'HourglassNet'),
    ('_litehrnet-', 'LiteHRNet'), ('mspn50_', 'MSPN'), ('rsn', 'RSN'), ('mobilenetv2', 'MobileNetV2'),
    ('_pvt-s_', 'PyramidVisionTransformer'), ('_pvtv2-', 'PyramidVisionTransformerV2'), ('_resnest', 'ResNeSt'),
    ('_scnet', 'SCNet'), ('_seresnet', 'SEResNet'), ('_shufflenetv', 'ShuffleNetV1 / V2'),
    ('_swin-', 'SwinTransformer'), ('_vgg16', 'VGG'), ('vipnas-', 'ViPNAS'), ('_ViTPose-', 'VisionTransformer'),
)))

MMOCR = Toolbox('mmocr', '1.0.1', include=(
    'textdet/dbnet/*.py', 'textdet/dbnetpp/*.py',
    'textrecog/crnn/*.py', 'textrecog/svtr/*.py', 'textrecog/nrtr/*.py',
), exclude=(
    ('*/_base_*.py', _NOT_A_MODEL),
    ('textdet/*/*oclip*.py', "backbone CLIPResNet (MMOCR's oCLIP) is not implemented in VisionCraft"),
    ('textdet/dbnet/dbnet_resnet50-dcnv2_fpnc_100k_synthtext.py',
     'broken upstream: reads _base_.synthtext_textdet_test, which _base_/datasets/synthtext.py never defines '
     "(MMEngine's Config.fromfile fails on it the same way, AttributeError at line 11)"),
))

TOOLBOXES: dict[str, Toolbox] = {t.name: t for t in (MMDET, MMPOSE, MMOCR)}

_DET_SMALL = {'train_dataloader.batch_size': 2, 'train_dataloader.num_workers': 0,
              'val_dataloader.batch_size': 1, 'val_dataloader.num_workers': 0,
              'test_dataloader.batch_size': 1, 'test_dataloader.num_workers': 0,
              'train_dataloader.persistent_workers': False, 'val_dataloader.persistent_workers': False,
              'test_dataloader.persistent_workers': False,
              'train_cfg.max_epochs': 1, 'train_cfg.val_interval': 1}
_DET_SCALE = {'train_dataloader.dataset.pipeline.2.scale': (160, 128),
              'test_dataloader.dataset.pipeline.1.scale': (160, 128),
              'val_dataloader.dataset.pipeline.1.scale': (160, 128)}
_POSE_SMALL = dict(_DET_SMALL)
_OCR_SMALL = dict(_DET_SMALL)

TRAIN_CASES: tuple[TrainCase, ...] = (
    TrainCase('mmdet', 'faster_rcnn', 'faster_rcnn/faster-rcnn_r50_fpn_1x_coco.py', {**_DET_SMALL, **_DET_SCALE}),
    TrainCase('mmdet', 'retinanet', 'retinanet/retinanet_r18_fpn_1x_coco.py', {**_DET_SMALL, **_DET_SCALE}),
    TrainCase('mmdet', 'fcos', 'fcos/fcos_r50-caffe_fpn_gn-head_1x_coco.py', {**_DET_SMALL, **_DET_SCALE}),
    TrainCase('mmdet', 'mask_rcnn', 'mask_rcnn/mask-rcnn_r50_fpn_1x_coco.py', {**_DET_SMALL, **_DET_SCALE}),
    TrainCase('mmdet', 'pascal_voc', 'pascal_voc/faster-rcnn_r50_fpn_1x_voc0712.py', _DET_SMALL),
    TrainCase('mmdet', 'cityscapes', 'cityscapes/mask-rcnn_r50_fpn_1x_cityscapes.py', _DET_SMALL),
    TrainCase('mmpose', 'topdown_heatmap',
              'body_2d_keypoint/topdown_heatmap/coco/td-hm_res50_8xb64-210e_coco-256x192.py', _POSE_SMALL),
    TrainCase('mmpose', 'topdown_heatmap',   # COCO + AI Challenger (14 keypoints) combined onto 19
              'body_2d_keypoint/topdown_heatmap/coco/td-hm_hrnet-w32_8xb64-210e_coco-aic-256x192-combine.py',
              _POSE_SMALL),
    TrainCase('mmpose', 'rtmpose', 'body_2d_keypoint/rtmpose/coco/rtmpose-t_8xb256-420e_coco-256x192.py',
              {**_POSE_SMALL, 'train_cfg.max_epochs': 1}),
    TrainCase('mmocr', 'dbnet', 'textdet/dbnet/dbnet_resnet18_fpnc_1200e_icdar2015.py', _OCR_SMALL),
    TrainCase('mmocr', 'dbnetpp', 'textdet/dbnetpp/dbnetpp_resnet50_fpnc_1200e_icdar2015.py', _OCR_SMALL),
    TrainCase('mmocr', 'crnn', 'textrecog/crnn/crnn_mini-vgg_5e_mj.py', _OCR_SMALL),
    TrainCase('mmocr', 'svtr', 'textrecog/svtr/svtr-tiny_20e_st_mj.py', _OCR_SMALL),
    TrainCase('mmocr', 'nrtr', 'textrecog/nrtr/nrtr_modality-transform_6e_st_mj.py', _OCR_SMALL),
)


def exclusion_reason(toolbox: Toolbox, path: str) -> str | None:
    """The reason ``path`` (under the configs folder) is left out, or None when no exclusion matches."""
    for pattern, reason in toolbox.exclude:
        if fnmatch.fnmatchcase(path, pattern):
            return reason
    return None


def in_scope(toolbox: Toolbox, path: str) -> bool:
    """Whether ``path`` (relative to the configs folder, '/'-separated) is checked by ``make compat``."""
    return (any(fnmatch.fnmatchcase(path, p) for p in toolbox.include)
            and exclusion_reason(toolbox, path) is None)


def select(toolbox: Toolbox, paths) -> tuple[list[str], dict[str, str]]:
    """``(in scope, {excluded path: reason})`` for ``paths``: the excluded are those an include pattern matches and
    an exclusion removes (the files of other folders are simply not part of the check)."""
    chosen, excluded = [], {}
    for path in sorted(paths):
        if not any(fnmatch.fnmatchcase(path, p) for p in toolbox.include):
            continue
        reason = exclusion_reason(toolbox, path)
        if reason is None:
            chosen.append(path)
        else:
            excluded[path] = reason
    return chosen, excluded
