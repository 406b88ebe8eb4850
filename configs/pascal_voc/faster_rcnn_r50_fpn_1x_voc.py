# The MMDetection 2.x guide's name of the Pascal VOC 07+12 Faster R-CNN (MMDetection 2.x:
# faster_rcnn_r50_fpn_1x_voc0712.py, 3.x: faster-rcnn_r50_fpn_1x_voc0712.py); the same recipe.
_base_ = './faster-rcnn_r50_fpn_1x_voc0712.py'
