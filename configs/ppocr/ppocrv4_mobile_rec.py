# PP-OCRv4 mobile recogniser (PPLCNetV3 x0.95 -> EncoderWithSVTR -> CTC over PP-OCR's 6623 characters + space) in
# the folded (deploy) form of PaddleOCR's inference weights, for evaluating / fine-tuning the imported official
# model (docs/ppocr.md). Crops are resized to height 48 keeping their aspect ratio (up to 320 wide) and padded, as
# PaddleOCR's RecResizeImg; the BGR crop is normalised as is. Tested on IIIT5K (English words: PP-OCRv4's dictionary
# holds upper and lower case, digits and symbols); training here would be on MJSynth, AdamW + cosine, as the SVTR
# recipe (PaddleOCR trains this model on its own Chinese / English data with an extra attention head).
_base_ = [
    '../_base_/models/ppocrv4_mobile_rec.py',
    '../textrecog/_base_/datasets/mjsynth.py',
    '../textrecog/_base_/datasets/iiit5k.py',
    '../textrecog/_base_/default_runtime.py',
]
model = dict(backbone=dict(deploy=True))
train_pipeline = [
    dict(type='LoadImageFromFile', ignore_empty=True),
    dict(type='LoadOCRAnnotations', with_text=True),
    dict(type='RandomBrightnessContrast', brightness=0.3, contrast=0.3, prob=0.4),
    dict(type='RandomGaussianBlur', prob=0.2, sigma=(0.3, 1.0)),
    dict(type='RecResizeImg', image_shape=(3, 48, 320)),
    dict(type='PackTextRecogInputs', meta_keys=('img_path', 'ori_shape', 'img_shape', 'valid_ratio')),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='RecResizeImg', image_shape=(3, 48, 320)),
    dict(type='LoadOCRAnnotations', with_text=True),
    dict(type='PackTextRecogInputs', meta_keys=('img_path', 'ori_shape', 'img_shape', 'valid_ratio')),
]
mjsynth_textrecog_train = {{_base_.mjsynth_textrecog_train}}
mjsynth_textrecog_train['pipeline'] = train_pipeline
iiit5k_textrecog_test = {{_base_.iiit5k_textrecog_test}}
iiit5k_textrecog_test['pipeline'] = test_pipeline
train_dataloader = dict(batch_size=64, num_workers=8, persistent_workers=True,
                        sampler=dict(type='DefaultSampler', shuffle=True), dataset=mjsynth_textrecog_train)
val_dataloader = dict(batch_size=64, num_workers=4, persistent_workers=True, drop_last=False,
                      sampler=dict(type='DefaultSampler', shuffle=False), dataset=iiit5k_textrecog_test)
test_dataloader = val_dataloader
val_evaluator = [dict(type='WordMetric', mode=['exact', 'ignore_case', 'ignore_case_symbol']),
                 dict(type='CharMetric'), dict(type='OneMinusNEDMetric')]
test_evaluator = val_evaluator

optim_wrapper = dict(type='OptimWrapper', optimizer=dict(type='AdamW', lr=5e-4, betas=(0.9, 0.99), eps=1e-8,
                                                         weight_decay=0.05),
                     paramwise_cfg=dict(norm_decay_mult=0.0, bias_decay_mult=0.0))
train_cfg = dict(by_epoch=True, max_epochs=20, val_interval=1)
val_cfg = dict()
test_cfg = dict()
param_scheduler = [
    dict(type='LinearLR', start_factor=0.5, end_factor=1.0, end=2, by_epoch=True, convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', T_max=19, begin=2, end=20, by_epoch=True, convert_to_iter_based=True),
]
auto_scale_lr = dict(enable=False, base_batch_size=64)
