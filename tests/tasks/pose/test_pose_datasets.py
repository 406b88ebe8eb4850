"""Pose datasets: COCO keypoints (top-down, bottom-up, bbox_file), AIC, MPII, metainfo, CombinedDataset."""
import json

import numpy as np
import pytest
import torch

from visioncraft.registry import DATASETS, default_scope
from visioncraft.tasks.pose.datasets import (AicDataset, CocoPoseDataset, MpiiDataset, PoseCombinedDataset,
                                             parse_pose_metainfo)

COCO_META = 'configs/_base_/datasets/coco.py'


def _kpts(k, seed, vis=2):
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(k):
        out += [float(rng.uniform(5, 40)), float(rng.uniform(5, 40)), vis]
    return out


def write_coco(tmp_path, k=17, name='kpts.json'):
    """Three images; annotations: 1 valid, 2 crowd, 3 zero keypoints (image 1); 4 valid with a box sticking
    out of the image, 5 without keypoints (image 2); image 3 has none."""
    anns = [
        dict(id=1, image_id=1, category_id=1, bbox=[10, 10, 40, 50], area=1500.0, iscrowd=0, num_keypoints=k,
             keypoints=_kpts(k, 0)[:-3] + [0, 0, 0], segmentation=[[10, 10, 50, 10, 50, 60]]),
        dict(id=2, image_id=1, category_id=1, bbox=[0, 0, 30, 30], area=900.0, iscrowd=1, num_keypoints=0,
             keypoints=[0] * (3 * k), segmentation={'counts': [0, 10], 'size': [80, 100]}),
        dict(id=3, image_id=1, category_id=1, bbox=[50, 20, 20, 20], area=400.0, iscrowd=0, num_keypoints=0,
             keypoints=[0] * (3 * k), segmentation=[[50, 20, 70, 20, 70, 40]]),
        dict(id=4, image_id=2, category_id=1, bbox=[30, 5, 60, 60], area=2000.0, iscrowd=0, num_keypoints=k,
             keypoints=_kpts(k, 1, vis=1)),
        dict(id=5, image_id=2, category_id=1, bbox=[1, 1, 5, 5], area=25.0, iscrowd=0),
    ]
    images = [dict(id=1, file_name='a.jpg', width=100, height=80), dict(id=2, file_name='b.jpg', width=60, height=50),
              dict(id=3, file_name='c.jpg', width=40, height=40)]
    path = tmp_path / name
    path.write_text(json.dumps(dict(images=images, annotations=anns,
                                    categories=[dict(id=1, name='person')])))
    return str(path)


def test_coco_topdown_entries(tmp_path):
    ds = CocoPoseDataset(ann_file=write_coco(tmp_path), data_root='', data_prefix=dict(img='imgs/'))
    assert len(ds) == 2  # crowd, zero-keypoint and keypoint-less annotations dropped
    a, b = ds.get_data_info(0), ds.get_data_info(1)
    assert (a['id'], b['id']) == (1, 4) and (a['img_id'], b['img_id']) == (1, 2)
    assert a['img_path'] == 'imgs/a.jpg'
    np.testing.assert_allclose(a['bbox'], [[10, 10, 50, 60]])
    np.testing.assert_allclose(b['bbox'], [[30, 5, 59, 49]])  # clipped to [0, w-1] x [0, h-1]
    assert a['bbox'].dtype == np.float32 and a['bbox'].shape == (1, 4)
    assert a['keypoints'].shape == (1, 17, 2) and a['keypoints'].dtype == np.float32
    assert a['keypoints_visible'].shape == (1, 17) and a['keypoints_visible'].dtype == np.float32
    np.testing.assert_array_equal(a['keypoints_visible'][0], [1.0] * 16 + [0.0])  # v=2 -> 1, v=0 -> 0
    raw = np.array(a['raw_ann_info']['keypoints'], dtype=np.float32).reshape(17, 3)
    np.testing.assert_allclose(a['keypoints'][0], raw[:, :2])
    assert a['bbox_score'].tolist() == [1.0] and a['area'].tolist() == [1500.0]
    assert a['category_id'] == 1 and isinstance(a['category_id'], int) and a['iscrowd'] == 0
    assert a['num_keypoints'] == 17 and a['segmentation'] == [[10, 10, 50, 10, 50, 60]]
    # metainfo keys travel with each sample
    assert a['dataset_name'] == 'coco' and a['flip_indices'][1:3] == [2, 1]
    assert a['dataset_keypoint_weights'].shape == (17,) and a['upper_body_ids'][0] == 0
    assert ds.metainfo['num_keypoints'] == 17 and ds.metainfo['sigmas'].dtype == np.float32


