"""Attention decoding: AttentionCodec, CEModuleLoss, NRTRDecoder (teacher forcing, cached greedy decoding, beam
search, valid_ratio masking), the NRTR / SVTR-attention configs, and a tiny recogniser that learns 4 words."""
import math

import cv2
import numpy as np
import pytest
import torch

import visioncraft  # noqa: F401  (fills the registries)
from conftest import assert_gradient_step_lowers_loss, saved_state_dict
from visioncraft.registry import MODELS
from visioncraft.structures import DataSample
from visioncraft.tasks.textrecog.codecs import AttentionCodec, Dictionary
from visioncraft.tasks.textrecog.models import CEModuleLoss, NRTRDecoder
from visioncraft.tasks.textrecog.models.nrtr_decoder import attention_memory

DICT = dict(type='Dictionary', builtin='lower_english_digits', case='lower', with_start=True, with_end=True,
            with_padding=True, with_unknown=True)


def _codec(**kw):
    return AttentionCodec(dict(DICT, **kw.pop('dictionary', {})), **kw)


def _decoder(max_seq_len=8, **kw):
    cfg = dict(in_channels=12, codec=dict(type='AttentionCodec', dictionary=DICT, max_seq_len=max_seq_len),
               n_layers=2, d_embedding=16, n_head=2, d_k=8, d_v=6, d_model=16, d_inner=32, dropout=0.0)
    cfg.update(kw)
    return NRTRDecoder(**cfg).eval()


# -- codec ---------------------------------------------------------------------------------------------------
def test_codec_layout_and_round_trip():
    codec = _codec(max_seq_len=6)
    d = codec.dictionary
    assert (codec.start_idx, codec.end_idx, codec.pad_idx, d.unknown_idx) == (36, 37, 38, 39)
    assert codec.num_classes == 40
    padded, lengths = codec.encode(['Ab1', '', 'a?'])
    a, b, one = d.char2idx('a'), d.char2idx('b'), d.char2idx('1')
    assert padded.shape == (3, 7) and padded.dtype == torch.int64
    assert padded[0].tolist() == [36, a, b, one, 37, 38, 38]
    assert padded[1].tolist() == [36, 37, 38, 38, 38, 38, 38]
    assert padded[2].tolist() == [36, a, 39, 37, 38, 38, 38]        # '?' is unknown -> <UKN>, counted
    assert lengths.tolist() == [5, 2, 4] and d.num_unknown == 1
    # decoding stops at the end token, skips start / padding, keeps <UKN> as its token
    text, scores = codec.tokens2text(padded[2, 1:].tolist(), [0.9, 0.8, 0.7, 0.1, 0.1, 0.1])
    assert text == 'a<UKN>' and scores == [0.9, 0.8]
    assert codec.tokens2text([36, a, 38, b, 37, a])[0] == 'ab'
    # too long: cut to max_seq_len + 1 tokens (the end token too) and counted
    padded, lengths = codec.encode(['abcdefghij'])
    assert lengths.tolist() == [7] and padded[0, -1].item() == d.char2idx('f') and codec.num_truncated == 1
    # probabilities -> text: argmax per step up to the end token
    probs = torch.zeros(1, 4, 40)
    for t, c in enumerate([b, a, 37, a]):
        probs[0, t, c] = 0.75
        probs[0, t, 0 if c else 1] = 0.25
    assert codec.decode(probs) == [('ba', [0.75, 0.75])]


def test_codec_without_padding_pads_with_end_and_needs_start_end():
    codec = AttentionCodec(dict(type='Dictionary', builtin='lower_english_digits', with_start=True, with_end=True,
                                same_start_end=True), max_seq_len=4)
    assert codec.start_idx == codec.end_idx == codec.pad_idx == 36
    assert codec.encode(['a'])[0][0].tolist() == [36, 10, 36, 36, 36]
    with pytest.raises(ValueError, match='with_start=True and with_end=True'):
        AttentionCodec(dict(type='Dictionary', builtin='lower_english_digits', with_padding=True))
    with pytest.raises(ValueError, match='max_seq_len must be >= 2'):
        _codec(max_seq_len=1)


