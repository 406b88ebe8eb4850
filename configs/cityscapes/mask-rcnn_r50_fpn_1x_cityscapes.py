# Mask R-CNN R-50-FPN on Cityscapes (MMDetection's mask-rcnn_r50_fpn_1x_cityscapes.py: 8 classes, Smooth-L1 box
# loss in the R-CNN head, lr 0.01 for 8 images, 8 epochs of the 8-times repeated training set, lr / 10 after the
# 7th). MMDetection fine-tunes its COCO Mask R-CNN here (load_from = that checkpoint, ImageNet init off); give yours
# with --cfg-options load_from=work_dirs/<coco run>/epoch_12.pth, or keep the ImageNet backbone of the base.
_base_ = [
    '../_base_/models/mask-rcnn_r50_fpn.py',
    '../_base_/datasets/cityscapes_instance.py',
    '../_base_/default_runtime.py',
    '../_base_/schedules/schedule_1x.py',
]
model = dict(
    roi_head=dict(
        bbox_head=dict(num_classes=8, loss_bbox=dict(type='SmoothL1Loss', beta=1.0, loss_weight=1.0)),
        mask_head=dict(num_classes=8)))
optim_wrapper = dict(optimizer=dict(lr=0.01))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.001, by_epoch=False, begin=0, end=500),
    dict(type='MultiStepLR', begin=0, end=8, by_epoch=True, milestones=[7], gamma=0.1),
]
train_cfg = dict(max_epochs=8)
# lr 0.01 is for 8 images per step (8 GPUs x 1): --auto-scale-lr rescales from that
auto_scale_lr = dict(base_batch_size=8)
