"""MultiDatasetEvaluator (MMPose: routed by dataset_name) and MultiDatasetsEvaluator (MMOCR: a ConcatDataset
split by position), with real metrics, standalone, through the Runner's test loop, and over two ranks."""
import numpy as np
import pytest
import torch

import visioncraft  # noqa: F401
from visioncraft.data import CombinedDataset, ConcatDataset
from visioncraft.engine import Runner
from visioncraft.evaluation import BaseMetric, MultiDatasetEvaluator, MultiDatasetsEvaluator, build_evaluator
from visioncraft.evaluation import metric as metric_mod
from visioncraft.models import BaseModel
from visioncraft.registry import DATASETS, EVALUATORS
from visioncraft.structures import DataSample, InstanceData


class _ListDataset(torch.utils.data.Dataset):
    """Packed samples kept in memory; each item is ``dict(inputs, data_samples)``."""

    def __init__(self, samples, metainfo):
        self.samples = samples
        self.metainfo = metainfo

    def __len__(self):
        return len(self.samples)

    def __getitem__(self, i):
        return dict(inputs=torch.zeros(1), data_samples=self.samples[int(i)].clone())


class _Echo(BaseModel):
    """'Predicts' what each sample's ``answer`` metainfo says."""

    def __init__(self):
        super().__init__()
        self.w = torch.nn.Parameter(torch.zeros(1))

    def forward(self, inputs, data_samples=None, mode='tensor'):
        raise NotImplementedError

    def val_step(self, data):
        out = []
        for s in data['data_samples']:
            if 'text' in s.answer:
                s.pred_text = s.answer['text']
            else:
                s.pred_instances = InstanceData(keypoints=np.asarray(s.answer['kpts'], np.float32)[None],
                                                keypoint_scores=np.ones((1, 2), np.float32))
            out.append(s)
        return out

    test_step = val_step


def _text(gt, pred):
    return DataSample(metainfo=dict(answer=dict(text=pred)), gt_text=gt)


# IIIT5K: 3 words, exact 2/3 ('cat' vs 'Cat' only matches ignoring case); SVT: 2 words, exact 1/2
IIIT5K = [('cat', 'cat'), ('dog', 'dog'), ('Cat', 'cat')]
SVT = [('sun', 'sun'), ('moon', 'mon')]
EXPECTED_OCR = {'IIIT5K/recog/word_acc': 2 / 3, 'IIIT5K/recog/word_acc_ignore_case': 1.0,
                'SVT/recog/word_acc': 0.5, 'SVT/recog/word_acc_ignore_case': 0.5}


def _ocr_concat():
    return ConcatDataset([_ListDataset([_text(g, p) for g, p in IIIT5K], dict(name='iiit5k')),
                          _ListDataset([_text(g, p) for g, p in SVT], dict(name='svt'))], ignore_keys=['name'])


def _kpt(name, gt, pred, box=(0, 0, 10, 10)):
    s = DataSample(metainfo=dict(dataset_name=name, answer=dict(kpts=pred)))
    s.gt_instances = InstanceData(keypoints=torch.tensor([gt], dtype=torch.float32),
                                  keypoints_visible=torch.ones(1, 2), bboxes=torch.tensor([box], dtype=torch.float32))
    return s


# 'coco_like' (box side 10, thr 0.1 -> errors < 1 px count): errors (0, 2) and (0.5, 0) -> k0 1.0, k1 0.5 -> 0.75
# 'mpii_like': errors (3, 0) -> k0 0, k1 1 -> 0.5
POSE_A = [_kpt('coco_like', [[0, 0], [5, 5]], [[0, 0], [5, 7]]),
          _kpt('coco_like', [[1, 1], [2, 2]], [[1.5, 1], [2, 2]])]
POSE_B = [_kpt('mpii_like', [[0, 0], [5, 5]], [[3, 0], [5, 5]])]
EXPECTED_POSE = {'coco/PCK': 0.75, 'mpii/PCK': 0.5}


