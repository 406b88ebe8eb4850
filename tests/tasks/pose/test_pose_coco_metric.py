"""CocoPoseMetric against pycocotools' keypoint COCOeval run directly, and OKS NMS."""
import contextlib
import io
import json

import numpy as np
import pytest
import torch

import visioncraft  # noqa: F401  (registers everything)
from visioncraft.registry import METRICS, default_scope
from visioncraft.structures import DataSample, InstanceData
from visioncraft.tasks.pose.evaluation import CocoPoseMetric, oks_iou, oks_matrix, oks_nms, soft_oks_nms
from visioncraft.tasks.pose.evaluation._utils import KeypointMapping

from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

COCO_SIGMAS = np.array([.26, .25, .25, .35, .35, .79, .79, .72, .72, .62, .62, 1.07, 1.07, .87, .87, .89,
                        .89]) / 10.0
K = 17


def _make_gt(seed=0, n_images=4):
    """A small COCO person-keypoints dict: 1-3 people per image, some keypoints unlabelled."""
    rng = np.random.default_rng(seed)
    images, anns = [], []
    for img_id in range(1, n_images + 1):
        images.append(dict(id=img_id * 10, width=320, height=240, file_name=f'{img_id}.jpg'))
        for _ in range(int(rng.integers(1, 4))):
            w, h = rng.uniform(30, 120), rng.uniform(60, 200)
            x, y = rng.uniform(0, 320 - w), rng.uniform(0, 240 - h)
            kx, ky = rng.uniform(x, x + w, K), rng.uniform(y, y + h, K)
            v = rng.choice([0, 1, 2], size=K, p=[0.2, 0.2, 0.6])
            kx[v == 0] = 0
            ky[v == 0] = 0
            kpts = np.stack([kx, ky, v], 1).reshape(-1)
            anns.append(dict(id=len(anns) + 100, image_id=img_id * 10, category_id=1, iscrowd=0,
                             bbox=[x, y, w, h], area=w * h * 0.7, keypoints=kpts.tolist(),
                             num_keypoints=int((v > 0).sum())))
    cats = [dict(id=1, name='person', supercategory='person', keypoints=[str(i) for i in range(K)])]
    return dict(images=images, annotations=anns, categories=cats)


def _samples(gt, seed=1, noise=0.06, with_raw=True, extra_fp=True):
    """One top-down data sample per annotation: the GT keypoints moved by noise ~ sqrt(area)."""
    rng = np.random.default_rng(seed)
    sizes = {im['id']: (im['height'], im['width']) for im in gt['images']}
    samples = []
    for ann in gt['annotations']:
        kpts = np.asarray(ann['keypoints'], dtype=np.float64).reshape(K, 3)
        x, y, w, h = ann['bbox']
        base = np.where(kpts[:, 2:] > 0, kpts[:, :2], [x + w / 2, y + h / 2])
        pred = base + rng.normal(0, noise * np.sqrt(ann['area']), (K, 2))
        samples.append(_sample(ann, pred, rng.uniform(0.05, 1.0, K), rng.uniform(0.3, 1.0), sizes, with_raw))
    if extra_fp:  # a detected box of no one, as a bbox_file sample: no raw_ann_info, dummy gt (zeros, visible)
        ann = dict(gt['annotations'][0], id=9999, keypoints=[0.0] * (3 * K))
        fp = _sample(ann, rng.uniform(0, 200, (K, 2)), np.full(K, 0.9), 0.95, sizes, False)
        fp.gt_instances.keypoints_visible = torch.ones(1, K)
        samples.append(fp)
    return samples


def _sample(ann, pred, kpt_scores, bbox_score, sizes, with_raw):
    x, y, w, h = ann['bbox']
    kpts = np.asarray(ann['keypoints'], dtype=np.float64).reshape(K, 3)
    meta = dict(id=ann['id'], img_id=ann['image_id'], category_id=1, ori_shape=sizes[ann['image_id']])
    if with_raw:
        meta['raw_ann_info'] = ann
    s = DataSample(metainfo=meta)
    s.gt_instances = InstanceData(bboxes=torch.tensor([[x, y, x + w, y + h]], dtype=torch.float32),
                                  bbox_scales=torch.tensor([[w * 1.25, h * 1.25]]),
                                  keypoints=torch.tensor(kpts[None, :, :2], dtype=torch.float32),
                                  keypoints_visible=torch.tensor((kpts[None, :, 2] > 0).astype(np.float32)),
                                  areas=torch.tensor([ann['area']], dtype=torch.float32))
    s.pred_instances = InstanceData(keypoints=pred[None].astype(np.float32),
                                    keypoint_scores=np.asarray(kpt_scores, np.float32)[None],
                                    bbox_scores=np.array([bbox_score], np.float32))
    return s


