"""Every config path that the commands of the four toolbox guides name (MMOCR's and MMPose's train / test guides,
MMDetection's 2.x inference / test / train guide, PaddleOCR's text-detection guide) exists under configs/ and loads
with Config.fromfile; an older name (MMDetection 2.x, MMOCR 0.x) gives the same config as the current one; a few
models build. The paths are read from the guides themselves when they are next to the checkout
(../shared/seeds/*.txt), else from the list below, which the first test keeps complete."""
from __future__ import annotations

import re

import pytest

import visioncraft  # noqa: F401  (fills the registries)
from conftest import REPO, model_cfg_without_pretrained as _model_cfg
from visioncraft.config import Config
from visioncraft.registry import MODELS

SEEDS = REPO.parent / 'shared' / 'seeds'
#: a config path as the guides write it (URLs to upstream folders, without a file name, are not one)
PATH_RE = re.compile(r'\bconfigs/[\w./-]+?\.(?:py|ya?ml)\b')

#: every config path in the four guides
GUIDE_CONFIGS = (
    # MMOCR (1.x and 0.x names of the DBNet R-50 DCNv2 recipe; 0.x's CRNN)
    'configs/textdet/dbnet/dbnet_resnet50-dcnv2_fpnc_1200e_icdar2015.py',
    'configs/textdet/dbnet/dbnet_r50dcnv2_fpnc_1200e_icdar2015.py',
    'configs/textrecog/crnn/crnn_academic_dataset.py',
    # MMPose (a recipe; the COCO keypoint metainfo its CombinedDataset example reads)
    'configs/body_2d_keypoint/topdown_heatmap/coco/td-hm_res50_8xb64-210e_coco-256x192.py',
    'configs/_base_/datasets/coco.py',
    # MMDetection 2.x
    'configs/faster_rcnn/faster_rcnn_r50_fpn_1x_coco.py',
    'configs/pascal_voc/faster_rcnn_r50_fpn_1x_voc.py',
    'configs/mask_rcnn/mask_rcnn_r50_fpn_1x_coco.py',
    'configs/mask_rcnn_r50_fpn_1x_coco.py',
    'configs/cityscapes/mask_rcnn_r50_fpn_1x_cityscapes.py',
    # PaddleOCR
    'configs/det/det_mv3_db.yml',
)

#: older names (as the guides write them) -> the current config they stand for
OLDER_NAMES = {
    'configs/faster_rcnn/faster_rcnn_r50_fpn_1x_coco.py': 'configs/faster_rcnn/faster-rcnn_r50_fpn_1x_coco.py',
    'configs/mask_rcnn/mask_rcnn_r50_fpn_1x_coco.py': 'configs/mask_rcnn/mask-rcnn_r50_fpn_1x_coco.py',
    'configs/mask_rcnn_r50_fpn_1x_coco.py': 'configs/mask_rcnn/mask-rcnn_r50_fpn_1x_coco.py',
    'configs/pascal_voc/faster_rcnn_r50_fpn_1x_voc.py': 'configs/pascal_voc/faster-rcnn_r50_fpn_1x_voc0712.py',
    'configs/pascal_voc/faster_rcnn_r50_fpn_1x_voc0712.py': 'configs/pascal_voc/faster-rcnn_r50_fpn_1x_voc0712.py',
    'configs/cityscapes/mask_rcnn_r50_fpn_1x_cityscapes.py': 'configs/cityscapes/mask-rcnn_r50_fpn_1x_cityscapes.py',
    'configs/textdet/dbnet/dbnet_r50dcnv2_fpnc_1200e_icdar2015.py':
        'configs/textdet/dbnet/dbnet_resnet50-dcnv2_fpnc_1200e_icdar2015.py',
    'configs/textrecog/crnn/crnn_academic_dataset.py': 'configs/textrecog/crnn/crnn_mini-vgg_5e_mj.py',
}


def _guide_texts() -> list:
    return sorted(SEEDS.glob('*.txt')) if SEEDS.is_dir() else []


def _guide_paths() -> tuple[str, ...]:
    found = {m for t in _guide_texts() for m in PATH_RE.findall(t.read_text(encoding='utf-8'))}
    return tuple(sorted(found | set(GUIDE_CONFIGS)))


GUIDE_PATHS = _guide_paths()


def _load(rel: str) -> Config:
    path = REPO / rel
    assert path.is_file(), f'{rel} (named in a guide) is not in configs/'
    return Config.fromfile(path)


