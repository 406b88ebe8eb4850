# Faster R-CNN R-50-FPN, 1x schedule on COCO (MMDetection: 37.4 box AP; torchvision's v1 weights: 37.0).
_base_ = [
    '../_base_/models/faster-rcnn_r50_fpn.py',
    '../_base_/datasets/coco_detection.py',
    '../_base_/schedules/schedule_1x.py',
    '../_base_/default_runtime.py',
]
