"""CTCCodec: targets for nn.CTCLoss in the three blank layouts, greedy decoding and CTC prefix beam search on
hand-made probability tables with known answers (one where beam search beats greedy), checked against brute
force over every alignment."""
from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import visioncraft  # noqa: F401
from visioncraft.registry import TASK_UTILS
from visioncraft.tasks.textrecog.codecs import CTCCodec, Dictionary, ctc_best_alignment, ctc_prefix_beam_search


@pytest.fixture
def ab_dict(tmp_path):
    p = tmp_path / 'ab.txt'
    p.write_text('a\nb\n', encoding='utf-8')
    return Dictionary(dict_file=p)


def _collapse(path, blank):
    out, prev = [], None
    for c in path:
        if c != blank and c != prev:
            out.append(c)
        prev = c
    return tuple(out)


def _label_probs(probs, blank):
    """Brute force: probability of every label sequence, summed over all T-frame paths."""
    out = {}
    T, C = probs.shape
    for path in itertools.product(range(C), repeat=T):
        p = float(np.prod([probs[t, c] for t, c in enumerate(path)]))
        key = _collapse(path, blank)
        out[key] = out.get(key, 0.0) + p
    return out


def test_blank_layouts_and_targets(ab_dict, tmp_path):
    first = CTCCodec(ab_dict)
    assert (first.blank_idx, first.num_classes) == (0, 3)
    targets, lengths = first.encode(['ab', '', 'bba'])
    assert targets.tolist() == [1, 2, 2, 2, 1] and lengths.tolist() == [2, 0, 3] and targets.dtype == torch.int64
    last = CTCCodec(ab_dict, blank='last')
    assert (last.blank_idx, last.num_classes) == (2, 3) and last.encode(['ab'])[0].tolist() == [0, 1]
    padded = Dictionary(dict_file=tmp_path / 'ab.txt', with_padding=True)
    mm = CTCCodec(padded, blank='padding')   # MMOCR's layout: the padding token is the blank
    assert (mm.blank_idx, mm.num_classes) == (2, 3) and mm.encode(['ba'])[0].tolist() == [1, 0]
    with pytest.raises(ValueError, match='with_padding=True'):
        CTCCodec(ab_dict, blank='padding')
    with pytest.raises(ValueError, match='blank must be one of'):
        CTCCodec(ab_dict, blank='middle')
    built = TASK_UTILS.build(dict(type='CTCCodec', dictionary=dict(type='Dictionary', builtin='lower_english_digits')))
    assert built.num_classes == 37 and built.blank_idx == 0


def test_encoded_targets_give_nn_ctc_loss_the_brute_force_likelihood(ab_dict):
    rng = np.random.default_rng(0)
    probs = rng.dirichlet(np.ones(3), size=4)                  # T=4, C=3
    for blank in ('first', 'last'):
        codec = CTCCodec(ab_dict, blank=blank)
        targets, lengths = codec.encode(['ab'])
        loss = F.ctc_loss(torch.tensor(np.log(probs))[:, None], targets, torch.tensor([4]), lengths,
                          blank=codec.blank_idx, reduction='sum')
        expected = _label_probs(probs, codec.blank_idx)[tuple(codec.text2classes('ab'))]
        assert float(loss) == pytest.approx(-math.log(expected), rel=1e-9)


def test_greedy_decoding_merges_repeats_drops_blanks_and_scores_first_frames(ab_dict):
    codec = CTCCodec(ab_dict)                                   # classes: 0 blank, 1 'a', 2 'b'
    probs = np.array([[0.1, 0.8, 0.1],                          # a
                      [0.2, 0.7, 0.1],                          # a (repeat, merged)
                      [0.9, 0.05, 0.05],                        # blank
                      [0.3, 0.6, 0.1],                          # a (new character after a blank)
                      [0.1, 0.2, 0.7],                          # b
                      [0.5, 0.2, 0.3]])                         # blank
    (text, scores), = codec.decode(probs[None])
    assert text == 'aab' and scores == pytest.approx([0.8, 0.6, 0.7])
    # only the first 2 frames are valid (valid_ratio): 'a' alone
    assert codec.decode(torch.tensor(probs[None]), lengths=[2])[0] == ('a', pytest.approx([0.8]))
    assert codec.decode(probs[None], lengths=[0])[0] == ('', [])


