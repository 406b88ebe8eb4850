# CRNN on MJSynth, 5 epochs of Adadelta (MMOCR's crnn_mini-vgg_5e_mj.py). MMOCR tests on six benchmarks at once
# (IIIT5K, SVT, IC13, IC15, SVTP, CUTE80); here the test set is IIIT5K (swap test_dataloader.dataset for another
# TextRecogDataset to test on one of the others).
_base_ = [
    '../../_base_/datasets/mjsynth.py',
    '../../_base_/datasets/iiit5k.py',
    '../../_base_/textrecog_default_runtime.py',
    '../../_base_/schedules/schedule_adadelta_5e.py',
    '_base_crnn_mini-vgg.py',
]

mjsynth_textrecog_train = {{_base_.mjsynth_textrecog_train}}
mjsynth_textrecog_train['pipeline'] = {{_base_.train_pipeline}}
iiit5k_textrecog_test = {{_base_.iiit5k_textrecog_test}}
iiit5k_textrecog_test['pipeline'] = {{_base_.test_pipeline}}

train_dataloader = dict(
    batch_size=64, num_workers=24, persistent_workers=True, sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=mjsynth_textrecog_train)
val_dataloader = dict(
    batch_size=1, num_workers=4, persistent_workers=True, drop_last=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=iiit5k_textrecog_test)
test_dataloader = val_dataloader
val_evaluator = [dict(type='WordMetric', mode=['exact', 'ignore_case', 'ignore_case_symbol']),
                 dict(type='CharMetric')]
test_evaluator = val_evaluator
auto_scale_lr = dict(base_batch_size=64 * 4)
