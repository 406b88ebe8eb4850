# SimpleBaseline ResNet-50 with DARK (Zhang et al., 2020): the same network and schedule as the plain ResNet-50
# recipe; only the codec changes. Training targets are Gaussians centred on the exact sub-pixel keypoint
# (unbiased encoding), and decoding blurs each heatmap (11x11 Gaussian for sigma 2), takes its log and refines the
# arg-max with one Newton step instead of the quarter-pixel shift. MMPose reports 0.724 COCO val AP for it.
_base_ = ['./td-hm_res50_8xb64-210e_coco-256x192.py']

codec = dict(type='MSRAHeatmap', input_size=(192, 256), heatmap_size=(48, 64), sigma=2, unbiased=True)

# the head decodes and GenerateTarget encodes with the DARK codec (lists are replaced whole, so both pipelines
# are restated)
model = dict(head=dict(decoder=codec))
train_pipeline = [
    dict(type='LoadImage'),
    dict(type='GetBBoxCenterScale'),
    dict(type='RandomFlip', direction='horizontal'),
    dict(type='RandomHalfBody'),
    dict(type='RandomBBoxTransform'),
    dict(type='TopdownAffine', input_size=codec['input_size']),
    dict(type='GenerateTarget', encoder=codec),
    dict(type='PackPoseInputs'),
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
