"""Convert torchvision's ``retinanet_resnet50_fpn``, ``fasterrcnn_resnet50_fpn``, ``maskrcnn_resnet50_fpn`` and
``fcos_resnet50_fpn`` (v1) weights into VisionCraft's RetinaNet / FasterRCNN / MaskRCNN / FCOS.

torchvision's COCO models have 91 class slots: index = COCO category id, 0 the background, and 10 ids
(12, 26, 29, 30, 45, 66, 68, 69, 71, 83) that COCO never uses ('N/A'). ``--coco80`` (``coco80=True``) keeps
only the 80 real classes, in category-id order, so that label ``k`` is :class:`CocoDataset`'s class ``k``
and the converted checkpoint runs with the COCO configs of ``configs/torchvision/``::

    python -m visioncraft.tasks.detection.models.convert_torchvision --arch retinanet --coco80 \
        retinanet_resnet50_fpn_coco-eeacb38b.pth retinanet_r50_fpn_tv_coco.pth
    python tools/test.py configs/torchvision/retinanet_r50_fpn_tv_coco.py retinanet_r50_fpn_tv_coco.pth

(``--arch fasterrcnn`` / ``maskrcnn`` / ``fcos`` with ``faster-rcnn_`` / ``mask-rcnn_`` / ``fcos_r50_fpn_tv_coco.py``).
The checkpoint's ``meta`` holds ``arch`` (torchvision's builder name), ``converted_from`` and
``dataset_meta=dict(classes=...)``: the 80 COCO names with ``--coco80``, else torchvision's slot names
('N/A' for the unused ids), which ``init_detector`` and the Runner's visualiser read.

Without ``--coco80`` the weights keep every slot: build the model with :func:`torchvision_retinanet_config` /
:func:`torchvision_fcos_config` (91 classes, label = category id) or :func:`torchvision_fasterrcnn_config` /
:func:`torchvision_maskrcnn_config` (90 object classes, label = category id - 1: the background class is
moved last). These configs are torchvision's architecture (P6 from P5 and a ReLU before P7 for RetinaNet and
FCOS, torchvision's rounded integer anchor sizes and anchor positions (:class:`TorchvisionAnchorGenerator`,
:class:`TorchvisionPointGenerator`: ``padded size // grid size`` apart), its RoI level mapping and thresholds);
pass ``num_classes=80`` (single-stage) / ``81`` (R-CNN, background included) for ``coco80`` weights.
"""
from __future__ import annotations

import re
from collections import OrderedDict

import torch

from visioncraft.errors import ArgumentParser, CheckpointError, read_checkpoint
from visioncraft.fileio.checkpoint import save_checkpoint
from ..datasets.coco import COCO_CLASSES
from .prior_generators import TorchvisionAnchorGenerator, TorchvisionPointGenerator  # noqa: F401  (re-exported)

__all__ = ['retinanet_from_torchvision', 'torchvision_retinanet_config', 'TORCHVISION_ANCHOR_SIZES',
           'fasterrcnn_from_torchvision', 'maskrcnn_from_torchvision', 'torchvision_fasterrcnn_config',
           'torchvision_maskrcnn_config', 'COCO80_CATEGORY_IDS', 'TORCHVISION_COCO_CATEGORIES',
           'TORCHVISION_ARCHS', 'converted_meta', 'TorchvisionAnchorGenerator', 'TorchvisionPointGenerator']

#: torchvision's COCO models have 91 class slots, slot = COCO category id (0: background); these 10 ids
#: are absent from COCO 2014/2017 (torchvision names them 'N/A').
_COCO_UNUSED_IDS = (12, 26, 29, 30, 45, 66, 68, 69, 71, 83)
_TV_COCO_SLOTS = 91
#: the category ids (= torchvision class slots) of the 80 COCO classes, in label order: CocoDataset's label
#: ``k`` (``COCO_CLASSES[k]``) is torchvision's class ``COCO80_CATEGORY_IDS[k]``.
COCO80_CATEGORY_IDS = tuple(i for i in range(1, _TV_COCO_SLOTS) if i not in _COCO_UNUSED_IDS)
#: torchvision's 91 slot names (its weights' ``meta['categories']``): '__background__', the COCO names, 'N/A'.
TORCHVISION_COCO_CATEGORIES = tuple(
    ['__background__'] + [COCO_CLASSES[COCO80_CATEGORY_IDS.index(i)] if i in COCO80_CATEGORY_IDS else 'N/A'
                          for i in range(1, _TV_COCO_SLOTS)])
