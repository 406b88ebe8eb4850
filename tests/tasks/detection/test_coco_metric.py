import contextlib
import io
import json

import numpy as np
import pytest
import torch
from pycocotools import mask as mask_util
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from visioncraft.engine import dist
from visioncraft.registry import METRICS
from visioncraft.structures import DataSample, InstanceData
from visioncraft.tasks.detection.evaluation import CocoMetric

CLASSES = ('cat', 'dog', 'car')
CAT_IDS = (3, 7, 11)  # non-contiguous ids in the file; label i <-> CLASSES[i]
H, W = 160, 200


def ellipse_mask(box):
    """A bool HxW ellipse inscribed in an xyxy box (so masks differ from boxes)."""
    x1, y1, x2, y2 = box
    yy, xx = np.mgrid[0:H, 0:W] + 0.5
    cx, cy, rx, ry = (x1 + x2) / 2, (y1 + y2) / 2, max((x2 - x1) / 2, 1), max((y2 - y1) / 2, 1)
    return ((xx - cx) / rx) ** 2 + ((yy - cy) / ry) ** 2 <= 1


def random_boxes(rng, n):
    """xyxy float32 boxes of small (< 32^2), medium and large (> 96^2) areas inside the image."""
    sides = rng.choice([10, 20, 45, 70, 110, 130], size=(n, 2)) * rng.uniform(0.8, 1.1, size=(n, 2))
    sides = np.minimum(sides, [W - 2, H - 2])
    x1 = rng.uniform(0, W - sides[:, 0])
    y1 = rng.uniform(0, H - sides[:, 1])
    return np.stack([x1, y1, x1 + sides[:, 0], y1 + sides[:, 1]], 1).astype(np.float32)


def rle(mask):
    out = mask_util.encode(np.asfortranarray(mask[:, :, None].astype(np.uint8)))[0]
    out['counts'] = out['counts'].decode('ascii')
    return out


def make_dataset(seed=0, num_images=5):
    """Ground truth (with crowd regions) and noisy predictions for a few images, as numpy dicts."""
    rng = np.random.default_rng(seed)
    images = []
    for i in range(num_images):
        n = int(rng.integers(2, 7))
        gt_boxes = random_boxes(rng, n)
        gt_labels = rng.integers(0, 3, n)
        crowd = rng.random(n) < 0.2
        # predictions: jittered copies of most GT (sometimes with the wrong class) + false positives
        keep = rng.random(n) < 0.85
        sides = np.tile(gt_boxes[keep, 2:] - gt_boxes[keep, :2], 2)
        jitter = (rng.normal(0, 0.06, size=sides.shape) * sides).astype(np.float32)
        tp_boxes = np.clip(gt_boxes[keep] + jitter, 0, [W, H, W, H])
        tp_boxes[:, 2:] = np.maximum(tp_boxes[:, 2:], tp_boxes[:, :2] + 2)
        tp_labels = np.where(rng.random(int(keep.sum())) < 0.8, gt_labels[keep], rng.integers(0, 3, int(keep.sum())))
        n_fp = int(rng.integers(1, 5))
        boxes = np.concatenate([tp_boxes, random_boxes(rng, n_fp)]).astype(np.float32)
        labels = np.concatenate([tp_labels, rng.integers(0, 3, n_fp)]).astype(np.int64)
        scores = rng.uniform(0.05, 1, len(boxes)).astype(np.float32)
        images.append(dict(
            img_id=100 + 7 * i, gt_boxes=gt_boxes, gt_labels=gt_labels.astype(np.int64), crowd=crowd,
            gt_masks=np.stack([ellipse_mask(b) for b in gt_boxes]),
            boxes=boxes, labels=labels, scores=scores,
            masks=np.stack([ellipse_mask(b) for b in boxes])))
    # one image without any prediction, and one without any ground truth
    images[-1].update(boxes=np.zeros((0, 4), np.float32), labels=np.zeros(0, np.int64),
                      scores=np.zeros(0, np.float32), masks=np.zeros((0, H, W), bool))
    images[0].update(gt_boxes=np.zeros((0, 4), np.float32), gt_labels=np.zeros(0, np.int64),
                     crowd=np.zeros(0, bool), gt_masks=np.zeros((0, H, W), bool))
    return images


def instances(boxes, labels, masks):
    return InstanceData(bboxes=torch.from_numpy(boxes), labels=torch.from_numpy(labels),
                        masks=torch.from_numpy(masks))


