# RTMPose-s (Jiang et al., 2023): CSPNeXt-s backbone, RTMCCHead (7x7 conv, GAU over the 17 keypoint tokens, x / y
# classifiers at 2 bins per pixel) trained with the KL loss on SimCC labels. 5.47 M parameters; MMPose reports
# 0.716 COCO val AP (detections AP_H 56) with its full recipe. Differences from it, by what this library has: no
# YOLOX-HSV / Albumentations photometric augmentation and no pipeline switch for the last 30 epochs (MMDetection's
# PipelineSwitchHook); the weight EMA is the plain one (MMDetection's ExpMomentumEMA also warms its momentum up).
_base_ = ['../../../_base_/pose_default_runtime.py']

# 420 epochs: AdamW lr 4e-3 (for 1024 crops per step: 8 GPUs x 256 - set auto_scale_lr.enable for yours), 1000-iter
# linear warm-up, constant, then a cosine to 5% over the second half; no weight decay on norms and biases.
max_epochs = 420
stage2_num_epochs = 30
base_lr = 4e-3
train_cfg = dict(by_epoch=True, max_epochs=max_epochs, val_interval=10)
val_cfg = dict()
test_cfg = dict()
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=base_lr, weight_decay=0.),
    paramwise_cfg=dict(norm_decay_mult=0, bias_decay_mult=0, bypass_duplicate=True))
param_scheduler = [
    dict(type='LinearLR', start_factor=1.0e-5, by_epoch=False, begin=0, end=1000),
    dict(type='CosineAnnealingLR', eta_min=base_lr * 0.05, begin=max_epochs // 2, end=max_epochs,
         T_max=max_epochs // 2, by_epoch=True, convert_to_iter_based=True),
]
auto_scale_lr = dict(enable=False, base_batch_size=1024)

# SimCC labels: Gaussian in bins (sigma_x, sigma_y), unnormalised (the loss soft-maxes them), 2 bins per pixel
codec = dict(type='SimCCLabel', input_size=(192, 256), sigma=(4.9, 5.66), simcc_split_ratio=2.0, normalize=False,
             use_dark=False)

model = dict(
    type='TopdownPoseEstimator',
    data_preprocessor=dict(type='PoseDataPreprocessor', mean=[123.675, 116.28, 103.53], std=[58.395, 57.12, 57.375],
                           bgr_to_rgb=True),
    backbone=dict(
        type='CSPNeXt', arch='P5', expand_ratio=0.5, deepen_factor=0.33, widen_factor=0.5, out_indices=(4, ),
        channel_attention=True, norm_cfg=dict(type='SyncBN'), act_cfg=dict(type='SiLU'),
        # CSPNeXt-s pre-trained by MMPose on AI Challenger + COCO (a pose model checkpoint: take its backbone.*)
        init_cfg=dict(type='Pretrained', prefix='backbone.',
                      checkpoint='https://download.openmmlab.com/mmpose/v1/projects/rtmpose/'
                                 'cspnext-s_udp-aic-coco_210e-256x192-92f5a029_20230130.pth')),
    head=dict(
        type='RTMCCHead', in_channels=512, out_channels=17, input_size=codec['input_size'],
        in_featuremap_size=tuple([s // 32 for s in codec['input_size']]),
        simcc_split_ratio=codec['simcc_split_ratio'], final_layer_kernel_size=7,
        gau_cfg=dict(hidden_dims=256, s=128, expansion_factor=2, dropout_rate=0., drop_path=0., act_fn='SiLU',
                     use_rel_bias=False, pos_enc=False),
        loss=dict(type='KLDiscretLoss', use_target_weight=True, beta=10., label_softmax=True),
        decoder=codec),
    test_cfg=dict(flip_test=True),
)

dataset_type = 'CocoDataset'  # the pose dataset in the 'mmpose' scope (CocoPoseDataset)
data_mode = 'topdown'
data_root = 'data/coco/'
metainfo = dict(from_file='configs/_base_/datasets/coco.py')

train_pipeline = [
    dict(type='LoadImage'),
    dict(type='GetBBoxCenterScale'),
    dict(type='RandomFlip', direction='horizontal'),
    dict(type='RandomHalfBody'),
    dict(type='RandomBBoxTransform', scale_factor=[0.6, 1.4], rotate_factor=80),
    dict(type='TopdownAffine', input_size=codec['input_size']),
    dict(type='GenerateTarget', encoder=codec),
    dict(type='PackPoseInputs'),
]
val_pipeline = [
    dict(type='LoadImage'),
    dict(type='GetBBoxCenterScale'),
    dict(type='TopdownAffine', input_size=codec['input_size']),
    dict(type='PackPoseInputs'),
]

train_dataloader = dict(
    batch_size=256, num_workers=10, persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(type=dataset_type, data_root=data_root, data_mode=data_mode, metainfo=metainfo,
                 ann_file='annotations/person_keypoints_train2017.json', data_prefix=dict(img='train2017/'),
                 pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=64, num_workers=10, persistent_workers=True, drop_last=False,
    sampler=dict(type='DefaultSampler', shuffle=False, round_up=False),
    dataset=dict(type=dataset_type, data_root=data_root, data_mode=data_mode, metainfo=metainfo,
                 ann_file='annotations/person_keypoints_val2017.json',
                 bbox_file='data/coco/person_detection_results/COCO_val2017_detections_AP_H_56_person.json',
                 data_prefix=dict(img='val2017/'), test_mode=True, pipeline=val_pipeline))
test_dataloader = val_dataloader

default_hooks = dict(checkpoint=dict(save_best='coco/AP', rule='greater', max_keep_ckpts=1))
custom_hooks = [dict(type='EMAHook', momentum=0.0002, update_buffers=True)]

val_evaluator = dict(type='CocoMetric', ann_file=data_root + 'annotations/person_keypoints_val2017.json')
test_evaluator = val_evaluator
