"""MMOCR 1.x text-recognition schema on our classes: CRNN(preprocessor=None, encoder=None,
decoder=CRNNDecoder(module_loss=CTCModuleLoss, postprocessor=CTCPostProcessor, dictionary=...)), SVTR with
SVTRDecoder and the STN rectifier, SVTREncoder's per-stage windows and max_seq_len, TextRecogDataPreprocessor."""
from __future__ import annotations

import pytest
import torch

import visioncraft  # noqa: F401
from visioncraft.registry import MODELS
from visioncraft.structures import DataSample

DICT = dict(type='Dictionary', builtin='lower_english_digits', with_padding=True)
TINY_VGG = dict(type='MiniVGG', leaky_relu=False, input_channels=1, widths=(8, 8, 16, 16, 16, 16, 16))


def crnn(**dec):
    decoder = dict(type='CRNNDecoder', in_channels=16, rnn_flag=True,
                   module_loss=dict(type='CTCModuleLoss', letter_case='lower'),
                   postprocessor=dict(type='CTCPostProcessor'), dictionary=DICT)
    decoder.update(dec)
    return MODELS.build(dict(type='CRNN', preprocessor=None, backbone=TINY_VGG, encoder=None, decoder=decoder,
                             data_preprocessor=dict(type='TextRecogDataPreprocessor', mean=[127], std=[127])))


def test_crnn_mmocr_schema_builds_with_mmocr_layout():
    m = crnn()
    assert m.encoder is None and m.preprocessor is None
    keys = set(m.state_dict())
    assert {'decoder.decoder.0.rnn.weight_ih_l0', 'decoder.decoder.0.embedding.weight',
            'decoder.decoder.1.embedding.weight'} <= keys
    n = m.decoder.codec.num_classes
    assert n == 37 and m.decoder.codec.blank_idx == 36  # 36 characters + <PAD>, the CTC blank (MMOCR's layout)
    assert m.decoder.decoder[1].embedding.out_features == n
    assert m.decoder.codec.dictionary.case == 'lower' and m.decoder.loss_module.reduction == 'mean'
    m.eval()
    with torch.no_grad():
        probs = m(torch.rand(2, 1, 32, 64), mode='tensor')
    assert probs.shape[0] == 2 and probs.shape[2] == n
    assert torch.allclose(probs.sum(-1), torch.ones(probs.shape[:2]), atol=1e-5)


def test_crnn_mmocr_schema_loss_and_predict():
    m = crnn()
    samples = [DataSample(metainfo=dict(img_shape=(32, 64), valid_ratio=1.0)) for _ in range(2)]
    for s, t in zip(samples, ['Hello', 'ab1']):
        s.gt_text = t
    losses = m(torch.rand(2, 1, 32, 64), samples, mode='loss')
    assert torch.isfinite(losses['loss_ctc']) and float(losses['num_unknown_chars']) == 0  # 'H' folded to 'h'
    losses['loss_ctc'].backward()
    assert m.decoder.decoder[0].rnn.weight_ih_l0.grad is not None
    m.eval()
    with torch.no_grad():
        out = m(torch.rand(1, 1, 32, 64), [DataSample(metainfo=dict(img_shape=(32, 64)))], mode='predict')
    assert isinstance(out[0].pred_text, str) and '<PAD>' not in out[0].pred_text


def test_crnn_decoder_without_rnn_is_a_1x1_conv():
    m = crnn(rnn_flag=False)
    assert isinstance(m.decoder.decoder, torch.nn.Conv2d) and 'decoder.decoder.weight' in m.state_dict()
    with torch.no_grad():
        assert m.eval()(torch.rand(1, 1, 32, 64), mode='tensor').shape[-1] == 37


@pytest.mark.parametrize('over, match', [
    (dict(module_loss=dict(type='CTCModuleLoss', bogus=1)), 'bogus'),
    (dict(module_loss=dict(type='CEModuleLoss')), 'CTCModuleLoss'),
    (dict(module_loss=dict(type='CTCModuleLoss', letter_case='title')), 'letter_case'),
    (dict(postprocessor=dict(type='CTCPostProcessor', ignore_chars=['padding', 'unknown'])), 'ignore_chars'),
    (dict(postprocessor=dict(type='CTCPostProcessor', beam=3)), 'beam'),
    (dict(dictionary=dict(type='Dictionary', builtin='lower_english_digits')), 'with_padding'),
])
def test_mmocr_ctc_arguments_that_cannot_be_honoured_are_refused(over, match):
    with pytest.raises(ValueError, match=match):
        crnn(**over)


def test_crnn_default_encoder_unchanged_for_our_schema():
    m = MODELS.build(dict(type='CRNN', backbone=TINY_VGG, decoder=dict(type='CTCHead', codec=dict(
        type='CTCCodec', dictionary=dict(type='Dictionary', builtin='lower_english_digits')))))
    assert type(m.encoder).__name__ == 'BiLSTMEncoder'


def _svtr(**over):
    cfg = dict(
        type='SVTR', preprocessor=None,
        encoder=dict(type='SVTREncoder', img_size=[32, 100], in_channels=3, out_channels=24, embed_dims=[16, 24, 32],
                     depth=[1, 1, 1], num_heads=[2, 2, 2], mixer_types=['Local'] * 2 + ['Global'],
                     window_size=[[7, 11], [5, 9], [7, 11]], merging_types='Conv', prenorm=False, max_seq_len=25),
        decoder=dict(type='SVTRDecoder', in_channels=24,
                     module_loss=dict(type='CTCModuleLoss', letter_case='lower', zero_infinity=True),
                     postprocessor=dict(type='CTCPostProcessor'), dictionary=dict(DICT, with_unknown=True)),
        data_preprocessor=dict(type='TextRecogDataPreprocessor', mean=[127.5], std=[127.5]))
    cfg.update(over)
    return MODELS.build(cfg)


def test_svtr_mmocr_schema_builds_and_pools_to_max_seq_len():
    m = _svtr().eval()
    assert m.encoder.window_sizes == [(7, 11), (5, 9), (7, 11)]
    assert 'decoder.decoder.weight' in m.state_dict() and m.decoder.codec.num_classes == 38  # + <PAD>, <UKN>
    with torch.no_grad():
        assert m(torch.rand(1, 3, 32, 100), mode='tensor').shape == (1, 25, 38)
        assert m(torch.rand(1, 3, 64, 256), mode='tensor').shape == (1, 25, 38)  # 64 columns pooled to 25
    s = DataSample(metainfo=dict(img_shape=(32, 100)))
    s.gt_text = 'ok'
    m.train()
    assert torch.isfinite(m(torch.rand(1, 3, 32, 100), [s], mode='loss')['loss_ctc'])


def test_svtr_with_stn_and_what_it_refuses():
    m = _svtr(preprocessor=dict(type='STN', in_channels=3, resized_image_size=(32, 64), output_image_size=(32, 100),
                                num_control_points=20, margins=[0.05, 0.05])).eval()
    with torch.no_grad():  # MMOCR's test input: 64 x 256, rectified to the encoder's 32 x 100
        assert m(torch.rand(1, 3, 64, 256), mode='tensor').shape == (1, 25, 38)
    with pytest.raises(ValueError, match='resized_image_size'):
        MODELS.build(dict(type='STN', in_channels=3, resized_image_size=(16, 64)))
    with pytest.raises(ValueError, match='merging_types'):
        MODELS.build(dict(type='SVTREncoder', merging_types='Mean'))
    with pytest.raises(ValueError, match='batch_augments'):
        MODELS.build(dict(type='TextRecogDataPreprocessor', batch_augments=[dict(type='X')]))
