# FCOS R-50-FPN (GN head, centre sampling, centerness on reg, GIoU), 1x schedule on COCO.
_base_ = [
    '../_base_/models/fcos_r50_fpn.py',
    '../_base_/datasets/coco_detection.py',
    '../_base_/schedules/schedule_1x.py',
    '../_base_/default_runtime.py',
]
# As the FCOS recipes: lr 0.01 for 16 images (half the two-stage 0.02), biases at twice the lr and without
# weight decay, and gradients clipped at norm 35 (the GIoU and centerness losses spike early in training).
optim_wrapper = dict(optimizer=dict(lr=0.01), paramwise_cfg=dict(bias_lr_mult=2.0, bias_decay_mult=0.0),
                     clip_grad=dict(max_norm=35, norm_type=2))
# Warm-up from lr / 3 over the first 500 iterations (FCOS's), then the 1x steps after epochs 8 and 11.
param_scheduler = [
    dict(type='LinearLR', start_factor=1.0 / 3, by_epoch=False, begin=0, end=500),
    dict(type='MultiStepLR', begin=0, end=12, by_epoch=True, milestones=[8, 11], gamma=0.1),
]