def test_coco_bottomup_entries(tmp_path):
    ann = write_coco(tmp_path)
    ds = CocoPoseDataset(ann_file=ann, data_mode='bottomup')
    assert len(ds) == 2  # images 1 and 2; image 3 has no annotation
    first = ds.get_data_info(0)
    assert first['img_id'] == 1 and first['id'] == [1, 2, 3]
    assert first['keypoints'].shape == (3, 17, 2) and first['bbox'].shape == (3, 4)
    assert first['keypoints_visible'].shape == (3, 17) and first['iscrowd'] == [0, 1, 0]
    assert len(first['invalid_segs']) == 2  # the crowd and the zero-keypoint annotations
    test = CocoPoseDataset(ann_file=ann, data_mode='bottomup', test_mode=True)
    assert len(test) == 3 and test.get_data_info(2)['img_id'] == 3 and test.get_data_info(2)['id'] == []


def test_coco_bbox_file(tmp_path):
    ann = write_coco(tmp_path)
    dets = [dict(image_id=1, category_id=1, bbox=[5, 6, 20, 30], score=0.9),
            dict(image_id=1, category_id=2, bbox=[0, 0, 10, 10], score=0.99),  # not a person: dropped
            dict(image_id=2, category_id=1, bbox=[1, 2, 3, 4], score=0.1),
            dict(image_id=3, category_id=1, bbox=[0, 0, 39, 39], score=0.5)]
    det_file = tmp_path / 'dets.json'
    det_file.write_text(json.dumps(dets))
    ds = CocoPoseDataset(ann_file=ann, bbox_file=str(det_file), test_mode=True,
                         filter_cfg=dict(bbox_score_thr=0.3))
    assert len(ds) == 2
    a, b = ds.get_data_info(0), ds.get_data_info(1)
    np.testing.assert_allclose(a['bbox'], [[5, 6, 25, 36]])
    assert a['bbox_score'].tolist() == pytest.approx([0.9]) and (a['id'], b['id']) == (0, 2)
    assert a['img_path'] == 'a.jpg' and b['img_id'] == 3 and a['category_id'] == 1
    np.testing.assert_array_equal(a['keypoints'], np.zeros((1, 17, 2)))
    np.testing.assert_array_equal(a['keypoints_visible'], np.ones((1, 17)))
    assert len(CocoPoseDataset(ann_file=ann, bbox_file=str(det_file), test_mode=True)) == 3
    with pytest.raises(ValueError, match='test_mode'):
        CocoPoseDataset(ann_file=ann, bbox_file=str(det_file))
    with pytest.raises(ValueError, match='topdown'):
        CocoPoseDataset(ann_file=ann, bbox_file=str(det_file), test_mode=True, data_mode='bottomup')
    det_file.write_text(json.dumps([dict(image_id=99, category_id=1, bbox=[0, 0, 1, 1], score=1.0)]))
    with pytest.raises(ValueError, match=r'dets\.json.*detection 0.*image_id 99'):
        CocoPoseDataset(ann_file=ann, bbox_file=str(det_file), test_mode=True)


def test_coco_errors_name_file_and_record(tmp_path):
    bad = tmp_path / 'bad.json'
    bad.write_text('{"images": [}')
    with pytest.raises(ValueError, match=r'bad\.json is not valid JSON.*line 1'):
        CocoPoseDataset(ann_file=str(bad))
    ann = json.loads(open(write_coco(tmp_path)).read())
    ann['annotations'][0]['keypoints'] = ann['annotations'][0]['keypoints'][:-3]
    short = tmp_path / 'short.json'
    short.write_text(json.dumps(ann))
    with pytest.raises(ValueError, match=r'short\.json: annotation id 1 \(image id 1\): keypoints has 48 values'):
        CocoPoseDataset(ann_file=str(short))
    ann = json.loads(open(write_coco(tmp_path)).read())
    ann['annotations'][1]['image_id'] = 42
    orphan = tmp_path / 'orphan.json'
    orphan.write_text(json.dumps(ann))
    with pytest.raises(ValueError, match=r'orphan\.json: annotations\[1\] \(id 2\) refers to image_id 42'):
        CocoPoseDataset(ann_file=str(orphan))
    det = tmp_path / 'instances.json'
    det.write_text(json.dumps(dict(images=[dict(id=1, file_name='a.jpg', width=9, height=9)],
                                   annotations=[dict(id=1, image_id=1, bbox=[0, 0, 2, 2], category_id=1)])))
    with pytest.raises(ValueError, match='no annotation with "keypoints"'):
        CocoPoseDataset(ann_file=str(det))
    with pytest.raises(ValueError, match='data_mode'):
        CocoPoseDataset(ann_file=str(det), data_mode='sideways')