def _pose_sets():
    return (_ListDataset(POSE_A, dict(dataset_name='coco_like')),
            _ListDataset(POSE_B, dict(dataset_name='mpii_like', sigmas=[0.1, 0.1])))


def _pose_evaluator(a, b):
    return dict(type='MultiDatasetEvaluator',
                metrics=[dict(type='PCKAccuracy', thr=0.1, prefix='coco'),
                         dict(type='PCKAccuracy', thr=0.1, prefix='mpii')],
                datasets=[a, b])


def _feed(evaluator, dataset, batch_size=2):
    model = _Echo()
    from visioncraft.data.collate import pseudo_collate
    for i in range(0, len(dataset), batch_size):
        batch = pseudo_collate([dataset[j] for j in range(i, min(i + batch_size, len(dataset)))])
        evaluator.process(batch, model.test_step(batch))


def test_multi_datasets_evaluator_splits_a_concat_dataset():
    ds = _ocr_concat()
    assert ds.metainfo.cumulative_sizes == [3, 5] and ds.metainfo == dict(name='iiit5k')
    ev = build_evaluator(dict(type='MultiDatasetsEvaluator', metric=dict(type='WordMetric',
                              mode=['exact', 'ignore_case']), dataset_prefixes=['IIIT5K', 'SVT']))
    assert isinstance(ev, MultiDatasetsEvaluator)
    ev.dataset_meta = ds.metainfo
    _feed(ev, ds)  # batches of 2 straddle the two datasets
    assert ev.evaluate(len(ds)) == pytest.approx(EXPECTED_OCR)
    # a metric without prefix gets only the dataset's
    ev2 = MultiDatasetsEvaluator(_CountGT(), dataset_prefixes=['A', 'B'])
    ev2.dataset_meta = dict(cumulative_sizes=[3, 5])  # MMEngine puts it as a key
    _feed(ev2, ds)
    assert ev2.evaluate(5) == {'A/texts': 'cat,dog,Cat', 'B/texts': 'sun,moon'}
    # MMOCR's spelling: metrics=[...]; giving both (or neither) is an error
    ev3 = build_evaluator(dict(type='MultiDatasetsEvaluator', metrics=[dict(type='WordMetric',
                               mode=['exact', 'ignore_case'])], dataset_prefixes=['IIIT5K', 'SVT']))
    ev3.dataset_meta = ds.metainfo
    _feed(ev3, ds)
    assert ev3.evaluate(len(ds)) == pytest.approx(EXPECTED_OCR)
    with pytest.raises(TypeError, match='metrics'):
        MultiDatasetsEvaluator(_CountGT(), dataset_prefixes=['A'], metric=_CountGT())


class _CountGT(BaseMetric):
    """No prefix; reports the ground-truth words it saw, in order."""

    def process(self, data_batch, data_samples):
        self.results.extend(s.gt_text for s in data_samples)

    def compute_metrics(self, results):
        return dict(texts=','.join(results))


def test_multi_datasets_evaluator_errors():
    with pytest.raises(ValueError, match='repeat'):
        MultiDatasetsEvaluator(dict(type='WordMetric'), dataset_prefixes=['A', 'A'])
    ev = MultiDatasetsEvaluator(dict(type='WordMetric'), dataset_prefixes=['A', 'B', 'C'])
    ev.dataset_meta = _ocr_concat().metainfo
    _feed(ev, _ocr_concat())
    with pytest.raises(ValueError, match='3 dataset_prefixes'):
        ev.evaluate(5)