#: ``--arch`` -> torchvision's builder name (recorded in the converted checkpoint's ``meta['arch']``)
TORCHVISION_ARCHS = dict(retinanet='retinanet_resnet50_fpn', fasterrcnn='fasterrcnn_resnet50_fpn',
                         maskrcnn='maskrcnn_resnet50_fpn', fcos='fcos_resnet50_fpn')

#: torchvision's ``_default_anchorgen``: int(x * 2 ** (k / 3)) for x in 32..512.
TORCHVISION_ANCHOR_SIZES = [[x, int(x * 2 ** (1 / 3)), int(x * 2 ** (2 / 3))] for x in (32, 64, 128, 256, 512)]


_RULES = [
    (r'^backbone\.body\.(.+)$', r'backbone.\1'),
    (r'^backbone\.fpn\.inner_blocks\.(\d+)\.(?:0\.)?(weight|bias)$', r'neck.lateral_convs.\1.\2'),
    (r'^backbone\.fpn\.layer_blocks\.(\d+)\.(?:0\.)?(weight|bias)$', r'neck.fpn_convs.\1.\2'),
    (r'^backbone\.fpn\.extra_blocks\.p6\.(weight|bias)$', r'neck.fpn_convs.3.\1'),
    (r'^backbone\.fpn\.extra_blocks\.p7\.(weight|bias)$', r'neck.fpn_convs.4.\1'),
    (r'^head\.classification_head\.conv\.(\d+)\.0\.(weight|bias)$', r'bbox_head.cls_convs.\1.\2'),
    (r'^head\.regression_head\.conv\.(\d+)\.0\.(weight|bias)$', r'bbox_head.reg_convs.\1.\2'),
    (r'^head\.classification_head\.cls_logits\.(weight|bias)$', r'bbox_head.retina_cls.\1'),
    (r'^head\.regression_head\.bbox_reg\.(weight|bias)$', r'bbox_head.retina_reg.\1'),
]
_V1_TOWER = re.compile(r'^(head\.(?:classification|regression)_head\.conv)\.(\d+)\.(weight|bias)$')


def retinanet_from_torchvision(tv_state_dict: dict[str, torch.Tensor],
                               coco80: bool = False) -> 'OrderedDict[str, torch.Tensor]':
    """Rename a torchvision RetinaNet (v1, ResNet-50-FPN) state dict to VisionCraft's keys.

    Accepts torchvision's current layout and the old one (towers as ``conv.0, conv.2, ...``). Raises
    ``KeyError`` listing every key it does not know (e.g. a v2 checkpoint's GroupNorm layers).

    ``coco80``: keep only the 80 COCO classes of the 91 slots (:data:`COCO80_CATEGORY_IDS`): the classifier's
    ``A * 91`` output channels (anchor-major: channel ``a * 91 + c``) become ``A * 80`` (``a * 80 + k``), for
    a model built with ``torchvision_retinanet_config(num_classes=80)``. ``ValueError`` if the classifier
    does not have ``A * 91`` channels.
    """
    def v1_tower(key: str) -> str:
        m = _V1_TOWER.match(key)
        # old layout: Sequential(conv, relu, conv, relu, ...) -> conv index 2i
        return f'{m.group(1)}.{int(m.group(2)) // 2}.0.{m.group(3)}' if m else key
    out = _rename(tv_state_dict, _RULES, 'retinanet_from_torchvision', 'retinanet_resnet50_fpn v1', v1_tower)
    if coco80:
        _keep_classes(out, ['bbox_head.retina_cls'], COCO80_CATEGORY_IDS, 'retinanet_from_torchvision')
    return out


