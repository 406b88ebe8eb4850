# PP-OCRv4 mobile detector (PPLCNetV3 x0.75 + RSEFPN + DBHead) on ICDAR 2015 with PaddleOCR's PP-OCRv4 recipe
# (configs/det/PP-OCRv4/PP-OCRv4_mobile_det.yml is the same recipe in PaddleOCR's YAML): 500 epochs of Adam
# (lr 1e-3, 2 warm-up epochs, cosine decay, L2 5e-5), batch 8, flips / +-10 degree rotations / x0.5-3 rescales and
# 640 x 640 text-aware crops, tested at PaddleOCR's 960-pixel long-side limit. The backbone trains in its
# re-parameterisable form; ppocrv4_mobile_det_deploy_icdar2015.py is the folded form of the official weights.
_base_ = [
    '../_base_/models/ppocrv4_mobile_det.py',
    '../textdet/_base_/datasets/icdar2015.py',
    '../textdet/_base_/default_runtime.py',
]
db_codec = {{_base_.model.det_head.codec}}
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadOCRAnnotations', with_polygon=True, with_bbox=True, with_label=True),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='RandomRotate', max_angle=10.0),
    dict(type='RandomScale', ratio_range=(0.5, 3.0)),
    dict(type='TextDetRandomCrop', max_tries=50, min_crop_side_ratio=0.1, target_size=(640, 640)),
    dict(type='PackTextDetInputs', meta_keys=('img_path', 'ori_shape', 'img_shape')),
    # the DB targets are made in the workers, by the head's own codec settings
    dict(type='GenerateDBTargets', codec=db_codec),
]
# Annotations after the resize: ground truth stays in original pixels, where the predictions are.
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='DetResizeForTest', limit_side_len=960, limit_type='max'),
    dict(type='LoadOCRAnnotations', with_polygon=True, with_bbox=True, with_label=True),
    dict(type='PackTextDetInputs', meta_keys=('img_path', 'ori_shape', 'img_shape', 'scale_factor')),
]
icdar2015_textdet_train = {{_base_.icdar2015_textdet_train}}
icdar2015_textdet_train['pipeline'] = train_pipeline
icdar2015_textdet_test = {{_base_.icdar2015_textdet_test}}
icdar2015_textdet_test['pipeline'] = test_pipeline
train_dataloader = dict(
    batch_size=8, num_workers=8, persistent_workers=True, sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=icdar2015_textdet_train)
val_dataloader = dict(
    batch_size=1, num_workers=4, persistent_workers=True, drop_last=False,
    sampler=dict(type='DefaultSampler', shuffle=False), dataset=icdar2015_textdet_test)
test_dataloader = val_dataloader
val_evaluator = dict(type='HmeanIOUMetric')
test_evaluator = val_evaluator

optim_wrapper = dict(type='OptimWrapper', optimizer=dict(type='Adam', lr=0.001, betas=(0.9, 0.999), eps=1e-8,
                                                         weight_decay=5e-5))
train_cfg = dict(by_epoch=True, max_epochs=500, val_interval=10)
val_cfg = dict()
test_cfg = dict()
param_scheduler = [
    dict(type='LinearLR', start_factor=0.0, end_factor=1.0, begin=0, end=2, by_epoch=True, convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', T_max=500, eta_min=0.0, begin=2, end=502, by_epoch=True,
         convert_to_iter_based=True),
]
auto_scale_lr = dict(enable=False, base_batch_size=8)
