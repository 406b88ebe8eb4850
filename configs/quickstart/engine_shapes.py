# The engine's own demo: a tiny CNN learns to tell circles, squares, triangles and crosses apart
# on 32x32 pictures that the package generates on first use (data/shapes_cls). About a minute on 2 cores.
_base_ = ['../_base_/default_runtime.py', '../_base_/schedules/sgd_cosine_30e.py']

data_root = 'data/shapes_cls'
model = dict(
    type='TinyClassifier',
    num_classes=4,
    widths=(16, 32, 64),
    data_preprocessor=dict(type='ImgDataPreprocessor', mean=[127.5] * 3, std=[64.0] * 3, bgr_to_rgb=True),
)
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='RandomFlip', prob=[0.25, 0.25], direction=['horizontal', 'vertical']),
    dict(type='PackInputs'),
]
test_pipeline = [dict(type='LoadImageFromFile'), dict(type='PackInputs')]
train_dataloader = dict(
    batch_size=32,
    num_workers=2,
    persistent_workers=True,
    drop_last=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(type='ShapesClassificationDataset', data_root=data_root, ann_file='train.json',
                 pipeline=train_pipeline),
)
val_dataloader = dict(
    batch_size=64,
    num_workers=1,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(type='ShapesClassificationDataset', data_root=data_root, ann_file='val.json',
                 pipeline=test_pipeline, test_mode=True),
)
test_dataloader = val_dataloader
val_evaluator = dict(type='Accuracy', topk=(1, 2))
test_evaluator = val_evaluator

train_cfg = dict(max_epochs=15, val_interval=5)  # short schedule: the shapes are easy
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0, end=50),
    dict(type='CosineAnnealingLR', by_epoch=True, begin=0, end=15, eta_min=1e-4),
]
default_hooks = dict(
    logger=dict(type='LoggerHook', interval=10),
    checkpoint=dict(type='CheckpointHook', interval=5, max_keep_ckpts=2, save_best='accuracy/top1'),
)
visualizer = dict(type='Visualizer', vis_backends=[dict(type='LocalVisBackend'),
                                                   dict(type='TensorboardVisBackend')])
