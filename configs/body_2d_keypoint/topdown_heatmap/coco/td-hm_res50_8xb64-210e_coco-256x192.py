# SimpleBaseline (Xiao et al., 2018): ResNet-50 + three 4x4 deconvolutions -> 17 heatmaps at 1/4 of the 256x192
# input, MSRA Gaussian targets (sigma 2), flip test with the one-pixel heatmap shift. MMPose reports 0.718 COCO
# val AP for this recipe with person detections (AP_H 56).
_base_ = ['../../../_base_/pose_default_runtime.py']

# 210 epochs; lr / 10 after epochs 170 and 200, 500-iteration linear warm-up. lr=5e-4 is for 512 crops per step
# (8 GPUs x 64); set auto_scale_lr.enable=True (or --auto-scale-lr) to scale it to yours.
train_cfg = dict(by_epoch=True, max_epochs=210, val_interval=10)
val_cfg = dict()
test_cfg = dict()
optim_wrapper = dict(type='OptimWrapper', optimizer=dict(type='Adam', lr=5e-4))
param_scheduler = [
    dict(type='LinearLR', begin=0, end=500, start_factor=0.001, by_epoch=False),
    dict(type='MultiStepLR', begin=0, end=210, milestones=[170, 200], gamma=0.1, by_epoch=True),
]
auto_scale_lr = dict(enable=False, base_batch_size=512)

# the codec both makes the training targets and decodes the predictions: (w, h) 192x256 crops -> 48x64 heatmaps
codec = dict(type='MSRAHeatmap', input_size=(192, 256), heatmap_size=(48, 64), sigma=2)

model = dict(
    type='TopdownPoseEstimator',
    data_preprocessor=dict(type='PoseDataPreprocessor', mean=[123.675, 116.28, 103.53], std=[58.395, 57.12, 57.375],
                           bgr_to_rgb=True),
    # the last stage only (stride 32, 2048 channels); BatchNorm trains (MMPose's ResNet defaults)
    backbone=dict(type='ResNet', depth=50, out_indices=(3,), frozen_stages=-1, norm_eval=False,
                  init_cfg=dict(type='Pretrained', checkpoint='torchvision://resnet50')),
    head=dict(type='HeatmapHead', in_channels=2048, out_channels=17,
              deconv_out_channels=(256, 256, 256), deconv_kernel_sizes=(4, 4, 4),
              loss=dict(type='KeypointMSELoss', use_target_weight=True), decoder=codec),
    test_cfg=dict(flip_test=True, flip_mode='heatmap', shift_heatmap=True),
)

dataset_type = 'CocoDataset'  # the pose dataset in the 'mmpose' scope (CocoPoseDataset)
data_mode = 'topdown'
data_root = 'data/coco/'
metainfo = dict(from_file='configs/_base_/datasets/coco.py')  # keypoints, flip pairs, skeleton, OKS sigmas

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
val_pipeline = [
    dict(type='LoadImage'),
    dict(type='GetBBoxCenterScale'),
    dict(type='TopdownAffine', input_size=codec['input_size']),
    dict(type='PackPoseInputs'),
]

train_dataloader = dict(
    batch_size=64, num_workers=2, persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(type=dataset_type, data_root=data_root, data_mode=data_mode, metainfo=metainfo,
                 ann_file='annotations/person_keypoints_train2017.json', data_prefix=dict(img='train2017/'),
                 pipeline=train_pipeline))
# validation and test crop the persons a detector found (bbox_file), not the ground-truth boxes
val_dataloader = dict(
    batch_size=32, num_workers=2, persistent_workers=True, drop_last=False,
    sampler=dict(type='DefaultSampler', shuffle=False, round_up=False),
    dataset=dict(type=dataset_type, data_root=data_root, data_mode=data_mode, metainfo=metainfo,
                 ann_file='annotations/person_keypoints_val2017.json',
                 bbox_file='data/coco/person_detection_results/COCO_val2017_detections_AP_H_56_person.json',
                 data_prefix=dict(img='val2017/'), test_mode=True, pipeline=val_pipeline))
test_dataloader = val_dataloader

val_evaluator = dict(type='CocoMetric', ann_file=data_root + 'annotations/person_keypoints_val2017.json')
test_evaluator = val_evaluator
