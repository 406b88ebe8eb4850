# The text-recognition quickstart: a small CRNN (MiniVGG -> 2 BiLSTMs -> CTC), trained from scratch, reads words
# rendered on coloured, textured backgrounds that the package generates on first use (data/textrecog_synth: MMOCR
# textrecog JSON and PaddleOCR labels; see visioncraft/data/synthetic/words.py). Train with
#   OMP_NUM_THREADS=1 python tools/train.py configs/quickstart/textrecog_synth.py --work-dir W
# then `python tools/test.py configs/quickstart/textrecog_synth.py W/epoch_N.pth --show-dir vis` to write every
# word image with its label and prediction. Labels keep their case; the 36-character dictionary folds them
# to lower case, so word_acc_ignore_case is the headline number (word_acc counts case too).
# Measured (2 CPU cores shared with other jobs, OMP_NUM_THREADS=1): generating the data 14 s; 7 epochs of 350 steps
# (batch 32) in 7 min 24 s (0.18 s / step, 5.5 steps/s); on the 500 val words word_acc_ignore_case 0.918 with beam
# search (width 5; greedy: 0.912), word_acc (case too) 0.596, 1-N.E.D 0.981, char recall / precision 0.982 / 0.984.
# Earlier tries, same data: 6 epochs at lr 1.5e-3 with stronger augmentation (inversion 0.2, jitter 0.5, blur 0.2)
# reached 0.864-0.888; a BiLSTM without the shortcut, or BatchNorm on 3 convs only, stayed on the all-blank plateau
# for the first 300+ steps.
_base_ = ['../textrecog/_base_/default_runtime.py']

data_root = 'data/textrecog_synth'
synth = dict(type='SynthTextRecogDataset', data_root=data_root, num_train=11200, num_val=500, seed=0)
dictionary = dict(type='Dictionary', builtin='lower_english_digits', case='lower')
model = dict(
    type='CRNN',
    data_preprocessor=dict(type='TextRecogDataPreprocessor', mean=[127.5], std=[127.5]),
    # CRNN's layout with narrow convs (MMOCR: 64-512 channels, 8.3 M parameters; here 0.4 M) and BatchNorm after
    # every conv (CRNN: after 3 of the 7), which helps a from-scratch run leave CTC's all-blank plateau sooner
    backbone=dict(type='MiniVGG', leaky_relu=False, input_channels=1, widths=(24, 48, 64, 64, 96, 96, 96),
                  norm_all=True),
    # shortcut: a linear path around the LSTMs; without it this from-scratch run sits on CTC's all-blank plateau
    # for hundreds of steps (on 16 words: loss 2.7 after 100 steps without, 0.01 with)
    encoder=dict(type='BiLSTMEncoder', hidden_channels=64, num_layers=2, shortcut=True),
    decoder=dict(type='CTCHead', codec=dict(type='CTCCodec', dictionary=dictionary, blank='first', beam_width=5),
                 loss=dict(type='CTCLoss', reduction='mean', zero_infinity=True)),
)
# grey 32-pixel-high words, at most 128 wide (33 CTC frames for at most 10 characters), padded to 128
train_pipeline = [
    dict(type='LoadImageFromFile', color_type='grayscale'),
    dict(type='LoadOCRAnnotations', with_text=True),
    dict(type='RandomBrightnessContrast', brightness=0.3, contrast=0.3, prob=0.3),
    dict(type='RandomGaussianBlur', prob=0.1, sigma=(0.3, 1.0)),
    dict(type='RescaleToHeight', height=32, min_width=32, max_width=128, width_divisor=4),
    dict(type='PadToWidth', width=128),
    dict(type='PackTextRecogInputs', meta_keys=('img_path', 'ori_shape', 'img_shape', 'valid_ratio')),
]
test_pipeline = [
    dict(type='LoadImageFromFile', color_type='grayscale'),
    dict(type='RescaleToHeight', height=32, min_width=32, max_width=128, width_divisor=4),
    dict(type='PadToWidth', width=128),
    dict(type='LoadOCRAnnotations', with_text=True),
    dict(type='PackTextRecogInputs', meta_keys=('img_path', 'ori_shape', 'img_shape', 'valid_ratio')),
]
train_dataloader = dict(
    batch_size=32,
    num_workers=1,  # decoding a small grey JPEG is cheap; one worker leaves the other core to the model
    persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(synth, ann_file='textrecog_train.json', pipeline=train_pipeline),
)
val_dataloader = dict(
    batch_size=100,
    num_workers=1,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(synth, ann_file='textrecog_val.json', pipeline=test_pipeline, test_mode=True),
)
test_dataloader = val_dataloader
val_evaluator = [dict(type='WordMetric', mode=['exact', 'ignore_case', 'ignore_case_symbol']),
                 dict(type='CharMetric'), dict(type='OneMinusNEDMetric')]
test_evaluator = val_evaluator

max_epochs = 7
train_cfg = dict(by_epoch=True, max_epochs=max_epochs, val_interval=max_epochs)
val_cfg = dict()
test_cfg = dict()
optim_wrapper = dict(type='OptimWrapper', optimizer=dict(type='AdamW', lr=2e-3, weight_decay=0.01),
                     paramwise_cfg=dict(norm_decay_mult=0.0, bias_decay_mult=0.0), clip_grad=dict(max_norm=5.0))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.05, by_epoch=False, begin=0, end=100),
    dict(type='CosineAnnealingLR', by_epoch=True, begin=0, end=max_epochs, eta_min=1e-5),
]
auto_scale_lr = dict(enable=False, base_batch_size=32)
default_hooks = dict(
    logger=dict(type='LoggerHook', interval=50),
    checkpoint=dict(type='CheckpointHook', interval=max_epochs, max_keep_ckpts=1),
)
