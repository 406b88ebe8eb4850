# RetinaNet with a MobileNetV3-Large backbone + FPN (P3-P7), 1x schedule on COCO.
_base_ = './retinanet_r50_fpn_1x_coco.py'
model = dict(
    # Stages 2-4 of MobileNetV3-Large: strides 8, 16, 32 with 40, 112 and 960 channels (the last one after
    # the final 1x1 conv). Stages 0-1 (strides 2 and 4) frozen, as ResNet's stem and first stage are.
    backbone=dict(_delete_=True, type='MobileNetV3', arch='large', out_indices=(2, 3, 4), frozen_stages=1,
                  norm_cfg=dict(type='BN', requires_grad=True), norm_eval=True,
                  init_cfg=dict(type='Pretrained', checkpoint='torchvision://mobilenet_v3_large')),
    # all three inputs are used (start_level=0); P6 from C5 ('on_input', the base's), P7 from P6.
    neck=dict(in_channels=[40, 112, 960], start_level=0),
)
