"""MMOCR 0.x and 1.x checkpoint names load without a flag (visioncraft/fileio/upstream/mmocr.py): a state dict of our
model written in MMOCR 0.x's names (the detector's head ``bbox_head``, MMCV ConvModules ``.conv`` / ``.bn``) loads
back exactly; the 0.x recognisers' names, read from MMOCR 0.6.3's code, are ours as they are."""
from __future__ import annotations

import logging
import re

import pytest
import torch
from torch import nn

import visioncraft  # noqa: F401
from visioncraft.fileio.checkpoint import checkpoint_meta, extract_state_dict, load_model_weights
from visioncraft.fileio.upstream.mmocr import mmocr_checkpoint_generation
from visioncraft.registry import MODELS


def tiny_dbnet(**neck):
    return MODELS.build(dict(
        type='DBNet',
        # a small stand-in backbone (strides 4, 8, 16): the names under test are the neck's and the head's
        backbone=dict(type='ResNet31OCR', layers=[1, 1, 1, 1], channels=[4, 8, 8, 16, 16, 32], out_indices=[1, 2, 3],
                      stage4_pool_cfg=dict(kernel_size=2, stride=2), last_stage_pool=True),
        neck=dict(type='FPNC', in_channels=[16, 16, 32], lateral_channels=16, out_channels=4, **neck),
        det_head=dict(type='DBHead', in_channels=16, module_loss=dict(type='DBModuleLoss'),
                      postprocessor=dict(type='DBPostprocessor', text_repr_type='quad'))))


def mmocr0x_names(model: nn.Module) -> dict[str, torch.Tensor]:
    """``model``'s state dict (random values) in MMOCR 0.x's names: ``det_head`` -> ``bbox_head``; in the neck each
    conv of a ConvModule is ``<module>.conv`` and its BatchNorm ``<module>.bn`` (our conv + BN + ReLU Sequential
    keeps them as ``.0`` / ``.1``, a lone conv holds its weight itself)."""
    kinds = dict(model.named_modules())
    out = {}
    g = torch.Generator().manual_seed(0)
    for key, value in model.state_dict().items():
        value = value.clone() if value.dtype == torch.long else torch.rand(value.shape, generator=g)
        mod_name, leaf = key.rsplit('.', 1)
        new = mod_name
        if mod_name.startswith('neck.'):
            parent, _, last = mod_name.rpartition('.')
            if isinstance(kinds.get(parent), nn.Sequential) and parent.startswith(
                    ('neck.lateral_convs.', 'neck.smooth_convs.', 'neck.out_conv')) and last in ('0', '1'):
                new = f'{parent}.{"conv" if last == "0" else "bn"}'
            elif isinstance(kinds[mod_name], nn.Conv2d):
                new = f'{mod_name}.conv'
        new = re.sub(r'^det_head\.', 'bbox_head.', new)
        out[f'{new}.{leaf}'] = value
    return out


@pytest.mark.parametrize('neck', [
    dict(),                                                          # DBNet (0.x dbnet_r18 / r50dcnv2 configs)
    dict(asf_cfg=dict(attention_type='ScaleChannelSpatial')),         # DBNet++
    dict(bn_re_on_lateral=True, bn_re_on_smooth=True, conv_after_concat=True),
], ids=['dbnet', 'dbnetpp', 'fpnc-conv-bn-relu'])
def test_mmocr0x_detector_checkpoint_loads_back_exactly(neck):
    model = tiny_dbnet(**neck)
    ckpt = mmocr0x_names(model)
    assert any(k.startswith('bbox_head.') for k in ckpt) and not any(k.startswith('det_head.') for k in ckpt)
    assert any('.conv.' in k for k in ckpt if k.startswith('neck.'))
    report = load_model_weights(model, ckpt, strict=True)
    assert not (report.missing or report.unexpected or report.mismatched)
    got = model.state_dict()
    want = dict(zip(got, ckpt.values()))        # mmocr0x_names keeps the order of our keys
    assert all(torch.equal(got[k], want[k]) for k in got)