def test_multi_dataset_evaluator_routes_by_dataset_name():
    a, b = _pose_sets()
    combined = CombinedDataset(metainfo=dict(dataset_name='coco_like'), datasets=[a, b])
    ev = build_evaluator(_pose_evaluator(a, b))
    assert isinstance(ev, MultiDatasetEvaluator)
    ev.dataset_meta = combined.metainfo
    # each metric keeps its own dataset's metainfo
    assert [m.dataset_meta['dataset_name'] for m in ev.metrics] == ['coco_like', 'mpii_like']
    _feed(ev, combined)
    assert ev.evaluate(len(combined)) == pytest.approx(EXPECTED_POSE)
    # a sample of an unknown dataset is an error naming it
    stray = _kpt('ochuman', [[0, 0], [1, 1]], [[0, 0], [1, 1]])
    stray.pred_instances = InstanceData(keypoints=np.zeros((1, 2, 2), np.float32))
    with pytest.raises(KeyError, match="'ochuman'"):
        ev.process(None, [stray])


def test_multi_dataset_evaluator_dataset_configs_and_key_clash():
    @DATASETS.register_module(name='_H3MetaOnlyDataset', force=True)
    class _MetaOnly(_ListDataset):
        METAINFO = dict(dataset_name='mpii_like', sigmas=[0.1, 0.1])

    a, _ = _pose_sets()
    ev = MultiDatasetEvaluator(metrics=[dict(type='PCKAccuracy', thr=0.1, prefix='coco'),
                                        dict(type='PCKAccuracy', thr=0.1, prefix='mpii')],
                               datasets=[a, dict(type='_H3MetaOnlyDataset', samples=[], metainfo=dict(extra=1))])
    assert ev.metrics[1].dataset_meta == dict(dataset_name='mpii_like', sigmas=[0.1, 0.1], extra=1)
    with pytest.raises(ValueError, match='2 metrics but 1 datasets'):
        MultiDatasetEvaluator(metrics=[dict(type='EPE'), dict(type='EPE')], datasets=[a])
    clash = MultiDatasetEvaluator(metrics=[dict(type='EPE'), dict(type='EPE')], datasets=list(_pose_sets()))
    _feed(clash, CombinedDataset(metainfo={}, datasets=list(_pose_sets())))
    with pytest.raises(ValueError, match="both produce the key 'EPE'"):
        clash.evaluate(3)


def test_both_evaluators_through_the_runner_test_loop(tmp_path):
    cfg = dict(work_dir=str(tmp_path / 'ocr'), model=_Echo(), test_cfg=dict(),
               test_dataloader=dict(batch_size=2, num_workers=0, sampler=dict(type='DefaultSampler', shuffle=False),
                                    dataset=_ocr_concat()),
               test_evaluator=dict(type='MultiDatasetsEvaluator', metric=dict(type='WordMetric',
                                   mode=['exact', 'ignore_case']), dataset_prefixes=['IIIT5K', 'SVT']))
    assert Runner(cfg).test() == pytest.approx(EXPECTED_OCR)
    a, b = _pose_sets()
    combined = CombinedDataset(metainfo=dict(dataset_name='coco_like'), datasets=[a, b])
    cfg = dict(cfg, work_dir=str(tmp_path / 'pose'), test_evaluator=_pose_evaluator(a, b),
               test_dataloader=dict(cfg['test_dataloader'], dataset=combined))
    assert Runner(cfg).test() == pytest.approx(EXPECTED_POSE)


@pytest.mark.parametrize('kind', ['ocr', 'pose'])
def test_two_ranks_give_the_single_process_numbers(monkeypatch, kind):
    """Rank r gets samples r, r + 2, ... (DefaultSampler); rank 1 pads with sample 0 (round_up). Gathering
    restores dataset order and cuts the padding."""
    if kind == 'ocr':
        ds, expected = _ocr_concat(), EXPECTED_OCR

        def make():
            ev = MultiDatasetsEvaluator(dict(type='WordMetric', mode=['exact', 'ignore_case']), ['IIIT5K', 'SVT'])
            ev.dataset_meta = ds.metainfo
            return ev
    else:
        a, b = _pose_sets()
        ds, expected = CombinedDataset(metainfo={}, datasets=[a, b]), EXPECTED_POSE

        def make():
            return EVALUATORS.build(_pose_evaluator(a, b))
    n = len(ds)
    order = list(range(n)) + [0] * (n % 2)  # round_up padding
    ranks = [make(), make()]
    for r, ev in enumerate(ranks):
        sub = _Subset(ds, order[r::2])
        _feed(ev, sub, batch_size=2)
    parts = [list(ev._records) for ev in ranks]
    monkeypatch.setattr(metric_mod, 'all_gather_object', lambda obj: parts)
    assert ranks[0].evaluate(n) == pytest.approx(expected)


