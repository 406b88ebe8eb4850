"""Synthetic people (visioncraft.data.synthetic.people): COCO keypoint JSON that pycocotools loads, keypoints on the
drawn figures, COCO visibility flags with occlusions, and byte-identical output for the same seed."""
from __future__ import annotations

import numpy as np
import pytest

from visioncraft.data.synthetic.people import COCO_KEYPOINT_NAMES, generate_pose_synth, render_people_image


def test_visible_keypoints_lie_on_the_drawn_figure():
    on_figure = total = occluded = 0
    for i in range(30):
        img, bg, people = render_people_image(np.random.default_rng([5, i]), (160, 120))
        assert img.shape == bg.shape == (120, 160, 3) and img.dtype == np.uint8
        for p in people:
            kps = p['keypoints']
            assert kps.shape == (17, 3) and set(np.unique(kps[:, 2])) <= {0, 1, 2}
            assert np.all(kps[kps[:, 2] == 0] == 0)  # outside the image: (0, 0, 0) as COCO
            occluded += int((kps[:, 2] == 1).sum())
            for x, y, v in kps[kps[:, 2] == 2]:
                xi, yi = int(round(x)), int(round(y))
                total += 1
                on_figure += int(np.abs(img[yi, xi].astype(int) - bg[yi, xi].astype(int)).sum() > 30)
            x, y, w, h = p['bbox']
            assert 0 <= x and 0 <= y and x + w <= 160 and y + h <= 120 and p['area'] > 0
    assert total > 200 and on_figure / total > 0.9
    assert occluded > 0


def test_generate_loads_with_pycocotools_and_is_deterministic(tmp_path):
    from pycocotools.coco import COCO
    a = generate_pose_synth(tmp_path / 'a', num_train=8, num_val=4, seed=3, img_size=(128, 96))
    b = generate_pose_synth(tmp_path / 'b', num_train=8, num_val=4, seed=3, img_size=(128, 96))
    for split in ('train', 'val'):
        rel = f'annotations/person_keypoints_{split}.json'
        assert (a / rel).read_bytes() == (b / rel).read_bytes()
        assert (a / split / '000001.jpg').read_bytes() == (b / split / '000001.jpg').read_bytes()
    coco = COCO(str(a / 'annotations/person_keypoints_train.json'))
    assert len(coco.getImgIds()) == 8 and coco.loadCats(1)[0]['keypoints'] == list(COCO_KEYPOINT_NAMES)
    anns = coco.loadAnns(coco.getAnnIds())
    assert len(anns) >= 8 and all(a['iscrowd'] == 0 and len(a['keypoints']) == 51 for a in anns)
    assert all(a['num_keypoints'] == sum(v > 0 for v in a['keypoints'][2::3]) for a in anns)
    c = generate_pose_synth(tmp_path / 'c', num_train=8, num_val=4, seed=4, img_size=(128, 96))
    assert (c / 'train/000001.jpg').read_bytes() != (a / 'train/000001.jpg').read_bytes()
    with pytest.raises(ValueError, match='people_per_image'):
        generate_pose_synth(tmp_path / 'd', people_per_image=(0, 2))
