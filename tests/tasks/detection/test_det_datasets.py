"""CocoDataset / VOCDataset, LoadAnnotations and PackDetInputs on tiny generated datasets."""
from __future__ import annotations

import logging

import numpy as np
import pytest
import torch
from det_data_factory import CAT_ID, make_coco, make_voc, rect_poly

import visioncraft  # noqa: F401  (fills the registries)
from visioncraft.data import ConcatDataset, pseudo_collate
from visioncraft.registry import DATASETS, TRANSFORMS
from visioncraft.structures import BitmapMasks, DataSample, InstanceData, PolygonMasks
from visioncraft.tasks.detection.datasets import CocoDataset, VOCDataset
from visioncraft.tasks.detection.datasets.coco import COCO_CLASSES
from visioncraft.tasks.detection.datasets.voc import VOC_CLASSES

LABEL = {name: i for i, name in enumerate(COCO_CLASSES)}


@pytest.fixture(scope='module')
def coco_root(tmp_path_factory):
    root = tmp_path_factory.mktemp('coco')
    make_coco(root)
    return root


def coco(root, **kw):
    kw.setdefault('data_prefix', dict(img='images/'))
    return CocoDataset(ann_file='instances.json', data_root=str(root), **kw)


# -- COCO -----------------------------------------------------------------------------------------
def test_coco_loads_every_image_and_converts_boxes(coco_root):
    ds = coco(coco_root)
    assert len(ds) == 4 and ds.img_ids == [1, 2, 3, 4]
    assert ds.metainfo['classes'] == COCO_CLASSES and len(ds.metainfo['palette']) == 80
    assert ds.cat_ids[:3] == [CAT_ID['person'], CAT_ID['bicycle'], CAT_ID['car']]
    assert ds.cat2label[CAT_ID['car']] == LABEL['car']
    info = ds.get_data_info(0)
    assert info['img_path'] == str(coco_root / 'images' / 'a.jpg') and info['img_id'] == 1
    assert (info['height'], info['width']) == (48, 64) and info['sample_idx'] == 0
    insts = info['instances']
    assert [i['ann_id'] for i in insts] == [101, 102, 103]  # 104 (w = 0) skipped
    assert insts[0]['bbox'] == [8, 8, 28, 24] and insts[1]['bbox'] == [30, 20, 54, 40]  # xywh -> xyxy
    assert [i['ignore_flag'] for i in insts] == [0, 0, 1]  # crowd
    assert [i['bbox_label'] for i in insts] == [LABEL['person'], LABEL['car'], LABEL['person']]
    assert ds.get_cat_ids(0) == [LABEL['person'], LABEL['car'], LABEL['person']]
    assert ds.get_data_info(1)['instances'] == []
    assert 'CocoDataset' in repr(ds)
    assert isinstance(DATASETS.build(dict(type='CocoDataset', ann_file=str(coco_root / 'instances.json'))),
                      CocoDataset)
    # img_path is accepted for the image folder too
    assert coco(coco_root, data_prefix=dict(img_path='images/')).get_data_info(0)['img_path'] == info['img_path']


def test_coco_class_subset_follows_the_given_order(coco_root):
    ds = coco(coco_root, metainfo=dict(classes=('car', 'person')))
    assert ds.cat_ids == [CAT_ID['car'], CAT_ID['person']]
    assert ds.cat2label == {CAT_ID['car']: 0, CAT_ID['person']: 1}
    assert ds.metainfo['classes'] == ('car', 'person')
    assert len(ds.metainfo['palette']) == 2
    assert ds.get_cat_ids(0) == [1, 0, 1]
    assert ds.get_cat_ids(3) == []  # the bicycle and the dog are dropped
    with pytest.raises(ValueError, match='unicorn'):
        coco(coco_root, metainfo=dict(classes=('car', 'unicorn')))


def test_coco_filtering(coco_root):
    assert [d['img_id'] for d in (coco(coco_root, filter_cfg=dict(filter_empty_gt=True)).get_data_info(i)
                                  for i in range(3))] == [1, 3, 4]
    ds = coco(coco_root, filter_cfg=dict(filter_empty_gt=True, min_size=32))
    assert [ds.get_data_info(i)['img_id'] for i in range(len(ds))] == [1, 4]  # the 20x24 image is too small
    ds = coco(coco_root, metainfo=dict(classes=('dog',)), filter_cfg=dict(filter_empty_gt=True))
    assert len(ds) == 1 and ds.get_data_info(0)['img_id'] == 4
    # nothing is filtered in test_mode
    assert len(coco(coco_root, filter_cfg=dict(filter_empty_gt=True, min_size=32), test_mode=True)) == 4
    with pytest.raises(KeyError, match='min_sise'):
        coco(coco_root, filter_cfg=dict(min_sise=3))