def _tiny_meta_file(tmp_path):
    path = tmp_path / 'tiny_meta.py'
    path.write_text(
        "dataset_info = dict(dataset_name='tiny', paper_info=dict(),\n"
        "    keypoint_info={0: dict(name='head', id=0, color=[1, 2, 3], type='upper', swap=''),\n"
        "                   1: dict(name='l_foot', id=1, color=[4, 5, 6], type='lower', swap='r_foot'),\n"
        "                   2: dict(name='r_foot', id=2, type='lower', swap='l_foot')},\n"
        "    skeleton_info={0: dict(link=('head', 'l_foot'), id=0, color=[7, 8, 9]),\n"
        "                   1: dict(link=('head', 'r_foot'), id=1)},\n"
        "    joint_weights=[1., 2., 2.], sigmas=[0.1, 0.2, 0.2])\n")
    return str(path)


def test_metainfo_from_file_override(tmp_path):
    meta_file = _tiny_meta_file(tmp_path)
    ds = CocoPoseDataset(ann_file=write_coco(tmp_path, k=3), metainfo=dict(from_file=meta_file))
    meta = ds.metainfo
    assert meta['dataset_name'] == 'tiny' and meta['num_keypoints'] == 3 and len(ds) == 2
    assert meta['flip_indices'] == [0, 2, 1] and meta['flip_pairs'] == [(1, 2)]
    assert meta['skeleton_links'] == [(0, 1), (0, 2)] and meta['lower_body_ids'] == [1, 2]
    np.testing.assert_array_equal(meta['keypoint_colors'], [[1, 2, 3], [4, 5, 6], [255, 128, 0]])
    assert meta['keypoint_colors'].dtype == np.uint8 and meta['skeleton_link_colors'].shape == (2, 3)
    np.testing.assert_allclose(meta['sigmas'], [0.1, 0.2, 0.2])
    assert ds.get_data_info(0)['keypoints'].shape == (1, 3, 2)
    # the COCO metainfo reading a 3-keypoint file fails on the first annotation, naming it
    with pytest.raises(ValueError, match='annotation id 1.*expected 3 \\* 17'):
        CocoPoseDataset(ann_file=write_coco(tmp_path, k=3, name='k3.json'))


def test_parse_pose_metainfo_coco_and_errors(tmp_path):
    meta = parse_pose_metainfo(dict(from_file=COCO_META))
    assert meta['num_keypoints'] == 17 and meta['num_skeleton_links'] == 19
    assert meta['flip_indices'] == [0, 2, 1, 4, 3, 6, 5, 8, 7, 10, 9, 12, 11, 14, 13, 16, 15]
    assert meta['flip_pairs'][0] == (1, 2) and len(meta['flip_pairs']) == 8
    assert meta['skeleton_links'][0] == (15, 13) and meta['keypoint_name2id']['left_wrist'] == 9
    assert meta['sigmas'][0] == pytest.approx(0.026) and meta['dataset_keypoint_weights'][9] == pytest.approx(1.5)
    assert meta['upper_body_ids'] == list(range(11)) and meta['lower_body_ids'] == list(range(11, 17))
    aic, mpii = parse_pose_metainfo(dict(from_file='aic.py')), parse_pose_metainfo(dict(from_file='mpii.py'))
    assert aic['num_keypoints'] == 14 and aic['flip_indices'][:6] == [3, 4, 5, 0, 1, 2]
    assert mpii['num_keypoints'] == 16 and mpii['flip_indices'][:6] == [5, 4, 3, 2, 1, 0]
    base = dict(dataset_name='x', keypoint_info={0: dict(name='a', swap='b')}, skeleton_info={},
                joint_weights=[1.], sigmas=[.1])
    with pytest.raises(ValueError, match="swaps with 'b', which is not a keypoint name"):
        parse_pose_metainfo(base)
    with pytest.raises(ValueError, match='sigmas has 2 values but there are 1 keypoints'):
        parse_pose_metainfo({**base, 'keypoint_info': {0: dict(name='a')}, 'sigmas': [.1, .2]})
    with pytest.raises(ValueError, match="names 'zz'"):
        parse_pose_metainfo({**base, 'keypoint_info': {0: dict(name='a')},
                             'skeleton_info': {0: dict(link=('a', 'zz'))}})
    with pytest.raises(KeyError, match='missing'):
        parse_pose_metainfo(dict(dataset_name='x'))
    with pytest.raises(FileNotFoundError, match='nope.py'):
        parse_pose_metainfo(dict(from_file='nope.py'))


