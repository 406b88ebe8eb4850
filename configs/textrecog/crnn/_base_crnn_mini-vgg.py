# CRNN (MMOCR's _base_crnn_mini-vgg.py): MiniVGG on grey 32-pixel-high words -> MMOCR's CRNNDecoder (two
# BiLSTMs, each with its linear layer) -> CTC over the 36 lower-case characters and digits plus the padding token,
# which is the CTC blank (the last class; labels are lower-cased). The model as MMOCR writes it, so MMOCR's
# checkpoints load and read as MMOCR reads them.
dictionary = dict(type='Dictionary', builtin='lower_english_digits', with_padding=True)
model = dict(
    type='CRNN',
    preprocessor=None,
    data_preprocessor=dict(type='TextRecogDataPreprocessor', mean=[127], std=[127]),
    backbone=dict(type='MiniVGG', leaky_relu=False, input_channels=1),
    encoder=None,
    decoder=dict(type='CRNNDecoder', in_channels=512, rnn_flag=True,
                 module_loss=dict(type='CTCModuleLoss', letter_case='lower'),
                 postprocessor=dict(type='CTCPostProcessor'), dictionary=dictionary))
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