def _keep_classes(state: 'OrderedDict[str, torch.Tensor]', layers: list[str], keep: tuple[int, ...], fn: str,
                  block: int = 1, groups: int | None = None) -> None:
    """Keep class slots ``keep`` of 91 (in that order) in the output rows (dim 0) of ``layer.weight`` /
    ``layer.bias``, in place.

    The rows are read as ``G x 91 x block`` (row ``(g * 91 + c) * block + j``): ``G`` groups (RetinaNet's
    anchors; ``groups`` checks the count when given) of 91 slots of ``block`` rows each (4 for box
    deltas). A layer absent from ``state`` is skipped (partial state dicts); a row count that does not
    factor so is a ``ValueError`` naming the key and its shape.
    """
    index = torch.tensor(keep, dtype=torch.long)
    for layer in layers:
        for suffix in ('weight', 'bias'):
            key = f'{layer}.{suffix}'
            if key not in state:
                continue
            t = state[key]
            rows = t.shape[0] if t.dim() else 0
            g = rows // (_TV_COCO_SLOTS * block)
            if g == 0 or rows != g * _TV_COCO_SLOTS * block or (groups is not None and g != groups):
                expected = f'{groups or "G"} x {_TV_COCO_SLOTS}' + (f' x {block}' if block > 1 else '')
                raise ValueError(f'{fn}(coco80=True): {key} has shape {tuple(t.shape)}, expected {expected} '
                                 f'output rows (torchvision\'s 91 COCO class slots); not a COCO-trained '
                                 'torchvision checkpoint?')
            view = t.reshape(g, _TV_COCO_SLOTS, block, *t.shape[1:])
            state[key] = view[:, index].reshape(g * len(keep) * block, *t.shape[1:]).contiguous()


def _rename(tv_state_dict: dict[str, torch.Tensor], rules: list[tuple[str, str]], fn: str, arch: str,
            normalise=None) -> 'OrderedDict[str, torch.Tensor]':
    """Rename every key by the first matching ``(pattern, replacement)`` rule (after dropping a ``module.``
    prefix and applying ``normalise``); a ``KeyError`` lists the keys no rule matches."""
    out: OrderedDict[str, torch.Tensor] = OrderedDict()
    unknown = []
    for key, value in tv_state_dict.items():
        if key.startswith('module.'):
            key = key[len('module.'):]
        if normalise is not None:
            key = normalise(key)
        for pattern, repl in rules:
            new, n = re.subn(pattern, repl, key)
            if n:
                out[new] = value
                break
        else:
            unknown.append(key)
    if unknown:
        raise KeyError(f'{fn}: {len(unknown)} keys have no VisionCraft counterpart '
                       f'(not a torchvision {arch} state dict?): {unknown[:10]}')
    return out


#: torchvision's BoxCoder clamps the log size deltas from above only (MMDetection's from both sides)
_TV_DELTA_CODER = dict(type='DeltaXYWHBBoxCoder', target_stds=[1.0, 1.0, 1.0, 1.0], clamp_small=False)


def _tv_resnet50_fpn(frozen_bn: bool, p3_to_p7: bool) -> dict:
    """torchvision's detection body: ImageNet normalisation (RGB), ResNet-50 with stage 1 frozen and
    FrozenBN (``frozen_bn``) or eval-mode BN, and an FPN: P3-P7 with P6 from P5 and a ReLU before P7
    (RetinaNet, FCOS: ``p3_to_p7``) or P2-P6 with P6 by max-pooling (the R-CNNs)."""
    neck = dict(type='FPN', in_channels=[256, 512, 1024, 2048], out_channels=256, num_outs=5)
    if p3_to_p7:
        neck.update(start_level=1, add_extra_convs='on_output', relu_before_extra_convs=True)
    return dict(
        data_preprocessor=dict(type='DetDataPreprocessor', mean=[123.675, 116.28, 103.53],
                               std=[58.395, 57.12, 57.375], bgr_to_rgb=True, pad_size_divisor=32),
        backbone=dict(type='ResNet', depth=50, num_stages=4, out_indices=(0, 1, 2, 3), frozen_stages=1,
                      norm_cfg=dict(type='FrozenBN' if frozen_bn else 'BN'), norm_eval=True),
        neck=neck)


