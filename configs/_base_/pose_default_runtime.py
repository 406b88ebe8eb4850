# Runtime settings of the pose recipes (MMPose's default_runtime.py): the shared runtime in the 'mmpose' scope, so
# a plain type='CocoDataset' / 'RandomFlip' / 'CocoMetric' means the pose one; a checkpoint every 10 epochs plus
# the best one by COCO keypoint AP; the pose visualizer (skeletons, keypoint scores) for --show / --show-dir.
_base_ = './default_runtime.py'

default_scope = 'mmpose'
default_hooks = dict(
    logger=dict(type='LoggerHook', interval=50),
    checkpoint=dict(type='CheckpointHook', interval=10, save_best='coco/AP', rule='greater'),
    visualization=dict(type='PoseVisualizationHook', enable=False),
)
visualizer = dict(type='PoseLocalVisualizer', name='visualizer', vis_backends=[dict(type='LocalVisBackend')])