def to_samples(images, as_dict=False):
    out = []
    for im in images:
        s = DataSample(metainfo=dict(img_id=im['img_id'], ori_shape=(H, W)))
        c = im['crowd']
        s.gt_instances = instances(im['gt_boxes'][~c], im['gt_labels'][~c], im['gt_masks'][~c])
        s.ignored_instances = instances(im['gt_boxes'][c], im['gt_labels'][c], im['gt_masks'][c])
        s.pred_instances = InstanceData(bboxes=torch.from_numpy(im['boxes']), scores=torch.from_numpy(im['scores']),
                                        labels=torch.from_numpy(im['labels']), masks=torch.from_numpy(im['masks']))
        # a dict sample (MMEngine style) reaches metrics as the Evaluator converts it
        out.append(DataSample.from_dict(s.to_dict()) if as_dict else s)
    return out


def write_ann_file(images, path):
    """A COCO instances file written independently of the metric (ids from 1, area = mask area)."""
    anns = []
    for im in images:
        for box, label, crowd, mask in zip(im['gt_boxes'], im['gt_labels'], im['crowd'], im['gt_masks']):
            x1, y1, x2, y2 = box.astype(np.float64).tolist()
            seg = rle(mask)
            anns.append(dict(id=len(anns) + 1, image_id=im['img_id'], category_id=CAT_IDS[label],
                             bbox=[x1, y1, x2 - x1, y2 - y1], area=float(mask_util.area(seg)),
                             iscrowd=int(crowd), segmentation=seg))
    data = dict(images=[dict(id=im['img_id'], width=W, height=H, file_name=f'{im["img_id"]}.jpg') for im in images],
                annotations=anns,
                categories=[dict(id=c, name=n) for c, n in zip(CAT_IDS, CLASSES)][::-1])  # file order != class order
    path.write_text(json.dumps(data))
    return str(path)


def reference_dts(images, kind):
    out = []
    for im in images:
        for box, label, score, mask in zip(im['boxes'], im['labels'], im['scores'], im['masks']):
            x1, y1, x2, y2 = box.astype(np.float64).tolist()
            d = dict(image_id=im['img_id'], category_id=CAT_IDS[label], bbox=[x1, y1, x2 - x1, y2 - y1],
                     score=float(score))
            if kind == 'segm':
                d['segmentation'] = rle(mask)
            out.append(d)
    return out


def reference_stats(ann_file, images, kind, max_dets=None, use_cats=1):
    """COCOeval run directly: loadRes + evaluate + accumulate + summarize."""
    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO(ann_file)
        dt = gt.loadRes(reference_dts(images, 'segm' if kind == 'segm' else 'bbox'))
        ev = COCOeval(gt, dt, 'bbox' if kind == 'proposal' else kind)
        if max_dets is not None:
            ev.params.maxDets = list(max_dets)
        ev.params.useCats = use_cats
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return np.asarray(ev.stats), ev


def run_metric(metric, samples, batch=2):
    metric.dataset_meta = dict(classes=CLASSES)
    for i in range(0, len(samples), batch):
        metric.process({}, samples[i:i + batch])
    return metric.evaluate(len(samples))


@pytest.fixture(scope='module')
def data(tmp_path_factory):
    images = make_dataset()
    ann_file = write_ann_file(images, tmp_path_factory.mktemp('coco') / 'instances.json')
    return images, ann_file


@pytest.mark.parametrize('kind', ['bbox', 'segm'])
def test_matches_cocoeval_directly(data, kind):
    images, ann_file = data
    metric = CocoMetric(ann_file=ann_file, metric=kind, prefix='val')
    out = run_metric(metric, to_samples(images))
    ours = metric.last_stats[kind]
    assert (ours[:6] > 0.05).all()  # a non-trivial case: all area ranges populated
    # default COCOeval (maxDets 1/10/100): AP is taken at 100 dets, and no image has more than 100 here
    ref_default, _ = reference_stats(ann_file, images, kind)
    np.testing.assert_allclose(ours[:6], ref_default[:6], rtol=0, atol=1e-9)
    ref, _ = reference_stats(ann_file, images, kind, max_dets=(100, 300, 1000))
    np.testing.assert_allclose(ours, ref, rtol=0, atol=1e-9)
    names = ['mAP', 'mAP_50', 'mAP_75', 'mAP_s', 'mAP_m', 'mAP_l']
    assert out == {f'val/{kind}_{n}': round(float(v), 3) for n, v in zip(names, ref[:6])}


