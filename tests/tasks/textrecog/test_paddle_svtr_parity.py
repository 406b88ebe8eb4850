"""PaddleOCR's classic SVTR recogniser (rec_svtrnet: SVTRNet -> SequenceEncoder reshape -> CTCHead) from its YAML
config with Paddle's weights, against Paddle's own outputs. tests/reference/make_paddle_reference.py --svtr wrote
the files with paddlepaddle 2.6 at tiny widths, weights stored in float16 after rounding (exact up to float32
arithmetic):

* ``rec_svtr``: the config's ``prenorm: false`` (pre-norm blocks and a final norm), Conv merging, a Local, a Conv
  and a Global mixer, a window per stage, 25 output columns;
* ``rec_svtr_pool``: ``prenorm: true`` (post-norm blocks, no final norm), Pool merging, 12 output columns.

Both: CTC probabilities (PaddleOCR's eval output) within 1e-4 and the same greedy decodings.
"""
from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest
import torch

import visioncraft.tasks.textrecog  # noqa: F401
from visioncraft.config.compat.paddleocr import load_paddleocr_config
from visioncraft.fileio.checkpoint import extract_state_dict, load_checkpoint_file, load_model_weights
from visioncraft.fileio.paddle import load_pdparams, paddle_to_torch_state_dict
from visioncraft.registry import MODELS

ROOT = Path(__file__).resolve().parents[3]
REF = ROOT / 'tests' / 'data' / 'reference' / 'paddle'
SVTR = ROOT / 'configs/rec/rec_svtrnet.yml'
B = 'Architecture.Backbone.'
CASES = {
    'rec_svtr': {B + 'embed_dim': [16, 32, 48], B + 'depth': [1, 1, 1], B + 'num_heads': [2, 4, 6],
                 B + 'mixer': ['Local', 'Conv', 'Global'], B + 'local_mixer': [[7, 11], [5, 9], [3, 5]],
                 B + 'out_channels': 48},
    'rec_svtr_pool': {B + 'embed_dim': [8, 16, 24], B + 'depth': [1, 1, 1], B + 'num_heads': [2, 2, 4],
                      B + 'mixer': ['Local', 'Local', 'Global'], B + 'out_channels': 24, B + 'prenorm': True,
                      B + 'patch_merging': 'Pool', B + 'out_char_num': 12},
}


@pytest.fixture(scope='module')
def io():
    return dict(np.load(REF / 'svtr_io.npz'))


def _build(name):
    cfg = load_paddleocr_config(SVTR, {**CASES[name], 'Global.pretrained_model': str(REF / name)})
    return cfg, MODELS.build(cfg.model.to_dict()).eval()


@pytest.mark.parametrize('name', list(CASES))
def test_svtr_pretrained_model_parity(io, name):
    cfg, model = _build(name)
    assert cfg.load_from == str(REF / f'{name}.pdparams')
    report = load_model_weights(model, extract_state_dict(load_checkpoint_file(cfg.load_from)),
                                logger=logging.getLogger('test'))
    assert report.clean, str(report)
    x = torch.from_numpy(io['x'].astype(np.float32))
    with torch.no_grad():
        feat = model.extract_feat(x)
        probs = model.decoder(feat).softmax(-1)
        texts = [text for text, _, _ in model.decoder.predict(feat, [None] * len(x))]
    np.testing.assert_allclose(probs.numpy(), io[f'{name}_prob'], atol=1e-4, rtol=0)
    assert texts == [str(t) for t in io[f'{name}_text']]  # PaddleOCR's CTCLabelDecode of its own probabilities


def test_svtr_names():
    _, model = _build('rec_svtr')
    conv = paddle_to_torch_state_dict(load_pdparams(REF / 'rec_svtr.pdparams'), model)
    assert conv.unused == []
    assert conv.renamed['backbone.patch_embed.proj.1.norm._variance'] == \
        'backbone.patch_embed.net.ConvModule1.bn.running_var'
    assert conv.renamed['backbone.pos_embed'] == 'backbone.absolute_pos_embed'
    assert conv.renamed['backbone.sub_sample2.conv.weight'] == 'backbone.downsample2.conv.weight'
    assert conv.renamed['backbone.norm.weight'] == 'backbone.layer_norm.weight'
    assert conv.renamed['head.fc.weight'] == 'decoder.classifier.weight'
    assert 'backbone.blocks1.0.mixer.qkv.weight' in conv.transposed


@pytest.mark.parametrize('key,value,words', [
    ('patch_merging', 'None', 'patch_merging'), ('last_stage', False, 'last_stage'),
    ('use_lenhead', True, 'use_lenhead'), ('act', 'nn.Swish', 'act'),
    ('local_mixer', [[7, 11]], 'one per stage'),
])
def test_svtr_unsupported_keys_named(key, value, words):
    with pytest.raises(Exception, match=words):
        load_paddleocr_config(SVTR, {('+' if key in ('use_lenhead', 'act') else '') + B + key: value}).model


def test_svtr_translation_follows_paddleocr():
    backbone = load_paddleocr_config(SVTR, {}).model.to_dict()['backbone']
    assert backbone['prenorm'] is False and backbone['max_seq_len'] == 25 and backbone['patch_bias'] is True
    assert backbone['last_drop_mode'] == 'downscale_in_infer' and backbone['pool_exclude_pad'] is True
