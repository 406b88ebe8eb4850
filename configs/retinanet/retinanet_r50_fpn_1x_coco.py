# RetinaNet R-50-FPN, 1x schedule on COCO (paper: 35.7 box AP; torchvision's v1 weights: 36.4).
_base_ = [
    '../_base_/models/retinanet_r50_fpn.py',
    '../_base_/datasets/coco_detection.py',
    '../_base_/schedules/schedule_1x.py',
    '../_base_/default_runtime.py',
]
# The paper (and detectron2's and MMDetection's RetinaNet recipes) train with lr 0.01 for 16 images, half
# the two-stage 0.02: the dense focal-loss head is unstable at 0.02 early on. No gradient clipping is used;
# add clip_grad=dict(max_norm=35, norm_type=2) here if a run with a larger lr diverges.
optim_wrapper = dict(optimizer=dict(lr=0.01))
