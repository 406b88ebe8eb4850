# SimpleBaseline with ResNet-101 (MMPose: 0.726 COCO val AP); everything else is the ResNet-50 recipe.
_base_ = ['./td-hm_res50_8xb64-210e_coco-256x192.py']

model = dict(backbone=dict(depth=101, init_cfg=dict(type='Pretrained', checkpoint='torchvision://resnet101')))
