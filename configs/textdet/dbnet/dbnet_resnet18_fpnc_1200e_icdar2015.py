# DBNet R-18 FPNC on ICDAR 2015 (MMOCR's dbnet_resnet18_fpnc_1200e_icdar2015.py): 1200 epochs of SGD with a
# poly learning-rate decay, validation every 20 epochs.
_base_ = [
    '../../_base_/models/dbnet_resnet18_fpnc.py',
    '../../_base_/datasets/icdar2015.py',
    '../../_base_/textdet_default_runtime.py',
]
optim_wrapper = dict(type='OptimWrapper', optimizer=dict(type='SGD', lr=0.007, momentum=0.9, weight_decay=0.0001))
train_cfg = dict(by_epoch=True, max_epochs=1200, val_interval=20)
val_cfg = dict()
test_cfg = dict()
param_scheduler = [dict(type='PolyLR', power=0.9, eta_min=1e-7, end=1200, by_epoch=True)]
auto_scale_lr = dict(enable=False, base_batch_size=16)
