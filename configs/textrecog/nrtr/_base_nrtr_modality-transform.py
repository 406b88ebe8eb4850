# NRTR (MMOCR's _base_nrtr_modality-transform.py): a two-conv modality transform turns a colour 32-pixel-high word
# into one 512-wide feature per 4 columns, 12 transformer encoder layers contextualise them and a 6-layer
# transformer decoder reads the word token by token (start token in, end token out) over the 90 English
# characters + <UKN>. Trained with per-token cross entropy (teacher forcing), decoded greedily (beam_width > 1 in
# the codec switches to beam search).
dictionary = dict(type='Dictionary', builtin='english_digits_symbols', with_start=True, with_end=True,
                  same_start_end=True, with_padding=True, with_unknown=True)

model = dict(
    type='NRTR',
    backbone=dict(type='NRTRModalityTransform', in_channels=3, input_height=32),
    encoder=dict(type='NRTREncoder', n_layers=12, n_head=8, d_k=64, d_v=64, d_model=512, d_inner=256),
    decoder=dict(
        type='NRTRDecoder', n_layers=6, d_embedding=512, n_head=8, d_k=64, d_v=64, d_model=512, d_inner=256,
        codec=dict(type='AttentionCodec', dictionary=dictionary, max_seq_len=30, beam_width=1),
        module_loss=dict(type='CEModuleLoss', ignore_first_char=True, flatten=True, reduction='mean')),
    data_preprocessor=dict(type='TextRecogDataPreprocessor', mean=[123.675, 116.28, 103.53],
                           std=[58.395, 57.12, 57.375]))

train_pipeline = [
    dict(type='LoadImageFromFile', ignore_empty=True),
    dict(type='LoadOCRAnnotations', with_text=True),
    dict(type='RescaleToHeight', height=32, min_width=32, max_width=160, width_divisor=4),
    dict(type='PadToWidth', width=160),
    dict(type='PackTextRecogInputs', meta_keys=('img_path', 'ori_shape', 'img_shape', 'valid_ratio')),
]
# test: the same width bound; valid_ratio keeps the decoder's cross attention off the right padding
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='RescaleToHeight', height=32, min_width=32, max_width=160, width_divisor=16),
    dict(type='PadToWidth', width=160),
    dict(type='LoadOCRAnnotations', with_text=True),
    dict(type='PackTextRecogInputs', meta_keys=('img_path', 'ori_shape', 'img_shape', 'valid_ratio')),
]
