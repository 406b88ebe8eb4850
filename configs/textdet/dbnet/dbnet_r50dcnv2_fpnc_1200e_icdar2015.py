# MMOCR 0.x's name of dbnet_resnet50-dcnv2_fpnc_1200e_icdar2015.py (the name its 0.x guides use); the same recipe.
_base_ = './dbnet_resnet50-dcnv2_fpnc_1200e_icdar2015.py'
