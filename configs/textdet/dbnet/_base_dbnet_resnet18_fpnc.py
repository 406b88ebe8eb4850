# DBNet with a ResNet-18 + FPNC (MMOCR's _base_dbnet_resnet18_fpnc.py model; MMOCR's R-18 is 'caffe' style,
# which for ResNet-18's basic blocks is the same network as 'pytorch'); ImageNet weights from torchvision.
model = dict(
    type='DBNet',
    data_preprocessor=dict(type='TextDetDataPreprocessor', mean=[123.675, 116.28, 103.53],
                           std=[58.395, 57.12, 57.375], bgr_to_rgb=True, pad_size_divisor=32),
    backbone=dict(type='ResNet', depth=18, num_stages=4, out_indices=(0, 1, 2, 3), frozen_stages=-1,
                  norm_cfg=dict(type='BN', requires_grad=True), norm_eval=False, style='pytorch',
                  init_cfg=dict(type='Pretrained', checkpoint='torchvision://resnet18')),
    # 4 levels x 64 channels concatenated at stride 4 -> 256 channels
    neck=dict(type='FPNC', in_channels=[64, 128, 256, 512], lateral_channels=256, out_channels=64),
    # MMOCR's head as MMOCR writes it: DBModuleLoss (prob x5, threshold x10, dice x1; polygons under 8 px are
    # ignored in training) and DBPostprocessor (binarise at 0.3, contours simplified by 1% of their perimeter,
    # mean score >= 0.3, unclip 1.5, 4-point min-area boxes at least 5 px wide), so MMOCR's checkpoints give
    # MMOCR's polygons. Their settings are those of MMOCR's classes: e.g.
    # postprocessor=dict(type='DBPostprocessor', text_repr_type='quad', min_text_score=0.6)
    det_head=dict(
        type='DBHead', in_channels=256,
        module_loss=dict(type='DBModuleLoss'),
        postprocessor=dict(type='DBPostprocessor', text_repr_type='quad')),
)

# The DBNet pipelines (as in MMOCR's _base_dbnet_resnet18_fpnc.py, with this library's transforms).
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadOCRAnnotations', with_polygon=True, with_bbox=True, with_label=True),
    dict(type='ColorJitter', brightness=32.0 / 255, saturation=0.5),
    # MMOCR's ImgAugWrapper: Fliplr 0.5, Affine rotate [-10, 10], Resize [0.5, 3.0] of the image.
    dict(type='RandomFlip', prob=0.5),
    dict(type='RandomRotate', max_angle=10),
    # every ICDAR 2015 image is 1280 x 720, so this is "rescale by a ratio in [0.5, 3.0]"
    dict(type='RandomResize', scale=(1280, 720), ratio_range=(0.5, 3.0), keep_ratio=True),
    # text-aware crop (never cuts a text instance), then fit into 640 x 640 and pad
    dict(type='TextDetRandomCrop', target_size=None, min_crop_side_ratio=0.1),
    dict(type='Resize', scale=(640, 640), keep_ratio=True),
    dict(type='Pad', size=(640, 640)),
    dict(type='PackTextDetInputs', meta_keys=('img_path', 'ori_shape', 'img_shape')),
]
# Annotations are loaded after the resize, so the packed ground truth stays in original-image pixels,
# the frame of the predictions that HmeanIOUMetric compares them with.
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(1333, 736), keep_ratio=True),
    dict(type='LoadOCRAnnotations', with_polygon=True, with_bbox=True, with_label=True),
    dict(type='PackTextDetInputs', meta_keys=('img_path', 'ori_shape', 'img_shape', 'scale_factor')),
]
# PaddleOCR's test resize (det_limit_side_len=736, det_limit_type='min'), for PaddleOCR-style configs:
#   dict(type='DetResizeForTest', limit_side_len=736, limit_type='min') in place of the Resize above.
