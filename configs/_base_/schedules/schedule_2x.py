# The "2x" detection schedule: 24 epochs, lr / 10 after epochs 16 and 22, 500-iteration linear warm-up.
# lr=0.02 is for 16 images per step (8 GPUs x 2); set auto_scale_lr.enable=True to scale it to yours.
_base_ = ['./schedule_1x.py']
train_cfg = dict(max_epochs=24)
param_scheduler = [
    dict(type='LinearLR', start_factor=0.001, by_epoch=False, begin=0, end=500),
    dict(type='MultiStepLR', begin=0, end=24, by_epoch=True, milestones=[16, 22], gamma=0.1),
]
