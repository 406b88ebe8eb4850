"""CRNN: MiniVGG / BiLSTMEncoder shapes, the CTC head's loss (reductions, blank, unknown-character counter,
valid_ratio -> input lengths), predict / tensor outputs, and a tiny CRNN that learns to read four words."""
from __future__ import annotations

import math

import cv2
import numpy as np
import pytest
import torch
import torch.nn.functional as F

import visioncraft  # noqa: F401
from conftest import assert_gradient_step_lowers_loss, saved_state_dict
from visioncraft.registry import MODELS
from visioncraft.structures import DataSample

TINY_VGG = dict(type='MiniVGG', leaky_relu=False, input_channels=1, widths=(8, 8, 16, 16, 16, 16, 16))


def tiny_crnn(**over):
    cfg = dict(type='CRNN', backbone=TINY_VGG, encoder=dict(type='BiLSTMEncoder', hidden_channels=16, shortcut=True),
               decoder=dict(type='CTCHead', codec=dict(type='CTCCodec', dictionary=dict(
                   type='Dictionary', builtin='lower_english_digits', case='lower'))))
    cfg.update(over)
    return MODELS.build(cfg)


def _batch(texts, widths, valid=None):
    g = torch.Generator().manual_seed(0)
    inputs = [torch.randint(0, 255, (1, 32, w), dtype=torch.uint8, generator=g) for w in widths]
    samples = [DataSample(metainfo=dict(img_shape=(32, w), valid_ratio=1.0 if valid is None else valid[i]),
                          gt_text=t) for i, (t, w) in enumerate(zip(texts, widths))]
    return dict(inputs=inputs, data_samples=samples)


@pytest.mark.parametrize('width, frames', [(100, 26), (128, 33), (32, 9)])
def test_mini_vgg_reduces_height_32_to_one_row(width, frames):
    vgg = MODELS.build(dict(type='MiniVGG', input_channels=3))
    assert vgg.out_channels == [512] and vgg.strides == [4]
    assert tuple(vgg(torch.zeros(2, 3, 32, width)).shape) == (2, 512, 1, frames)
    with pytest.raises(ValueError, match='built for 3-channel'):
        vgg(torch.zeros(1, 1, 32, width))


def test_bilstm_encoder_shapes_and_height_check():
    enc = MODELS.build(dict(type='BiLSTMEncoder', in_channels=16, hidden_channels=8, num_layers=3))
    assert enc.out_channels == 16 and len(enc.lstms) == 3 and len(enc.embeddings) == 2
    assert tuple(enc(torch.zeros(2, 16, 1, 7)).shape) == (2, 7, 16)
    with pytest.raises(ValueError, match='N x C x 1 x W'):
        enc(torch.zeros(2, 16, 2, 7))


def test_default_crnn_is_mmocrs_layout():
    m = MODELS.build(dict(type='CRNN'))
    assert m.backbone.out_channels == [512] and m.backbone.input_channels == 1
    assert m.encoder.out_channels == 512 and len(m.encoder.lstms) == 2 and m.encoder.shortcut is None
    assert m.decoder.classifier.out_features == 37 and m.decoder.codec.blank_idx == 0
    out = m(torch.zeros(2, 1, 32, 100))
    assert tuple(out.shape) == (2, 26, 37) and torch.allclose(out.sum(-1), torch.ones(2, 26))


def test_loss_backward_and_unknown_counter():
    m = tiny_crnn()
    data = m.data_preprocessor(_batch(['Ab1', 'c!?'], [64, 64]), training=True)
    losses = m(**data, mode='loss')
    assert set(losses) == {'loss_ctc', 'num_unknown_chars'} and float(losses['num_unknown_chars']) == 2.0
    losses['loss_ctc'].backward()
    assert all(p.grad is not None for p in m.parameters() if p.requires_grad)
    assert m.decoder.codec.dictionary.unknown_counter == {'!': 1, '?': 1}
    with pytest.raises(KeyError, match='has no gt_text'):
        m(**m.data_preprocessor(dict(inputs=[torch.zeros(1, 32, 64, dtype=torch.uint8)],
                                     data_samples=[DataSample()]), True), mode='loss')


def test_ctc_loss_reductions_and_blank_from_codec():
    torch.manual_seed(0)
    logp = torch.randn(3, 10, 5).log_softmax(-1)
    targets, tl, il = torch.tensor([1, 2, 3, 1, 4, 4]), torch.tensor([2, 1, 3]), torch.tensor([10, 8, 10])
    per = F.ctc_loss(logp.transpose(0, 1), targets, il, tl, blank=0, reduction='none')
    build = lambda r: MODELS.build(dict(type='CTCLoss', blank=0, reduction=r))  # noqa: E731
    assert float(build('mean')(logp, targets, il, tl)) == pytest.approx(float((per / tl).mean()), rel=1e-5)
    assert float(build('batch_mean')(logp, targets, il, tl)) == pytest.approx(float(per.mean()), rel=1e-5)
    assert float(build('sum')(logp, targets, il, tl)) == pytest.approx(float(per.sum()), rel=1e-5)
    with pytest.raises(ValueError, match='reduction'):
        MODELS.build(dict(type='CTCLoss', reduction='max'))
    with pytest.raises(ValueError, match="codec's blank is class 0"):
        tiny_crnn(decoder=dict(type='CTCHead', loss=dict(type='CTCLoss', blank=3), codec=dict(
            type='CTCCodec', dictionary=dict(type='Dictionary', builtin='lower_english_digits'))))


