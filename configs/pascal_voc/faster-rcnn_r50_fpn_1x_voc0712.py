# Faster R-CNN R-50-FPN on Pascal VOC 07+12 (MMDetection: 80.4 mAP on VOC2007 test): 20 classes, the
# training set repeated 3 times, so 4 epochs with lr / 10 after the third are MMDetection's "1x" there.
_base_ = [
    '../_base_/models/faster-rcnn_r50_fpn.py',
    '../_base_/datasets/voc0712.py',
    '../_base_/schedules/schedule_1x.py',
    '../_base_/default_runtime.py',
]
model = dict(roi_head=dict(bbox_head=dict(num_classes=20)))
train_cfg = dict(max_epochs=4)
param_scheduler = [
    dict(type='LinearLR', start_factor=0.001, by_epoch=False, begin=0, end=500),
    dict(type='MultiStepLR', begin=0, end=4, by_epoch=True, milestones=[3], gamma=0.1),
]
# MMDetection's VOC recipe uses lr 0.01 for 16 images (the smaller data set over-fits at 0.02).
optim_wrapper = dict(optimizer=dict(lr=0.01))
