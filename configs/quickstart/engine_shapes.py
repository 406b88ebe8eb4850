# The engine's own demo: a tiny CNN learns to tell circles, squares, triangles and crosses apart
# on 32x32 pictures in random colours that the package generates on first use (data/shapes_cls,
# 4000 train + 400 val, about 2 s). Training and evaluation take about a minute on 2 cores.
_base_ = ['../_base_/default_runtime.py', '../_base_/schedules/sgd_cosine_30e.py']

data_root = 'data/shapes_cls'
shapes = dict(type='ShapesClassificationDataset', data_root=data_root, num_train=4000, num_val=400)
model = dict(
    type='TinyClassifier',
    num_classes=4,
    widths=(16, 32, 64),
    pool='max',  # a shape is told by a few local cues (a corner, a crossing): max keeps them
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
    dataset=dict(shapes, ann_file='train.json', pipeline=train_pipeline),
)
val_dataloader = dict(
    batch_size=100,
    num_workers=1,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(shapes, ann_file='val.json', pipeline=test_pipeline, test_mode=True),
)
test_dataloader = val_dataloader
val_evaluator = dict(type='Accuracy', topk=(1, 2))
test_evaluator = val_evaluator

# Adam instead of the base recipe's SGD: it gets there in fewer epochs on this small problem.
optim_wrapper = dict(optimizer=dict(_delete_=True, type='Adam', lr=3e-3, weight_decay=0.0))
train_cfg = dict(max_epochs=8, val_interval=4)
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0, end=100),
    dict(type='CosineAnnealingLR', by_epoch=True, begin=0, end=8, eta_min=1e-5),
]
auto_scale_lr = dict(enable=False, base_batch_size=32)
default_hooks = dict(
    logger=dict(type='LoggerHook', interval=25),
    checkpoint=dict(type='CheckpointHook', interval=4, max_keep_ckpts=2, save_best='accuracy/top1'),
)
visualizer = dict(type='Visualizer', vis_backends=[dict(type='LocalVisBackend'),
                                                   dict(type='TensorboardVisBackend')])