def test_renaming_does_not_touch_a_checkpoint_in_our_names():
    model = tiny_dbnet()
    own = {k: v.clone() for k, v in model.state_dict().items()}
    report = load_model_weights(tiny_dbnet(), own, strict=True)
    assert not (report.missing or report.unexpected or report.mismatched)


def test_mmocr0x_recogniser_names_are_ours():
    # names in MMOCR 0.6.3's CRNNNet (VeryDeepVgg + CRNNDecoder with BidirectionalLSTMs) and NRTR (NRTRModalityTransform
    # / ResNet31OCR, NRTREncoder, NRTRDecoder with its persistent position table): the same in 1.x and here
    dictionary = dict(type='Dictionary', builtin='lower_english_digits', with_padding=True)
    crnn = MODELS.build(dict(type='CRNN', backbone=dict(type='MiniVGG', leaky_relu=False, input_channels=1,
                                                        widths=(8, 8, 16, 16, 16, 16, 16)),
                             decoder=dict(type='CRNNDecoder', in_channels=16, rnn_flag=True,
                                          module_loss=dict(type='CTCModuleLoss'),
                                          postprocessor=dict(type='CTCPostProcessor'), dictionary=dictionary)))
    assert {'backbone.cnn.conv0.weight', 'backbone.cnn.conv6.bias', 'backbone.cnn.batchnorm6.running_var',
            'decoder.decoder.0.rnn.weight_ih_l0_reverse', 'decoder.decoder.0.embedding.weight',
            'decoder.decoder.1.embedding.bias'} <= set(crnn.state_dict())
    attn_dict = dict(type='Dictionary', builtin='lower_english_digits', with_start=True, with_end=True,
                     same_start_end=True, with_padding=True, with_unknown=True)
    nrtr = MODELS.build(dict(
        type='NRTR', backbone=dict(type='ResNet31OCR', layers=[1, 1, 1, 1], channels=[4, 8, 8, 8, 16, 16],
                                   last_stage_pool=True),
        encoder=dict(type='NRTREncoder', n_layers=1, n_head=2, d_k=8, d_v=8, d_model=16, d_inner=16),
        decoder=dict(type='NRTRDecoder', n_layers=1, d_embedding=16, n_head=2, d_k=8, d_v=8, d_model=16, d_inner=16,
                     max_seq_len=6, module_loss=dict(type='CEModuleLoss'),
                     postprocessor=dict(type='AttentionPostprocessor'), dictionary=attn_dict)))
    assert {'backbone.conv1_1.bias', 'backbone.block4.0.downsample.0.weight', 'backbone.bn5.running_mean',
            'encoder.layer_stack.0.attn.linear_q.weight', 'encoder.layer_stack.0.mlp.w_2.bias',
            'encoder.layer_norm.weight', 'decoder.trg_word_emb.weight', 'decoder.position_enc.position_table',
            'decoder.layer_stack.0.self_attn.fc.weight', 'decoder.layer_stack.0.enc_attn.linear_k.weight',
            'decoder.layer_stack.0.norm3.bias', 'decoder.layer_norm.weight', 'decoder.classifier.weight'} \
        <= set(nrtr.state_dict())


# --- MMOCR 0.x CTC class order (0.6.3's CTCConvertor: <BLK>, characters, [<UKN>]; ours: characters, <PAD>, [<UKN>])

def tiny_crnn(rnn_flag=True, with_unknown=False):
    dictionary = dict(type='Dictionary', builtin='lower_english_digits', with_padding=True, with_unknown=with_unknown)
    return MODELS.build(dict(type='CRNN', backbone=dict(type='MiniVGG', leaky_relu=False, input_channels=1,
                                                        widths=(8, 8, 16, 16, 16, 16, 16)),
                             decoder=dict(type='CRNNDecoder', in_channels=16, rnn_flag=rnn_flag,
                                          module_loss=dict(type='CTCModuleLoss'),
                                          postprocessor=dict(type='CTCPostProcessor'), dictionary=dictionary))).eval()


