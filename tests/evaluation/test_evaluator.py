import pickle

import pytest
import torch

from visioncraft.data import DefaultSampler
from visioncraft.evaluation import BaseMetric, DumpResults, Evaluator, build_evaluator
from visioncraft.evaluation import metric as metric_module
from visioncraft.registry import EVALUATORS, METRICS
from visioncraft.structures import DataSample, InstanceData


class OrderMetric(BaseMetric):
    """Records the sample ids it is given, in order; 'accuracy' is the mean of the 'correct' flags."""
    default_prefix = 'order'

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.computed_on = []

    def process(self, data_batch, data_samples):
        for s in data_samples:
            self.results.append(dict(id=s['id'], correct=s['correct']))

    def compute_metrics(self, results):
        self.computed_on.append([r['id'] for r in results])
        return dict(accuracy=sum(r['correct'] for r in results) / len(results), ids=[r['id'] for r in results])


METRICS.register_module(name='TestEvalOrderMetric', module=OrderMetric, force=True)


def samples(ids, correct=1):
    """DataSamples; OrderMetric reads them with [] as metrics ported from MMDetection / MMOCR do."""
    return [DataSample(id=i, correct=correct) for i in ids]


@pytest.fixture
def fake_ranks(monkeypatch):
    """Simulate being ``rank`` of ``world_size``: all_gather returns the given per-rank lists with this rank's
    own results in its slot (pass None there); broadcast returns what rank 0 would send."""
    def install(rank, world_size, per_rank_results, rank0_payload=None):
        calls = dict(broadcast=[])

        def gather(obj):
            parts = [None if p is None else list(p) for p in per_rank_results]
            parts[rank] = obj
            return parts

        def broadcast(obj, src=0):
            calls['broadcast'].append(obj)
            return obj if rank == 0 else rank0_payload

        monkeypatch.setattr(metric_module, 'all_gather_object', gather)
        monkeypatch.setattr(metric_module, 'broadcast_object', broadcast)
        monkeypatch.setattr(metric_module, 'get_dist_info', lambda: (rank, world_size))
        return calls
    return install


def test_gather_restores_dataset_order_and_drops_padding(fake_ranks):
    size, world = 7, 3
    shards = []
    for rank in range(world):  # what each rank's metric would hold after a DefaultSampler(round_up) epoch
        sampler = DefaultSampler(list(range(size)), shuffle=False, seed=0, rank=rank, world_size=world)
        shards.append(samples([int(i) for i in sampler]))
    assert [len(s) for s in shards] == [3, 3, 3]  # 9 = 7 + 2 padded duplicates
    metric = OrderMetric()
    metric.process(None, shards[0])
    fake_ranks(0, world, [shards[0], shards[1], shards[2]])
    out = metric.evaluate(size)
    assert metric.computed_on == [list(range(7))]
    assert out == {'order/accuracy': 1.0, 'order/ids': list(range(7))}
    assert metric.results == []


def test_shuffled_sampler_results_line_up_with_one_process(fake_ranks):
    dataset = list(range(10))
    one = DefaultSampler(dataset, seed=4)
    expected = [int(i) for i in one]
    shards = [samples([int(i) for i in DefaultSampler(dataset, seed=4, rank=r, world_size=2)]) for r in range(2)]
    metric = OrderMetric(prefix=None)
    metric.process(None, shards[0])
    fake_ranks(0, 2, shards)
    assert metric.evaluate(10)['order/ids'] == expected


def test_non_zero_rank_gets_broadcast_metrics(fake_ranks):
    metric = OrderMetric(prefix='val')
    metric.process(None, samples([1, 3]))
    payload = ('ok', {'val/accuracy': 0.5})
    calls = fake_ranks(1, 2, [samples([0, 2]), None], rank0_payload=payload)
    assert metric.evaluate(4) == {'val/accuracy': 0.5}
    assert metric.computed_on == []  # only rank 0 computes
    assert calls['broadcast'] == [None]


def test_prefix_and_uneven_ranks(fake_ranks):
    metric = OrderMetric(prefix='custom')
    metric.process(None, samples([0, 2, 4], correct=0))
    fake_ranks(0, 2, [None, samples([1, 3], correct=1)])  # round_up=False: the last rank has fewer
    out = metric.evaluate(5)
    assert out == {'custom/accuracy': 2 / 5, 'custom/ids': [0, 1, 2, 3, 4]}