def test_bbox_and_segm_together_dict_samples_and_classwise(data):
    images, ann_file = data
    metric = METRICS.build(dict(type='CocoMetric', ann_file=ann_file, metric=['bbox', 'segm'], classwise=True))
    out = run_metric(metric, to_samples(images, as_dict=True), batch=3)
    ref_bbox, ev = reference_stats(ann_file, images, 'bbox', max_dets=(100, 300, 1000))
    ref_segm, _ = reference_stats(ann_file, images, 'segm', max_dets=(100, 300, 1000))
    np.testing.assert_allclose(metric.last_stats['bbox'], ref_bbox, rtol=0, atol=1e-9)
    np.testing.assert_allclose(metric.last_stats['segm'], ref_segm, rtol=0, atol=1e-9)
    assert out['coco/bbox_mAP'] == round(ref_bbox[0], 3) and out['coco/segm_mAP_l'] == round(ref_segm[5], 3)
    # per-class AP@[.5:.95] = mean of that category's valid precision entries (area all, last maxDets)
    for name, cat_id in zip(CLASSES, CAT_IDS):
        k = ev.params.catIds.index(cat_id)
        p = ev.eval['precision'][:, :, k, 0, -1]
        assert out[f'coco/bbox_{name}_precision'] == round(float(p[p > -1].mean()), 3)
        assert f'coco/segm_{name}_precision' in out


def test_proposal_ar_matches_cocoeval_without_categories(data):
    images, ann_file = data
    rng = np.random.default_rng(1)
    # many proposals per image so that AR@100 < AR@300 < AR@1000
    props = []
    for im in images:
        boxes = np.concatenate([im['boxes'], random_boxes(rng, 600)]).astype(np.float32)
        props.append(dict(im, boxes=boxes, labels=np.zeros(len(boxes), np.int64),
                          scores=rng.uniform(0, 1, len(boxes)).astype(np.float32),
                          masks=np.zeros((len(boxes), 1, 1), bool)))
    samples = []
    for im, s in zip(props, to_samples(images)):
        s.pred_instances = InstanceData(bboxes=torch.from_numpy(im['boxes']), scores=torch.from_numpy(im['scores']))
        samples.append(s)
    metric = CocoMetric(ann_file=ann_file, metric='proposal')
    out = run_metric(metric, samples)
    ref, _ = reference_stats(ann_file, props, 'proposal', max_dets=(100, 300, 1000), use_cats=0)
    np.testing.assert_allclose(metric.last_stats['proposal'], ref, rtol=0, atol=1e-9)
    assert set(out) == {f'coco/{k}' for k in ('AR@100', 'AR@300', 'AR@1000', 'AR_s@1000', 'AR_m@1000', 'AR_l@1000')}
    assert out['coco/AR@100'] == round(ref[6], 3) and out['coco/AR@1000'] == round(ref[8], 3)
    assert ref[6] < ref[7] < ref[8]


def test_without_ann_file_equals_ann_file_path(data):
    images, ann_file = data
    with_file = CocoMetric(ann_file=ann_file, metric=['bbox', 'segm', 'proposal'], classwise=True)
    without = CocoMetric(metric=['bbox', 'segm', 'proposal'], classwise=True)
    assert run_metric(with_file, to_samples(images)) == run_metric(without, to_samples(images))
    for kind in ('bbox', 'segm', 'proposal'):
        np.testing.assert_allclose(without.last_stats[kind], with_file.last_stats[kind], rtol=0, atol=1e-12)


