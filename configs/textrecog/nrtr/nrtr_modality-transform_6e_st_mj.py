# NRTR with the modality transform, 6 epochs of Adam (lr 3e-4, x0.1 after epochs 3 and 4), MMOCR's
# nrtr_modality-transform_6e_st_mj.py. Trained on MJSynth here (MMOCR adds SynthText: concatenate a second
# OCRDataset in train_dataloader.dataset), tested on IIIT5K as the CRNN / SVTR configs.
_base_ = [
    '../_base_/datasets/mjsynth.py',
    '../_base_/datasets/iiit5k.py',
    '../_base_/default_runtime.py',
    '_base_nrtr_modality-transform.py',
]

mjsynth_textrecog_train = {{_base_.mjsynth_textrecog_train}}
mjsynth_textrecog_train['pipeline'] = {{_base_.train_pipeline}}
iiit5k_textrecog_test = {{_base_.iiit5k_textrecog_test}}
iiit5k_textrecog_test['pipeline'] = {{_base_.test_pipeline}}

train_dataloader = dict(batch_size=384, num_workers=24, persistent_workers=True,
                        sampler=dict(type='DefaultSampler', shuffle=True), dataset=mjsynth_textrecog_train)
val_dataloader = dict(batch_size=1, num_workers=4, persistent_workers=True, drop_last=False,
                      sampler=dict(type='DefaultSampler', shuffle=False), dataset=iiit5k_textrecog_test)
test_dataloader = val_dataloader
val_evaluator = [dict(type='WordMetric', mode=['exact', 'ignore_case', 'ignore_case_symbol']),
                 dict(type='CharMetric'), dict(type='OneMinusNEDMetric')]
test_evaluator = val_evaluator

optim_wrapper = dict(type='OptimWrapper', optimizer=dict(type='Adam', lr=3e-4))
train_cfg = dict(by_epoch=True, max_epochs=6, val_interval=1)
val_cfg = dict()
test_cfg = dict()
param_scheduler = [dict(type='MultiStepLR', milestones=[3, 4], by_epoch=True, end=6)]
auto_scale_lr = dict(base_batch_size=384)
