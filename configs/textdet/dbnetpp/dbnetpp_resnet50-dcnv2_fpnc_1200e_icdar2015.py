# DBNet++ (Liao et al., TPAMI 2022) R-50 DCNv2 + FPNC on ICDAR 2015 (MMOCR's
# dbnetpp_resnet50-dcnv2_fpnc_1200e_icdar2015.py): the DBNet R-50 DCNv2 recipe with adaptive scale fusion in the
# neck (a spatial and channel attention weights the four levels before they are concatenated), and the larger test
# scale MMOCR evaluates DBNet++ at.
_base_ = ['../dbnet/dbnet_resnet50-dcnv2_fpnc_1200e_icdar2015.py']

# MMOCR's DBNet++ decodes with a finer contour simplification (0.2% of the perimeter instead of DBNet's 1%)
model = dict(neck=dict(asf_cfg=dict(attention_type='ScaleChannelSpatial')),
             det_head=dict(postprocessor=dict(epsilon_ratio=0.002)))

# test pipeline of the base with MMOCR's DBNet++ scale (long side up to 4068, short side 1024)
val_dataloader = dict(dataset=dict(pipeline={1: dict(scale=(4068, 1024))}))
test_dataloader = val_dataloader
