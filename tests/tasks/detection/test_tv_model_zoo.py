"""torchvision's COCO detectors as an 80-class model zoo: ``convert_torchvision --coco80`` and the configs of
configs/torchvision/. A random-init torchvision model, converted with ``coco80`` and loaded into
the model built from the config file, gives torchvision's detections restricted to the 80 real COCO
classes (our label ``k`` is torchvision's ``COCO80_CATEGORY_IDS[k]``).

"Restricted" means torchvision run with the unused slots' logits at -1e4: for the sigmoid heads (RetinaNet,
FCOS) that only removes those classes' detections; for the R-CNN softmax it also removes the unused slots
from the normaliser, which is exactly what the 81-logit converted classifier computes (with trained weights
the scores therefore differ from torchvision's by those slots' small softmax share).
"""
from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torchvision
from torchvision.ops import FrozenBatchNorm2d

from conftest import load_converted as _load
from conftest import (randomise_batchnorm, seeded_images, sharpen_fcos_head, sharpen_rcnn_heads,
                      sharpen_retinanet_head, small_tv_detector)
from visioncraft.config import Config
from visioncraft.registry import MODELS
from visioncraft.structures import DataSample
from visioncraft.tasks.detection.datasets.coco import COCO_CLASSES, CocoDataset
from visioncraft.tasks.detection.models import convert_torchvision as conv
from visioncraft.tasks.detection.models.prior_generators import (AnchorGenerator, TorchvisionAnchorGenerator,
                                                                 TorchvisionPointGenerator)

CONFIGS = Path(__file__).resolve().parents[3] / 'configs' / 'torchvision'
VALID = torch.tensor(conv.COCO80_CATEGORY_IDS)
UNUSED = torch.tensor([i for i in range(1, 91) if i not in conv.COCO80_CATEGORY_IDS])
# config file -> (config function, its num_classes for 80 COCO classes)
ZOO = {'retinanet_r50_fpn_tv_coco.py': (conv.torchvision_retinanet_config, 80),
       'fcos_r50_fpn_tv_coco.py': (conv.torchvision_fcos_config, 80),
       'faster-rcnn_r50_fpn_tv_coco.py': (conv.torchvision_fasterrcnn_config, 81),
       'mask-rcnn_r50_fpn_tv_coco.py': (conv.torchvision_maskrcnn_config, 81)}


# -- class ids and names ------------------------------------------------------------------------------
def test_coco80_ids_and_names_match_torchvision_and_coco_dataset():
    tv_names = torchvision.models.detection.FasterRCNN_ResNet50_FPN_Weights.COCO_V1.meta['categories']
    assert list(conv.TORCHVISION_COCO_CATEGORIES) == tv_names  # the weights' metadata, offline
    assert [tv_names[i] for i in conv.COCO80_CATEGORY_IDS] == list(COCO_CLASSES)
    assert tuple(CocoDataset.METAINFO['classes']) == COCO_CLASSES
    for arch in ('retinanet', 'fasterrcnn', 'maskrcnn', 'fcos'):
        meta = conv.converted_meta(arch, coco80=True, src='x.pth')
        assert meta['dataset_meta']['classes'] == COCO_CLASSES and meta['arch'] == f'{arch}_resnet50_fpn'
    assert conv.converted_meta('retinanet', coco80=False)['dataset_meta']['classes'][12] == 'N/A'
    assert conv.converted_meta('fasterrcnn', coco80=False)['dataset_meta']['classes'][0] == 'person'


