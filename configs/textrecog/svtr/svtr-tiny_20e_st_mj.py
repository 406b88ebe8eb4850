# SVTR-Tiny (Du et al., IJCAI 2022), as MMOCR's svtr-tiny_20e_st_mj.py builds it, so MMOCR's checkpoints load and
# read as MMOCR reads them: colour words resized to 64 x 256 -> STN (a thin-plate-spline rectifier that straightens
# the word into 32 x 100) -> SVTREncoder (patch embedding, 6 local + 6 global pre-norm mixing blocks in three stages,
# height-halving merges, pooled to 25 columns of 192 features) -> SVTRDecoder (a linear CTC classifier over the 36
# lower-case characters and digits, <UKN>, and the padding token as the CTC blank). Trained on MJSynth here (MMOCR
# adds SynthText), 20 epochs of AdamW with a cosine schedule, tested on IIIT5K.
_base_ = [
    '../_base_/datasets/mjsynth.py',
    '../_base_/datasets/iiit5k.py',
    '../_base_/default_runtime.py',
]
dictionary = dict(type='Dictionary', builtin='lower_english_digits', with_padding=True, with_unknown=True)
# the parts, by name, for the variants (svtr-tiny-attn_20e_st_mj.py reuses them)
svtr_stn = dict(type='STN', in_channels=3, resized_image_size=(32, 64), output_image_size=(32, 100),
                num_control_points=20, margins=[0.05, 0.05])
svtr_encoder = dict(type='SVTREncoder', img_size=[32, 100], in_channels=3, out_channels=192, embed_dims=[64, 128, 256],
                    depth=[3, 6, 3], num_heads=[2, 4, 8], mixer_types=['Local'] * 6 + ['Global'] * 6,
                    window_size=[[7, 11], [7, 11], [7, 11]], merging_types='Conv', prenorm=False, max_seq_len=25)
svtr_pixel_norm = dict(type='TextRecogDataPreprocessor', mean=[127.5], std=[127.5])
model = dict(
    type='SVTR',
    preprocessor=svtr_stn,
    encoder=svtr_encoder,
    decoder=dict(type='SVTRDecoder', in_channels=192,
                 module_loss=dict(type='CTCModuleLoss', letter_case='lower', zero_infinity=True),
                 postprocessor=dict(type='CTCPostProcessor'), dictionary=dictionary),
    data_preprocessor=svtr_pixel_norm,
)
train_pipeline = [
    dict(type='LoadImageFromFile', ignore_empty=True),
    dict(type='LoadOCRAnnotations', with_text=True),
    dict(type='RandomBrightnessContrast', brightness=0.3, contrast=0.3, prob=0.4),
    dict(type='RandomGaussianBlur', prob=0.2, sigma=(0.3, 1.0)),
    dict(type='Resize', scale=(256, 64), keep_ratio=False),
    dict(type='PackTextRecogInputs', meta_keys=('img_path', 'ori_shape', 'img_shape', 'valid_ratio')),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(256, 64), keep_ratio=False),
    dict(type='LoadOCRAnnotations', with_text=True),
    dict(type='PackTextRecogInputs', meta_keys=('img_path', 'ori_shape', 'img_shape', 'valid_ratio')),
]
mjsynth_textrecog_train = {{_base_.mjsynth_textrecog_train}}
mjsynth_textrecog_train['pipeline'] = train_pipeline
iiit5k_textrecog_test = {{_base_.iiit5k_textrecog_test}}
iiit5k_textrecog_test['pipeline'] = test_pipeline
train_dataloader = dict(batch_size=256, num_workers=8, persistent_workers=True,
                        sampler=dict(type='DefaultSampler', shuffle=True), dataset=mjsynth_textrecog_train)
val_dataloader = dict(batch_size=128, num_workers=4, persistent_workers=True, drop_last=False,
                      sampler=dict(type='DefaultSampler', shuffle=False), dataset=iiit5k_textrecog_test)
test_dataloader = val_dataloader
val_evaluator = [dict(type='WordMetric', mode=['exact', 'ignore_case', 'ignore_case_symbol']),
                 dict(type='CharMetric'), dict(type='OneMinusNEDMetric')]
test_evaluator = val_evaluator

optim_wrapper = dict(type='OptimWrapper', optimizer=dict(type='AdamW', lr=5e-4, betas=(0.9, 0.99), eps=8e-8,
                                                         weight_decay=0.05),
                     paramwise_cfg=dict(norm_decay_mult=0.0, bias_decay_mult=0.0))
train_cfg = dict(by_epoch=True, max_epochs=20, val_interval=1)
val_cfg = dict()
test_cfg = dict()
param_scheduler = [
    dict(type='LinearLR', start_factor=0.5, end_factor=1.0, end=2, by_epoch=True, convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', T_max=19, begin=2, end=20, by_epoch=True, convert_to_iter_based=True),
]
auto_scale_lr = dict(enable=False, base_batch_size=512)