def test_mmpose_scope_names_the_pose_dataset(tmp_path):
    cfg = dict(type='CocoDataset', ann_file=write_coco(tmp_path))
    with default_scope('mmpose'):
        ds = DATASETS.build(cfg)
    assert isinstance(ds, CocoPoseDataset) and len(ds) == 2
    assert isinstance(DATASETS.build(dict(cfg, type='mmpose.CocoDataset')), CocoPoseDataset)
    # a pose dataset builds its pipeline in the mmpose scope: plain 'RandomFlip' is the pose flip
    ds = CocoPoseDataset(ann_file=cfg['ann_file'], pipeline=[dict(type='RandomFlip', prob=1.0)])
    assert type(ds.pipeline.transforms[0]).__name__ == 'PoseRandomFlip'


def write_aic(tmp_path, n=4):
    images = [dict(id=i + 1, file_name=f'aic{i}.jpg', width=64, height=64) for i in range(n)]
    anns = [dict(id=100 + i, image_id=i + 1, category_id=1, bbox=[2, 2, 50, 50], area=100.0, iscrowd=0,
                 num_keypoints=14, keypoints=[v for j in range(14) for v in (j + 1.0, 10.0 * i + 1, 2)])
            for i in range(n)]
    path = tmp_path / 'aic.json'
    path.write_text(json.dumps(dict(images=images, annotations=anns)))
    return str(path)


def test_aic_dataset(tmp_path):
    ds = AicDataset(ann_file=write_aic(tmp_path))
    assert len(ds) == 4 and ds.metainfo['dataset_name'] == 'aic'
    info = ds.get_data_info(1)
    assert info['keypoints'].shape == (1, 14, 2) and info['keypoints'][0, 3].tolist() == [4.0, 11.0]


def test_mpii_dataset(tmp_path):
    recs = [dict(image='015601864.jpg', center=[50.0, 40.0], scale=0.2,
                 joints=[[10.0 + j, 20.0] for j in range(16)], joints_vis=[1] * 15 + [0]),
            dict(image='015601864.jpg', center=[80.0, 60.0], scale=0.5,
                 joints=[[30.0, 40.0 + j] for j in range(16)], joints_vis=[1] * 16)]
    path = tmp_path / 'mpii.json'
    path.write_text(json.dumps(recs))
    heads = np.array([[[0, 0], [3, 4]], [[1, 1], [7, 9]]], dtype=np.float32)
    np.save(tmp_path / 'heads.npy', heads)
    ds = MpiiDataset(ann_file=str(path), headbox_file=str(tmp_path / 'heads.npy'), test_mode=True,
                     data_prefix=dict(img='images/'))
    assert len(ds) == 2
    a = ds.get_data_info(0)
    # scale 0.2 -> 40 px box; the centre moves down 15 * 0.2 = 3 px, then to 0-based pixels
    np.testing.assert_allclose(a['bbox_center'], [[49, 42]])
    np.testing.assert_allclose(a['bbox_scale'], [[40, 40]])
    np.testing.assert_allclose(a['bbox'], [[29, 22, 69, 62]])
    assert a['img_id'] == 15601864 and a['img_path'] == 'images/015601864.jpg' and a['id'] == 0
    assert a['keypoints'].shape == (1, 16, 2) and a['keypoints_visible'][0, -1] == 0
    assert a['head_size'][0, 0] == pytest.approx(0.6 * 5.0) and a['dataset_name'] == 'mpii'
    recs[1].pop('joints_vis')
    path.write_text(json.dumps(recs))
    with pytest.raises(ValueError, match=r"mpii\.json: record 1 .*has no \['joints_vis'\]"):
        MpiiDataset(ann_file=str(path))


AIC_TO_COCO = [(0, 6), (1, 8), (2, 10), (3, 5), (4, 7), (5, 9), (6, 12), (7, 14), (8, 16), (9, 11), (10, 13),
               (11, 15)]


def _combined(tmp_path, **kwargs):
    return PoseCombinedDataset(
        metainfo=dict(from_file=COCO_META),
        datasets=[dict(type='CocoDataset', ann_file=write_coco(tmp_path)),
                  dict(type='AicDataset', ann_file=write_aic(tmp_path),
                       pipeline=[dict(type='KeypointConverter', num_keypoints=17, mapping=AIC_TO_COCO)])],
        pipeline=[lambda r: {**r, 'shared': True}], **kwargs)