def test_coco80_selects_rows_per_anchor_and_class():
    """Row r of every tensor holds r: the kept rows are the expected slots, anchor-major / 4 per class."""
    rows = lambda n: torch.arange(float(n))[:, None].expand(n, 2).clone()  # noqa: E731
    out = conv.retinanet_from_torchvision({'head.classification_head.cls_logits.weight': rows(9 * 91),
                                           'head.classification_head.cls_logits.bias': torch.arange(9 * 91.0)},
                                          coco80=True)
    expect = (torch.arange(9)[:, None] * 91 + VALID[None]).flatten().float()
    assert torch.equal(out['bbox_head.retina_cls.bias'], expect)
    assert torch.equal(out['bbox_head.retina_cls.weight'][:, 1], expect)
    rcnn = conv.maskrcnn_from_torchvision({'roi_heads.box_predictor.cls_score.bias': torch.arange(91.0),
                                           'roi_heads.box_predictor.bbox_pred.weight': rows(91 * 4),
                                           'roi_heads.mask_predictor.mask_fcn_logits.weight':
                                               torch.arange(91.0).view(91, 1, 1, 1).expand(91, 3, 1, 1)},
                                          coco80=True)
    assert rcnn['roi_head.bbox_head.fc_cls.bias'].tolist() == VALID.float().tolist() + [0.0]  # background last
    assert torch.equal(rcnn['roi_head.bbox_head.fc_reg.weight'][:, 0],
                       (VALID[:, None] * 4 + torch.arange(4)).flatten().float())
    assert rcnn['roi_head.mask_head.conv_logits.weight'].shape == (80, 3, 1, 1)
    assert torch.equal(rcnn['roi_head.mask_head.conv_logits.weight'][:, 0, 0, 0], VALID.float())
    fcos = conv.fcos_from_torchvision({'head.classification_head.cls_logits.bias': torch.arange(91.0)}, coco80=True)
    assert torch.equal(fcos['bbox_head.conv_cls.bias'], VALID.float())
    # not a 91-slot COCO model: the error names the key and its shape
    with pytest.raises(ValueError, match=r'bbox_head\.conv_cls\.bias has shape \(21,\)'):
        conv.fcos_from_torchvision({'head.classification_head.cls_logits.bias': torch.zeros(21)}, coco80=True)
    with pytest.raises(ValueError, match='fc_cls'):
        conv.fasterrcnn_from_torchvision({'roi_heads.box_predictor.cls_score.bias': torch.zeros(9 * 91)},
                                         coco80=True)


