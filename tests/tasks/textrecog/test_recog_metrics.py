"""WordMetric, CharMetric and OneMinusNEDMetric on hand-checked cases (answers worked out in the comments)."""
import pytest

import visioncraft  # noqa: F401
from visioncraft.evaluation import metric as metric_module
from visioncraft.registry import METRICS
from visioncraft.structures import DataSample
from visioncraft.tasks.textrecog.evaluation import matched_chars, normalize_text


def samples(pairs):
    """DataSamples from (gt_text, pred_text) pairs."""
    return [DataSample(gt_text=gt, pred_text=pred) for gt, pred in pairs]


def run(cfg, pairs):
    m = METRICS.build(cfg)
    m.process(None, samples(pairs))
    return m.evaluate(len(pairs))


WORD_CASES = [
    # gt, pred                     exact  ignore_case  ignore_case_symbol (lower-case, keep [a-z0-9^] + CJK)
    ('Hello', 'Hello'),          # 1      1            1
    ('Hello', 'hello'),          # 0      1            1
    ('Hello!', 'hello'),         # 0      0 ('hello!') 1 ('hello' == 'hello')
    ('Hello', ''),               # 0      0            0   empty prediction
    ('', ''),                    # 1      1            1   empty ground truth, empty prediction
    ('!!', ''),                  # 0      0            1   ('' == '')
    ('Straße', 'STRASSE'),       # 0      0 ('straße') 0   ('strae' != 'strasse': ß is not [a-z])
    ('中文', '中文'),              # 1      1            1   CJK ideographs are kept
    ('Café', 'CAF'),             # 0      0 ('café')   1   ('caf' == 'caf': é is removed)
]


def test_word_metric_modes():
    r = run(dict(type='WordMetric', mode=['exact', 'ignore_case', 'ignore_case_symbol']), WORD_CASES)
    assert r == {'recog/word_acc': pytest.approx(3 / 9),          # cases 1, 5, 8
                 'recog/word_acc_ignore_case': pytest.approx(4 / 9),  # + case 2
                 'recog/word_acc_ignore_case_symbol': pytest.approx(7 / 9)}  # all but 4 and 7


def test_word_metric_default_mode_prefix_and_errors():
    r = run(dict(type='WordMetric'), [('A-1', 'a1'), ('ab', 'abc')])
    assert r == {'recog/word_acc_ignore_case_symbol': 0.5}  # 'a1' == 'a1'; 'ab' != 'abc'
    r = run(dict(type='WordMetric', mode='exact', prefix='val'), [('x', 'x')])
    assert r == {'val/word_acc': 1.0}
    # a custom valid_symbol: keep every letter (\w), remove the rest -> 'straße' == 'straße'
    r = run(dict(type='WordMetric', valid_symbol=r'[\W_]'), [('Straße!', 'STRASSE'), ('Straße', 'straße')])
    assert r == {'recog/word_acc_ignore_case_symbol': 0.5}
    with pytest.raises(ValueError, match='mode'):
        METRICS.build(dict(type='WordMetric', mode='fuzzy'))
    with pytest.raises(ValueError, match='valid_symbol'):
        METRICS.build(dict(type='WordMetric', valid_symbol='[a-'))
    m = METRICS.build(dict(type='WordMetric'))
    with pytest.raises(KeyError, match="sample 1 has no 'pred_text'"):
        m.process(None, [DataSample(gt_text='a', pred_text='a'), DataSample(gt_text='a')])
    with pytest.raises(TypeError, match='gt_text must be a str'):
        m.process(None, [DataSample(gt_text=3, pred_text='a')])


def test_mmocr_label_data_is_unwrapped():
    # MMOCR 1.x keeps texts in LabelData(item=...); a dict or an object with .item is read the same way
    class Label:
        def __init__(self, item):
            self.item = item
    m = METRICS.build(dict(type='WordMetric', mode='exact'))
    m.process(None, [DataSample(gt_text=dict(item='ab'), pred_text=Label('ab')),
                     DataSample(gt_text='ab', pred_text='b')])
    assert m.evaluate(2) == {'recog/word_acc': 0.5}