def test_empty_results_warn_and_return_empty_dict():
    metric = OrderMetric()
    with pytest.warns(UserWarning, match='no results'):
        assert metric.evaluate(3) == {}


def test_single_process_tensors_collected_on_cpu():
    class TensorMetric(BaseMetric):
        def process(self, data_batch, data_samples):
            self.results.extend(s.requires_grad_(True) * 1 for s in data_samples)

        def compute_metrics(self, results):
            assert all(not r.requires_grad and r.device.type == 'cpu' for r in results)
            return dict(total=float(sum(r.sum() for r in results)))

    m = TensorMetric()
    m.process(None, [torch.ones(2), torch.ones(3)])
    assert m.evaluate(2) == dict(total=5.0)
    with pytest.raises(ValueError):
        TensorMetric(collect_device='tpu')


def test_evaluator_builds_merges_and_propagates_meta():
    evaluator = Evaluator([dict(type='TestEvalOrderMetric'), OrderMetric(prefix='second')])
    evaluator.dataset_meta = dict(classes=('a', 'b'))
    assert all(m.dataset_meta == dict(classes=('a', 'b')) for m in evaluator.metrics)
    evaluator.process(dict(inputs=None), samples([0, 1]))
    evaluator.process(None, samples([2]))
    out = evaluator.evaluate(3)
    assert out == {'order/accuracy': 1.0, 'order/ids': [0, 1, 2], 'second/accuracy': 1.0, 'second/ids': [0, 1, 2]}
    assert EVALUATORS.get('Evaluator') is Evaluator


def test_evaluator_duplicate_keys_name_both_metrics():
    class Other(OrderMetric):
        pass

    evaluator = Evaluator([OrderMetric(), Other()])
    evaluator.process(None, samples([0]))
    with pytest.raises(ValueError, match=r'OrderMetric.*Other.*order/accuracy'):
        evaluator.evaluate(1)


def test_build_evaluator_forms(tmp_path):
    single = build_evaluator(dict(type='TestEvalOrderMetric'))
    assert isinstance(single, Evaluator) and isinstance(single.metrics[0], OrderMetric)
    many = build_evaluator([dict(type='TestEvalOrderMetric'), dict(type='DumpResults',
                                                                    out_file_path=str(tmp_path / 'r.pkl'))])
    assert len(many.metrics) == 2
    cfg = build_evaluator(dict(type='Evaluator', metrics=[dict(type='TestEvalOrderMetric')]))
    assert isinstance(cfg, Evaluator)
    assert build_evaluator(cfg) is cfg
    assert build_evaluator(OrderMetric()).metrics[0].default_prefix == 'order'
    with pytest.raises(TypeError):
        Evaluator([object()])
    assert 'OrderMetric' in repr(single)


def test_offline_evaluate():
    evaluator = Evaluator(OrderMetric())
    assert evaluator.offline_evaluate(samples(range(5)), chunk_size=2)['order/ids'] == [0, 1, 2, 3, 4]


def test_dump_results_writes_cpu_dicts(tmp_path):
    with pytest.raises(ValueError, match='.pkl'):
        DumpResults(out_file_path=str(tmp_path / 'out.json'))
    path = tmp_path / 'sub' / 'preds.pkl'
    dump = METRICS.build(dict(type='DumpResults', out_file_path=str(path)))
    preds = [DataSample(metainfo=dict(img_id=i),
                        pred_instances=InstanceData(scores=torch.tensor([0.5 + i]), labels=torch.tensor([i])))
             for i in range(3)]
    evaluator = Evaluator(dump)
    evaluator.process(None, preds[:2])
    evaluator.process(None, preds[2:] + [dict(raw=1)])
    assert evaluator.evaluate(4) == {}
    with open(path, 'rb') as f:
        saved = pickle.load(f)
    assert len(saved) == 4 and saved[3] == dict(raw=1)
    assert [s['img_id'] for s in saved[:3]] == [0, 1, 2]
    assert isinstance(saved[1]['pred_instances'], dict)
    assert saved[1]['pred_instances']['labels'].tolist() == [1]
    assert DumpResults(str(tmp_path / 'x.pickle')).out_file_path.endswith('.pickle')


