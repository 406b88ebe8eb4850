# SimCC (Li et al., 2022) on ResNet-50: keypoints as two 1-D classifications. The SimpleBaseline deconvolution
# stack (three 4x4 stride-2 deconvolutions, 256 channels, then a 1x1 conv to 17 maps of 48x64) is followed by one
# linear classifier per axis that reads each keypoint's flattened map: 384 x bins and 512 y bins (2 per input
# pixel). Gaussian labels of sigma 6 bins, KL-divergence loss. MMPose reports 0.721 COCO val AP for this recipe.
_base_ = ['../../topdown_heatmap/coco/td-hm_res50_8xb64-210e_coco-256x192.py']

# 210 epochs as the heatmap recipe, but Adam at lr 1e-3 (for 512 crops per step)
optim_wrapper = dict(type='OptimWrapper', optimizer=dict(type='Adam', lr=1e-3))

codec = dict(type='SimCCLabel', input_size=(192, 256), sigma=6.0, simcc_split_ratio=2.0)

model = dict(
    head=dict(_delete_=True, type='SimCCHead', in_channels=2048, out_channels=17, input_size=codec['input_size'],
              # the backbone's last map: 192 / 32 x 256 / 32
              in_featuremap_size=tuple(s // 32 for s in codec['input_size']),
              simcc_split_ratio=codec['simcc_split_ratio'],
              deconv_out_channels=(256, 256, 256), deconv_kernel_sizes=(4, 4, 4),
              loss=dict(type='KLDiscretLoss', use_target_weight=True), decoder=codec),
    # the flip test averages the logits of the mirrored crop (x reversed, left / right swapped) with the original's
    test_cfg=dict(_delete_=True, flip_test=True),
)

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
