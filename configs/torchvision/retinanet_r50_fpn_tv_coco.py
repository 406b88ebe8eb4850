# torchvision's retinanet_resnet50_fpn (v1) COCO weights (torchvision: 36.4 box AP), converted to the 80 COCO
# classes: python -m visioncraft.tasks.detection.models.convert_torchvision --arch retinanet --coco80 SRC DST
# then python tools/test.py THIS_FILE DST. The recipe's RetinaNet with torchvision's differences below; the
# model equals torchvision_retinanet_config(num_classes=80) (tests/tasks/detection/test_tv_model_zoo.py).
# Test resize: shorter side 800, longer <= 1333 as torchvision, but with OpenCV's bilinear on the uint8 image
# and the size rounded (torchvision: bilinear on the normalised float image, size floored): +-1 px, ~1e-2 pixel
# values.
_base_ = ['../retinanet/retinanet_r50_fpn_1x_coco.py']
model = dict(
    # FrozenBatchNorm2d as torchvision's pretrained detectors; the checkpoint holds every weight (no ImageNet init)
    backbone=dict(norm_cfg=dict(_delete_=True, type='FrozenBN'), init_cfg=None),
    # P6 from P5 (not C5) and a ReLU before P7
    neck=dict(add_extra_convs='on_output', relu_before_extra_convs=True),
    # torchvision's anchor sizes int(s * 2 ** (k / 3)), s = 32 ... 512, its integer-rounded base anchors, and its
    # anchor positions: padded size // grid size apart (61 and 114 px, not 64 and 128, on P6 / P7 of an 800-high
    # input; its weights were trained so)
    bbox_head=dict(anchor_generator=dict(
        _delete_=True, type='TorchvisionAnchorGenerator', strides=[8, 16, 32, 64, 128], ratios=[0.5, 1.0, 2.0],
        sizes=[[32, 40, 50], [64, 80, 101], [128, 161, 203], [256, 322, 406], [512, 645, 812]],
        round_base_anchors=True),
        bbox_coder=dict(clamp_small=False)),  # torchvision clamps the size deltas from above only
    # torchvision's detections_per_img; and it keeps the boxes the clipping empties
    test_cfg=dict(max_per_img=300, min_bbox_size=-1),
)