def _direct_cocoeval(gt_dict, results, sigmas=COCO_SIGMAS):
    with contextlib.redirect_stdout(io.StringIO()):
        coco = COCO()
        coco.dataset = json.loads(json.dumps(gt_dict))
        coco.createIndex()
        dt = coco.loadRes(results)
        ev = COCOeval(coco, dt, 'keypoints')
        ev.params.kpt_oks_sigmas = np.asarray(sigmas)
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return ev.stats


def _results_of(samples, score_fn=lambda s: float(s.pred_instances.bbox_scores[0])):
    out = []
    for s in samples:
        k = np.concatenate([s.pred_instances.keypoints[0], s.pred_instances.keypoint_scores[0][:, None]], 1)
        out.append(dict(image_id=s.img_id, category_id=1, keypoints=k.astype(np.float64).reshape(-1).tolist(),
                        score=score_fn(s)))
    return out


def _run(metric, samples, meta, batch=3):
    metric.dataset_meta = meta
    for i in range(0, len(samples), batch):
        metric.process(None, samples[i:i + batch])
    return metric.evaluate(len(samples))


NAMES = ['AP', 'AP .5', 'AP .75', 'AP (M)', 'AP (L)', 'AR', 'AR .5', 'AR .75', 'AR (M)', 'AR (L)']


def test_equals_direct_cocoeval_with_ann_file(tmp_path):
    gt = _make_gt()
    # the file also has a crowd region and a person with no labelled keypoint: both ignored by COCOeval
    gt['annotations'].append(dict(id=7000, image_id=10, category_id=1, iscrowd=1, bbox=[0, 0, 50, 50], area=900.0,
                                  keypoints=[0] * (3 * K), num_keypoints=0))
    ann_file = tmp_path / 'gt.json'
    ann_file.write_text(json.dumps(gt))
    samples = _samples(dict(gt, annotations=gt['annotations'][:-1]))
    metric = CocoPoseMetric(ann_file=str(ann_file), score_mode='bbox', nms_mode='none')
    got = _run(metric, samples, dict(sigmas=COCO_SIGMAS, num_keypoints=K))
    expected = _direct_cocoeval(gt, _results_of(samples))
    assert list(got) == [f'coco/{n}' for n in NAMES]
    np.testing.assert_allclose([got[f'coco/{n}'] for n in NAMES], expected, rtol=0, atol=1e-12)
    assert 0.2 < got['coco/AP'] < 1.0  # the noise makes it imperfect, the fixture is not degenerate


def test_gt_from_samples_equals_ann_file(tmp_path):
    gt = _make_gt(seed=3)
    samples = _samples(gt, seed=4)
    expected = _direct_cocoeval(gt, _results_of(samples))
    # from raw_ann_info
    got = _run(CocoPoseMetric(score_mode='bbox', nms_mode='none', prefix='p'), samples,
               dict(sigmas=COCO_SIGMAS))
    np.testing.assert_allclose([got[f'p/{n}'] for n in NAMES], expected, rtol=0, atol=1e-12)
    # from gt_instances only (no raw_ann_info): keypoints, visibility, boxes and areas
    bare = _samples(gt, seed=4, with_raw=False)
    got2 = _run(CocoPoseMetric(score_mode='bbox', nms_mode='none', outfile_prefix=str(tmp_path / 'r')), bare,
                dict(sigmas=COCO_SIGMAS))
    np.testing.assert_allclose([got2[f'coco/{n}'] for n in NAMES], expected, rtol=0, atol=1e-6)
    written = json.loads((tmp_path / 'r.gt.json').read_text())
    assert len(written['annotations']) == len(gt['annotations'])
    assert len(json.loads((tmp_path / 'r.keypoints.json').read_text())) == len(bare)


def test_use_area_false_uses_box_area(tmp_path):
    """use_area=False scales OKS by 0.53 * box area: equal to COCOeval on a file whose areas are that."""
    gt = _make_gt(seed=5)
    samples = _samples(gt, seed=6, extra_fp=False)
    boxed = json.loads(json.dumps(gt))
    for a in boxed['annotations']:
        a['area'] = a['bbox'][2] * a['bbox'][3] * 0.53
    expected = _direct_cocoeval(boxed, _results_of(samples))
    # area ranges (M)/(L) still follow the annotated areas, so compare the all-area numbers
    got = _run(CocoPoseMetric(use_area=False, score_mode='bbox', nms_mode='none'), samples,
               dict(sigmas=COCO_SIGMAS))
    for i in (0, 1, 2, 5, 6, 7):
        assert got[f'coco/{NAMES[i]}'] == pytest.approx(expected[i], abs=1e-12)
    plain = _run(CocoPoseMetric(score_mode='bbox', nms_mode='none'), samples, dict(sigmas=COCO_SIGMAS))
    assert plain['coco/AP'] != got['coco/AP']


