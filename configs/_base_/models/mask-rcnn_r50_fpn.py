# Mask R-CNN with a ResNet-50 + FPN: Faster R-CNN plus a mask branch (RoIAlign 14x14 on P2-P5, four 3x3
# convs, a 2x deconv, 28x28 per-class masks). The RPN / R-CNN settings are Faster R-CNN's.
_base_ = ['./faster-rcnn_r50_fpn.py']
model = dict(
    type='MaskRCNN',
    roi_head=dict(
        mask_roi_extractor=dict(type='SingleRoIExtractor',
                                roi_layer=dict(type='RoIAlign', output_size=14, sampling_ratio=0),
                                out_channels=256, featmap_strides=[4, 8, 16, 32]),
        mask_head=dict(type='FCNMaskHead', num_convs=4, in_channels=256, conv_out_channels=256, num_classes=80,
                       loss_mask=dict(type='CrossEntropyLoss', use_mask=True, loss_weight=1.0))),
    test_cfg=dict(rcnn=dict(mask_thr_binary=0.5)),
)