# -- torchvision's anchor positions ---------------------------------------------------------------------
@pytest.mark.parametrize('padded', [(800, 1088), (160, 256), (96, 192)])
def test_torchvision_generators_place_priors_as_torchvision(padded):
    """Anchors / FCOS points on grids rounded up (P6, P7 of inputs not divisible by 64 / 128) are torchvision's,
    ``padded size // grid size`` apart (e.g. 61 and 114 px on P6 / P7 of an 800-high input)."""
    from torchvision.models.detection.anchor_utils import AnchorGenerator as TVAnchorGenerator
    from torchvision.models.detection.image_list import ImageList
    h, w = padded
    sizes = [(h // 8, w // 8)]
    for _ in range(4):
        sizes.append(((sizes[-1][0] + 1) // 2, (sizes[-1][1] + 1) // 2))  # stride-2 convs, padding 1
    feats = [torch.zeros(1, 1, *s) for s in sizes]
    images = ImageList(torch.zeros(1, 3, h, w), [(h, w)])
    tv_cfg = conv.torchvision_retinanet_config(num_classes=80)['bbox_head']['anchor_generator']
    ours = TorchvisionAnchorGenerator(**{k: v for k, v in tv_cfg.items() if k != 'type'})
    tv = TVAnchorGenerator(tuple(tuple(s) for s in conv.TORCHVISION_ANCHOR_SIZES), ((0.5, 1.0, 2.0),) * 5)
    expected = tv(images, feats)[0].split([s[0] * s[1] * 9 for s in sizes])
    for mine, theirs in zip(ours.grid_priors(sizes), expected):
        assert torch.equal(mine, theirs)
    if h % 128:  # the nominal strides would put P7's last row elsewhere
        nominal = AnchorGenerator(**{k: v for k, v in tv_cfg.items() if k != 'type'}).grid_priors(sizes)
        assert not torch.equal(nominal[-1], expected[-1])
    # FCOS: one stride-sized anchor per cell; its centre is the point (offset 0), the nominal stride is kept
    tv_fcos = TVAnchorGenerator(((8,), (16,), (32,), (64,), (128,)), ((1.0,),) * 5)
    centres = [(a[:, :2] + a[:, 2:]) / 2 for a in tv_fcos(images, feats)[0].split([s[0] * s[1] for s in sizes])]
    points = TorchvisionPointGenerator([8, 16, 32, 64, 128], offset=0.0).grid_priors(sizes, with_stride=True)
    for mine, theirs, stride in zip(points, centres, [8, 16, 32, 64, 128]):
        assert torch.equal(mine[:, :2], theirs) and bool((mine[:, 2] == stride).all())


# -- configs --------------------------------------------------------------------------------------
def _plain(x):
    if isinstance(x, dict):
        return {k: _plain(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_plain(v) for v in x]
    return x


# keys the config files may add to torchvision_*_config's: training-only settings or the builders' defaults
# (inference equality itself is checked by the detection tests below)
_NEUTRAL_EXTRAS = {'style', 'init_cfg', 'stacked_convs', 'bbox_coder', 'target_means', 'reg_class_agnostic',
                   'loss_cls', 'loss_bbox', 'loss_mask', 'use_sigmoid', 'loss_weight', 'train_cfg', 'ignore_iof_thr',
                   'neg_pos_ub', 'allowed_border', 'pos_weight', 'debug', 'mask_thr_binary'}


def _differences(ref, got, path='model'):
    if isinstance(ref, dict) and isinstance(got, dict):
        out = [f'{path}.{k}: missing' for k in ref if k not in got]
        out += [f'{path}.{k}: extra {got[k]!r}' for k in got if k not in ref and k not in _NEUTRAL_EXTRAS]
        for k in ref:
            if k in got:
                out += _differences(ref[k], got[k], f'{path}.{k}')
        return out
    return [] if ref == got else [f'{path}: {got!r}, torchvision config {ref!r}']


@pytest.mark.parametrize('name', sorted(ZOO))
def test_config_model_equals_torchvision_config(name):
    cfg = Config.fromfile(CONFIGS / name)
    fn, num_classes = ZOO[name]
    assert _differences(_plain(fn(num_classes=num_classes)), _plain(cfg.model)) == []
    # a COCO test setup: the 80-class dataset, torchvision's resize bound, and a COCO evaluator
    assert cfg.test_dataloader.dataset.type == 'CocoDataset' and 'metainfo' not in cfg.test_dataloader.dataset
    assert dict(type='Resize', scale=[1333, 800], keep_ratio=True) in _plain(cfg.test_dataloader.dataset.pipeline)
    assert cfg.test_evaluator.type == 'CocoMetric'
    assert ('segm' in cfg.test_evaluator.metric) == name.startswith('mask')


def test_differences_catch_a_changed_setting():
    ref = _plain(conv.torchvision_retinanet_config(num_classes=80))
    got = _plain(Config.fromfile(CONFIGS / 'retinanet_r50_fpn_tv_coco.py').model)
    got['neck']['add_extra_convs'] = 'on_input'
    got['bbox_head']['anchor_generator']['octave_base_scale'] = 4
    assert len(_differences(ref, got)) == 2


# -- detections ----------------------------------------------------------------------------------------
def _freeze_bn(module):
    """Replace every BatchNorm2d by a FrozenBatchNorm2d with its statistics: torchvision's pretrained
    detectors' backbone, and the same arithmetic as our FrozenBN configs."""
    for name, child in module.named_children():
        if isinstance(child, torch.nn.BatchNorm2d):
            frozen = FrozenBatchNorm2d(child.num_features, eps=child.eps)
            frozen.load_state_dict({k: v for k, v in child.state_dict().items() if k != 'num_batches_tracked'})
            setattr(module, name, frozen)
        else:
            _freeze_bn(child)


def _build(arch, config, min_size, max_size, images, randomise_head):
    tv = small_tv_detector(arch, min_size, max_size)
    g = torch.Generator().manual_seed(1)
    randomise_batchnorm(tv.backbone.body, tv.transform(images)[0].tensors, g)
    _freeze_bn(tv.backbone.body)
    with torch.no_grad():
        randomise_head(tv, g)
    tv.eval()
    ours = MODELS.build(Config.fromfile(CONFIGS / config).model)
    for option in ('fold_bn', 'channels_last'):  # exact arithmetic for the comparison (see test_fcos_parity)
        if hasattr(ours.backbone, option):
            setattr(ours.backbone, option, False)
    return tv, ours


def _suppress_unused(layer, groups=1, slots=(UNUSED,)):
    """torchvision restricted to the 80 classes: the unused slots' logits at -1e4 (bias; weights 0)."""
    rows = torch.cat([(torch.arange(groups)[:, None] * 91 + s[None]).flatten() for s in slots])
    layer.weight[rows] = 0.0
    layer.bias[rows] = -1e4


def _predict_both(tv, ours, images):
    with torch.no_grad():
        tv_dets = tv(images)
        batch, _ = tv.transform(images)  # the same normalised, resized, padded tensor for both
        samples = [DataSample(metainfo=dict(ori_shape=tuple(img.shape[-2:]), img_shape=(h, w),
                                            scale_factor=(w / img.shape[-1], h / img.shape[-2])))
                   for img, (h, w) in zip(images, batch.image_sizes)]
        out = ours(batch.tensors, samples, mode='predict')
    return tv_dets, [s.pred_instances for s in out]


def _matched(tv_dets, preds, min_dets):
    """Per image, torchvision's detections and ours paired one-to-one: same class (ours ``k`` = torchvision's
    ``COCO80_CATEGORY_IDS[k]``) and the nearest box."""
    for det, pred in zip(tv_dets, preds):
        assert len(det['scores']) == len(pred) >= min_dets, (len(det['scores']), len(pred))
        assert len(pred.labels.unique()) > 3  # varied classes, not one everywhere
        assert set(det['labels'].tolist()) <= set(conv.COCO80_CATEGORY_IDS)
        dist = (det['boxes'][:, None] - pred.bboxes[None]).abs().amax(-1)
        dist[det['labels'][:, None] != VALID[pred.labels][None]] = float('inf')
        perm = dist.argmin(1)
        assert len(perm.unique()) == len(perm) and torch.isfinite(dist.min(1).values).all()
        yield det, pred[perm]


def _box_score_diffs(tv_dets, preds, min_dets):
    box = score = 0.0
    for det, pred in _matched(tv_dets, preds, min_dets):
        box = max(box, (det['boxes'] - pred.bboxes).abs().max().item())
        score = max(score, (det['scores'] - pred.scores).abs().max().item())
    return box, score


# resized by torchvision to 160 x 224 / 160 x 250, padded 160 x 256: P6 and P7 grids are rounded up (3 x 4,
# 2 x 2), so torchvision's anchors there are 53 / 80 px apart vertically, not 64 / 128
SINGLE_STAGE_IMAGES = [(100, 140), (128, 200)]


def test_retinanet_coco80_matches_torchvision():
    images = seeded_images(SINGLE_STAGE_IMAGES)

    tv, ours = _build('retinanet', 'retinanet_r50_fpn_tv_coco.py', 160, 256, images,
                      lambda tv, g: sharpen_retinanet_head(tv.head, g))
    _load(ours, conv.retinanet_from_torchvision(tv.state_dict(), coco80=True))
    with torch.no_grad():  # background and 'N/A' slots of every anchor
        _suppress_unused(tv.head.classification_head.cls_logits, groups=9, slots=(torch.tensor([0]), UNUSED))
    assert ours.bbox_head.test_cfg['max_per_img'] == tv.detections_per_img == 300
    box, score = _box_score_diffs(*_predict_both(tv, ours, images), min_dets=20)
    print(f'retinanet coco80: max |box diff| {box:.2e} px, max |score diff| {score:.2e}')
    assert box < 1e-3 and score < 1e-4


def test_fcos_coco80_matches_torchvision():
    images = seeded_images(SINGLE_STAGE_IMAGES)

    tv, ours = _build('fcos', 'fcos_r50_fpn_tv_coco.py', 160, 256, images,
                      lambda tv, g: sharpen_fcos_head(tv.head, g, cls_bias_mean=-1.0))
    _load(ours, conv.fcos_from_torchvision(tv.state_dict(), coco80=True))
    with torch.no_grad():
        _suppress_unused(tv.head.classification_head.cls_logits, slots=(torch.tensor([0]), UNUSED))
    box, score = _box_score_diffs(*_predict_both(tv, ours, images), min_dets=10)
    print(f'fcos coco80: max |box diff| {box:.2e} px, max |score diff| {score:.2e}')
    assert box < 1e-3 and score < 1e-4


def test_faster_and_mask_rcnn_coco80_match_torchvision():
    """One torchvision Mask R-CNN: its boxes against our Faster R-CNN config (the same box path, converted
    without the mask keys) and its boxes and masks against our Mask R-CNN config."""
    # resized to 96 x 192 / 96 x 150, padded 96 x 192: P6 is 2 x 3, torchvision's anchors 48 px apart vertically
    images = seeded_images([(72, 144), (128, 200)])

    tv, mask = _build('maskrcnn', 'mask-rcnn_r50_fpn_tv_coco.py', 96, 192, images, sharpen_rcnn_heads)
    tv.rpn._post_nms_top_n = dict(training=2000, testing=100)  # fewer RoIs than 1000: a quicker test
    tv.roi_heads.detections_per_img = 20  # the mask tower dominates
    tv_state = tv.state_dict()
    _load(mask, conv.maskrcnn_from_torchvision(tv_state, coco80=True))
    faster = MODELS.build(Config.fromfile(CONFIGS / 'faster-rcnn_r50_fpn_tv_coco.py').model)
    for option in ('fold_bn', 'channels_last'):
        if hasattr(faster.backbone, option):
            setattr(faster.backbone, option, False)
    _load(faster, conv.fasterrcnn_from_torchvision(
        {k: v for k, v in tv_state.items() if not k.startswith('roi_heads.mask_')}, coco80=True))
    for model in (mask, faster):
        model.rpn_head.test_cfg['max_per_img'] = 100
        model.roi_head.test_cfg['max_per_img'] = 20
    with torch.no_grad():
        _suppress_unused(tv.roi_heads.box_predictor.cls_score)  # the background stays: softmax over 81 logits
    tv_dets, preds = _predict_both(tv, faster, images)
    box, score = _box_score_diffs(tv_dets, preds, min_dets=20)
    print(f'faster r-cnn coco80: max |box diff| {box:.2e} px, max |score diff| {score:.2e}')
    assert box < 1e-3 and score < 1e-5
    assert max(p.scores.max().item() for p in preds) > 0.3

    _, preds = _predict_both(tv, mask, images)
    worst_iou = 1.0
    for det, pred in _matched(tv_dets, preds, min_dets=20):
        assert (det['boxes'] - pred.bboxes).abs().max().item() < 1e-3
        tv_masks = det['masks'][:, 0] >= 0.5
        inter = (tv_masks & pred.masks).flatten(1).sum(1).float()
        union = (tv_masks | pred.masks).flatten(1).sum(1).float()
        big = union >= 100
        assert big.sum() > 5
        worst_iou = min(worst_iou, (inter[big] / union[big]).min().item())
    print(f'mask r-cnn coco80: worst mask IoU {worst_iou:.4f}')
    assert worst_iou > 0.99  # equal but for pixels whose probability is within rounding of 0.5


# -- the command line and init_detector ---------------------------------------------------------------
def test_convert_command_coco80_round_trip(tmp_path):
    """``--coco80`` through a .pth file; init_detector reads the class names from the checkpoint's meta."""
    from visioncraft.apis.detection import init_detector
    from visioncraft.engine.checkpoint import load_checkpoint_file
    torch.manual_seed(0)
    tv = torchvision.models.detection.retinanet_resnet50_fpn(weights=None, weights_backbone=None, num_classes=91)
    _freeze_bn(tv.backbone.body)
    src, dst = tmp_path / 'retinanet_tv.pth', tmp_path / 'retinanet_vc.pth'
    torch.save(tv.state_dict(), src)
    conv.main(['--arch', 'retinanet', '--coco80', str(src), str(dst)])
    ckpt = load_checkpoint_file(dst)
    assert ckpt['meta']['arch'] == 'retinanet_resnet50_fpn' and ckpt['meta']['converted_from'] == str(src)
    assert tuple(ckpt['meta']['dataset_meta']['classes']) == COCO_CLASSES
    model = init_detector(str(CONFIGS / 'retinanet_r50_fpn_tv_coco.py'), str(dst), device='cpu')
    assert tuple(model.dataset_meta['classes']) == COCO_CLASSES
    own = model.state_dict()
    assert set(own) == set(ckpt['state_dict'])
    cls = tv.head.classification_head.cls_logits.bias.detach().view(9, 91)[:, VALID].flatten()
    assert torch.equal(own['bbox_head.retina_cls.bias'], cls)
    assert torch.equal(own['backbone.layer1.0.bn1.running_var'], tv.backbone.body.layer1[0].bn1.running_var)
