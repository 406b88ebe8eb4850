# HRNet-W32 top-down heatmaps (Sun et al., 2019): the SimpleBaseline recipe (schedule, MSRA codec sigma 2, data,
# flip test) with the ResNet + deconvolutions swapped for HRNet, whose stride-4 branch feeds a plain 1x1 conv to the
# 17 heatmaps (no deconvolution). 28.5 M parameters; MMPose reports 0.749 COCO val AP (detections AP_H 56).
_base_ = ['./td-hm_res50_8xb64-210e_coco-256x192.py']

model = dict(
    backbone=dict(
        _delete_=True,
        type='HRNet',
        in_channels=3,
        extra=dict(
            stage1=dict(num_modules=1, num_branches=1, block='BOTTLENECK', num_blocks=(4, ), num_channels=(64, )),
            stage2=dict(num_modules=1, num_branches=2, block='BASIC', num_blocks=(4, 4), num_channels=(32, 64)),
            stage3=dict(num_modules=4, num_branches=3, block='BASIC', num_blocks=(4, 4, 4),
                        num_channels=(32, 64, 128)),
            stage4=dict(num_modules=3, num_branches=4, block='BASIC', num_blocks=(4, 4, 4, 4),
                        num_channels=(32, 64, 128, 256))),
        # MMPose's ImageNet-pretrained HRNet-W32 (its classifier keys are skipped on load)
        init_cfg=dict(type='Pretrained',
                      checkpoint='https://download.openmmlab.com/mmpose/pretrain_models/hrnet_w32-36af842e.pth')),
    # the stride-4 branch is already at heatmap resolution: no deconvolution, just the final 1x1 conv
    head=dict(in_channels=32, deconv_out_channels=None, deconv_kernel_sizes=None),
)
