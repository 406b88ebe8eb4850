# Faster R-CNN R-101-FPN, 1x schedule on COCO (MMDetection: 39.4 box AP): only the backbone's depth and
# its ImageNet weights change.
_base_ = ['./faster-rcnn_r50_fpn_1x_coco.py']
model = dict(backbone=dict(depth=101, init_cfg=dict(type='Pretrained', checkpoint='torchvision://resnet101')))
