# Faster R-CNN R-50-FPN, 2x schedule on COCO (MMDetection: 38.4 box AP).
_base_ = [
    '../_base_/models/faster-rcnn_r50_fpn.py',
    '../_base_/datasets/coco_detection.py',
    '../_base_/schedules/schedule_2x.py',
    '../_base_/default_runtime.py',
]
