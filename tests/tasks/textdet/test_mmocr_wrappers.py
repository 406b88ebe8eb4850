"""MMOCR 1.x's ImgAugWrapper / TorchVisionWrapper mapped onto VisionCraft transforms."""
from __future__ import annotations

import numpy as np
import pytest

from visioncraft.registry import TRANSFORMS, import_builtin_modules
from visioncraft.tasks.textdet.transforms.wrappers import imgaug_steps

import_builtin_modules()


def test_dbnet_imgaug_args_map_onto_geometric_transforms():
    args = [['Fliplr', 0.5], dict(cls='Affine', rotate=[-10, 10]), ['Resize', [0.5, 3.0]]]
    assert imgaug_steps(args) == [dict(type='RandomFlip', prob=0.5, direction='horizontal'),
                                  dict(type='RandomRotate', max_angle=10.0),
                                  dict(type='RandomScale', ratio_range=(0.5, 3.0))]
    wrapper = TRANSFORMS.build(dict(type='ImgAugWrapper', args=args))
    img = np.zeros((40, 60, 3), np.uint8)
    poly = np.array([10, 10, 30, 10, 30, 20, 10, 20], np.float32)
    np.random.seed(0)
    out = wrapper(dict(img=img, img_shape=(40, 60), gt_polygons=[poly], gt_bboxes=np.array([[10, 10, 30, 20.]]),
                       gt_bboxes_labels=np.array([0]), gt_ignored=np.array([False])))
    assert out['img'].ndim == 3 and len(out['gt_polygons']) <= 1


@pytest.mark.parametrize('args, match', [
    ([['Crop', 0.1]], "augmenter 'Crop' is not mapped"),
    ([dict(cls='Affine', rotate=[-5, 10])], 'symmetric range'),
    ([dict(cls='Affine', rotate=[-5, 5], shear=3)], r"other Affine arguments \(\['shear'\]\)"),
])
def test_unmapped_imgaug_augmenters_are_named(args, match):
    with pytest.raises(ValueError, match=match):
        TRANSFORMS.build(dict(type='ImgAugWrapper', args=args))


def test_torchvision_wrapper_photometric_ops():
    img = np.random.default_rng(0).integers(0, 255, (16, 24, 3), dtype=np.uint8)
    jitter = TRANSFORMS.build(dict(type='TorchVisionWrapper', op='ColorJitter', brightness=32.0 / 255,
                                   saturation=0.5))
    assert jitter(dict(img=img.copy()))['img'].shape == (16, 24, 3)
    gray = TRANSFORMS.build(dict(type='TorchVisionWrapper', op='Grayscale', num_output_channels=1))
    out = gray(dict(img=img.copy()))['img']
    assert out.shape == (16, 24, 3) and (out[..., 0] == out[..., 1]).all()
    with pytest.raises(ValueError, match="op='RandomRotation' is not supported; only photometric ops"):
        TRANSFORMS.build(dict(type='TorchVisionWrapper', op='RandomRotation', degrees=10))
