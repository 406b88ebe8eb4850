"""MMOCR 0.x and 1.x checkpoint names load without a flag (visioncraft/fileio/upstream/mmocr.py): a state dict of our
model written in MMOCR 0.x's names (the detector's head ``bbox_head``, MMCV ConvModules ``.conv`` / ``.bn``) loads
back exactly; the 0.x recognisers' names, read from MMOCR 0.6.3's code, are ours as they are."""
from __future__ import annotations

import re

import pytest
import torch
from torch import nn

import visioncraft  # noqa: F401
from visioncraft.fileio.checkpoint import load_model_weights
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
