# PP-OCR's mobile v2.0 text-direction classifier (ch_ppocr_mobile_v2.0_cls, PaddleOCR's cls_mv3.yml): MobileNetV3
# small x0.35 with height-only strides -> global pool -> linear to the two classes '0' / '180'.
# The official weights: `visioncraft.apis.import_ppocr_weights('ppocr_mobile_v2.0_cls')` (docs/ppocr.md).
# Input as PaddleOCR: the BGR crop resized to height 48 (width up to 192, zero-padded), (x - 127.5) / 127.5.
model = dict(
    type='TextDirectionClassifier',
    data_preprocessor=dict(type='ImgDataPreprocessor', mean=[127.5, 127.5, 127.5], std=[127.5, 127.5, 127.5],
                           bgr_to_rgb=False),
    backbone=dict(type='PPMobileNetV3', model_name='small', scale=0.35),
    head=dict(type='TextClsHead', num_classes=2),
    labels=('0', '180'),
)