def test_the_embedded_list_holds_every_path_of_the_guides():
    texts = _guide_texts()
    if not texts:
        pytest.skip(f'the guides are not at {SEEDS}')
    found = {m for t in texts for m in PATH_RE.findall(t.read_text(encoding='utf-8'))}
    assert found, f'no config path found in {[t.name for t in texts]}'
    assert found <= set(GUIDE_CONFIGS), f'add to GUIDE_CONFIGS: {sorted(found - set(GUIDE_CONFIGS))}'


@pytest.mark.parametrize('rel', GUIDE_PATHS)
def test_guide_path_exists_and_loads(rel):
    cfg = _load(rel)
    if rel.endswith('datasets/coco.py'):  # MMPose's keypoint metainfo, not a recipe
        assert cfg.dataset_info.dataset_name == 'coco' and len(cfg.dataset_info.keypoint_info) == 17
        return
    for key in ('model', 'train_dataloader', 'test_dataloader', 'test_evaluator', 'optim_wrapper', 'train_cfg'):
        assert key in cfg, f'{rel} has no {key}'


@pytest.mark.parametrize('old,new', sorted(OLDER_NAMES.items()))
def test_an_older_name_gives_the_current_config(old, new):
    # the same recipe; an MMDetection 2.x name also says where `--show-dir DIR` writes (./DIR, as its guides)
    old_cfg = _load(old).to_dict()
    if 'show_dir_in_cwd' in old_cfg:
        assert old_cfg.pop('show_dir_in_cwd') is True and 'rcnn' in old  # MMDetection's 2.x names only
    assert old_cfg == _load(new).to_dict()


def test_cityscapes_recipe():
    cfg = _load('configs/cityscapes/mask_rcnn_r50_fpn_1x_cityscapes.py')
    train = cfg.train_dataloader.dataset
    assert train.type == 'RepeatDataset' and train.times == 8
    assert train.dataset.ann_file == 'annotations/instancesonly_filtered_gtFine_train.json'
    assert train.dataset.data_prefix.img == 'leftImg8bit/train/'
    assert len(train.dataset.metainfo.classes) == 8
    assert cfg.test_evaluator.ann_file == 'data/cityscapes/annotations/instancesonly_filtered_gtFine_val.json'
    assert list(cfg.test_evaluator.metric) == ['bbox', 'segm']
    assert cfg.model.roi_head.bbox_head.num_classes == cfg.model.roi_head.mask_head.num_classes == 8
    assert cfg.model.roi_head.bbox_head.loss_bbox.type == 'SmoothL1Loss'
    assert cfg.optim_wrapper.optimizer.lr == 0.01 and cfg.train_cfg.max_epochs == 8
    assert cfg.param_scheduler[1].milestones == [7]


# (the current names' models build in test_detection_configs / test_textdet_configs, and an older name is the same
# config: a few builds here, one per toolbox)
@pytest.mark.parametrize('rel,kind', [
    ('configs/cityscapes/mask_rcnn_r50_fpn_1x_cityscapes.py', 'MaskRCNN'),
    ('configs/body_2d_keypoint/topdown_heatmap/coco/td-hm_res50_8xb64-210e_coco-256x192.py', 'TopdownPoseEstimator'),
    ('configs/textdet/dbnet/dbnet_r50dcnv2_fpnc_1200e_icdar2015.py', 'DBNet'),
    ('configs/textrecog/crnn/crnn_academic_dataset.py', 'CRNN'),
])
def test_guide_model_builds(rel, kind):
    cfg = _load(rel)
    model = MODELS.build(_model_cfg(cfg))
    assert type(model).__name__ == kind
    if 'dcnv2' in rel:  # modulated deformable convs in stages 2-4 (torchvision's deform_conv2d), none in stage 1
        assert model.backbone.dcn is not None and model.backbone.stage_with_dcn == (False, True, True, True)
    if 'cityscapes' in rel:
        assert model.roi_head.bbox_head.fc_cls.out_features == 9  # 8 classes + background


def test_detection_model_names_resolve_to_the_new_folders():
    from visioncraft.apis.model_aliases import resolve_det_model
    for name, rel in [('faster_rcnn_r50_fpn_1x_coco', 'configs/faster_rcnn/faster_rcnn_r50_fpn_1x_coco.py'),
                      ('retinanet', 'configs/retinanet/retinanet_r50_fpn_1x_coco.py'),
                      ('mask-rcnn_r50_fpn_1x_cityscapes', 'configs/cityscapes/mask-rcnn_r50_fpn_1x_cityscapes.py'),
                      ('faster-rcnn_r50_fpn_1x_voc0712', 'configs/pascal_voc/faster-rcnn_r50_fpn_1x_voc0712.py')]:
        assert resolve_det_model(name, 'w.pth').replace('\\', '/').endswith(rel), name
