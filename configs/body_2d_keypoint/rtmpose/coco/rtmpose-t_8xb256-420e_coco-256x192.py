# RTMPose-t: the RTMPose-s recipe with a thinner, shallower CSPNeXt (deepen 0.167, widen 0.375: 384 channels at
# stride 32). 3.34 M parameters; MMPose reports 0.682 COCO val AP (detections AP_H 56) with its full recipe.
_base_ = ['./rtmpose-s_8xb256-420e_coco-256x192.py']

model = dict(
    backbone=dict(
        deepen_factor=0.167, widen_factor=0.375,
        init_cfg=dict(checkpoint='https://download.openmmlab.com/mmpose/v1/projects/rtmpose/'
                                 'cspnext-tiny_udp-aic-coco_210e-256x192-cbed682d_20230130.pth')),
    head=dict(in_channels=384),
)