def torchvision_retinanet_config(num_classes: int = 91, max_per_img: int = 300, frozen_bn: bool = True) -> dict:
    """The VisionCraft RetinaNet config equal to torchvision's ``retinanet_resnet50_fpn`` (inference).

    ``frozen_bn``: FrozenBatchNorm2d as torchvision uses with pretrained weights; False gives plain
    BatchNorm (in eval mode), as torchvision builds without weights (bit-closer parity for such models).

    Inputs: BGR uint8 images already resized as torchvision does (shorter side 800, longer <= 1333).
    """
    return dict(
        type='RetinaNet',
        **_tv_resnet50_fpn(frozen_bn, p3_to_p7=True),
        bbox_head=dict(type='RetinaHead', num_classes=num_classes, in_channels=256, feat_channels=256,
                       anchor_generator=dict(type='TorchvisionAnchorGenerator', strides=[8, 16, 32, 64, 128],
                                             ratios=[0.5, 1.0, 2.0], sizes=TORCHVISION_ANCHOR_SIZES,
                                             round_base_anchors=True),
                       bbox_coder=_TV_DELTA_CODER),
        # min_bbox_size -1: no box dropped before the NMS (MMDetection's configs drop the empty ones)
        test_cfg=dict(score_thr=0.05, nms_pre=1000, nms=dict(type='nms', iou_threshold=0.5),
                      max_per_img=max_per_img, min_bbox_size=-1),
    )

_RCNN_RULES = _RULES[:3] + [  # backbone and FPN (P6 by max-pooling: no extra convs); RPN; RoI heads
    (r'^rpn\.head\.conv\.(?:0\.0\.)?(weight|bias)$', r'rpn_head.rpn_conv.\1'),
    (r'^rpn\.head\.cls_logits\.(weight|bias)$', r'rpn_head.rpn_cls.\1'),
    (r'^rpn\.head\.bbox_pred\.(weight|bias)$', r'rpn_head.rpn_reg.\1'),
    (r'^roi_heads\.box_head\.fc6\.(weight|bias)$', r'roi_head.bbox_head.shared_fcs.0.\1'),
    (r'^roi_heads\.box_head\.fc7\.(weight|bias)$', r'roi_head.bbox_head.shared_fcs.1.\1'),
    (r'^roi_heads\.box_predictor\.cls_score\.(weight|bias)$', r'roi_head.bbox_head.fc_cls.\1'),
    (r'^roi_heads\.box_predictor\.bbox_pred\.(weight|bias)$', r'roi_head.bbox_head.fc_reg.\1'),
    (r'^roi_heads\.mask_head\.(\d+)\.0\.(weight|bias)$', r'roi_head.mask_head.convs.\1.\2'),
    (r'^roi_heads\.mask_predictor\.conv5_mask\.(weight|bias)$', r'roi_head.mask_head.upsample.\1'),
    (r'^roi_heads\.mask_predictor\.mask_fcn_logits\.(weight|bias)$', r'roi_head.mask_head.conv_logits.\1'),
]
_V1_MASK_FCN = re.compile(r'^roi_heads\.mask_head\.mask_fcn(\d+)\.(weight|bias)$')


def _v1_mask_fcn(key: str) -> str:
    """torchvision's old mask-head layout (``mask_fcn1`` ...) -> the current one (``0.0`` ...)."""
    m = _V1_MASK_FCN.match(key)
    return f'roi_heads.mask_head.{int(m.group(1)) - 1}.0.{m.group(2)}' if m else key


def _background_last(state: 'OrderedDict[str, torch.Tensor]') -> 'OrderedDict[str, torch.Tensor]':
    """torchvision's R-CNN predictors have the background FIRST (class 0): move the classifier's row 0 to
    the end (MMDetection's order, background = ``num_classes``) and drop the background's box deltas
    (rows 0-3) and mask channel (row 0), which are never used."""
    for suffix in ('weight', 'bias'):
        key = f'roi_head.bbox_head.fc_cls.{suffix}'
        if key in state:
            w = state[key]
            state[key] = torch.cat([w[1:], w[:1]])
        key = f'roi_head.bbox_head.fc_reg.{suffix}'
        if key in state:
            state[key] = state[key][4:]
        key = f'roi_head.mask_head.conv_logits.{suffix}'
        if key in state:
            state[key] = state[key][1:]
    return state


