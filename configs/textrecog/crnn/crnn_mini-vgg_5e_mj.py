# CRNN on MJSynth, 5 epochs of Adadelta (MMOCR's crnn_mini-vgg_5e_mj.py). Validation on IIIT5K; testing on the six
# usual benchmarks at once (CUTE80, IIIT5K, SVT, SVTP, IC13, IC15), each reported under its own prefix
# (IIIT5K/recog/word_acc, ...) by MultiDatasetsEvaluator, as MMOCR does.
_base_ = [
    '../_base_/datasets/mjsynth.py',
    '../_base_/datasets/cute80.py',
    '../_base_/datasets/iiit5k.py',
    '../_base_/datasets/svt.py',
    '../_base_/datasets/svtp.py',
    '../_base_/datasets/icdar2013.py',
    '../_base_/datasets/icdar2015.py',
    '../_base_/default_runtime.py',
    '../_base_/schedules/schedule_adadelta_5e.py',
    '_base_crnn_mini-vgg.py',
]

mjsynth_textrecog_train = {{_base_.mjsynth_textrecog_train}}
mjsynth_textrecog_train['pipeline'] = {{_base_.train_pipeline}}
test_list = [{{_base_.cute80_textrecog_test}}, {{_base_.iiit5k_textrecog_test}}, {{_base_.svt_textrecog_test}},
             {{_base_.svtp_textrecog_test}}, {{_base_.icdar2013_textrecog_test}}, {{_base_.icdar2015_textrecog_test}}]
for test_set in test_list:
    test_set['pipeline'] = {{_base_.test_pipeline}}
iiit5k_textrecog_test = test_list[1]
del test_set

train_dataloader = dict(
    batch_size=64, num_workers=24, persistent_workers=True, sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=mjsynth_textrecog_train)
val_dataloader = dict(
    batch_size=1, num_workers=4, persistent_workers=True, drop_last=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=iiit5k_textrecog_test)
test_dataloader = dict(
    batch_size=1, num_workers=4, persistent_workers=True, drop_last=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(type='ConcatDataset', datasets=test_list))
val_evaluator = [dict(type='WordMetric', mode=['exact', 'ignore_case', 'ignore_case_symbol']),
                 dict(type='CharMetric')]
test_evaluator = dict(type='MultiDatasetsEvaluator', metrics=val_evaluator,
                      dataset_prefixes=['CUTE80', 'IIIT5K', 'SVT', 'SVTP', 'IC13', 'IC15'])
auto_scale_lr = dict(base_batch_size=64 * 4)
