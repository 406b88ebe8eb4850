# The detection quickstart: a small RetinaNet, trained from scratch, finds circles, squares, triangles and stars
# on 128x128 textured pictures that the package generates on first use (data/det_shapes, COCO format,
# 2000 train + 200 val, about 10 s). `make quickstart` trains it for 16 epochs and evaluates it: box mAP@[.5:.95]
# 0.848 on the val split, 7.5 min of training and 8 s of evaluation on 2 CPU cores that other jobs shared
# (OMP_NUM_THREADS=1). The test command's --show-dir draws every prediction next to the ground truth.
_base_ = ['../_base_/default_runtime.py']

data_root = 'data/det_shapes'
shapes = dict(type='DetShapesDataset', data_root=data_root, num_train=2000, num_val=200)
model = dict(
    type='RetinaNet',
    data_preprocessor=dict(type='DetDataPreprocessor', mean=[127.5] * 3, std=[64.0] * 3, bgr_to_rgb=True,
                           pad_size_divisor=32),
    # No pretrained weights: a narrow residual CNN (1M parameters with the rest) learns these shapes from
    # scratch; BatchNorm is fine at 16 images a batch.
    backbone=dict(type='TinyDetBackbone', stem_channels=16, widths=(32, 64, 96, 128), depths=(1, 1, 1, 1),
                  out_indices=(1, 2, 3)),
    neck=dict(type='FPN', out_channels=64, num_outs=3),  # P3-P5 (strides 8, 16, 32) cover 128x128 pictures
    bbox_head=dict(
        type='RetinaHead', num_classes=4, feat_channels=64, stacked_convs=2,
        # The boxes are 9-48 px and nearly square whatever the rotation: two square anchors a level, half an
        # octave apart (moving them down to 10-56 px scored 0.83 instead of 0.87 here).
        anchor_generator=dict(type='AnchorGenerator', strides=[8, 16, 32], ratios=[1.0],
                              sizes=[(12, 17), (24, 34), (48, 68)]),
        # Deltas scaled by 1 / (0.1, 0.1, 0.2, 0.2): the L1 box loss weighs 5-10x more than with unit stds,
        # which the high-IoU half of mAP@[.5:.95] needs (most objects are small).
        bbox_coder=dict(type='DeltaXYWHBBoxCoder', target_stds=[0.1, 0.1, 0.2, 0.2]),
        loss_cls=dict(type='FocalLoss', gamma=2.0, alpha=0.25, loss_weight=1.0),
        loss_bbox=dict(type='L1Loss', loss_weight=1.0)),
    train_cfg=dict(assigner=dict(type='MaxIoUAssigner', pos_iou_thr=0.5, neg_iou_thr=0.4, min_pos_iou=0.0)),
    test_cfg=dict(nms_pre=200, score_thr=0.05, nms=dict(type='nms', iou_threshold=0.5), max_per_img=50),
)
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', with_bbox=True),
    # the shapes come in every rotation, so flipped pictures are just more pictures of the same classes
    dict(type='RandomFlip', prob=[0.25, 0.25], direction=['horizontal', 'vertical']),
    dict(type='PackDetInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='PackDetInputs'),
]
train_dataloader = dict(
    batch_size=16,
    num_workers=1,  # decoding a 128x128 PNG is cheap; one worker leaves the second core to the model
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(shapes, ann_file='annotations/instances_train.json', pipeline=train_pipeline),
)
val_dataloader = dict(
    batch_size=20,
    num_workers=1,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(shapes, ann_file='annotations/instances_val.json', pipeline=test_pipeline, test_mode=True),
)
test_dataloader = val_dataloader
val_evaluator = dict(type='CocoMetric', ann_file=data_root + '/annotations/instances_val.json', metric='bbox')
test_evaluator = val_evaluator

# 16 epochs of 125 steps (20 epochs reached 0.868, 12 epochs with unit target_stds 0.812); validation only at
# the end (the test command evaluates again, with pictures).
train_cfg = dict(by_epoch=True, max_epochs=16, val_interval=16)
val_cfg = dict()
test_cfg = dict()
optim_wrapper = dict(type='OptimWrapper', optimizer=dict(type='AdamW', lr=2e-3, weight_decay=0.05),
                     paramwise_cfg=dict(norm_decay_mult=0.0, bias_decay_mult=0.0), clip_grad=dict(max_norm=10.0))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0, end=200),
    dict(type='CosineAnnealingLR', by_epoch=True, begin=0, end=16, eta_min=2e-5),
]
auto_scale_lr = dict(enable=False, base_batch_size=16)
default_hooks = dict(
    logger=dict(type='LoggerHook', interval=25),
    checkpoint=dict(type='CheckpointHook', interval=16, max_keep_ckpts=1),
)
visualizer = dict(type='DetLocalVisualizer', vis_backends=[dict(type='LocalVisBackend')])