def test_bbox_keypoint_rescoring_written_by_format_only(tmp_path):
    gt = _make_gt(seed=7, n_images=1)
    samples = _samples(gt, seed=8, extra_fp=False)[:1]
    s = samples[0]
    s.pred_instances.keypoint_scores = np.array([[0.1] * 14 + [0.5, 0.9, 0.15]], np.float32)
    s.pred_instances.bbox_scores = np.array([0.8], np.float32)
    metric = CocoPoseMetric(format_only=True, outfile_prefix=str(tmp_path / 'out'))
    assert _run(metric, samples, dict(sigmas=COCO_SIGMAS)) == {}
    res = json.loads((tmp_path / 'out.keypoints.json').read_text())
    # scores above keypoint_score_thr=0.2: 0.5 and 0.9 -> mean 0.7; times the box score 0.8 = 0.56
    assert res[0]['score'] == pytest.approx(0.56, abs=1e-6)
    assert res[0]['image_id'] == s.img_id and len(res[0]['keypoints']) == 3 * K
    with pytest.raises(ValueError, match='outfile_prefix'):
        CocoPoseMetric(format_only=True)


def test_gt_converter_maps_ground_truth_and_sigmas(tmp_path):
    """A dataset whose 17 keypoints are stored in reverse order: with gt_converter the metric equals the run
    on the model-ordered ground truth."""
    gt = _make_gt(seed=9)
    samples = _samples(gt, seed=10)
    expected = _run(CocoPoseMetric(score_mode='bbox', nms_mode='none'), samples, dict(sigmas=COCO_SIGMAS))
    rev = json.loads(json.dumps(gt))
    for a in rev['annotations']:
        a['keypoints'] = np.asarray(a['keypoints']).reshape(K, 3)[::-1].reshape(-1).tolist()
    for s, a in zip(samples, rev['annotations']):
        s.set_metainfo(dict(raw_ann_info=a))
    conv = dict(type='KeypointConverter', num_keypoints=K, mapping=[(K - 1 - i, i) for i in range(K)])
    metric = CocoPoseMetric(score_mode='bbox', nms_mode='none', gt_converter=conv)
    got = _run(metric, samples, dict(sigmas=COCO_SIGMAS[::-1].copy()))
    assert got == pytest.approx(expected, abs=1e-12)
    # the same through an ann_file in the dataset's layout
    (tmp_path / 'rev.json').write_text(json.dumps(rev))
    from_file = CocoPoseMetric(ann_file=str(tmp_path / 'rev.json'), score_mode='bbox', nms_mode='none',
                               gt_converter=conv)
    assert _run(from_file, samples, dict(sigmas=COCO_SIGMAS[::-1].copy())) == pytest.approx(expected, abs=1e-12)
    unconverted = _run(CocoPoseMetric(score_mode='bbox', nms_mode='none'), samples,
                       dict(sigmas=COCO_SIGMAS[::-1].copy()))
    assert unconverted['coco/AP'] < expected['coco/AP']


def test_keypoint_mapping_partial_layout():
    m = KeypointMapping(4, [(0, 1), ((1, 2), 3)])
    ann = m.coco_ann(dict(keypoints=[10, 20, 2, 30, 40, 2, 50, 60, 1], num_keypoints=3))
    # target 0 and 2 unmapped -> zeros; 1 <- source 0; 3 <- midpoint of sources 1 and 2 (40, 50), v = min(2, 1)
    assert ann['keypoints'] == [0, 0, 0, 10, 20, 2, 0, 0, 0, 40, 50, 1]
    assert ann['num_keypoints'] == 2
    np.testing.assert_allclose(m.sigmas([0.1, 0.2, 0.4]), [1.0, 0.1, 1.0, 0.3])
    with pytest.raises(ValueError, match='outside'):
        KeypointMapping(2, [(0, 5)])


def test_registered_under_mmpose_scope_and_bad_args():
    assert METRICS.get('CocoPoseMetric') is CocoPoseMetric
    with default_scope('mmpose'):
        assert METRICS.get('CocoMetric') is CocoPoseMetric
    assert METRICS.get('mmpose.CocoMetric') is CocoPoseMetric
    with pytest.raises(ValueError, match='score_mode'):
        CocoPoseMetric(score_mode='max')
    with pytest.raises(ValueError, match='nms_mode'):
        CocoPoseMetric(nms_mode='nms')
    with pytest.raises(FileNotFoundError, match='nope.json'):
        CocoPoseMetric(ann_file='nope.json')
    metric = CocoPoseMetric()
    metric.dataset_meta = dict(sigmas=COCO_SIGMAS[:5])
    metric.process(None, _samples(_make_gt(n_images=1), extra_fp=False))
    with pytest.raises(ValueError, match='5 OKS sigmas'):
        metric.evaluate(10)