def test_compute_error_on_rank0_is_raised(fake_ranks):
    class Broken(OrderMetric):
        def compute_metrics(self, results):
            raise ZeroDivisionError('boom')

    m = Broken()
    m.process(None, samples([0]))
    calls = fake_ranks(0, 1, [None])
    with pytest.raises(ZeroDivisionError):
        m.evaluate(1)
    assert calls['broadcast'][0][0] == 'error'  # the other ranks would be told, not left waiting
    other = Broken()
    other.process(None, samples([1]))
    fake_ranks(1, 2, [samples([0]), None], rank0_payload=('error', 'ZeroDivisionError: boom'))
    with pytest.raises(RuntimeError, match='failed on rank 0.*boom'):
        other.evaluate(2)


class MMDetStyleMetric(BaseMetric):
    """A metric as written for MMDetection (which got dicts from MMEngine's evaluator): reads samples with [],
    .get and 'in'."""

    def process(self, data_batch, data_samples):
        for data_sample in data_samples:
            pred = data_sample['pred_instances']
            self.results.append(dict(img_id=data_sample['img_id'], n=len(pred['bboxes']),
                                     top=float(pred['scores'].max()) if 'scores' in pred else None,
                                     text=data_sample.get('gt_text')))

    def compute_metrics(self, results):
        return dict(ids=[r['img_id'] for r in results], n=[r['n'] for r in results],
                    top=[r['top'] for r in results], text=[r['text'] for r in results])


def _det_sample(i, n):
    return DataSample(metainfo=dict(img_id=i), pred_instances=InstanceData(
        bboxes=torch.zeros(n, 4), scores=torch.linspace(0.1, 0.9, n), labels=torch.zeros(n, dtype=torch.long)))


def test_metrics_get_data_samples_whether_given_samples_or_dicts():
    expected = dict(ids=[0, 1, 2], n=[2, 3, 4], top=[pytest.approx(0.9)] * 3, text=[None, None, 'w'])
    samples_ = [_det_sample(0, 2), _det_sample(1, 3), _det_sample(2, 4)]
    samples_[2].gt_text = 'w'
    seen = []

    class Spy(MMDetStyleMetric):
        def process(self, data_batch, data_samples):
            seen.extend(type(s) for s in data_samples)
            super().process(data_batch, data_samples)

    evaluator = Evaluator(Spy())
    evaluator.process(None, samples_[:2])
    # a dict sample (DataSample.to_dict(), MMEngine style) becomes a DataSample at the evaluator
    evaluator.process(dict(inputs=[None]), [samples_[2].to_dict()])
    assert evaluator.evaluate(3) == expected
    assert seen == [DataSample] * 3
    # offline_evaluate takes DumpResults' dicts back
    assert Evaluator(MMDetStyleMetric()).offline_evaluate([s.to_dict() for s in samples_], chunk_size=2) == expected


def test_process_argument_order():
    evaluator = Evaluator(OrderMetric())
    # MMEngine's loops call by keyword, in either order
    evaluator.process(data_samples=samples([0]), data_batch=dict(inputs=[None]))
    evaluator.process(data_batch=None, data_samples=samples([1]))
    assert evaluator.evaluate(2)['order/ids'] == [0, 1]
    # the old positional order (samples first, then a batch dict or None) is a TypeError saying the new one
    for old_call in [lambda: evaluator.process(samples([0]), dict(inputs=[None], data_samples=[None])),
                     lambda: evaluator.process(samples([0]), None),
                     lambda: evaluator.process(samples([0])),
                     lambda: evaluator.process([dict(id=0, correct=1)])]:
        with pytest.raises(TypeError, match=r'takes \(data_batch, data_samples\).*got the data samples first'):
            old_call()
    # ... also when the batch was a list of data items
    with pytest.raises(TypeError, match=r'data item.*process takes \(data_batch, data_samples\)'):
        evaluator.process(samples([0]), [dict(inputs=None, data_samples=DataSample())])
    with pytest.raises(TypeError, match='data_samples must be a list of DataSample'):
        evaluator.process(dict(inputs=[None]), None)
    with pytest.raises(TypeError, match='data sample 1 is a Tensor'):
        evaluator.process(None, [DataSample(id=0, correct=1), torch.zeros(2)])
    with pytest.raises(TypeError, match="data sample 0 is a dict that cannot become a DataSample.*'pred_instances'"):
        evaluator.process(None, [dict(pred_instances=dict(bboxes=torch.zeros(2, 4), scores=torch.zeros(3)))])
    assert evaluator.metrics[0].results == []