def _rcnn_coco80(state: 'OrderedDict[str, torch.Tensor]', fn: str) -> 'OrderedDict[str, torch.Tensor]':
    """Keep the background and the 80 COCO classes (torchvision's order, background first) in the
    classifier, the class-specific box deltas (4 rows per class) and the mask logits."""
    keep = (0,) + COCO80_CATEGORY_IDS
    _keep_classes(state, ['roi_head.bbox_head.fc_cls', 'roi_head.mask_head.conv_logits'], keep, fn, groups=1)
    _keep_classes(state, ['roi_head.bbox_head.fc_reg'], keep, fn, block=4, groups=1)
    return state


def fasterrcnn_from_torchvision(tv_state_dict: dict[str, torch.Tensor],
                                coco80: bool = False) -> 'OrderedDict[str, torch.Tensor]':
    """Rename a torchvision ``fasterrcnn_resnet50_fpn`` (v1) state dict to VisionCraft's keys, with the
    background class moved last (see :func:`torchvision_fasterrcnn_config`). Also accepts the old RPN conv
    layout (``rpn.head.conv.weight``). ``KeyError`` lists unknown keys (e.g. a v2 checkpoint's norms).

    ``coco80``: keep only the 80 COCO classes (:data:`COCO80_CATEGORY_IDS`, in that order) in the classifier
    (81 rows, background last), the class-specific box deltas (80 x 4 rows) and, for Mask R-CNN, the mask
    logits (80 channels), for a model built with ``torchvision_fasterrcnn_config(num_classes=81)``. The
    kept logits are torchvision's, but the softmax over 81 instead of 91 logits gives slightly higher
    scores than torchvision's (the 10 unused slots' share of the probability goes to the others).
    """
    out = _rename(tv_state_dict, _RCNN_RULES, 'fasterrcnn_from_torchvision', 'fasterrcnn_resnet50_fpn v1')
    return _background_last(_rcnn_coco80(out, 'fasterrcnn_from_torchvision') if coco80 else out)


def maskrcnn_from_torchvision(tv_state_dict: dict[str, torch.Tensor],
                              coco80: bool = False) -> 'OrderedDict[str, torch.Tensor]':
    """:func:`fasterrcnn_from_torchvision` for ``maskrcnn_resnet50_fpn`` (v1), mask head included (current
    and old ``mask_fcn1..4`` layouts); the background's mask channel is dropped (and, with ``coco80``,
    the unused slots' channels)."""
    out = _rename(tv_state_dict, _RCNN_RULES, 'maskrcnn_from_torchvision', 'maskrcnn_resnet50_fpn v1',
                  _v1_mask_fcn)
    return _background_last(_rcnn_coco80(out, 'maskrcnn_from_torchvision') if coco80 else out)


def _tv_roi_extractor(size: int) -> dict:
    # torchvision's MultiScaleRoIAlign: sampling_ratio 2, aligned=False, LevelMapper(224, level 4)
    return dict(type='SingleRoIExtractor', roi_layer=dict(type='RoIAlign', output_size=size, sampling_ratio=2,
                                                          aligned=False),
                out_channels=256, featmap_strides=[4, 8, 16, 32], canonical_scale=224, canonical_level=4)


