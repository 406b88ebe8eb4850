# COCO person keypoints extended by the two AI Challenger keypoints COCO lacks (19 keypoints): COCO's 17 in COCO's
# order, then AIC's head_top (17) and neck (18). The layout MMPose's COCO + AIC "combine" configs train on, with
# KeypointConverter mapping both datasets into it; test_cfg.output_keypoint_indices picks COCO's 17 back out.
# The 17 COCO entries come from coco.py; the two new keypoints get loss weight 1 and OKS sigma 0.026 (MMPose's
# value for them, so metrics over all 19 match MMPose's).
_base_ = ['coco.py']

dataset_info = dict(
    dataset_name='coco_aic',
    paper_info=dict(
        author='Lin, Tsung-Yi and others; Wu, Jiahong and others',
        title='Microsoft COCO: Common Objects in Context; '
        'AI Challenger: A Large-scale Dataset for Going Deeper in Image Understanding',
        container='ECCV 2014; arXiv 2017',
        year='2014 / 2017',
        homepage='http://cocodataset.org/ ; https://github.com/AIChallenger/AI_Challenger_2017',
    ),
    keypoint_info={
        17: dict(name='head_top', id=17, color=[51, 153, 255], type='upper', swap=''),
        18: dict(name='neck', id=18, color=[51, 153, 255], type='upper', swap=''),
    },
    skeleton_info={
        19: dict(link=('head_top', 'neck'), id=19, color=[51, 153, 255]),
    },
    joint_weights=[1., 1., 1., 1., 1., 1., 1., 1.2, 1.2, 1.5, 1.5, 1., 1., 1.2, 1.2, 1.5, 1.5, 1., 1.],
    sigmas=[0.026, 0.025, 0.025, 0.035, 0.035, 0.079, 0.079, 0.072, 0.072, 0.062, 0.062, 0.107, 0.107, 0.087,
            0.087, 0.089, 0.089, 0.026, 0.026])
