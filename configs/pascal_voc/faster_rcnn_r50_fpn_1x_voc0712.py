# MMDetection 2.x's name of faster-rcnn_r50_fpn_1x_voc0712.py; the same recipe.
_base_ = './faster-rcnn_r50_fpn_1x_voc0712.py'
