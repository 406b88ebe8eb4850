# SVTR-Tiny with an attention decoder instead of CTC: the STN rectifier and the SVTR encoder of
# svtr-tiny_20e_st_mj.py (its 25 x 192 column features) feed a small NRTRDecoder (2 layers, 6 heads of 32) that
# reads the word token by token, trained with per-token cross entropy. Everything else (data, pipelines, AdamW +
# cosine schedule) is svtr-tiny_20e_st_mj.py's.
_base_ = ['svtr-tiny_20e_st_mj.py']

dictionary = dict(type='Dictionary', builtin='english_digits_symbols', with_start=True, with_end=True,
                  same_start_end=True, with_padding=True, with_unknown=True)
model = dict(
    _delete_=True,
    type='EncoderDecoderRecognizer',
    data_preprocessor={{_base_.svtr_pixel_norm}},
    preprocessor={{_base_.svtr_stn}},
    backbone={{_base_.svtr_encoder}},
    decoder=dict(
        type='NRTRDecoder', n_layers=2, d_embedding=192, n_head=6, d_k=32, d_v=32, d_model=192,
        d_inner=768, dropout=0.1,
        codec=dict(type='AttentionCodec', dictionary=dictionary, max_seq_len=25, beam_width=1),
        module_loss=dict(type='CEModuleLoss', ignore_first_char=True, flatten=True, reduction='mean')))