# -- loss ----------------------------------------------------------------------------------------------------
def test_ce_loss_masks_padding_and_shifts():
    torch.manual_seed(0)
    codec = _codec(max_seq_len=6)
    tokens, lengths = codec.encode(['ab', 'abcd'])
    logits = torch.randn(2, 7, 40, requires_grad=True)
    loss = CEModuleLoss(ignore_first_char=True)(logits, tokens, lengths)
    # by hand: output t against token t + 1, for t + 1 < length
    terms = [torch.nn.functional.cross_entropy(logits[i, t], tokens[i, t + 1])
             for i in range(2) for t in range(lengths[i] - 1)]
    assert torch.allclose(loss, torch.stack(terms).mean())
    loss.backward()
    # no gradient reaches the padded positions (nor the last output, which has no next token)
    assert logits.grad[0, 3:].abs().sum() == 0 and logits.grad[1, 5:].abs().sum() == 0
    assert logits.grad[0, :3].abs().sum() > 0
    per_token = CEModuleLoss(ignore_first_char=True, reduction='none', flatten=True)(logits, tokens, lengths)
    assert per_token.shape == (12,) and torch.allclose(per_token.sum(), torch.stack(terms).sum())
    # ignore_char='none' counts the padding too
    everything = CEModuleLoss(ignore_first_char=True, ignore_char='none')(logits, tokens, lengths)
    assert not torch.allclose(everything, loss)
    with pytest.raises(ValueError, match='reduction'):
        CEModuleLoss(reduction='avg')


# -- decoder ---------------------------------------------------------------------------------------------------
def test_causal_mask_later_tokens_do_not_change_earlier_logits():
    torch.manual_seed(0)
    dec = _decoder()
    feat = torch.randn(2, 5, 12)
    tokens, _ = dec.codec.encode(['abcde', 'xyz'])
    out = dec.forward_train(feat, tokens)
    changed = tokens.clone()
    changed[:, 3] = dec.codec.dictionary.char2idx('q')
    out2 = dec.forward_train(feat, changed)
    assert out.shape == (2, 9, 40)
    assert torch.allclose(out[:, :3], out2[:, :3], atol=1e-6)
    assert not torch.allclose(out[:, 3:], out2[:, 3:])


def test_cached_greedy_decoding_matches_teacher_forcing():
    """The incremental (key / value cached) greedy steps give the logits that the full causal pass gives on the
    decoded sequence; on a 4-D feature map too."""
    torch.manual_seed(0)
    dec = _decoder()
    for feat in (torch.randn(3, 7, 12), torch.randn(3, 12, 2, 5)):
        tokens, logits = dec.greedy(feat, early_stop=False)
        assert tokens.shape == (3, 8) and logits.shape == (3, 8, 40)
        assert torch.equal(tokens, logits.argmax(-1))
        seq = torch.cat([torch.full((3, 1), dec.codec.start_idx), tokens[:, :-1]], 1)
        assert torch.allclose(dec.forward_train(feat, seq), logits, atol=1e-5)
        assert torch.allclose(dec(feat), logits)


def _peaked(dec):
    with torch.no_grad():
        dec.classifier.weight.mul_(60.0)
    return dec


def test_beam_search_agrees_with_greedy_where_it_must():
    torch.manual_seed(0)
    feat = torch.randn(4, 6, 12)
    # width 1 is greedy, always
    dec = _decoder()
    tokens, logits = dec.greedy(feat)
    for (seq, probs, logp), row, lrow in zip(dec.beam_search(feat, beam_width=1), tokens, logits.softmax(-1)):
        n = len(seq)
        assert seq == row[:n].tolist()
        assert np.allclose(probs, lrow[torch.arange(n), row[:n]].tolist(), atol=1e-5)
        assert math.isclose(logp, float(np.log(probs).sum()), abs_tol=1e-4)
    # peaked logits: the greedy path is the most probable sequence, and a wide beam finds it too (a draw of
    # weights without near-ties between the top two logits: the layout with attention biases and ReLU)
    dec = _peaked(_decoder(qkv_bias=True, act_cfg=dict(type='ReLU')))
    greedy = dec.predict(feat, beam_width=1)
    beam = dec.predict(feat, beam_width=5)
    assert [g[0] for g in greedy] == [b[0] for b in beam]
    assert np.allclose([g[1] for g in greedy], [b[1] for b in beam], atol=1e-5)
    assert all(len(g[2]) == len(g[0].replace('<UKN>', '?')) for g in greedy)


def test_beam_search_beats_greedy_on_a_constructed_case():
    """From the start token: 'a' 0.6, 'b' 0.4. After 'a' the mass spreads over 'a', 'b' and the end token (0.3
    each); after 'b' the end token is certain. Greedy reads 'a' + something (probability <= 0.18); the most
    probable reading is 'b' (0.4), which beam search finds."""
    dec = _decoder(max_seq_len=4)
    d, c = dec.codec.dictionary, dec.codec.num_classes
    a, b, end = d.char2idx('a'), d.char2idx('b'), dec.codec.end_idx

    def table(prev):
        p = torch.full((c,), 1e-6)
        if prev == dec.codec.start_idx:
            p[a], p[b] = 0.6, 0.4
        elif prev == a:
            p[a], p[b], p[end] = 0.3, 0.3, 0.3
        else:
            p[end] = 1.0
        return (p / p.sum()).log()

    dec._step = lambda last, pos, caches, mem_kv, mask: torch.stack([table(int(t)) for t in last])
    feat = torch.zeros(1, 3, 12)
    greedy_text, greedy_score, greedy_chars = dec.predict(feat, beam_width=1)[0]
    beam_text, beam_score, beam_chars = dec.predict(feat, beam_width=2)[0]
    assert greedy_text.startswith('a') and beam_text == 'b'
    (seq, probs, logp), = dec.beam_search(feat, beam_width=2)
    assert seq == [b, end] and math.isclose(logp, math.log(0.4), rel_tol=1e-4)
    assert np.prod(greedy_chars) < 0.6 * 0.3 + 1e-4 < np.exp(logp)
    assert np.allclose(beam_chars, [0.4], atol=1e-4)


