# FCOS R-50-FPN with a caffe-style ResNet-50 and a GroupNorm head, 1x schedule on COCO: the FCOS paper's
# original head (MMDetection's fcos_r50-caffe_fpn_gn-head_1x_coco, 36.6 box AP with its weights). Unlike the
# improved recipe of fcos_r50_fpn_1x_coco.py: no centre sampling, distances in pixels (exp of the output),
# centerness on the classification tower, IoU loss (-log IoU), NMS at 0.5.
_base_ = [
    '../_base_/models/fcos_r50_fpn.py',
    '../_base_/datasets/coco_detection.py',
    '../_base_/schedules/schedule_1x.py',
    '../_base_/default_runtime.py',
]
model = dict(
    # the caffe weights' input: BGR, minus the Detectron pixel means, not divided by a std
    data_preprocessor=dict(mean=[102.9801, 115.9465, 122.7717], std=[1.0, 1.0, 1.0], bgr_to_rgb=False),
    # caffe style: a Bottleneck strides on its first 1x1 conv; BN frozen (statistics and affine parameters)
    backbone=dict(style='caffe',
                  init_cfg=dict(type='Pretrained', checkpoint='open-mmlab://detectron/resnet50_caffe')),
    bbox_head=dict(
        center_sampling=False, norm_on_bbox=False, centerness_on_reg=False, conv_bias='auto',  # no bias before GN
        loss_bbox=dict(_delete_=True, type='IoULoss', loss_weight=1.0),
        centerness_weighted_bbox_loss=True),
    test_cfg=dict(nms_pre=1000, min_bbox_size=0, score_thr=0.05, nms=dict(type='nms', iou_threshold=0.5),
                  max_per_img=100),
)
# lr 0.01 for 16 images, biases at twice the lr without weight decay, gradients clipped at norm 35
optim_wrapper = dict(optimizer=dict(lr=0.01), paramwise_cfg=dict(bias_lr_mult=2.0, bias_decay_mult=0.0),
                     clip_grad=dict(max_norm=35, norm_type=2))
# a constant lr / 3 for the first 500 iterations, then the 1x steps after epochs 8 and 11
param_scheduler = [
    dict(type='ConstantLR', factor=1.0 / 3, by_epoch=False, begin=0, end=500),
    dict(type='MultiStepLR', begin=0, end=12, by_epoch=True, milestones=[8, 11], gamma=0.1),
]