def test_without_ann_file_reads_raw_instances_or_maps_resized_gt_back(data):
    images, ann_file = data
    with_file = CocoMetric(ann_file=ann_file, metric=['bbox', 'segm'])
    run_metric(with_file, to_samples(images))
    # raw dataset annotations carried in the sample (original pixels) take precedence over gt_instances
    raw = to_samples(images)
    for s, im in zip(raw, images):
        s.set_metainfo(dict(instances=[
            dict(bbox=b.tolist(), bbox_label=int(lab), ignore_flag=int(c), mask=rle(m))
            for b, lab, c, m in zip(im['gt_boxes'], im['gt_labels'], im['crowd'], im['gt_masks'])]))
        s.gt_instances = instances(np.zeros((0, 4), np.float32), np.zeros(0, np.int64), np.zeros((0, H, W), bool))
    from_raw = CocoMetric(metric=['bbox', 'segm'])
    run_metric(from_raw, raw)
    # gt_instances in a 2x resized, padded input frame: boxes and masks are mapped back to ori_shape
    resized = []
    for s, im in zip(to_samples(images), images):
        s.set_metainfo(dict(img_shape=(2 * H, 2 * W), scale_factor=(2.0, 2.0), pad_shape=(2 * H + 8, 2 * W)))
        for key, sel in (('gt_instances', ~im['crowd']), ('ignored_instances', im['crowd'])):
            up = im['gt_masks'][sel].repeat(2, axis=1).repeat(2, axis=2)
            up = np.pad(up, ((0, 0), (0, 8), (0, 0)))
            setattr(s, key, instances(im['gt_boxes'][sel] * 2, im['gt_labels'][sel], up))
        resized.append(s)
    from_resized = CocoMetric(metric=['bbox', 'segm'])
    run_metric(from_resized, resized)
    # mask containers (BitmapMasks) in gt_instances are read through their to_ndarray()
    from visioncraft.structures.masks import BitmapMasks
    bitmap = to_samples(images)
    for s in bitmap:
        for key in ('gt_instances', 'ignored_instances'):
            old = getattr(s, key)
            setattr(s, key, InstanceData(bboxes=old.bboxes, labels=old.labels,
                                         masks=BitmapMasks(old.masks.numpy(), height=H, width=W)))
    from_bitmap = CocoMetric(metric=['bbox', 'segm'])
    run_metric(from_bitmap, bitmap)
    for kind in ('bbox', 'segm'):
        np.testing.assert_allclose(from_raw.last_stats[kind], with_file.last_stats[kind], rtol=0, atol=1e-12)
        np.testing.assert_allclose(from_bitmap.last_stats[kind], with_file.last_stats[kind], rtol=0, atol=1e-12)
        np.testing.assert_allclose(from_resized.last_stats[kind], with_file.last_stats[kind], rtol=0, atol=1e-12)
    # polygons in raw annotations become RLEs of the original image
    anns = CocoMetric._raw_anns([dict(bbox=[0, 0, 4, 4], bbox_label=1, mask=[[0, 0, 4, 0, 4, 4, 0, 4]])], H, W)
    assert anns[0]['iscrowd'] == 0 and anns[0]['segmentation']['size'] == [H, W]
    assert mask_util.area(anns[0]['segmentation']) == 16
    # segm without ann_file and without ground-truth masks cannot be evaluated
    no_masks = to_samples(images[1:2])
    no_masks[0].gt_instances = InstanceData(bboxes=torch.from_numpy(images[1]['gt_boxes']),
                                            labels=torch.from_numpy(images[1]['gt_labels']))
    with pytest.raises(KeyError, match='ground-truth masks'):
        CocoMetric(metric='segm').process({}, no_masks)


def test_two_simulated_ranks_give_single_process_results(data, monkeypatch):
    images, ann_file = data
    samples = to_samples(images)
    single = CocoMetric(metric=['bbox', 'segm'])
    expected = run_metric(single, samples)

    other_rank = CocoMetric(metric=['bbox', 'segm'])  # what rank 1 holds after a DefaultSampler epoch
    other_rank.process({}, samples[1::2])
    rank0 = CocoMetric(metric=['bbox', 'segm'])
    rank0.dataset_meta = dict(classes=CLASSES)
    rank0.process({}, samples[0::2])
    monkeypatch.setattr(dist, 'get_dist_info', lambda: (0, 2))
    monkeypatch.setattr(dist, 'all_gather_object', lambda obj: [obj, list(other_rank.results)])
    monkeypatch.setattr(dist, 'broadcast_object', lambda obj, src=0: obj)
    assert rank0.evaluate(len(samples)) == expected
    for kind in ('bbox', 'segm'):
        np.testing.assert_array_equal(rank0.last_stats[kind], single.last_stats[kind])


