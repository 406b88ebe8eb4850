# Cityscapes instance segmentation (8 classes with instances), in COCO format: convert gtFine with
#   python tools/dataset_converters/cityscapes.py data/cityscapes
# which writes data/cityscapes/annotations/instancesonly_filtered_gtFine_{train,val,test}.json; the images stay in
# leftImg8bit/{train,val,test}/<city>/. MMDetection reads the same files with its CityscapesDataset (a CocoDataset
# with these classes); this library has no CityscapesDataset, so the split is a CocoDataset restricted to the
# 8 classes and is evaluated by CocoMetric (box and mask AP), not by the official Cityscapes script (CityscapesMetric
# needs the optional cityscapesscripts for that; `--format-only --options txtfile_prefix=DIR` writes its result files).
# Train scale: long side 2048, short side drawn in [800, 1024]; test at 2048 x 1024.
dataset_type = 'CocoDataset'
data_root = 'data/cityscapes/'
metainfo = dict(classes=('person', 'rider', 'car', 'truck', 'bus', 'train', 'motorcycle', 'bicycle'))

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
    dict(type='RandomResize', scale=[(2048, 800), (2048, 1024)], keep_ratio=True),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackDetInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(2048, 1024), keep_ratio=True),
    dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
    dict(type='PackDetInputs'),
]
train_dataloader = dict(
    batch_size=1, num_workers=2, persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    # 8 passes over the 2,975 training images per epoch (MMDetection's "actual epoch = 8 x 8 = 64")
    dataset=dict(
        type='RepeatDataset', times=8,
        dataset=dict(type=dataset_type, data_root=data_root, metainfo=metainfo,
                     ann_file='annotations/instancesonly_filtered_gtFine_train.json',
                     data_prefix=dict(img='leftImg8bit/train/'), filter_cfg=dict(filter_empty_gt=True, min_size=32),
                     pipeline=train_pipeline)))
val_dataloader = dict(
    batch_size=1, num_workers=2, persistent_workers=True, drop_last=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(type=dataset_type, data_root=data_root, metainfo=metainfo,
                 ann_file='annotations/instancesonly_filtered_gtFine_val.json',
                 data_prefix=dict(img='leftImg8bit/val/'), test_mode=True, pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(type='CocoMetric', ann_file=data_root + 'annotations/instancesonly_filtered_gtFine_val.json',
                     metric=['bbox', 'segm'])
test_evaluator = val_evaluator
