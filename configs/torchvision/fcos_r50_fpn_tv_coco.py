# torchvision's fcos_resnet50_fpn COCO weights (torchvision: 39.2 box AP), converted to the 80 COCO classes:
# python -m visioncraft.tasks.detection.models.convert_torchvision --arch fcos --coco80 SRC DST
# then python tools/test.py THIS_FILE DST. The recipe's FCOS with torchvision's differences below; the model
# equals torchvision_fcos_config(num_classes=80) (tests/tasks/detection/test_tv_model_zoo.py).
# Test resize: shorter side 800, longer <= 1333 as torchvision, but with OpenCV's bilinear on the uint8 image
# and the size rounded (torchvision: bilinear on the normalised float image, size floored).
_base_ = ['../fcos/fcos_r50_fpn_1x_coco.py']
model = dict(
    # FrozenBatchNorm2d as torchvision's pretrained detectors; the checkpoint holds every weight (no ImageNet init)
    backbone=dict(norm_cfg=dict(_delete_=True, type='FrozenBN'), init_cfg=None),
    bbox_head=dict(
        # regression ranges compared strictly (0 < d <= 64 ...), points at the cell corners and padded size //
        # grid size apart (torchvision's anchor centres), no per-level scale (the converter fixes them at 1)
        regress_ranges=[(0, 64), (64, 128), (128, 256), (256, 512), (512, float('inf'))],
        strict_regress_ranges=True, use_scale=True,
        norm_cfg=dict(_delete_=True, type='GN', num_groups=32),
        prior_generator=dict(type='TorchvisionPointGenerator', offset=0.0),
        # training as torchvision: unweighted GIoU (eps 1e-7) averaged over the positives
        loss_bbox=dict(eps=1e-7), centerness_weighted_bbox_loss=False),
    # score sqrt(cls * centerness) > 0.2 (the recipe: cls * centerness > 0.05)
    test_cfg=dict(score_thr=0.2, score_mode='sqrt'),
)