def classifier_keys(rnn_flag):
    prefix = 'decoder.decoder.1.embedding' if rnn_flag else 'decoder.decoder'
    return [f'{prefix}.weight', f'{prefix}.bias']


def as_mmocr0x(model, rnn_flag):
    """``model``'s state dict as MMOCR 0.x's CTCConvertor numbers the classes: 0.x class 0 is the blank (our
    padding), 0.x class ``i + 1`` our character ``i``, <UKN> last in both."""
    d = model.decoder.codec.dictionary
    n, c = len(d.chars), len(d)
    theirs_of_ours = [i + 1 for i in range(n)] + [0] + ([n + 1] if d.unknown_idx is not None else [])
    assert d.padding_idx == n and len(theirs_of_ours) == c
    sd = {k: v.clone() for k, v in model.state_dict().items()}
    for k in classifier_keys(rnn_flag):
        theirs = torch.empty_like(sd[k])
        theirs[theirs_of_ours] = sd[k]
        sd[k] = theirs
    return sd


class Records(logging.Handler):
    def __init__(self):
        super().__init__()
        self.messages = []

    def emit(self, record):
        self.messages.append((record.levelno, record.getMessage()))


def recording_logger():
    log = logging.getLogger(f'test_mmocr0x.{id(object())}')
    log.propagate, log.level = False, logging.INFO
    rec = Records()
    log.addHandler(rec)
    return log, rec


def outputs(model, x):
    with torch.no_grad():
        logits = model.decoder(model.extract_feat(x))
        texts = [s.pred_text for s in model(x, mode='predict')]
    return logits, texts


def reference_crnn(rnn_flag, with_unknown):
    torch.manual_seed(0)
    model = tiny_crnn(rnn_flag, with_unknown)
    # a blank that rarely wins and large class scores: the random model reads non-empty, varied strings
    w, b = (model.state_dict()[k] for k in classifier_keys(rnn_flag))
    with torch.no_grad():
        w.mul_(20)
        b[model.decoder.codec.blank_idx] = -5.0
    return model


@pytest.mark.parametrize('meta', [dict(mmocr_version='0.6.3+a1b2c3d', CLASSES=None),   # 0.x tools/train.py
                                  dict(CLASSES=0),                                       # 0.x publish_model.py
                                  dict(mmcv_version='1.7.0', time='Mon Jan 1')],         # MMCV 1.x runner
                         ids=['mmocr_version', 'published', 'mmcv1'])
@pytest.mark.parametrize('rnn_flag,with_unknown', [(True, False), (False, True)], ids=['lstm', 'conv1x1-ukn'])
def test_mmocr0x_crnn_checkpoint_reads_the_same_strings(tmp_path, meta, rnn_flag, with_unknown):
    ref = reference_crnn(rnn_flag, with_unknown)
    x = torch.rand(2, 1, 32, 96)
    want_logits, want_texts = outputs(ref, x)
    assert any(want_texts), 'the reference should read something'
    path = tmp_path / 'crnn_0x.pth'
    torch.save(dict(meta=meta, state_dict=as_mmocr0x(ref, rnn_flag)), path)

    ckpt = torch.load(path, weights_only=True)
    model, (log, rec) = tiny_crnn(rnn_flag, with_unknown), recording_logger()
    report = load_model_weights(model, extract_state_dict(ckpt), strict=True, meta=checkpoint_meta(ckpt), logger=log,
                                source=path)
    assert report.clean
    got_logits, got_texts = outputs(model, x)
    assert torch.allclose(got_logits, want_logits, atol=1e-5, rtol=0)   # column for column, our class order
    assert torch.equal(got_logits.argmax(-1), want_logits.argmax(-1)) and got_texts == want_texts
    assert any('MMOCR 0.x' in m and 'reordered' in m for _, m in rec.messages)


