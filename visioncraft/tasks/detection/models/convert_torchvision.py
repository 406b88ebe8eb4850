"""Convert torchvision's ``retinanet_resnet50_fpn``, ``fasterrcnn_resnet50_fpn`` and ``maskrcnn_resnet50_fpn``
(v1) weights into VisionCraft's RetinaNet / FasterRCNN / MaskRCNN.

Usage::

    python -m visioncraft.tasks.detection.models.convert_torchvision \
        retinanet_resnet50_fpn_coco-eeacb38b.pth retinanet_r50_fpn_tv.pth
    python -m visioncraft.tasks.detection.models.convert_torchvision --arch fasterrcnn \
        fasterrcnn_resnet50_fpn_coco-258fb6c6.pth faster_rcnn_r50_fpn_tv.pth

and build the model with :func:`torchvision_retinanet_config` (the same architecture: P6 from P5, ReLU
before P7, torchvision's rounded integer anchor sizes, 91 COCO category slots incl. unused ids), or
:func:`torchvision_fasterrcnn_config` / :func:`torchvision_maskrcnn_config` (background class moved last).
"""
from __future__ import annotations

import argparse
import re
from collections import OrderedDict

import torch

__all__ = ['retinanet_from_torchvision', 'torchvision_retinanet_config', 'TORCHVISION_ANCHOR_SIZES',
           'fasterrcnn_from_torchvision', 'maskrcnn_from_torchvision', 'torchvision_fasterrcnn_config',
           'torchvision_maskrcnn_config']

#: torchvision's ``_default_anchorgen``: int(x * 2 ** (k / 3)) for x in 32..512.
TORCHVISION_ANCHOR_SIZES = [[x, int(x * 2 ** (1 / 3)), int(x * 2 ** (2 / 3))] for x in (32, 64, 128, 256, 512)]

_RULES = [
    (r'^backbone\.body\.(.+)$', r'backbone.\1'),
    (r'^backbone\.fpn\.inner_blocks\.(\d+)\.(?:0\.)?(weight|bias)$', r'neck.lateral_convs.\1.\2'),
    (r'^backbone\.fpn\.layer_blocks\.(\d+)\.(?:0\.)?(weight|bias)$', r'neck.output_convs.\1.\2'),
    (r'^backbone\.fpn\.extra_blocks\.p6\.(weight|bias)$', r'neck.extra_convs.0.\1'),
    (r'^backbone\.fpn\.extra_blocks\.p7\.(weight|bias)$', r'neck.extra_convs.1.\1'),
    (r'^head\.classification_head\.conv\.(\d+)\.0\.(weight|bias)$', r'bbox_head.cls_convs.\1.\2'),
    (r'^head\.regression_head\.conv\.(\d+)\.0\.(weight|bias)$', r'bbox_head.reg_convs.\1.\2'),
    (r'^head\.classification_head\.cls_logits\.(weight|bias)$', r'bbox_head.retina_cls.\1'),
    (r'^head\.regression_head\.bbox_reg\.(weight|bias)$', r'bbox_head.retina_reg.\1'),
]
_V1_TOWER = re.compile(r'^(head\.(?:classification|regression)_head\.conv)\.(\d+)\.(weight|bias)$')


def retinanet_from_torchvision(tv_state_dict: dict[str, torch.Tensor]) -> 'OrderedDict[str, torch.Tensor]':
    """Rename a torchvision RetinaNet (v1, ResNet-50-FPN) state dict to VisionCraft's keys.

    Accepts torchvision's current layout and the old one (towers as ``conv.0, conv.2, ...``). Raises
    ``KeyError`` listing every key it does not know (e.g. a v2 checkpoint's GroupNorm layers).
    """
    def v1_tower(key: str) -> str:
        m = _V1_TOWER.match(key)
        # old layout: Sequential(conv, relu, conv, relu, ...) -> conv index 2i
        return f'{m.group(1)}.{int(m.group(2)) // 2}.0.{m.group(3)}' if m else key
    return _rename(tv_state_dict, _RULES, 'retinanet_from_torchvision', 'retinanet_resnet50_fpn v1', v1_tower)


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


