# torchvision's maskrcnn_resnet50_fpn (v1) COCO weights (torchvision: 37.9 box AP / 34.6 mask AP), converted to
# the 80 COCO classes: python -m visioncraft.tasks.detection.models.convert_torchvision --arch maskrcnn --coco80
# SRC DST, then python tools/test.py THIS_FILE DST. torchvision's Faster R-CNN (see faster-rcnn_r50_fpn_tv_coco.py)
# plus the mask branch of configs/_base_/models/mask-rcnn_r50_fpn.py with torchvision's RoIAlign; the model
# equals torchvision_maskrcnn_config(num_classes=81) (tests/tasks/detection/test_tv_model_zoo.py). Masks are
# pasted at the original size and thresholded at 0.5 (torchvision returns the probabilities).
_base_ = [
    './faster-rcnn_r50_fpn_tv_coco.py',
    '../_base_/datasets/coco_instance.py',  # the later base wins: masks loaded, bbox + segm evaluated
]
model = dict(
    type='MaskRCNN',
    roi_head=dict(
        mask_roi_extractor=dict(type='SingleRoIExtractor',
                                roi_layer=dict(type='RoIAlign', output_size=14, sampling_ratio=2, aligned=False),
                                out_channels=256, featmap_strides=[4, 8, 16, 32], canonical_scale=224,
                                canonical_level=4),
        mask_head=dict(type='FCNMaskHead', num_convs=4, in_channels=256, conv_out_channels=256, num_classes=80,
                       loss_mask=dict(type='CrossEntropyLoss', use_mask=True, loss_weight=1.0))),
    test_cfg=dict(rcnn=dict(mask_thr_binary=0.5, mask_paste='torchvision')),  # its paste_masks_in_image
)
