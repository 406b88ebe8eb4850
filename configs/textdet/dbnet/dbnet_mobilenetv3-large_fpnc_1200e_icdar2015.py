# DBNet MobileNetV3-Large + FPNC on ICDAR 2015 (PaddleOCR's det_mv3_db.yml backbone in the MMOCR R-18 recipe).
# MobileNetV3 stages 1-4 (strides 4, 8, 16, 32; 24, 40, 112, 960 channels at width 1.0) feed the FPNC.
# Width 1.0 so the torchvision ImageNet weights load; PaddleOCR's x0.5 model is widen_factor=0.5 with
# in_channels=[16, 24, 56, 480] (and no torchvision weights: drop init_cfg or point it at a local checkpoint).
_base_ = ['./dbnet_resnet18_fpnc_1200e_icdar2015.py']

model = dict(
    backbone=dict(_delete_=True, type='MobileNetV3', arch='large', widen_factor=1.0, out_indices=(1, 2, 3, 4),
                  frozen_stages=-1, norm_cfg=dict(type='BN', requires_grad=True), norm_eval=False,
                  init_cfg=dict(type='Pretrained', checkpoint='torchvision://mobilenet_v3_large')),
    neck=dict(in_channels=[24, 40, 112, 960]),
)
