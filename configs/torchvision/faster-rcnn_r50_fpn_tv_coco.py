# torchvision's fasterrcnn_resnet50_fpn (v1) COCO weights (torchvision: 37.0 box AP), converted to the 80 COCO
# classes: python -m visioncraft.tasks.detection.models.convert_torchvision --arch fasterrcnn --coco80 SRC DST
# then python tools/test.py THIS_FILE DST. The recipe's Faster R-CNN with torchvision's differences below; the
# model equals torchvision_fasterrcnn_config(num_classes=81) (tests/tasks/detection/test_tv_model_zoo.py).
# The softmax runs over the 81 kept logits instead of torchvision's 91: scores are slightly higher (the unused
# slots' share is redistributed), the ranking within a RoI is the same.
# Test resize: shorter side 800, longer <= 1333 as torchvision, but with OpenCV's bilinear on the uint8 image
# and the size rounded (torchvision: bilinear on the normalised float image, size floored).
_base_ = ['../faster_rcnn/faster-rcnn_r50_fpn_1x_coco.py']
_tv_roi_layer = dict(sampling_ratio=2, aligned=False)  # torchvision's MultiScaleRoIAlign
model = dict(
    # FrozenBatchNorm2d as torchvision's pretrained detectors; the checkpoint holds every weight (no ImageNet init)
    backbone=dict(norm_cfg=dict(_delete_=True, type='FrozenBN'), init_cfg=None),
    rpn_head=dict(
        # one anchor size per level, 32 ... 512, integer-rounded base anchors, torchvision's positions (padded
        # size // grid size apart: 61 px, not 64, on P6 of an 800-high input)
        anchor_generator=dict(_delete_=True, type='TorchvisionAnchorGenerator', strides=[4, 8, 16, 32, 64],
                              ratios=[0.5, 1.0, 2.0], sizes=[[32], [64], [128], [256], [512]],
                              round_base_anchors=True),
        bbox_coder=dict(clamp_small=False),  # torchvision clamps the size deltas from above only
        loss_bbox=dict(type='SmoothL1Loss', beta=1 / 9)),
    roi_head=dict(
        # torchvision's LevelMapper: level floor(4 + log2(sqrt(area) / 224)), clamped to P2-P5
        bbox_roi_extractor=dict(roi_layer=_tv_roi_layer, canonical_scale=224, canonical_level=4),
        bbox_head=dict(num_classes=80, bbox_coder=dict(clamp_small=False),
                       loss_bbox=dict(type='SmoothL1Loss', beta=1 / 9))),
    train_cfg=dict(
        rpn=dict(assigner=dict(min_pos_iou=0.0)),
        rpn_proposal=dict(max_per_img=2000, min_bbox_size=1e-3)),
    # torchvision drops proposals under 1e-3 px and detections under 1e-2 px
    test_cfg=dict(rpn=dict(min_bbox_size=1e-3), rcnn=dict(min_bbox_size=1e-2)),
)