# -- OKS and NMS ----------------------------------------------------------------------------------------

def test_oks_matches_hand_computation():
    sigmas = np.array([0.5, 1.0])
    a = np.array([[0.0, 0.0], [10.0, 0.0]])
    b = np.array([[2.0, 0.0], [10.0, 0.0]])
    # keypoint 0: d^2 = 4, var = (2*0.5)^2 = 1, scale = (100 + 100) / 2 = 100 -> e = 4 / 1 / 100 / 2 = 0.02
    # keypoint 1: d = 0 -> e = 0.  OKS = (exp(-0.02) + 1) / 2
    expected = (np.exp(-0.02) + 1) / 2
    assert oks_iou(a, b[None], 100.0, np.array([100.0]), sigmas)[0] == pytest.approx(expected, rel=1e-6)
    m = oks_matrix(np.stack([a, b]), np.array([100.0, 100.0]), sigmas)
    np.testing.assert_allclose(m, m.T)
    assert m[0, 0] == pytest.approx(1.0, abs=1e-9)
    # vis_thr: only keypoints scored above it in both poses count -> just keypoint 1 here
    a3 = np.concatenate([a, [[0.1], [0.9]]], 1)
    b3 = np.concatenate([b, [[0.9], [0.9]]], 1)
    assert oks_iou(a3, b3[None], 100.0, np.array([100.0]), sigmas, vis_thr=0.5)[0] == pytest.approx(1.0)


def _pose(offset, score, rng, area=400.0):
    base = np.stack([np.linspace(0, 20, K), np.linspace(0, 40, K)], 1) + offset
    kpts = np.concatenate([base + rng.normal(0, 0.05, (K, 2)), np.ones((K, 1))], 1)
    return dict(keypoints=kpts, score=score, area=area)


def test_oks_nms_keeps_one_of_two_near_identical_poses():
    rng = np.random.default_rng(0)
    insts = [_pose(0, 0.6, rng), _pose(0, 0.9, rng), _pose(200, 0.5, rng)]
    keep = oks_nms(insts, 0.9, COCO_SIGMAS)
    assert keep.tolist() == [1, 2]  # the better of the twins, then the distant pose
    assert oks_nms([], 0.9, COCO_SIGMAS).tolist() == []


def test_soft_oks_nms_demotes_the_twin():
    rng = np.random.default_rng(1)
    # twin scores 0.9 / 0.8, a distinct pose 0.5: the twin's 0.8 * exp(-1 / 0.9) ~ 0.26 falls below 0.5
    insts = [_pose(0, 0.9, rng), _pose(0, 0.8, rng), _pose(200, 0.5, rng)]
    assert soft_oks_nms(insts, 0.9, COCO_SIGMAS).tolist() == [0, 2, 1]
    assert soft_oks_nms(insts, 0.9, COCO_SIGMAS, max_dets=2).tolist() == [0, 2]


def test_metric_oks_nms_drops_duplicate_prediction():
    """A second, lower-scored copy of a prediction is an FP without NMS and gone with it."""
    gt = _make_gt(seed=11, n_images=2)
    samples = _samples(gt, seed=12, extra_fp=False)
    best = int(np.argmax([float(s.pred_instances.bbox_scores[0]) for s in samples]))
    dup = _samples(gt, seed=12, extra_fp=False)[best]
    dup.set_metainfo(dict(id=5555))
    # ranked right after its original, so without NMS it is a false positive above the other true positives
    dup.pred_instances.bbox_scores = dup.pred_instances.bbox_scores - 1e-4
    dup.pred_instances.keypoints = dup.pred_instances.keypoints + 0.01
    both = samples + [dup]
    meta = dict(sigmas=COCO_SIGMAS)
    clean = _run(CocoPoseMetric(score_mode='bbox', nms_mode='none'), samples, meta)
    with_nms = _run(CocoPoseMetric(score_mode='bbox', nms_mode='oks_nms'), both, meta)
    without = _run(CocoPoseMetric(score_mode='bbox', nms_mode='none'), both, meta)
    assert with_nms == pytest.approx(clean, abs=1e-12)
    assert without['coco/AP'] < clean['coco/AP'] - 1e-3