def test_valid_ratio_becomes_frame_lengths_in_the_padded_batch():
    m = tiny_crnn()
    batch = m.data_preprocessor(_batch(['a', 'b', 'c'], [64, 128, 128], valid=[1.0, 1.0, 0.25]), training=False)
    assert tuple(batch['inputs'].shape) == (3, 1, 32, 128)
    fracs = m.valid_fractions(batch['inputs'], batch['data_samples'])
    assert fracs == pytest.approx([0.5, 1.0, 0.25])
    assert m.decoder.frame_lengths(33, fracs, 3) == [17, 33, 9]
    assert m.decoder.frame_lengths(33, None, 2) == [33, 33]


def test_predict_sets_text_score_and_char_scores():
    m = tiny_crnn().eval()
    out = m.test_step(_batch(['x', 'y'], [64, 96]))
    for s in out:
        assert isinstance(s.pred_text, str) and isinstance(s.pred_char_scores, list)
        expected = sum(s.pred_char_scores) / len(s.pred_char_scores) if s.pred_char_scores else 0.0
        assert s.pred_score == pytest.approx(expected) and 0.0 <= s.pred_score <= 1.0
        assert len(s.pred_char_scores) == len(s.pred_text)
    probs = m(torch.zeros(1, 1, 32, 64))
    assert probs.shape[-1] == 37 and torch.allclose(probs.sum(-1), torch.ones(probs.shape[:2]))
    bare = m(torch.zeros(2, 1, 32, 64), mode='predict')       # no data samples: made from the input
    assert len(bare) == 2 and all('pred_text' in s for s in bare)


FOUR_WORDS = ['cab', 'bed', 'ace', 'dab']


def four_words_batch() -> dict:
    """The four words, black on white 32 x 64, as PackTextRecogInputs packs them."""
    imgs = []
    for w in FOUR_WORDS:
        img = np.full((32, 64), 255, np.uint8)
        cv2.putText(img, w, (4, 24), cv2.FONT_HERSHEY_SIMPLEX, 0.8, 0, 2)
        imgs.append(torch.from_numpy(img)[None])
    return dict(inputs=imgs, data_samples=[DataSample(metainfo=dict(img_shape=(32, 64)), gt_text=w)
                                           for w in FOUR_WORDS])


def test_tiny_crnn_learns_to_read_four_words():
    """A gradient step lowers the CTC loss by its first-order amount (the CRNN learns; see
    ``conftest.gradient_step``); the weights 150 Adam steps on the four words give (saved, see
    tests/data/make_test_weights.py) read them, greedy and with beam search. Neither depends on a training
    trajectory, so both hold on every CPU and thread count."""
    batch = four_words_batch()
    torch.manual_seed(0)
    m = tiny_crnn()
    assert_gradient_step_lowers_loss(m, lambda: m(**m.data_preprocessor(batch, True), mode='loss')['loss_ctc'])
    m.load_state_dict(saved_state_dict('crnn_four_words'))
    m.eval()
    assert [s.pred_text for s in m.test_step(batch)] == FOUR_WORDS
    assert math.isfinite(float(m(**m.data_preprocessor(batch, True), mode='loss')['loss_ctc'].detach()))
    # a trained, peaked model: beam search reads the same words
    m.decoder.codec.beam_width = 4
    assert [s.pred_text for s in m.test_step(batch)] == FOUR_WORDS


def test_visualizer_writes_label_and_prediction_under_the_word():
    from visioncraft.registry import VISUALIZERS
    vis = VISUALIZERS.build(dict(type='TextRecogLocalVisualizer'))
    img = np.full((32, 100), 200, np.uint8)
    both = vis.draw_sample(img, DataSample(gt_text='hello', pred_text='hallo', pred_score=0.5))
    assert both.shape[0] == 64 + 2 * 24 and both.shape[1] >= 200 and both.dtype == np.uint8
    assert (both[64:] != 255).any()                              # the text strips hold ink
    only_pred = vis.draw_sample(img, DataSample(gt_text='hello', pred_text='hallo'), draw_gt=False)
    assert only_pred.shape[0] == 64 + 24
    assert vis.draw_sample(img, DataSample()).shape == (64, 200, 3)