def torchvision_fasterrcnn_config(num_classes: int = 91, frozen_bn: bool = True) -> dict:
    """The VisionCraft Faster R-CNN config equal to torchvision's ``fasterrcnn_resnet50_fpn`` (v1).

    ``num_classes`` is torchvision's (background included): the model has ``num_classes - 1`` object
    classes and our label ``l`` is torchvision's ``l + 1``. ``frozen_bn``: as
    :func:`torchvision_retinanet_config`. Inputs: images resized as torchvision does (shorter side 800,
    longer <= 1333), padded to a multiple of 32 as torchvision's (whose P6 anchors are then ``padded size //
    grid size`` apart, :class:`TorchvisionAnchorGenerator`).
    Training settings are torchvision's too (2000 proposals, SmoothL1 with beta 1/9, samplers 256 / 0.5 and
    512 / 0.25; torchvision adds the gt boxes after the proposals, we put them first).
    """
    rpn_nms = dict(type='nms', iou_threshold=0.7)
    return dict(
        type='FasterRCNN',
        **_tv_resnet50_fpn(frozen_bn, p3_to_p7=False),
        rpn_head=dict(type='RPNHead', in_channels=256, feat_channels=256,
                      anchor_generator=dict(type='TorchvisionAnchorGenerator', strides=[4, 8, 16, 32, 64],
                                            ratios=[0.5, 1.0, 2.0],
                                            sizes=[[32], [64], [128], [256], [512]], round_base_anchors=True),
                      bbox_coder=_TV_DELTA_CODER,
                      loss_cls=dict(type='CrossEntropyLoss', use_sigmoid=True),
                      loss_bbox=dict(type='SmoothL1Loss', beta=1 / 9)),
        roi_head=dict(type='StandardRoIHead', bbox_roi_extractor=_tv_roi_extractor(7),
                      bbox_head=dict(type='Shared2FCBBoxHead', num_classes=num_classes - 1, in_channels=256,
                                     roi_feat_size=7, fc_out_channels=1024,
                                     bbox_coder=dict(_TV_DELTA_CODER, target_stds=[0.1, 0.1, 0.2, 0.2]),
                                     loss_cls=dict(type='CrossEntropyLoss'),
                                     loss_bbox=dict(type='SmoothL1Loss', beta=1 / 9))),
        train_cfg=dict(
            rpn=dict(assigner=dict(type='MaxIoUAssigner', pos_iou_thr=0.7, neg_iou_thr=0.3, min_pos_iou=0.0,
                                   match_low_quality=True),
                     sampler=dict(type='RandomSampler', num=256, pos_fraction=0.5, add_gt_as_proposals=False)),
            rpn_proposal=dict(nms_pre=2000, max_per_img=2000, nms=rpn_nms, min_bbox_size=1e-3),
            rcnn=dict(assigner=dict(type='MaxIoUAssigner', pos_iou_thr=0.5, neg_iou_thr=0.5, min_pos_iou=0.5,
                                    match_low_quality=False),
                      sampler=dict(type='RandomSampler', num=512, pos_fraction=0.25, add_gt_as_proposals=True))),
        test_cfg=dict(rpn=dict(nms_pre=1000, max_per_img=1000, nms=rpn_nms, min_bbox_size=1e-3),
                      rcnn=dict(score_thr=0.05, nms=dict(type='nms', iou_threshold=0.5), max_per_img=100,
                                min_bbox_size=1e-2)),
    )


def torchvision_maskrcnn_config(num_classes: int = 91, frozen_bn: bool = True) -> dict:
    """:func:`torchvision_fasterrcnn_config` plus torchvision's mask branch (``maskrcnn_resnet50_fpn`` v1):
    14 x 14 RoIAlign (sampling 2, not aligned), four 3x3 convs, a 2x2 deconv, 28 x 28 masks."""
    cfg = torchvision_fasterrcnn_config(num_classes, frozen_bn)
    cfg['type'] = 'MaskRCNN'
    cfg['roi_head'].update(
        mask_roi_extractor=_tv_roi_extractor(14),
        mask_head=dict(type='FCNMaskHead', num_convs=4, in_channels=256, conv_out_channels=256,
                       num_classes=num_classes - 1, loss_mask=dict(type='CrossEntropyLoss', use_mask=True)))
    cfg['test_cfg']['rcnn']['mask_paste'] = 'torchvision'  # its paste_masks_in_image
    return cfg


_CONVERTERS = dict(retinanet=retinanet_from_torchvision, fasterrcnn=fasterrcnn_from_torchvision,
                   maskrcnn=maskrcnn_from_torchvision)



