# ICDAR 2015 Incidental Scene Text, text detection (MMOCR 1.x layout). Prepare it with
#   python tools/dataset_converters/textdet/icdar2015.py data/icdar2015
# from data/icdar2015/{imgs,annotations}/{train,test}/ (img_N.jpg, gt_img_N.txt); it writes
# textdet_train.json / textdet_test.json next to them. Models set the pipelines of these datasets.
icdar2015_textdet_data_root = 'data/icdar2015'

icdar2015_textdet_train = dict(
    type='OCRDataset', data_root=icdar2015_textdet_data_root, ann_file='textdet_train.json',
    filter_cfg=dict(filter_empty_gt=True, min_size=32), pipeline=None)

icdar2015_textdet_test = dict(
    type='OCRDataset', data_root=icdar2015_textdet_data_root, ann_file='textdet_test.json', test_mode=True,
    pipeline=None)

# The DBNet pipelines (MMOCR's _base_dbnet_resnet18_fpnc.py, with this library's transforms).
dbnet_train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadOCRAnnotations', with_polygon=True, with_bbox=True, with_label=True),
    dict(type='ColorJitter', brightness=32.0 / 255, saturation=0.5),
    # MMOCR's ImgAugWrapper: Fliplr 0.5, Affine rotate [-10, 10], Resize [0.5, 3.0] of the image.
    dict(type='RandomFlip', prob=0.5),
    dict(type='RandomRotate', max_angle=10),
    # every ICDAR 2015 image is 1280 x 720, so this is "rescale by a ratio in [0.5, 3.0]"
    dict(type='RandomResize', scale=(1280, 720), ratio_range=(0.5, 3.0), keep_ratio=True),
    # text-aware crop (never cuts a text instance), then fit into 640 x 640 and pad
    dict(type='TextDetRandomCrop', target_size=None, min_crop_side_ratio=0.1),
    dict(type='Resize', scale=(640, 640), keep_ratio=True),
    dict(type='Pad', size=(640, 640)),
    dict(type='PackTextDetInputs', meta_keys=('img_path', 'ori_shape', 'img_shape')),
]
# Annotations are loaded after the resize, so the packed ground truth stays in original-image pixels,
# the frame of the predictions that HmeanIOUMetric compares them with.
dbnet_test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(1333, 736), keep_ratio=True),
    dict(type='LoadOCRAnnotations', with_polygon=True, with_bbox=True, with_label=True),
    dict(type='PackTextDetInputs', meta_keys=('img_path', 'ori_shape', 'img_shape', 'scale_factor')),
]
# PaddleOCR's test resize (det_limit_side_len=736, det_limit_type='min'), for PaddleOCR-style configs:
#   dict(type='DetResizeForTest', limit_side_len=736, limit_type='min') in place of the Resize above.

train_dataloader = dict(
    batch_size=16, num_workers=8, persistent_workers=True, sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(icdar2015_textdet_train, pipeline=dbnet_train_pipeline))
val_dataloader = dict(
    batch_size=1, num_workers=4, persistent_workers=True, drop_last=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(icdar2015_textdet_test, pipeline=dbnet_test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(type='HmeanIOUMetric')
test_evaluator = val_evaluator