def test_coco_invalid_annotation_error_and_skip(tmp_path):
    bad = [dict(id=901, image_id=3, category_id=CAT_ID['car'], bbox=[15, 2, 10, 10], area=100, iscrowd=0),
           dict(id=902, image_id=4, category_id=CAT_ID['car'], bbox=[5, 5, -3, 4], area=12, iscrowd=0),
           # 0.5 px outside the 64x64 image: within the tolerance, kept and clipped
           dict(id=903, image_id=4, category_id=CAT_ID['car'], bbox=[50, 50, 14.5, 10], area=145, iscrowd=0)]
    make_coco(tmp_path, extra_anns=bad)
    with pytest.raises(ValueError) as err:
        coco(tmp_path)
    msg = str(err.value)
    assert 'instances.json' in msg and 'image id 3' in msg and 'c.jpg' in msg and 'annotation id 901' in msg
    assert 'skip_invalid=True' in msg
    records = []
    handler = logging.Handler()
    handler.emit = records.append
    logger = logging.getLogger('visioncraft')
    logger.addHandler(handler)
    try:
        ds = coco(tmp_path, skip_invalid=True)
    finally:
        logger.removeHandler(handler)
    assert ds.num_invalid_skipped == 2
    warnings = [r.getMessage() for r in records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and 'skipped 2 invalid' in warnings[0]
    kept = [i for i in ds.get_data_info(3)['instances'] if i['ann_id'] == 903]
    assert kept[0]['bbox'] == [50, 50, 64, 60]


# -- LoadAnnotations / PackDetInputs --------------------------------------------------------------
def test_load_annotations_bitmap_polygon_and_rle(coco_root):
    ds = coco(coco_root)
    info = ds.get_data_info(0)
    r = TRANSFORMS.build(dict(type='LoadAnnotations', with_mask=True))(dict(info))
    assert r['gt_bboxes'].dtype == np.float32 and r['gt_bboxes'].shape == (3, 4)
    assert r['gt_bboxes_labels'].dtype == np.int64 and r['gt_ignore_flags'].tolist() == [False, False, True]
    masks = r['gt_masks']
    assert isinstance(masks, BitmapMasks) and (masks.height, masks.width) == (48, 64)
    np.testing.assert_array_equal(masks.get_bboxes(), r['gt_bboxes'])  # polygons and the uncompressed RLE
    r = TRANSFORMS.build(dict(type='LoadAnnotations', with_mask=True, poly2mask=False))(ds.get_data_info(0))
    assert isinstance(r['gt_masks'], PolygonMasks)
    np.testing.assert_array_equal(r['gt_masks'][0:2].get_bboxes(), r['gt_bboxes'][:2])
    np.testing.assert_allclose(r['gt_masks'][2].get_bboxes(), r['gt_bboxes'][2:], atol=1)  # traced RLE
    # the compressed RLE of the small image
    r = TRANSFORMS.build(dict(type='LoadAnnotations', with_mask=True))(ds.get_data_info(2))
    np.testing.assert_array_equal(r['gt_masks'].get_bboxes(), [[2, 2, 12, 12]])
    # the empty image
    r = TRANSFORMS.build(dict(type='LoadAnnotations', with_mask=True))(ds.get_data_info(1))
    assert r['gt_bboxes'].shape == (0, 4) and len(r['gt_masks']) == 0 and r['gt_masks'].height == 40
    # labels only, and a polygon with too few points becomes an ignored empty mask
    r = TRANSFORMS.build(dict(type='LoadAnnotations', with_bbox=False))(ds.get_data_info(0))
    assert 'gt_bboxes' not in r and r['gt_bboxes_labels'].tolist() == [0, 2, 0]
    raw = dict(height=10, width=10, instances=[dict(bbox=[0, 0, 5, 5], bbox_label=0, ignore_flag=0,
                                                    mask=[[1, 1, 2, 2]])])
    r = TRANSFORMS.build(dict(type='LoadAnnotations', with_mask=True))(raw)
    assert r['gt_ignore_flags'].tolist() == [True] and r['gt_masks'].areas.tolist() == [0.0]


def test_pack_det_inputs_types_and_ignored_split():
    img = np.zeros((10, 12, 3), dtype=np.uint8)
    masks = BitmapMasks(np.zeros((3, 10, 12), dtype=np.uint8), 10, 12)
    results = dict(img=img, img_id=5, img_path='x.jpg', ori_shape=(10, 12), img_shape=(10, 12),
                   scale_factor=(1.0, 1.0), flip=False, flip_direction=None, pad_shape=(10, 12), sample_idx=0,
                   gt_bboxes=np.array([[0, 0, 2, 2], [1, 1, 3, 3], [2, 2, 4, 4]], dtype=np.float32),
                   gt_bboxes_labels=np.array([3, 4, 5]), gt_ignore_flags=np.array([False, True, False]),
                   gt_masks=masks)
    out = TRANSFORMS.build(dict(type='PackDetInputs'))(results)
    assert out['inputs'].dtype == torch.uint8 and out['inputs'].shape == (3, 10, 12)
    sample = out['data_samples']
    assert isinstance(sample, DataSample) and isinstance(sample.gt_instances, InstanceData)
    gt, ign = sample.gt_instances, sample.ignored_instances
    assert gt.bboxes.dtype == torch.float32 and gt.labels.dtype == torch.int64
    assert gt.labels.tolist() == [3, 5] and ign.labels.tolist() == [4]
    assert ign.bboxes.tolist() == [[1, 1, 3, 3]]
    assert isinstance(gt.masks, BitmapMasks) and len(gt.masks) == 2 and len(ign.masks) == 1
    for key in ('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor', 'flip', 'flip_direction',
                'pad_shape'):
        assert key in sample.metainfo_keys()
    # an image without annotations still packs (empty instances)
    out = TRANSFORMS.build(dict(type='PackDetInputs', meta_keys=('img_id',)))(dict(img=img[..., 0], img_id=1))
    assert out['inputs'].shape == (1, 10, 12) and len(out['data_samples'].gt_instances) == 0
    assert out['data_samples'].metainfo_keys() == ['img_id']


def test_full_pipeline_through_a_dataloader(coco_root):
    pipeline = [dict(type='LoadImageFromFile'), dict(type='LoadAnnotations', with_mask=True),
                dict(type='RandomResize', scale=[(64, 40), (64, 56)], keep_ratio=True),
                dict(type='RandomFlip', prob=0.5), dict(type='PhotoMetricDistortion'),
                dict(type='RandomCrop', crop_size=(40, 32)), dict(type='Pad', size_divisor=16),
                dict(type='PackDetInputs')]
    ds = coco(coco_root, pipeline=pipeline, filter_cfg=dict(filter_empty_gt=True))
    loader = torch.utils.data.DataLoader(ds, batch_size=2, num_workers=0, collate_fn=pseudo_collate, shuffle=False)
    batches = list(loader)
    assert [len(b['inputs']) for b in batches] == [2, 1]  # 3 images have annotations
    for batch in batches:
        assert set(batch) == {'inputs', 'data_samples'}
        for inputs, sample in zip(batch['inputs'], batch['data_samples']):
            assert inputs.dtype == torch.uint8 and inputs.shape[1] % 16 == 0 and inputs.shape[2] % 16 == 0
            h, w = sample.img_shape
            assert h <= 32 and w <= 40 and tuple(inputs.shape[1:]) == sample.pad_shape
            gt = sample.gt_instances
            assert len(gt) > 0 or len(sample.ignored_instances) > 0
            assert gt.bboxes.shape[1] == 4 and (gt.bboxes[:, 2:] <= torch.tensor([w, h])).all()
            assert gt.masks.masks.shape[1:] == tuple(inputs.shape[1:])
            np.testing.assert_allclose(gt.masks.get_bboxes(), gt.bboxes.numpy(), atol=1.5)
            assert sample.scale_factor[0] == pytest.approx(sample.scale_factor[1], rel=0.05)


# -- VOC ------------------------------------------------------------------------------------------
def voc_items():
    return {
        '000001': ((50, 40), (50, 40), [('dog', 0, (5, 6, 20, 25)), ('person', 1, (21, 1, 40, 30)),
                                        ('unicorn', 0, (1, 1, 5, 5))]),
        '000002': (None, (60, 45), [('car', 0, (10, 10, 30, 30))]),  # no <size>: read from the image
        '000003': ((20, 20), (20, 20), [('car', 0, (2, 2, 8, 8))]),   # small
        '000004': ((40, 40), (40, 40), []),                           # empty
    }


def test_voc_dataset(tmp_path):
    ann = make_voc(tmp_path, '2007', voc_items())
    ds = VOCDataset(data_root=str(tmp_path), ann_file=ann, data_prefix=dict(sub_data_root='VOC2007/'))
    assert len(ds) == 4 and ds.year == 2007 and ds.metainfo['classes'] == VOC_CLASSES
    info = ds.get_data_info(0)
    assert info['img_id'] == '000001' and info['img_path'].endswith('VOC2007/JPEGImages/000001.jpg')
    assert (info['width'], info['height']) == (50, 40)
    insts = info['instances']
    assert [i['bbox_label'] for i in insts] == [VOC_CLASSES.index('dog'), VOC_CLASSES.index('person')]
    assert insts[0]['bbox'] == [4, 5, 20, 25]  # 1-based inclusive -> 0-based continuous
    assert [i['ignore_flag'] for i in insts] == [0, 1]  # difficult
    assert (ds.get_data_info(1)['width'], ds.get_data_info(1)['height']) == (60, 45)
    ds = VOCDataset(data_root=str(tmp_path), ann_file=ann, data_prefix=dict(sub_data_root='VOC2007/'),
                    filter_cfg=dict(filter_empty_gt=True, min_size=32))
    assert [ds.get_data_info(i)['img_id'] for i in range(len(ds))] == ['000001', '000002']
    ds = VOCDataset(data_root=str(tmp_path), ann_file=ann, data_prefix=dict(sub_data_root='VOC2007/'),
                    metainfo=dict(classes=('person', 'car')), filter_cfg=dict(filter_empty_gt=True))
    assert [ds.get_cat_ids(i) for i in range(len(ds))] == [[0], [1], [1]]
    pipeline = [dict(type='LoadImageFromFile'), dict(type='LoadAnnotations'),
                dict(type='Resize', scale=(100, 100), keep_ratio=True), dict(type='PackDetInputs')]
    out = VOCDataset(data_root=str(tmp_path), ann_file=ann, data_prefix=dict(sub_data_root='VOC2007/'),
                     pipeline=pipeline)[0]
    assert out['inputs'].shape == (3, 80, 100)
    assert out['data_samples'].gt_instances.bboxes.tolist() == [[8, 10, 40, 50]]
    assert out['data_samples'].ignored_instances.labels.tolist() == [VOC_CLASSES.index('person')]


def test_voc_concat_2007_2012(tmp_path):
    ann07 = make_voc(tmp_path, '2007', voc_items())
    ann12 = make_voc(tmp_path, '2012', {'2012_000001': ((30, 30), (30, 30), [('cat', 0, (1, 1, 10, 10))])},
                     split='train')
    cfg = dict(type='ConcatDataset', datasets=[
        dict(type='VOCDataset', data_root=str(tmp_path), ann_file=ann07, data_prefix=dict(sub_data_root='VOC2007/'),
             filter_cfg=dict(filter_empty_gt=True)),
        dict(type='VOCDataset', data_root=str(tmp_path), ann_file=ann12,
             data_prefix=dict(sub_data_root='VOC2012/'))])
    ds = DATASETS.build(cfg)
    assert isinstance(ds, ConcatDataset) and len(ds) == 4
    assert ds.metainfo['classes'] == VOC_CLASSES
    assert ds.datasets[1].get_data_info(0)['img_path'].endswith('VOC2012/JPEGImages/2012_000001.jpg')
    assert [d.year for d in ds.datasets] == [2007, 2012]


def test_voc_errors(tmp_path):
    ann = make_voc(tmp_path, '2007', {'000001': ((10, 10), (10, 10), [])})
    (tmp_path / 'VOC2007' / 'ImageSets' / 'Main' / 'trainval.txt').write_text('000001\n000009\n')
    with pytest.raises(FileNotFoundError, match='000009'):
        VOCDataset(data_root=str(tmp_path), ann_file=ann, data_prefix=dict(sub_data_root='VOC2007/'))
    with pytest.raises(KeyError, match='sub_data_root'):
        VOCDataset(data_root=str(tmp_path), ann_file=ann, data_prefix=dict(img='VOC2007/'))


def test_polygon_helper_is_consistent():
    assert rect_poly(1, 2, 3, 4) == [1, 2, 4, 2, 4, 6, 1, 6]


def test_seeded_index_repeats_the_same_augmentation(coco_root):
    from visioncraft.data import SeededIndex
    pipeline = [dict(type='LoadImageFromFile'), dict(type='LoadAnnotations', with_mask=True),
                dict(type='RandomResize', scale=(64, 48), ratio_range=(0.5, 1.5), keep_ratio=True),
                dict(type='RandomFlip', prob=0.5), dict(type='PhotoMetricDistortion'),
                dict(type='RandomCrop', crop_size=(32, 32)), dict(type='PackDetInputs')]
    ds = coco(coco_root, pipeline=pipeline, filter_cfg=dict(filter_empty_gt=True))
    a, b = ds[SeededIndex(2, seed=11)], ds[SeededIndex(2, seed=11)]
    assert torch.equal(a['inputs'], b['inputs'])
    assert torch.equal(a['data_samples'].gt_instances.bboxes, b['data_samples'].gt_instances.bboxes)
    others = [ds[SeededIndex(2, seed=s)]['inputs'] for s in range(12, 16)]
    assert any(o.shape != a['inputs'].shape or not torch.equal(o, a['inputs']) for o in others)


def test_voc_bbox_min_size_ignores_small_boxes_in_training_only(tmp_path):
    """MMDetection's VOC recipes set ``filter_cfg.bbox_min_size``: a smaller box stays, ignored (as if difficult)."""
    ann = make_voc(tmp_path, '2007', voc_items())
    kw = dict(data_root=str(tmp_path), ann_file=ann, data_prefix=dict(sub_data_root='VOC2007/'))
    ds = VOCDataset(**kw, filter_cfg=dict(filter_empty_gt=True, min_size=32, bbox_min_size=18))
    insts = ds.get_data_info(0)['instances']
    assert insts[0]['bbox'] == [4, 5, 20, 25] and insts[0]['ignore_flag'] == 1  # 16 px wide < 18
    ds = VOCDataset(**kw, filter_cfg=dict(bbox_min_size=16))
    assert ds.get_data_info(0)['instances'][0]['ignore_flag'] == 0  # exactly 16 is kept
    ds = VOCDataset(**kw, filter_cfg=dict(bbox_min_size=18), test_mode=True)
    assert ds.get_data_info(0)['instances'][0]['ignore_flag'] == 0
    with pytest.raises(KeyError, match='bbox_min_size'):  # the accepted keys are listed
        VOCDataset(**kw, filter_cfg=dict(bbox_min_sise=18))
    with pytest.raises(KeyError, match=r"CocoDataset: unknown filter_cfg key\(s\) \['bbox_min_size'\]"):
        CocoDataset(data_root=str(tmp_path), ann_file=str(make_coco(tmp_path)), data_prefix=dict(img='images/'),
                    filter_cfg=dict(bbox_min_size=18))


def test_cityscapes_dataset_classes_and_all_crowd_images_filtered(tmp_path):
    import json
    from visioncraft.tasks.detection.datasets import CityscapesDataset
    names = ('person', 'rider', 'car', 'truck', 'bus', 'train', 'motorcycle', 'bicycle')
    images = [dict(id=i, file_name=f'{i}.png', width=64, height=48) for i in (1, 2, 3)]
    anns = [dict(id=1, image_id=1, category_id=1, bbox=[2, 2, 20, 20], area=400, iscrowd=1,
                 segmentation=[rect_poly(2, 2, 20, 20)]),
            dict(id=2, image_id=2, category_id=3, bbox=[4, 4, 20, 20], area=400, iscrowd=0,
                 segmentation=[rect_poly(4, 4, 20, 20)])]
    (tmp_path / 'a.json').write_text(json.dumps(dict(images=images, annotations=anns, categories=[
        dict(id=k + 1, name=n) for k, n in enumerate(names)])))
    ds = CityscapesDataset(data_root=str(tmp_path), ann_file='a.json', filter_cfg=dict(filter_empty_gt=True))
    assert ds.metainfo['classes'] == names and len(ds.metainfo['palette']) == 8
    assert [ds.get_data_info(i)['img_id'] for i in range(len(ds))] == [2]  # 1: only a crowd person, 3: nothing
    assert len(CityscapesDataset(data_root=str(tmp_path), ann_file='a.json', test_mode=True)) == 3
    assert DATASETS.get('mmdet.CityscapesDataset') is CityscapesDataset
