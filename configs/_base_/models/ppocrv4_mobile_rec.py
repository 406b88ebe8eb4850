# PP-OCRv4 mobile text recogniser (PaddleOCR's ch_PP-OCRv4_rec, the CTC branch of PP-OCRv4_mobile_rec.yml):
# PPLCNetV3 x0.95 (recognition layout) -> EncoderWithSVTR (2 global-attention blocks of 120, (1, 3) convs) ->
# a linear CTC head over PP-OCR's 6623-character list + space (6625 classes with the blank first).
# The official weights load into the deploy form (backbone.deploy=True):
# `visioncraft.apis.import_ppocr_weights('ppocrv4_mobile_rec')` (docs/ppocr.md).
# Input as PaddleOCR: the BGR crop resized to height 48, (x - 127.5) / 127.5. PaddleOCR trains this CTC branch
# next to an attention (GTC) head and stops the CTC neck's gradient at the backbone (use_guide); a model trained
# with CTC alone must let it through, so use_guide stays False here (it changes nothing at inference).
model = dict(
    type='EncoderDecoderRecognizer',
    data_preprocessor=dict(type='TextRecogDataPreprocessor', mean=[127.5, 127.5, 127.5], std=[127.5, 127.5, 127.5],
                           bgr_to_rgb=False),
    backbone=dict(type='PPLCNetV3', scale=0.95, det=False, conv_kxk_num=4, deploy=False),
    encoder=dict(type='EncoderWithSVTR', dims=120, depth=2, hidden_dims=120, num_heads=8, mlp_ratio=2.0,
                 kernel_size=(1, 3), use_guide=False),
    decoder=dict(type='CTCHead',
                 codec=dict(type='CTCCodec', blank='first',
                            dictionary=dict(type='Dictionary', builtin='ppocr_keys_v1', extra_chars=' ')),
                 loss=dict(type='CTCLoss', reduction='batch_mean', zero_infinity=True)),
)