def torchvision_retinanet_config(num_classes: int = 91, max_per_img: int = 300, frozen_bn: bool = True) -> dict:
    """The VisionCraft RetinaNet config equal to torchvision's ``retinanet_resnet50_fpn`` (inference).

    ``frozen_bn``: FrozenBatchNorm2d as torchvision uses with pretrained weights; False gives plain
    BatchNorm (in eval mode), as torchvision builds without weights (bit-closer parity for such models).

    Inputs: BGR uint8 images already resized as torchvision does (shorter side 800, longer <= 1333).
    """
    return dict(
        type='RetinaNet',
        data_preprocessor=dict(type='DetDataPreprocessor', mean=[123.675, 116.28, 103.53],
                               std=[58.395, 57.12, 57.375], bgr_to_rgb=True, pad_size_divisor=32),
        backbone=dict(type='ResNet', depth=50, num_stages=4, out_indices=(0, 1, 2, 3), frozen_stages=1,
                      norm_cfg=dict(type='FrozenBN' if frozen_bn else 'BN'), norm_eval=True),
        neck=dict(type='FPN', in_channels=[256, 512, 1024, 2048], out_channels=256, start_level=1,
                  add_extra_convs='on_output', relu_before_extra_convs=True, num_outs=5),
        bbox_head=dict(type='RetinaHead', num_classes=num_classes, in_channels=256, feat_channels=256,
                       anchor_generator=dict(type='AnchorGenerator', strides=[8, 16, 32, 64, 128],
                                             ratios=[0.5, 1.0, 2.0], sizes=TORCHVISION_ANCHOR_SIZES,
                                             round_base_anchors=True)),
        test_cfg=dict(score_thr=0.05, nms_pre=1000, nms=dict(type='nms', iou_threshold=0.5),
                      max_per_img=max_per_img),
    )