def test_matched_chars_is_mmocr_sequence_matcher():
    assert matched_chars('hallo', 'hello') == 4  # blocks 'h' + 'llo'
    assert matched_chars('', 'abc') == matched_chars('abc', '') == 0
    # longest common substring first ('ba'), then the sides: 'b' | '' and '' | 'ba' -> 2; the LCS 'bba' has 3
    assert matched_chars('bba', 'baba') == 2
    assert normalize_text('A-1 Ü^') == 'a1^'  # '^' survives MMOCR's default pattern


def test_char_metric():
    cases = [
        ('Hello', 'hallo'),  # normalised 'hello' / 'hallo': tp 4, gt 5, pred 5
        ('ab', ''),          # empty prediction: tp 0, gt 2, pred 0
        ('', 'xy'),          # empty ground truth: tp 0, gt 0, pred 2
        ('baba', 'bba'),     # tp 2 (see above), gt 4, pred 3
        ('A-1', 'a1'),       # both 'a1': tp 2, gt 2, pred 2
    ]
    r = run(dict(type='CharMetric'), cases)
    # tp 8, gt 13, pred 12
    assert r == {'recog/char_recall': pytest.approx(8 / 13), 'recog/char_precision': pytest.approx(8 / 12)}
    # nothing to recall or predict after normalisation: both 0.0, no division by zero
    assert run(dict(type='CharMetric'), [('', ''), ('!', '?')]) == {'recog/char_recall': 0.0,
                                                                     'recog/char_precision': 0.0}
    # unicode: CJK characters are counted one each; '中文字' vs '中字': tp 2, gt 3, pred 2
    r = run(dict(type='CharMetric'), [('中文字', '中字')])
    assert r == {'recog/char_recall': pytest.approx(2 / 3), 'recog/char_precision': 1.0}


def test_one_minus_ned():
    cases = [
        ('kitten', 'sitting'),  # Levenshtein 3 (k->s, e->i, +g) / max(6, 7) = 3/7
        ('abc', ''),            # empty prediction: 3 / 3 = 1
        ('', ''),               # both empty: 0
        ('ABC', 'abc!'),        # normalised both 'abc': 0
    ]
    r = run(dict(type='OneMinusNEDMetric'), cases)
    assert r == {'recog/1-N.E.D': pytest.approx(1 - (3 / 7 + 1) / 4)}  # = 9/14
    r = run(dict(type='OneMinusNEDMetric'), [('中文字', '中字')])  # one deletion / 3
    assert r == {'recog/1-N.E.D': pytest.approx(2 / 3)}


@pytest.mark.parametrize('cfg', [dict(type='WordMetric', mode=['exact', 'ignore_case', 'ignore_case_symbol']),
                                 dict(type='CharMetric'), dict(type='OneMinusNEDMetric')])
def test_several_processes_give_the_one_process_result(cfg, monkeypatch):
    data = samples(WORD_CASES[:5] + [('kitten', 'sitting'), ('baba', 'bba')])  # 7 samples
    single = METRICS.build(cfg)
    single.process(None, data)
    expected = single.evaluate(len(data))
    # two ranks with DefaultSampler(round_up): rank 0 gets 0, 2, 4, 6; rank 1 gets 1, 3, 5 and pads with 0
    shards = [[0, 2, 4, 6], [1, 3, 5, 0]]
    per_rank = []
    for shard in shards:
        m = METRICS.build(cfg)
        for i in shard:  # one batch per sample
            m.process(None, [data[i]])
        per_rank.append(list(m.results))
    gathered = METRICS.build(cfg)
    gathered.results = per_rank[0]
    monkeypatch.setattr(metric_module, 'all_gather_object', lambda obj: [obj, per_rank[1]])
    monkeypatch.setattr(metric_module, 'broadcast_object', lambda obj, src=0: obj)
    monkeypatch.setattr(metric_module, 'get_dist_info', lambda: (0, 2))
    assert gathered.evaluate(len(data)) == expected  # padding dropped, dataset order restored
