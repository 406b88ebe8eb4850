# DBNet R-50 with modulated deformable convolutions (DCNv2) in stages 2-4 + FPNC on ICDAR 2015 (MMOCR's
# dbnet_resnet50-dcnv2_fpnc_1200e_icdar2015.py): the R-18 recipe (data, schedule, head) with a wider backbone.
# MMOCR starts this one from a SynthText-pretrained DBNet (its load_from); here the backbone starts from the
# torchvision ImageNet weights (the DCN offsets/masks start at zero, i.e. as plain convolutions).
_base_ = ['./dbnet_resnet18_fpnc_1200e_icdar2015.py']

model = dict(
    backbone=dict(depth=50, dcn=dict(type='DCNv2', deform_groups=1), stage_with_dcn=(False, True, True, True),
                  init_cfg=dict(type='Pretrained', checkpoint='torchvision://resnet50')),
    neck=dict(in_channels=[256, 512, 1024, 2048]),
)