_RCNN_RULES = [
    (r'^backbone\.body\.(.+)$', r'backbone.\1'),
    (r'^backbone\.fpn\.inner_blocks\.(\d+)\.(?:0\.)?(weight|bias)$', r'neck.lateral_convs.\1.\2'),
    (r'^backbone\.fpn\.layer_blocks\.(\d+)\.(?:0\.)?(weight|bias)$', r'neck.output_convs.\1.\2'),
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


def fasterrcnn_from_torchvision(tv_state_dict: dict[str, torch.Tensor]) -> 'OrderedDict[str, torch.Tensor]':
    """Rename a torchvision ``fasterrcnn_resnet50_fpn`` (v1) state dict to VisionCraft's keys, with the
    background class moved last (see :func:`torchvision_fasterrcnn_config`). Also accepts the old RPN conv
    layout (``rpn.head.conv.weight``). ``KeyError`` lists unknown keys (e.g. a v2 checkpoint's norms)."""
    return _background_last(_rename(tv_state_dict, _RCNN_RULES, 'fasterrcnn_from_torchvision',
                                    'fasterrcnn_resnet50_fpn v1'))


def maskrcnn_from_torchvision(tv_state_dict: dict[str, torch.Tensor]) -> 'OrderedDict[str, torch.Tensor]':
    """:func:`fasterrcnn_from_torchvision` for ``maskrcnn_resnet50_fpn`` (v1), mask head included (current
    and old ``mask_fcn1..4`` layouts); the background's mask channel is dropped."""
    return _background_last(_rename(tv_state_dict, _RCNN_RULES, 'maskrcnn_from_torchvision',
                                    'maskrcnn_resnet50_fpn v1', _v1_mask_fcn))


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
    longer <= 1333); the padded batch should divide by 64 so that the P6 anchors' stride is the nominal one.
    Training settings are torchvision's too (2000 proposals, SmoothL1 with beta 1/9, samplers 256 / 0.5 and
    512 / 0.25; torchvision adds the gt boxes after the proposals, we put them first).
    """
    rpn_nms = dict(type='nms', iou_threshold=0.7)
    return dict(
        type='FasterRCNN',
        data_preprocessor=dict(type='DetDataPreprocessor', mean=[123.675, 116.28, 103.53],
                               std=[58.395, 57.12, 57.375], bgr_to_rgb=True, pad_size_divisor=32),
        backbone=dict(type='ResNet', depth=50, num_stages=4, out_indices=(0, 1, 2, 3), frozen_stages=1,
                      norm_cfg=dict(type='FrozenBN' if frozen_bn else 'BN'), norm_eval=True),
        neck=dict(type='FPN', in_channels=[256, 512, 1024, 2048], out_channels=256, num_outs=5),
        rpn_head=dict(type='RPNHead', in_channels=256, feat_channels=256,
                      anchor_generator=dict(type='AnchorGenerator', strides=[4, 8, 16, 32, 64], ratios=[0.5, 1.0, 2.0],
                                            sizes=[[32], [64], [128], [256], [512]], round_base_anchors=True),
                      loss_cls=dict(type='CrossEntropyLoss', use_sigmoid=True),
                      loss_bbox=dict(type='SmoothL1Loss', beta=1 / 9)),
        roi_head=dict(type='StandardRoIHead', bbox_roi_extractor=_tv_roi_extractor(7),
                      bbox_head=dict(type='Shared2FCBBoxHead', num_classes=num_classes - 1, in_channels=256,
                                     roi_feat_size=7, fc_out_channels=1024,
                                     bbox_coder=dict(type='DeltaXYWHBBoxCoder', target_stds=[0.1, 0.1, 0.2, 0.2]),
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


def fcos_from_torchvision(tv_state_dict: dict[str, torch.Tensor],
                          num_levels: int = 5) -> 'OrderedDict[str, torch.Tensor]':
    """Rename a torchvision FCOS (``fcos_resnet50_fpn``) state dict to VisionCraft's FCOS keys.

    torchvision's towers are ``Sequential(conv, GroupNorm, ReLU) x 4`` (``conv.3i`` conv, ``conv.3i+1`` norm)
    -> ``cls_convs.i.conv`` / ``cls_convs.i.norm``; torchvision has no per-level regression scale, so
    ``bbox_head.scales.<l>.scale`` = 1 is added for each of the ``num_levels`` levels. Raises ``KeyError``
    listing every key it does not know.
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
        data_preprocessor=dict(type='DetDataPreprocessor', mean=[123.675, 116.28, 103.53],
                               std=[58.395, 57.12, 57.375], bgr_to_rgb=True, pad_size_divisor=32),
        backbone=dict(type='ResNet', depth=50, num_stages=4, out_indices=(0, 1, 2, 3), frozen_stages=1,
                      norm_cfg=dict(type='FrozenBN' if frozen_bn else 'BN'), norm_eval=True),
        neck=dict(type='FPN', in_channels=[256, 512, 1024, 2048], out_channels=256, start_level=1,
                  add_extra_convs='on_output', relu_before_extra_convs=True, num_outs=5),
        bbox_head=dict(type='FCOSHead', num_classes=num_classes, in_channels=256, feat_channels=256,
                       stacked_convs=4, strides=strides,
                       regress_ranges=[(0, 64), (64, 128), (128, 256), (256, 512), (512, float('inf'))],
                       strict_regress_ranges=True, center_sampling=True, center_sample_radius=1.5,
                       norm_on_bbox=True, centerness_on_reg=True, use_scale=True, conv_bias=True,
                       norm_cfg=dict(type='GN', num_groups=32),
                       prior_generator=dict(type='MlvlPointGenerator', strides=strides, offset=0.0),
                       loss_cls=dict(type='FocalLoss', gamma=2.0, alpha=0.25),
                       loss_bbox=dict(type='GIoULoss', eps=1e-7),
                       loss_centerness=dict(type='CrossEntropyLoss', use_sigmoid=True),
                       centerness_weighted_bbox_loss=False),
        test_cfg=dict(score_thr=0.2, nms_pre=1000, nms=dict(type='nms', iou_threshold=0.6), max_per_img=100,
                      score_mode='sqrt'),
    )


_CONVERTERS['fcos'] = fcos_from_torchvision


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Convert torchvision detection weights (retinanet_resnet50_fpn, "
                                                 "fasterrcnn_resnet50_fpn, maskrcnn_resnet50_fpn; v1) to VisionCraft's")
    parser.add_argument('src', help='torchvision checkpoint (.pth)')
    parser.add_argument('dst', help='output checkpoint ({"state_dict": ...})')
    parser.add_argument('--arch', choices=sorted(_CONVERTERS), default='retinanet',
                        help='the torchvision model the checkpoint is from (default: retinanet)')
    args = parser.parse_args(argv)
    from visioncraft.engine.checkpoint import extract_state_dict, load_checkpoint_file, save_checkpoint
    state = _CONVERTERS[args.arch](extract_state_dict(load_checkpoint_file(args.src)))
    save_checkpoint(dict(state_dict=state, meta=dict(converted_from=args.src)), args.dst)
    print(f'wrote {len(state)} tensors to {args.dst}')


if __name__ == '__main__':
    main()