# -- FCOS (torchvision's fcos_resnet50_fpn) ------------------------------------------------------------
__all__ += ['fcos_from_torchvision', 'torchvision_fcos_config']

_FCOS_RULES = _RULES[:5] + [  # backbone and FPN as RetinaNet's; then the GroupNorm towers and the three convs
    (r'^head\.classification_head\.conv\.(\d+)\.(conv|norm)\.(weight|bias)$', r'bbox_head.cls_convs.\1.\2.\3'),
    (r'^head\.regression_head\.conv\.(\d+)\.(conv|norm)\.(weight|bias)$', r'bbox_head.reg_convs.\1.\2.\3'),
    (r'^head\.classification_head\.cls_logits\.(weight|bias)$', r'bbox_head.conv_cls.\1'),
    (r'^head\.regression_head\.bbox_reg\.(weight|bias)$', r'bbox_head.conv_reg.\1'),
    (r'^head\.regression_head\.bbox_ctrness\.(weight|bias)$', r'bbox_head.conv_centerness.\1'),
]
_FCOS_TOWER = re.compile(r'^(head\.(?:classification|regression)_head\.conv)\.(\d+)\.(weight|bias)$')


def fcos_from_torchvision(tv_state_dict: dict[str, torch.Tensor], num_levels: int = 5,
                          coco80: bool = False) -> 'OrderedDict[str, torch.Tensor]':
    """Rename a torchvision FCOS (``fcos_resnet50_fpn``) state dict to VisionCraft's FCOS keys.

    torchvision's towers are ``Sequential(conv, GroupNorm, ReLU) x 4`` (``conv.3i`` conv, ``conv.3i+1`` norm)
    -> ``cls_convs.i.conv`` / ``cls_convs.i.norm``; torchvision has no per-level regression scale, so
    ``bbox_head.scales.<l>.scale`` = 1 is added for each of the ``num_levels`` levels. Raises ``KeyError``
    listing every key it does not know.

    ``coco80``: keep only the 80 COCO classes of the classifier's 91 channels (:data:`COCO80_CATEGORY_IDS`,
    in that order), for a model built with ``torchvision_fcos_config(num_classes=80)``.
    """
    def tower(key: str) -> str:
        m = _FCOS_TOWER.match(key)
        if not m:
            return key
        j = int(m.group(2))
        if j % 3 == 2:  # ReLU has no parameters; a key here means another layout
            return key + '.unexpected'
        return f"{m.group(1)}.{j // 3}.{'conv' if j % 3 == 0 else 'norm'}.{m.group(3)}"
    out = _rename(tv_state_dict, _FCOS_RULES, 'fcos_from_torchvision', 'fcos_resnet50_fpn', tower)
    if coco80:
        _keep_classes(out, ['bbox_head.conv_cls'], COCO80_CATEGORY_IDS, 'fcos_from_torchvision', groups=1)
    dtype = out['bbox_head.conv_reg.weight'].dtype if 'bbox_head.conv_reg.weight' in out else torch.float32
    for lvl in range(num_levels):
        out[f'bbox_head.scales.{lvl}.scale'] = torch.ones((), dtype=dtype)
    return out


