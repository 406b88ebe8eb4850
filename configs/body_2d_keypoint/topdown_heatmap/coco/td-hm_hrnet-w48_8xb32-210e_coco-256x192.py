# HRNet-W48: the W32 recipe with every branch 1.5x wider (63.6 M parameters) and 32 crops per GPU (8 x 32 = 256 per
# step; auto_scale_lr's base follows). MMPose reports 0.756 COCO val AP (detections AP_H 56).
_base_ = ['./td-hm_hrnet-w32_8xb64-210e_coco-256x192.py']

model = dict(
    backbone=dict(
        extra=dict(
            stage2=dict(num_channels=(48, 96)),
            stage3=dict(num_channels=(48, 96, 192)),
            stage4=dict(num_channels=(48, 96, 192, 384))),
        init_cfg=dict(checkpoint='https://download.openmmlab.com/mmpose/pretrain_models/hrnet_w48-8ef0771d.pth')),
    head=dict(in_channels=48),
)
train_dataloader = dict(batch_size=32)
auto_scale_lr = dict(base_batch_size=256)