def test_combined_dataset_converts_and_tags(tmp_path):
    ds = _combined(tmp_path)
    assert len(ds) == 6 and ds.lens == [2, 4] and ds.metainfo['dataset_name'] == 'coco'
    coco_sample, aic_sample = ds[0], ds[3]
    assert coco_sample['shared'] and coco_sample['dataset_name'] == 'coco'
    assert aic_sample['dataset_name'] == 'aic' and aic_sample['keypoints'].shape == (1, 17, 2)
    assert aic_sample['flip_indices'] == ds.metainfo['flip_indices']  # the combined layout's, not AIC's
    np.testing.assert_allclose(aic_sample['dataset_keypoint_weights'], ds.metainfo['dataset_keypoint_weights'])
    # AIC right_shoulder (0, x = 1) is COCO 6; COCO's face keypoints 0..4 are invisible
    assert aic_sample['keypoints'][0, 6, 0] == 1.0 and aic_sample['keypoints_visible'][0, :5].sum() == 0
    assert aic_sample['keypoints_visible'][0, 5:].tolist() == [1.0] * 12


def test_combined_sample_ratio_factor(tmp_path):
    half = _combined(tmp_path, sample_ratio_factor=[1.0, 0.5])
    assert len(half) == 4 and half.lens == [2, 2]
    np.random.seed(0)
    seen = {(i, half.get_dataset_idx_and_sample_idx(i)) for i in range(2, 4) for _ in range(40)}
    # global 2 draws from AIC samples {0, 1}, global 3 from {2, 3}, and both of each pair come up
    assert seen == {(2, (1, 0)), (2, (1, 1)), (3, (1, 2)), (3, (1, 3))}
    twice = _combined(tmp_path, sample_ratio_factor=[0.0, 2.0])
    assert len(twice) == 8 and twice.lens == [0, 8]
    locals_ = [twice.get_dataset_idx_and_sample_idx(i)[1] for i in range(8)]
    assert sorted(locals_) == [0, 0, 1, 1, 2, 2, 3, 3]  # every AIC sample twice
    assert twice[0]['dataset_name'] == 'aic'
    with pytest.raises(ValueError, match='sample_ratio_factor has 1 values but there are 2 datasets'):
        _combined(tmp_path, sample_ratio_factor=[1.0])
    with pytest.raises(ValueError, match='metainfo is required'):
        PoseCombinedDataset(metainfo=None, datasets=[])


def test_combined_dataset_from_config_in_mmpose_scope(tmp_path):
    cfg = dict(type='CombinedDataset', metainfo=dict(from_file=COCO_META),
               datasets=[dict(type='CocoDataset', ann_file=write_coco(tmp_path))], sample_ratio_factor=[1.0])
    with default_scope('mmpose'):
        ds = DATASETS.build(cfg)
    assert isinstance(ds, PoseCombinedDataset) and len(ds) == 2


def test_train_pipeline_end_to_end_is_seeded(tmp_path):
    import cv2

    from visioncraft.data import SeededIndex
    (tmp_path / 'imgs').mkdir()
    for name, (w, h) in (('a.jpg', (100, 80)), ('b.jpg', (60, 50))):
        cv2.imwrite(str(tmp_path / 'imgs' / name), np.random.default_rng(0).integers(0, 255, (h, w, 3), np.uint8))
    pipeline = [dict(type='LoadImage'), dict(type='GetBBoxCenterScale'),
                dict(type='RandomFlip', direction='horizontal'), dict(type='RandomHalfBody'), dict(type='RandomBBoxTransform'),
                dict(type='TopdownAffine', input_size=(48, 64)),
                dict(type='GenerateTarget', encoder=dict(type='MSRAHeatmap', input_size=(48, 64),
                                                         heatmap_size=(12, 16), sigma=2)),
                dict(type='PackPoseInputs')]
    ds = CocoPoseDataset(ann_file=write_coco(tmp_path), data_root=str(tmp_path), data_prefix=dict(img='imgs/'),
                         pipeline=pipeline)
    out = ds[SeededIndex(1, seed=5)]
    sample = out['data_samples']
    assert out['inputs'].shape == (3, 64, 48) and sample.gt_heatmaps.shape == (17, 16, 12)
    assert sample.metainfo['img_id'] == 2 and sample.metainfo['ori_shape'] == (50, 60)
    again = ds[SeededIndex(1, seed=5)]
    assert torch.equal(again['inputs'], out['inputs'])
    assert sample.metainfo['flip'] == again['data_samples'].metainfo['flip']
