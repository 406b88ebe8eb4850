# FCOS with a ResNet-50 + FPN (P3-P7) and the improved head of the FCOS journal version: GroupNorm towers,
# centre sampling, centerness on the regression branch, distances in strides, GIoU loss weighted by the
# centerness targets. The reference recipe starts from a caffe-style ResNet-50; we use torchvision's
# ImageNet weights instead (pytorch style: RGB input normalised by the ImageNet mean / std).
model = dict(
    type='FCOS',
    data_preprocessor=dict(type='DetDataPreprocessor', mean=[123.675, 116.28, 103.53], std=[58.395, 57.12, 57.375],
                           bgr_to_rgb=True, pad_size_divisor=32),
    # BN affine parameters frozen as well as the statistics, as the reference recipe trains its backbone.
    backbone=dict(type='ResNet', depth=50, num_stages=4, out_indices=(0, 1, 2, 3), frozen_stages=1,
                  norm_cfg=dict(type='BN', requires_grad=False), norm_eval=True, style='pytorch',
                  init_cfg=dict(type='Pretrained', checkpoint='torchvision://resnet50')),
    # FCOS takes P6 from P5 ('on_output') and applies a ReLU before the P7 conv.
    neck=dict(type='FPN', in_channels=[256, 512, 1024, 2048], out_channels=256, start_level=1,
              add_extra_convs='on_output', relu_before_extra_convs=True, num_outs=5),
    bbox_head=dict(
        type='FCOSHead', num_classes=80, in_channels=256, stacked_convs=4, feat_channels=256,
        strides=[8, 16, 32, 64, 128],
        # level l takes the objects whose farthest side is 64 * 2 ** (l - 1) .. 64 * 2 ** l pixels from the point
        regress_ranges=[(-1, 64), (64, 128), (128, 256), (256, 512), (512, 1e8)],
        norm_cfg=dict(type='GN', num_groups=32, requires_grad=True), conv_bias=True,
        center_sampling=True, center_sample_radius=1.5, norm_on_bbox=True, centerness_on_reg=True,
        prior_generator=dict(type='MlvlPointGenerator', strides=[8, 16, 32, 64, 128], offset=0.5),
        loss_cls=dict(type='FocalLoss', use_sigmoid=True, gamma=2.0, alpha=0.25, loss_weight=1.0),
        loss_bbox=dict(type='GIoULoss', loss_weight=1.0),
        loss_centerness=dict(type='CrossEntropyLoss', use_sigmoid=True, loss_weight=1.0),
        centerness_weighted_bbox_loss=True),
    # score = class probability * centerness; NMS at 0.6 as the improved recipe.
    test_cfg=dict(nms_pre=1000, score_thr=0.05, nms=dict(type='nms', iou_threshold=0.6), max_per_img=100,
                  score_mode='product'),
)
