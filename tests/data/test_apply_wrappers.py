"""RandomApply / RandomChoice / ConditionApply: transforms that run other transforms."""
from __future__ import annotations

import numpy as np
import pytest

from visioncraft.registry import TRANSFORMS, import_builtin_modules

import_builtin_modules()


class _Mark:
    """Appends its tag to results['seen']."""

    def __init__(self, tag: str) -> None:
        self.tag = tag

    def __call__(self, results: dict) -> dict:
        results.setdefault('seen', []).append(self.tag)
        return results


def test_random_apply_prob_0_is_identity_and_prob_1_always_applies():
    never = TRANSFORMS.build(dict(type='RandomApply', prob=0, transforms=[_Mark('a')]))
    always = TRANSFORMS.build(dict(type='RandomApply', prob=1.0, transforms=[_Mark('a'), _Mark('b')]))
    for seed in range(20):
        np.random.seed(seed)
        assert never(dict(x=1)) == dict(x=1)
        assert always(dict(x=1))['seen'] == ['a', 'b']


def test_random_apply_takes_one_config_and_passes_a_dropped_sample_on():
    one = TRANSFORMS.build(dict(type='RandomApply', prob=1, transforms=dict(type='ReversePixels')))
    img = np.arange(12, dtype=np.uint8).reshape(2, 2, 3)
    assert np.array_equal(one(dict(img=img))['img'], 255 - img)
    drop = TRANSFORMS.build(dict(type='RandomApply', prob=1, transforms=[lambda r: None]))
    assert drop(dict(x=1)) is None


@pytest.mark.parametrize('prob', [-0.1, 1.5, '0.5'])
def test_random_apply_bad_prob_is_named(prob):
    with pytest.raises(ValueError, match='RandomApply: prob must be a number in'):
        TRANSFORMS.build(dict(type='RandomApply', prob=prob, transforms=[]))


def test_random_choice_follows_its_probabilities():
    pick_b = TRANSFORMS.build(dict(type='RandomChoice', transforms=[[_Mark('a')], [_Mark('b'), _Mark('c')]],
                                   prob=[0.0, 1.0]))
    for seed in range(10):
        np.random.seed(seed)
        assert pick_b(dict())['seen'] == ['b', 'c']
    uniform = TRANSFORMS.build(dict(type='RandomChoice', transforms=[[_Mark('a')], [_Mark('b')]]))
    np.random.seed(0)
    seen = {uniform(dict())['seen'][0] for _ in range(50)}
    assert seen == {'a', 'b'}
    with pytest.raises(ValueError, match='sum to 1'):
        TRANSFORMS.build(dict(type='RandomChoice', transforms=[[_Mark('a')], [_Mark('b')]], prob=[0.5, 0.6]))
    with pytest.raises(ValueError, match='2 candidates but 1 probabilities'):
        TRANSFORMS.build(dict(type='RandomChoice', transforms=[[_Mark('a')], [_Mark('b')]], prob=[1.0]))


def test_condition_apply_picks_the_branch_by_its_condition():
    tall = "results['img_shape'][1] < results['img_shape'][0]"
    t = TRANSFORMS.build(dict(type='ConditionApply', condition=tall, true_transforms=[_Mark('rotate')],
                              false_transforms=_Mark('keep')))
    assert t(dict(img_shape=(100, 32)))['seen'] == ['rotate']
    assert t(dict(img_shape=(32, 100)))['seen'] == ['keep']
    only_true = TRANSFORMS.build(dict(type='ConditionApply', condition='min(results["img_shape"]) > 10',
                                      true_transforms=dict(type='RandomApply', prob=1, transforms=[_Mark('x')])))
    assert only_true(dict(img_shape=(8, 50))) == dict(img_shape=(8, 50))
    assert only_true(dict(img_shape=(32, 50)))['seen'] == ['x']


def test_condition_apply_errors_name_the_condition():
    with pytest.raises(ValueError, match='not a valid expression'):
        TRANSFORMS.build(dict(type='ConditionApply', condition='results[', true_transforms=[]))
    t = TRANSFORMS.build(dict(type='ConditionApply', condition="results['img_shape'][0] > 1"))
    with pytest.raises(ValueError, match=r"condition \"results\['img_shape'\]\[0\] > 1\" failed on a.jpg: KeyError"):
        t(dict(img_path='a.jpg'))
