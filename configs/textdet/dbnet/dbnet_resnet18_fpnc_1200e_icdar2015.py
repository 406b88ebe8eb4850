# DBNet R-18 FPNC on ICDAR 2015 (MMOCR's dbnet_resnet18_fpnc_1200e_icdar2015.py): 1200 epochs of SGD with a
# poly learning-rate decay, validation every 20 epochs.
_base_ = [
    '_base_dbnet_resnet18_fpnc.py',
    '../_base_/datasets/icdar2015.py',
    '../_base_/default_runtime.py',
    '../_base_/schedules/schedule_sgd_1200e.py',
]

# the dataset entries of the base with the DBNet pipelines
icdar2015_textdet_train = {{_base_.icdar2015_textdet_train}}
icdar2015_textdet_train['pipeline'] = {{_base_.train_pipeline}}
icdar2015_textdet_test = {{_base_.icdar2015_textdet_test}}
icdar2015_textdet_test['pipeline'] = {{_base_.test_pipeline}}

train_dataloader = dict(
    batch_size=16, num_workers=8, persistent_workers=True, sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=icdar2015_textdet_train)
val_dataloader = dict(
    batch_size=1, num_workers=4, persistent_workers=True, drop_last=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=icdar2015_textdet_test)
test_dataloader = val_dataloader
val_evaluator = dict(type='HmeanIOUMetric')
test_evaluator = val_evaluator
auto_scale_lr = dict(enable=False, base_batch_size=16)