def test_beam_search_beats_greedy_when_mass_is_spread_over_paths(tmp_path):
    p = tmp_path / 'a.txt'
    p.write_text('a\n', encoding='utf-8')
    codec = CTCCodec(Dictionary(dict_file=p))
    probs = np.array([[0.6, 0.4], [0.6, 0.4]])
    # greedy: the best path is blank blank -> '' (0.36); but 'a' has paths aa, a-, -a: 0.16 + 0.24 + 0.24 = 0.64
    assert codec.decode(probs[None], beam_width=1)[0] == ('', [])
    text, scores = codec.decode(probs[None], beam_width=2)[0]
    assert text == 'a' and scores == pytest.approx([0.4])
    classes, logp = ctc_prefix_beam_search(np.log(probs), 0, beam_width=2)
    assert classes == [1] and logp == pytest.approx(math.log(0.64))


def test_beam_search_finds_the_brute_force_best_label(ab_dict):
    rng = np.random.default_rng(3)
    for _ in range(20):
        probs = rng.dirichlet(np.full(3, 0.7), size=5)          # T=5, C=3: 243 paths
        labels = _label_probs(probs, 0)
        best = max(labels, key=labels.get)
        classes, logp = ctc_prefix_beam_search(np.log(probs), 0, beam_width=50, prune_log_prob=-1e9)
        assert tuple(classes) == best and logp == pytest.approx(math.log(labels[best]), rel=1e-9)


def test_beam_width_one_is_greedy_and_beam_default_comes_from_the_codec(ab_dict):
    rng = np.random.default_rng(1)
    probs = rng.dirichlet(np.ones(3), size=(6, 9))
    greedy = CTCCodec(ab_dict).decode(probs)
    assert CTCCodec(ab_dict, beam_width=1).decode(probs, beam_width=1) == greedy
    beam = CTCCodec(ab_dict, beam_width=8)
    assert beam.decode(probs) == beam.decode(probs, beam_width=8)
    # on a peaked table every decoder agrees
    peaked = np.full((4, 3), 0.01)
    peaked[[0, 1, 2, 3], [1, 0, 2, 2]] = 0.98
    assert beam.decode(peaked[None])[0][0] == CTCCodec(ab_dict).decode(peaked[None])[0][0] == 'ab'


def test_best_alignment_first_frames():
    logp = np.log(np.array([[0.1, 0.8, 0.1], [0.7, 0.2, 0.1], [0.1, 0.1, 0.8], [0.1, 0.1, 0.8]]))
    assert ctc_best_alignment(logp, [1, 2], 0) == [0, 2]
    assert ctc_best_alignment(logp, [], 0) == []
    with pytest.raises(ValueError, match='do not fit'):
        ctc_best_alignment(logp[:2], [1, 1], 0)                # 'aa' needs 3 frames (a, blank, a)


def test_special_tokens_are_dropped_and_unknown_kept(tmp_path):
    p = tmp_path / 'ab.txt'
    p.write_text('a\nb\n', encoding='utf-8')
    d = Dictionary(dict_file=p, with_start=True, with_end=True, with_unknown=True)   # a b <BOS> <EOS> <UKN>
    codec = CTCCodec(d)                                          # class = token + 1
    probs = np.full((4, 6), 0.01)
    probs[[0, 1, 2, 3], [3, 1, 4, 5]] = 0.95                     # <BOS> a <EOS> <UKN>
    text, scores = codec.decode(probs[None])[0]
    assert text == 'a<UKN>' and len(scores) == 2
    with pytest.raises(ValueError, match='expected T x 6'):
        codec.decode(np.ones((1, 4, 3)))