def torchvision_fcos_config(num_classes: int = 91, frozen_bn: bool = True) -> dict:
    """The VisionCraft FCOS config equal to torchvision's ``fcos_resnet50_fpn`` (inference and loss).

    Points at the cell corners (``offset=0``, torchvision's anchor centres), regression ranges 0/64/128/256/
    512/inf compared strictly, centre sampling radius 1.5, distances ``relu(x) * stride`` (scales fixed at 1
    by :func:`fcos_from_torchvision`), an unweighted GIoU loss, score ``sqrt(cls * centerness)`` > 0.2,
    class-wise NMS at 0.6, 100 detections. ``frozen_bn`` as in :func:`torchvision_retinanet_config`.

    Inputs: BGR uint8 images already resized as torchvision does (shorter side 800, longer <= 1333).
    """
    strides = [8, 16, 32, 64, 128]
    return dict(
        type='FCOS',
        **_tv_resnet50_fpn(frozen_bn, p3_to_p7=True),
        bbox_head=dict(type='FCOSHead', num_classes=num_classes, in_channels=256, feat_channels=256,
                       stacked_convs=4, strides=strides,
                       regress_ranges=[(0, 64), (64, 128), (128, 256), (256, 512), (512, float('inf'))],
                       strict_regress_ranges=True, center_sampling=True, center_sample_radius=1.5,
                       norm_on_bbox=True, centerness_on_reg=True, use_scale=True, conv_bias=True,
                       norm_cfg=dict(type='GN', num_groups=32),
                       prior_generator=dict(type='TorchvisionPointGenerator', strides=strides, offset=0.0),
                       loss_cls=dict(type='FocalLoss', gamma=2.0, alpha=0.25),
                       loss_bbox=dict(type='GIoULoss', eps=1e-7),
                       loss_centerness=dict(type='CrossEntropyLoss', use_sigmoid=True),
                       centerness_weighted_bbox_loss=False),
        test_cfg=dict(score_thr=0.2, nms_pre=1000, nms=dict(type='nms', iou_threshold=0.6), max_per_img=100,
                      score_mode='sqrt'),
    )


_CONVERTERS['fcos'] = fcos_from_torchvision


def converted_meta(arch: str, coco80: bool, src: str | None = None) -> dict:
    """The ``meta`` of a converted checkpoint: ``arch`` (torchvision's builder name, e.g.
    ``'retinanet_resnet50_fpn'``), ``converted_from`` (``src``) and ``dataset_meta=dict(classes=...)``, the
    model's class names in label order: ``COCO_CLASSES`` with ``coco80``; else torchvision's slot names
    (:data:`TORCHVISION_COCO_CATEGORIES`, without the background for the R-CNNs, whose labels start at
    category id 1)."""
    if arch not in TORCHVISION_ARCHS:
        raise ValueError(f'converted_meta: arch must be one of {sorted(TORCHVISION_ARCHS)}, got {arch!r}')
    if coco80:
        classes = tuple(COCO_CLASSES)
    else:
        classes = TORCHVISION_COCO_CATEGORIES[1:] if arch in ('fasterrcnn', 'maskrcnn') \
            else TORCHVISION_COCO_CATEGORIES
    return dict(arch=TORCHVISION_ARCHS[arch], converted_from=src, dataset_meta=dict(classes=classes))


def main(argv: list[str] | None = None) -> None:
    parser = ArgumentParser(description="Convert torchvision detection weights (retinanet_resnet50_fpn, "
                                        "fasterrcnn_resnet50_fpn, maskrcnn_resnet50_fpn, fcos_resnet50_fpn;"
                                        " v1) to VisionCraft's")
    parser.add_argument('src', help='torchvision checkpoint (.pth)')
    parser.add_argument('dst', help='output checkpoint ({"state_dict": ..., "meta": ...})')
    parser.add_argument('--arch', choices=sorted(_CONVERTERS), default='retinanet',
                        help='the torchvision model the checkpoint is from (default: retinanet)')
    parser.add_argument('--coco80', action='store_true',
                        help="keep only the 80 COCO classes (drop the background / 'N/A' slots of torchvision's 91): "
                             'for configs/torchvision/*_tv_coco.py and CocoDataset labels')
    args = parser.parse_args(argv)
    _, weights = read_checkpoint(args.src)
    try:
        state = _CONVERTERS[args.arch](weights, coco80=args.coco80)
    except KeyError as exc:  # the keys are not those of a torchvision checkpoint of --arch
        raise CheckpointError(f'{args.src}: {exc.args[0] if exc.args else exc}') from None
    save_checkpoint(dict(state_dict=state, meta=converted_meta(args.arch, args.coco80, str(args.src))), args.dst)
    print(f'wrote {len(state)} tensors to {args.dst}' + (' (80 COCO classes)' if args.coco80 else ''))


if __name__ == '__main__':
    from visioncraft.errors import run_entry_point
    run_entry_point(main)
