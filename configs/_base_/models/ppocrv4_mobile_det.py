# PP-OCRv4 mobile text detector (PaddleOCR's ch_PP-OCRv4_det: PP-OCRv4_mobile_det.yml's student network):
# PPLCNetV3 x0.75 (detection layout, training form with 4 re-parameterisable branches per conv) -> RSEFPN (96) ->
# DBHead (k=50). The official weights load into the deploy form (backbone.deploy=True):
# `visioncraft.apis.import_ppocr_weights('ppocrv4_mobile_det')` (docs/ppocr.md).
# Input as PaddleOCR: the BGR image normalised with ImageNet's mean / std in that channel order, sides padded to
# multiples of 32. Post-processing: PaddleOCR's DBPostProcess defaults (thresh 0.3, box_thresh 0.6, unclip 1.5).
model = dict(
    type='DBNet',
    data_preprocessor=dict(type='ImgDataPreprocessor', mean=[123.675, 116.28, 103.53], std=[58.395, 57.12, 57.375],
                           bgr_to_rgb=False, pad_size_divisor=32),
    backbone=dict(type='PPLCNetV3', scale=0.75, det=True, conv_kxk_num=4, deploy=False),
    neck=dict(type='RSEFPN', out_channels=96, shortcut=True),
    det_head=dict(
        type='DBHead', k=50,
        loss=dict(type='DBLoss', loss_prob_weight=5.0, loss_thr_weight=10.0, loss_db_weight=1.0, negative_ratio=3.0),
        codec=dict(type='DBCodec', shrink_ratio=0.4, thr_min=0.3, thr_max=0.7, min_text_size=8, thresh=0.3,
                   box_thresh=0.6, unclip_ratio=1.5, max_candidates=1000, text_repr_type='quad',
                   score_mode='fast', use_dilation=False, min_box_size=3)),
)
