# Faster R-CNN R-50-C4, 1x schedule on COCO (MMDetection's faster-rcnn_r50-caffe_c4-1x_coco, 35.6 box AP with its
# weights): no FPN. The caffe-style ResNet-50 stops after its third stage (one stride-16 map, 1024 channels), the
# RPN and a 14 x 14 RoIAlign read that map, the fourth ResNet stage runs on every RoI (roi_head.shared_head,
# 2048 x 7 x 7), and a linear classifier / regressor read its average-pooled 2048 channels.
_base_ = './faster-rcnn_r50_fpn_1x_coco.py'
frozen_bn = dict(type='BN', requires_grad=False)  # statistics and affine parameters fixed
caffe_r50 = dict(type='Pretrained', checkpoint='open-mmlab://detectron2/resnet50_caffe')
model = dict(
    # the caffe weights' input: BGR, minus the pixel means, not divided by a std
    data_preprocessor=dict(mean=[103.53, 116.28, 123.675], std=[1.0, 1.0, 1.0], bgr_to_rgb=False),
    backbone=dict(num_stages=3, strides=(1, 2, 2), dilations=(1, 1, 1), out_indices=(2,), norm_cfg=frozen_bn,
                  style='caffe', init_cfg=caffe_r50),
    neck=None,
    # one level: 15 anchors per position (5 sizes, 32-512 px, x 3 ratios)
    rpn_head=dict(in_channels=1024, feat_channels=1024,
                  anchor_generator=dict(scales=[2, 4, 8, 16, 32], strides=[16])),
    roi_head=dict(
        shared_head=dict(type='ResLayer', depth=50, stage=3, stride=2, dilation=1, style='caffe',
                         norm_cfg=frozen_bn, norm_eval=True, init_cfg=caffe_r50),
        bbox_roi_extractor=dict(roi_layer=dict(output_size=14), out_channels=1024, featmap_strides=[16]),
        bbox_head=dict(_delete_=True, type='BBoxHead', with_avg_pool=True, roi_feat_size=7, in_channels=2048,
                       num_classes=80,
                       bbox_coder=dict(type='DeltaXYWHBBoxCoder', target_means=[0.0, 0.0, 0.0, 0.0],
                                       target_stds=[0.1, 0.1, 0.2, 0.2]),
                       reg_class_agnostic=False,
                       loss_cls=dict(type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0),
                       loss_bbox=dict(type='L1Loss', loss_weight=1.0))),
    # more proposals than with FPN: a single level holds all of them
    train_cfg=dict(rpn_proposal=dict(nms_pre=12000, max_per_img=2000)),
    test_cfg=dict(rpn=dict(nms_pre=6000, max_per_img=1000)),
)
