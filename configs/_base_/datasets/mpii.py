# MPII Human Pose (16 keypoints), MMPose's dataset_info layout. MPII is evaluated with PCKh and has no official
# OKS sigmas: the sigmas below are the ones MMPose ships for it (adapted from COCO's per-joint sigmas; note the
# 0.179 for the shoulders, kept as MMPose has it). They only matter if you evaluate MPII with an OKS metric.
_CENTRE, _LEFT, _RIGHT = [51, 153, 255], [0, 255, 0], [255, 128, 0]

dataset_info = dict(
    dataset_name='mpii',
    paper_info=dict(
        author='Mykhaylo Andriluka and Leonid Pishchulin and Peter Gehler and Schiele, Bernt',
        title='2D Human Pose Estimation: New Benchmark and State of the Art Analysis',
        container='IEEE Conference on Computer Vision and Pattern Recognition (CVPR)',
        year='2014',
        homepage='http://human-pose.mpi-inf.mpg.de/',
    ),
    keypoint_info={
        0: dict(name='right_ankle', id=0, color=_RIGHT, type='lower', swap='left_ankle'),
        1: dict(name='right_knee', id=1, color=_RIGHT, type='lower', swap='left_knee'),
        2: dict(name='right_hip', id=2, color=_RIGHT, type='lower', swap='left_hip'),
        3: dict(name='left_hip', id=3, color=_LEFT, type='lower', swap='right_hip'),
        4: dict(name='left_knee', id=4, color=_LEFT, type='lower', swap='right_knee'),
        5: dict(name='left_ankle', id=5, color=_LEFT, type='lower', swap='right_ankle'),
        6: dict(name='pelvis', id=6, color=_CENTRE, type='lower', swap=''),
        7: dict(name='thorax', id=7, color=_CENTRE, type='upper', swap=''),
        8: dict(name='upper_neck', id=8, color=_CENTRE, type='upper', swap=''),
        9: dict(name='head_top', id=9, color=_CENTRE, type='upper', swap=''),
        10: dict(name='right_wrist', id=10, color=_RIGHT, type='upper', swap='left_wrist'),
        11: dict(name='right_elbow', id=11, color=_RIGHT, type='upper', swap='left_elbow'),
        12: dict(name='right_shoulder', id=12, color=_RIGHT, type='upper', swap='left_shoulder'),
        13: dict(name='left_shoulder', id=13, color=_LEFT, type='upper', swap='right_shoulder'),
        14: dict(name='left_elbow', id=14, color=_LEFT, type='upper', swap='right_elbow'),
        15: dict(name='left_wrist', id=15, color=_LEFT, type='upper', swap='right_wrist'),
    },
    skeleton_info={
        0: dict(link=('right_ankle', 'right_knee'), id=0, color=_RIGHT),
        1: dict(link=('right_knee', 'right_hip'), id=1, color=_RIGHT),
        2: dict(link=('right_hip', 'pelvis'), id=2, color=_RIGHT),
        3: dict(link=('pelvis', 'left_hip'), id=3, color=_LEFT),
        4: dict(link=('left_hip', 'left_knee'), id=4, color=_LEFT),
        5: dict(link=('left_knee', 'left_ankle'), id=5, color=_LEFT),
        6: dict(link=('pelvis', 'thorax'), id=6, color=_CENTRE),
        7: dict(link=('thorax', 'upper_neck'), id=7, color=_CENTRE),
        8: dict(link=('upper_neck', 'head_top'), id=8, color=_CENTRE),
        9: dict(link=('upper_neck', 'right_shoulder'), id=9, color=_RIGHT),
        10: dict(link=('right_shoulder', 'right_elbow'), id=10, color=_RIGHT),
        11: dict(link=('right_elbow', 'right_wrist'), id=11, color=_RIGHT),
        12: dict(link=('upper_neck', 'left_shoulder'), id=12, color=_LEFT),
        13: dict(link=('left_shoulder', 'left_elbow'), id=13, color=_LEFT),
        14: dict(link=('left_elbow', 'left_wrist'), id=14, color=_LEFT),
    },
    joint_weights=[1.5, 1.2, 1., 1., 1.2, 1.5, 1., 1., 1., 1., 1.5, 1.2, 1., 1., 1.2, 1.5],
    sigmas=[0.089, 0.083, 0.107, 0.107, 0.083, 0.089, 0.026, 0.026, 0.026, 0.026, 0.062, 0.072, 0.179, 0.179,
            0.072, 0.062])