def test_format_only_writes_test_dev_json(data, tmp_path):
    images, ann_file = data
    with pytest.raises(ValueError, match='outfile_prefix'):
        CocoMetric(ann_file=ann_file, format_only=True)
    prefix = tmp_path / 'out' / 'results'
    metric = CocoMetric(ann_file=ann_file, metric=['bbox', 'segm', 'proposal'], format_only=True,
                        outfile_prefix=str(prefix))
    assert run_metric(metric, to_samples(images)) == {}
    bbox = json.loads((tmp_path / 'out' / 'results.bbox.json').read_text())
    segm = json.loads((tmp_path / 'out' / 'results.segm.json').read_text())
    proposal = json.loads((tmp_path / 'out' / 'results.proposal.json').read_text())
    expected = reference_dts(images, 'bbox')
    assert len(bbox) == len(segm) == len(proposal) == len(expected)
    for ours, ref in zip(bbox, expected):
        assert ours['image_id'] == ref['image_id'] and ours['category_id'] == ref['category_id']
        np.testing.assert_allclose(ours['bbox'], ref['bbox'], atol=1e-9)
        assert ours['score'] == pytest.approx(ref['score'])
    assert segm[0]['segmentation'] == rle(images[0]['masks'][0])
    assert isinstance(segm[0]['segmentation']['counts'], str)


def test_empty_predictions_do_not_crash(data):
    images, ann_file = data
    empty = [dict(im, boxes=np.zeros((0, 4), np.float32), labels=np.zeros(0, np.int64),
                  scores=np.zeros(0, np.float32), masks=np.zeros((0, H, W), bool)) for im in images]
    for kwargs in (dict(ann_file=ann_file), dict()):
        metric = CocoMetric(metric=['bbox', 'segm', 'proposal'], **kwargs)
        with pytest.warns(UserWarning) as record:
            out = run_metric(metric, to_samples(empty))
        assert {str(w.message).split()[2] for w in record} == {'bbox', 'segm', 'proposal'}
        assert out['coco/bbox_mAP'] == 0.0 and out['coco/segm_mAP'] == 0.0 and out['coco/AR@100'] == 0.0
    # samples without a pred_instances field at all
    bare = [DataSample(metainfo=dict(img_id=im['img_id'], ori_shape=(H, W))) for im in images]
    metric = CocoMetric(ann_file=ann_file)
    with pytest.warns(UserWarning):
        assert run_metric(metric, bare)['coco/bbox_mAP'] == 0.0


def test_rle_predictions_and_mask_size_check(data):
    images, ann_file = data
    samples = to_samples(images)
    for s, im in zip(samples, images):  # masks already encoded by the model
        p = s.pred_instances
        s.pred_instances = InstanceData(bboxes=p.bboxes, scores=p.scores, labels=p.labels,
                                        masks=[rle(m) for m in im['masks']])
    metric = CocoMetric(ann_file=ann_file, metric='segm')
    run_metric(metric, samples)
    ref, _ = reference_stats(ann_file, images, 'segm', max_dets=(100, 300, 1000))
    np.testing.assert_allclose(metric.last_stats['segm'], ref, rtol=0, atol=1e-9)
    wrong = to_samples(images[1:2])
    p = wrong[0].pred_instances
    wrong[0].pred_instances = InstanceData(bboxes=p.bboxes, scores=p.scores, labels=p.labels,
                                           masks=torch.zeros(len(p), H // 2, W // 2, dtype=torch.bool))
    with pytest.raises(ValueError, match='ori_shape'):
        CocoMetric(ann_file=ann_file, metric='segm').process({}, wrong)


def test_argument_checks_and_metric_items(data):
    images, ann_file = data
    with pytest.raises(ValueError, match='metric'):
        CocoMetric(metric='keypoints')
    with pytest.raises(KeyError, match='unknown metric_items'):
        CocoMetric(metric_items=['mAP_xl'])
    with pytest.raises(ValueError, match='three'):
        CocoMetric(proposal_nums=(10, 100))
    with pytest.raises(FileNotFoundError):
        CocoMetric(ann_file='/nonexistent/instances.json')
    metric = CocoMetric(ann_file=ann_file, metric_items=['mAP_50', 'AR@100'], iou_thrs=[0.5, 0.75])
    out = run_metric(metric, to_samples(images))
    assert set(out) == {'coco/bbox_mAP_50', 'coco/bbox_AR@100'}
    metric = CocoMetric(ann_file=ann_file)
    metric.dataset_meta = dict(classes=('cat', 'zebra'))
    metric.process({}, to_samples(images))
    with pytest.raises(ValueError, match='zebra'):
        metric.compute_metrics(metric.results)
