# CRNN (MMOCR's _base_crnn_mini-vgg.py): MiniVGG on grey 32-pixel-high words -> two BiLSTMs -> a linear CTC
# classifier over the 36 lower-case characters and digits (labels are lower-cased; the blank is class 0).
dictionary = dict(type='Dictionary', builtin='lower_english_digits', case='lower')

model = dict(
    type='CRNN',
    data_preprocessor=dict(type='TextRecogDataPreprocessor', mean=[127], std=[127]),
    backbone=dict(type='MiniVGG', leaky_relu=False, input_channels=1),
    encoder=dict(type='BiLSTMEncoder', hidden_channels=256, num_layers=2),
    decoder=dict(type='CTCHead', codec=dict(type='CTCCodec', dictionary=dictionary, blank='first', beam_width=1),
                 loss=dict(type='CTCLoss', reduction='mean', zero_infinity=True)))

train_pipeline = [
    dict(type='LoadImageFromFile', color_type='grayscale', ignore_empty=True),
    dict(type='LoadOCRAnnotations', with_text=True),
    dict(type='Resize', scale=(100, 32), keep_ratio=False),
    dict(type='PackTextRecogInputs', meta_keys=('img_path', 'ori_shape', 'img_shape', 'valid_ratio')),
]
# test: keep the aspect ratio (width a multiple of 16, at least 32); each batch is padded to its widest word and
# valid_ratio keeps the padding out of the decoding
test_pipeline = [
    dict(type='LoadImageFromFile', color_type='grayscale'),
    dict(type='RescaleToHeight', height=32, min_width=32, max_width=None, width_divisor=16),
    dict(type='LoadOCRAnnotations', with_text=True),
    dict(type='PackTextRecogInputs', meta_keys=('img_path', 'ori_shape', 'img_shape', 'valid_ratio')),
]