def test_valid_ratio_masks_the_padded_columns():
    torch.manual_seed(0)
    dec = _decoder()
    feat = torch.randn(2, 8, 12)
    mem, mask = attention_memory(feat, [0.5, 1.0], 'test')
    assert mask.shape == (2, 1, 1, 8) and mask[0, 0, 0].tolist() == [True] * 4 + [False] * 4 and mask[1].all()
    _, mask4 = attention_memory(torch.randn(2, 12, 2, 4), [0.5, 1.0], 'test')   # 2 rows x 4 columns
    assert mask4[0, 0, 0].tolist() == [True, True, False, False] * 2
    assert attention_memory(feat, [1.0, 1.0], 'test')[1] is None
    changed = feat.clone()
    changed[0, 4:] += 10.0              # only the padding of sample 0 changes
    a = dec(feat, [0.5, 1.0])
    b = dec(changed, [0.5, 1.0])
    assert torch.allclose(a, b, atol=1e-5)
    assert not torch.allclose(dec(feat), dec(changed))


def test_decoder_config_errors():
    with pytest.raises(ValueError, match='exactly one of codec'):
        NRTRDecoder(in_channels=8)
    with pytest.raises(ValueError, match='n_position=5 must be >= max_seq_len'):
        _decoder(n_position=5)
    with pytest.raises(ValueError, match='postprocessor'):
        _decoder(postprocessor=dict(type='CTCPostProcessor'))
    with pytest.raises(ValueError, match='with_start=True'):
        NRTRDecoder(in_channels=8, dictionary=dict(type='Dictionary', builtin='lower_english_digits'))
    # MMOCR style: dictionary + max_seq_len + AttentionPostprocessor
    dec = NRTRDecoder(in_channels=8, dictionary=DICT, max_seq_len=12, n_layers=1, d_embedding=8, n_head=2, d_k=4,
                      d_v=4, d_model=8, d_inner=16, postprocessor=dict(type='AttentionPostprocessor'))
    assert dec.codec.max_seq_len == 12 and isinstance(dec.codec.dictionary, Dictionary)
    with pytest.raises(ValueError, match='3 channels, in_channels is 12'):
        _decoder()(torch.randn(1, 4, 3))


# -- recognisers -----------------------------------------------------------------------------------------------
WORDS = ['cat', 'dog', 'sun', 'red']


def _word_batch(words=WORDS, width=64):
    inputs, samples = [], []
    for i, w in enumerate(words):
        img = np.full((32, width), 255, np.uint8)
        cv2.putText(img, w, (3 + 2 * i, 24), cv2.FONT_HERSHEY_SIMPLEX, 0.75, 0, 2, cv2.LINE_AA)
        inputs.append(torch.from_numpy(img)[None])
        samples.append(DataSample(metainfo=dict(img_shape=(32, width), ori_shape=(32, width), valid_ratio=1.0),
                                  gt_text=w))
    return dict(inputs=inputs, data_samples=samples)


def _tiny_recognizer(**dec):
    # attention biases and ReLU (MMOCR's layers have neither): the layout the saved weights were trained with
    decoder = dict(type='NRTRDecoder', n_layers=1, d_embedding=32, n_head=2, d_k=16, d_v=16, d_model=32, d_inner=64,
                   dropout=0.0, codec=dict(type='AttentionCodec', dictionary=DICT, max_seq_len=6), qkv_bias=True,
                   act_cfg=dict(type='ReLU'))
    decoder.update(dec)
    return MODELS.build(dict(
        type='EncoderDecoderRecognizer',
        backbone=dict(type='MiniVGG', leaky_relu=False, input_channels=1, widths=(8, 16, 16, 16, 32, 32, 32)),
        decoder=decoder))