def test_mmocr0x_crnn_through_init_model_path(tmp_path):
    from visioncraft.apis.model_loading import build_model_with_weights
    from visioncraft.config import Config
    ref = reference_crnn(True, False)
    x = torch.rand(1, 1, 32, 96)
    want_logits, want_texts = outputs(ref, x)
    path = tmp_path / 'crnn_0x.pth'
    torch.save(dict(meta=dict(mmocr_version='0.6.3'), state_dict=as_mmocr0x(ref, True)), path)
    model_cfg = dict(type='CRNN', backbone=dict(type='MiniVGG', leaky_relu=False, input_channels=1,
                                                widths=(8, 8, 16, 16, 16, 16, 16)),
                     decoder=dict(type='CRNNDecoder', in_channels=16, rnn_flag=True,
                                  module_loss=dict(type='CTCModuleLoss'), postprocessor=dict(type='CTCPostProcessor'),
                                  dictionary=dict(type='Dictionary', builtin='lower_english_digits',
                                                  with_padding=True)))
    model, _ = build_model_with_weights(Config(dict(model=model_cfg)), path, 'test')
    got_logits, got_texts = outputs(model.eval(), x)
    assert torch.allclose(got_logits, want_logits, atol=1e-5, rtol=0) and got_texts == want_texts


@pytest.mark.parametrize('meta', [dict(mmengine_version='0.10.3', dataset_meta={}),
                                  dict(visioncraft_version='0.3.0'), dict(mmocr_version='1.0.1')],
                         ids=['mmengine', 'visioncraft', 'mmocr1'])
def test_1x_crnn_checkpoint_is_untouched(meta):
    ref = reference_crnn(True, False)
    own = {k: v.clone() for k, v in ref.state_dict().items()}
    model, (log, rec) = tiny_crnn(), recording_logger()
    report = load_model_weights(model, own, strict=True, meta=meta, logger=log)
    assert report.clean and not rec.messages[:-1]   # only 'all keys matched'
    assert all(torch.equal(v, own[k]) for k, v in model.state_dict().items())


def test_undecidable_crnn_checkpoint_loads_as_it_is_with_a_warning():
    ref = reference_crnn(True, False)
    own = {k: v.clone() for k, v in ref.state_dict().items()}
    model, (log, rec) = tiny_crnn(), recording_logger()
    load_model_weights(model, own, strict=True, meta={}, logger=log, source='bare.pth')   # a file with no meta
    assert all(torch.equal(v, own[k]) for k, v in model.state_dict().items())
    warnings = [m for lvl, m in rec.messages if lvl == logging.WARNING]
    assert len(warnings) == 1 and 'bare.pth' in warnings[0] and "mmocr_version'] = '0.6.3'" in warnings[0]
    # so a 0.x file without its meta reads shifted: the logits are not the reference's
    x = torch.rand(1, 1, 32, 96)
    load_model_weights(model, as_mmocr0x(ref, True), strict=True, meta={}, logger=log)
    assert not torch.allclose(outputs(model, x)[0], outputs(ref, x)[0], atol=1e-3)
    # no file behind the state dict (meta=None): nothing guessed, nothing said
    model, (log, rec) = tiny_crnn(), recording_logger()
    load_model_weights(model, own, strict=True, logger=log)
    assert not any(lvl >= logging.WARNING for lvl, _ in rec.messages)


def test_mmocr_checkpoint_generation_signs():
    assert mmocr_checkpoint_generation(None) is None and mmocr_checkpoint_generation({}) is None
    assert mmocr_checkpoint_generation(dict(mmocr_version='0.4.1')) == '0.x'
    assert mmocr_checkpoint_generation(dict(mmocr_version='1.0.1', CLASSES=0)) == '1.x'
    assert mmocr_checkpoint_generation(dict(CLASSES=('a',), dataset_meta={})) == '1.x'
    assert mmocr_checkpoint_generation(dict(mmcv_version='2.1.0')) == '1.x'
    assert mmocr_checkpoint_generation(dict(seed=0)) is None