class _Subset(torch.utils.data.Dataset):
    def __init__(self, ds, idx):
        self.ds, self.idx = ds, idx

    def __len__(self):
        return len(self.idx)

    def __getitem__(self, i):
        return self.ds[self.idx[i]]


def test_pose_dataset_configs_give_each_metric_its_metainfo():
    """MMPose's example: COCO and AIC test sets; AIC's 14 keypoints mapped to COCO's 17 by gt_converter."""
    aic_to_coco = [(0, 6), (1, 8), (2, 10), (3, 5), (4, 7), (5, 9), (6, 12), (7, 14), (8, 16), (9, 11),
                   (10, 13), (11, 15)]
    ev = EVALUATORS.build(dict(
        type='MultiDatasetEvaluator',
        metrics=[dict(type='mmpose.CocoMetric'),
                 dict(type='mmpose.CocoMetric', use_area=False, prefix='aic',
                      gt_converter=dict(type='KeypointConverter', num_keypoints=17, mapping=aic_to_coco))],
        datasets=[dict(type='mmpose.CocoDataset', ann_file='unused.json'), dict(type='AicDataset', ann_file='x')]))
    assert ev.metric_of == {'coco': 0, 'aic': 1}
    assert [len(m.dataset_meta['sigmas']) for m in ev.metrics] == [17, 14]
    aic_sigmas = np.asarray(ev.metrics[1].dataset_meta['sigmas'])
    sigmas = ev.metrics[1]._sigmas(17)  # AIC's sigmas in COCO's layout, 1.0 for COCO's 5 face keypoints
    assert sigmas[:5].tolist() == [1.0] * 5 and sigmas[6] == pytest.approx(aic_sigmas[0])


def test_one_class_under_both_names():
    """MMPose's and MMOCR's spellings build the same class; which behaviour follows from datasets= or
    dataset_prefixes= (names given positionally are dataset prefixes), and giving both or neither is an error."""
    assert MultiDatasetsEvaluator is MultiDatasetEvaluator
    assert EVALUATORS.get('MultiDatasetsEvaluator') is EVALUATORS.get('MultiDatasetEvaluator') is MultiDatasetEvaluator
    assert not MultiDatasetEvaluator(_CountGT(), ['A', 'B']).by_name
    a, b = _pose_sets()
    assert EVALUATORS.build(_pose_evaluator(a, b)).by_name
    with pytest.raises(TypeError, match='datasets=.*or dataset_prefixes=.*one of the two'):
        MultiDatasetEvaluator(_CountGT())
    with pytest.raises(TypeError, match='one of the two'):
        MultiDatasetEvaluator([_CountGT()], datasets=[a], dataset_prefixes=['A'])


def test_process_takes_batch_then_samples_and_converts_dicts():
    """The order of BaseMetric.process, as Evaluator.process; dict samples reach the metrics as DataSamples."""
    ev = MultiDatasetsEvaluator(_CountGT(), dataset_prefixes=['A'])
    with pytest.raises(TypeError, match=r'takes \(data_batch, data_samples\)'):
        ev.process([DataSample(gt_text='x')], None)
    ev.process(None, [dict(gt_text='x'), DataSample(gt_text='y')])
    ev.process(data_samples=[dict(gt_text='z')], data_batch=None)
    assert ev.evaluate(3) == {'A/texts': 'x,y,z'}
    a, b = _pose_sets()
    routed = EVALUATORS.build(_pose_evaluator(a, b))
    with pytest.raises(TypeError, match=r'takes \(data_batch, data_samples\)'):
        routed.process(list(POSE_A), dict(inputs=[None, None]))
