"""Convert torchvision's ``retinanet_resnet50_fpn`` weights into VisionCraft's RetinaNet.

Usage::

    python -m visioncraft.tasks.detection.models.convert_torchvision \
        retinanet_resnet50_fpn_coco-eeacb38b.pth retinanet_r50_fpn_tv.pth

and build the model with :func:`torchvision_retinanet_config` (the same architecture: P6 from P5, ReLU
before P7, torchvision's rounded integer anchor sizes, 91 COCO category slots incl. unused ids).
"""
from __future__ import annotations

import argparse
import re
from collections import OrderedDict

import torch

__all__ = ['retinanet_from_torchvision', 'torchvision_retinanet_config', 'TORCHVISION_ANCHOR_SIZES']

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
    out: OrderedDict[str, torch.Tensor] = OrderedDict()
    unknown = []
    for key, value in tv_state_dict.items():
        if key.startswith('module.'):
            key = key[len('module.'):]
        m = _V1_TOWER.match(key)
        if m:  # old layout: Sequential(conv, relu, conv, relu, ...) -> conv index 2i
            key = f'{m.group(1)}.{int(m.group(2)) // 2}.0.{m.group(3)}'
        for pattern, repl in _RULES:
            new, n = re.subn(pattern, repl, key)
            if n:
                out[new] = value
                break
        else:
            unknown.append(key)
    if unknown:
        raise KeyError(f'retinanet_from_torchvision: {len(unknown)} keys have no VisionCraft counterpart '
                       f'(not a torchvision retinanet_resnet50_fpn v1 state dict?): {unknown[:10]}')
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


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Convert torchvision retinanet_resnet50_fpn weights to VisionCraft's")
    parser.add_argument('src', help='torchvision checkpoint (.pth)')
    parser.add_argument('dst', help='output checkpoint ({"state_dict": ...})')
    args = parser.parse_args(argv)
    from visioncraft.engine.checkpoint import extract_state_dict, load_checkpoint_file, save_checkpoint
    state = retinanet_from_torchvision(extract_state_dict(load_checkpoint_file(args.src)))
    save_checkpoint(dict(state_dict=state, meta=dict(converted_from=args.src)), args.dst)
    print(f'wrote {len(state)} tensors to {args.dst}')


if __name__ == '__main__':
    main()
