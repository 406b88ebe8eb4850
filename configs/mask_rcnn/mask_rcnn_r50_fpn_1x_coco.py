# MMDetection 2.x's name of mask-rcnn_r50_fpn_1x_coco.py (the name its 2.x guides use); the same recipe.
_base_ = './mask-rcnn_r50_fpn_1x_coco.py'