def test_tiny_attention_recognizer_learns_four_words():
    """A gradient step lowers the cross-entropy by its first-order amount (the recogniser learns; see
    ``conftest.gradient_step``); the weights 150 Adam steps on the four words give (saved, see
    tests/data/make_test_weights.py) read them greedily and with beam search, with peaked scores. Neither depends
    on a training trajectory, so both hold on every CPU and thread count."""
    torch.manual_seed(0)
    model = _tiny_recognizer()
    data = model.data_preprocessor(_word_batch(), training=True)
    model.train()
    assert_gradient_step_lowers_loss(model, lambda: model(**data, mode='loss')['loss_ce'])
    model.load_state_dict(saved_state_dict('attention_four_words'))
    model.eval()
    with torch.no_grad():
        losses = model(**data, mode='loss')
        out = model.test_step(_word_batch())
        beam = model.decoder.predict(model.extract_feat(data['inputs']), beam_width=3)
        probs = model(**model.data_preprocessor(_word_batch()), mode='tensor')
    assert [s.pred_text for s in out] == WORDS, (float(losses['loss_ce']), [s.pred_text for s in out])
    assert [b[0] for b in beam] == WORDS
    for s in out:
        assert isinstance(s.pred_score, float) and 0.5 < s.pred_score <= 1.0
        assert len(s.pred_char_scores) == 3 and math.isclose(s.pred_score, sum(s.pred_char_scores) / 3)
    assert probs.shape == (4, 6, 40) and torch.allclose(probs.sum(-1), torch.ones(4, 6))
    assert model.decoder.codec.decode(probs)[0][0] == 'cat'


def test_configs_build_and_a_narrow_nrtr_runs():
    from conftest import REPO
    from visioncraft.config import Config
    cfg = Config.fromfile(REPO / 'configs/textrecog/nrtr/nrtr_modality-transform_6e_st_mj.py')
    assert cfg.model.decoder.module_loss == dict(type='CEModuleLoss', ignore_first_char=True, flatten=True,
                                                 reduction='mean')
    assert cfg.train_dataloader.dataset.pipeline[-1]['type'] == 'PackTextRecogInputs'
    svtr = Config.fromfile(REPO / 'configs/textrecog/svtr/svtr-tiny-attn_20e_st_mj.py')
    assert svtr.model.decoder.type == 'NRTRDecoder' and svtr.model.backbone.type == 'SVTREncoder'
    assert 'loss' not in svtr.model.decoder     # the CTC head's keys are gone (_delete_)
    # the full models are large (NRTR ~30 M parameters); a narrowed NRTR runs loss + greedy + beam predict
    model_cfg = cfg.model.to_dict() if hasattr(cfg.model, 'to_dict') else dict(cfg.model)
    model_cfg['backbone'] = dict(type='NRTRModalityTransform', in_channels=3, out_channels=32)
    model_cfg['encoder'] = dict(type='NRTREncoder', n_layers=1, n_head=2, d_k=16, d_v=16, d_model=32, d_inner=32)
    model_cfg['decoder'] = dict(model_cfg['decoder'], n_layers=1, d_embedding=32, n_head=2, d_k=16, d_v=16,
                                d_model=32, d_inner=32)
    model = MODELS.build(model_cfg)
    g = torch.Generator().manual_seed(0)
    batch = dict(inputs=[torch.randint(0, 255, (3, 32, w), dtype=torch.uint8, generator=g) for w in (64, 40)],
                 data_samples=[DataSample(metainfo=dict(img_shape=(32, w), valid_ratio=1.0), gt_text=t)
                               for w, t in ((64, 'Hi!'), (40, 'ok'))])
    data = model.data_preprocessor(batch, training=True)
    losses = model(**data, mode='loss')
    assert torch.isfinite(losses['loss_ce']) and losses['num_unknown_chars'] == 0
    model.eval()
    model.decoder.beam_width = 2
    out = model.test_step(batch)
    assert all(isinstance(s.pred_text, str) and len(s.pred_char_scores) == len(s.pred_text.replace('<UKN>', '?'))
               for s in out)


def test_an_attention_recognizer_has_its_exporter():
    """An NRTRDecoder recogniser is exported by AttentionRecogExporter (run end to end, with parity, in
    tests/export/test_export_attention_recog.py)."""
    from visioncraft.export.attention_recog import AttentionRecogExporter
    from visioncraft.export.core import find_exporter
    model = MODELS.build(dict(type='EncoderDecoderRecognizer', backbone=dict(
        type='MiniVGG', leaky_relu=False, input_channels=1, widths=(8, 8, 8, 8, 8, 8, 8)),
        decoder=dict(type='NRTRDecoder', n_layers=1, d_embedding=8, n_head=2, d_k=4, d_v=4, d_model=8, d_inner=8,
                     codec=dict(type='AttentionCodec', dictionary=DICT))))
    assert find_exporter(model) is AttentionRecogExporter
