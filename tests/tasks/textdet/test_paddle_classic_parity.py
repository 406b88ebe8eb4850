"""PaddleOCR's classic models from their YAML configs, with Paddle's weights, against Paddle's own outputs
(tests/reference/make_paddle_reference.py --classic wrote the files with paddlepaddle 2.6, width-reduced, weights
stored in float16 after rounding, so the comparison is exact up to float32 arithmetic):

* det_mv3_db (MobileNetV3 large x0.35, DBFPN 32) and det_r50_vd_db at 18 layers (ResNet18_vd at width 4): DB
  probability logits within 1e-4, the .pdparams named by ``Global.pretrained_model`` without its suffix;
* CRNN rec_mv3_none_bilstm_ctc (rec MobileNetV3 small x0.35, small_stride [1, 2, 2, 2], 2-layer BiLSTM 16,
  CTC 37): logits within 1e-4;
* PaddleClas ImageNet backbones (2.0 layout MobileNetV3 small x0.35; legendary ResNet18_vd at width 4) into the DB
  backbones: every stage output within 1e-4, the classifier's keys reported unused, the neck / head missing.
"""
from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest
import torch

import visioncraft.tasks.textdet  # noqa: F401
import visioncraft.tasks.textrecog  # noqa: F401
from visioncraft.config.compat.paddleocr import load_paddleocr_config
from visioncraft.fileio.checkpoint import extract_state_dict, load_checkpoint_file, load_model_weights
from visioncraft.fileio.paddle import load_pdparams, paddle_to_torch_state_dict
from visioncraft.registry import MODELS

ROOT = Path(__file__).resolve().parents[3]
REF = ROOT / 'tests' / 'data' / 'reference' / 'paddle'
MV3, R50 = ROOT / 'configs/det/det_mv3_db.yml', ROOT / 'configs/det/det_r50_vd_db.yml'
CRNN = ROOT / 'configs/rec/rec_mv3_none_bilstm_ctc.yml'
SMALL_DB = {'Architecture.Neck.out_channels': 32}


@pytest.fixture(scope='module')
def io():
    return dict(np.load(REF / 'classic_io.npz'))


def _build(config, overrides, backbone=None):
    cfg = load_paddleocr_config(config, overrides)
    model = cfg.model.to_dict()
    model['backbone'].update(backbone or {})
    return cfg, MODELS.build(model).eval()


def _load(model, path):
    ckpt = load_checkpoint_file(path)
    return load_model_weights(model, extract_state_dict(ckpt), logger=logging.getLogger('test'))


def _det_logits(model, x):
    with torch.no_grad():
        return model.det_head.binarize[:-1](model.neck(model.backbone(torch.from_numpy(x)))[0]).numpy()


@pytest.mark.parametrize('name,config,overrides,backbone', [
    ('det_mv3', MV3, {'Architecture.Backbone.scale': 0.35}, None),
    ('det_r18vd', R50, {'Architecture.Backbone.layers': 18}, dict(base_channels=4)),  # width 4: small test files
])
def test_db_pretrained_model_parity(io, name, config, overrides, backbone):
    cfg, model = _build(config, {**SMALL_DB, **overrides, 'Global.pretrained_model': str(REF / name)}, backbone)
    assert cfg.load_from == str(REF / f'{name}.pdparams')  # PaddleOCR's suffix-less name finds the .pdparams
    report = _load(model, cfg.load_from)
    assert report.clean, str(report)
    np.testing.assert_allclose(_det_logits(model, io['x']), io[f'{name}_y0'], atol=1e-4, rtol=0)


def test_db_names():
    _, model = _build(MV3, {**SMALL_DB, 'Architecture.Backbone.scale': 0.35})
    conv = paddle_to_torch_state_dict(load_pdparams(REF / 'det_mv3.pdparams'), model)
    assert conv.unused == [] and conv.layout == 'paddleocr'
    assert conv.renamed['backbone.stage3.3.bn._variance'] == 'backbone.stage3.3.bn.running_var'
    assert conv.renamed['neck.in5_conv.weight'] == 'neck.lateral_convs.3.weight'
    assert conv.renamed['neck.p2_conv.weight'] == 'neck.smooth_convs.0.weight'


def test_crnn_mv3_parity(io):
    cfg, model = _build(CRNN, {'Architecture.Backbone.model_name': 'small', 'Architecture.Backbone.scale': 0.35,
                               '+Architecture.Backbone.small_stride': [1, 2, 2, 2],
                               'Architecture.Neck.hidden_size': 16, 'Global.checkpoints': str(REF / 'rec_mv3')})
    assert cfg.resume is True and cfg.load_from == str(REF / 'rec_mv3.pdparams')
    report = _load(model, cfg.load_from)
    assert report.clean, str(report)
    with torch.no_grad():
        logits = model.decoder(model.extract_feat(torch.from_numpy(io['x'][:, :, :32])))
    np.testing.assert_allclose(logits.numpy(), io['rec_mv3_y0'], atol=1e-4, rtol=0)
    conv = paddle_to_torch_state_dict(load_pdparams(REF / 'rec_mv3.pdparams'), model)
    assert conv.unused == []
    assert conv.renamed['neck.encoder.lstm.weight_hh_l1_reverse'] == 'encoder.lstm.weight_hh_l1_reverse'


@pytest.mark.parametrize('name,config,overrides,backbone,classifier', [
    ('clas_mv3', MV3, {'Architecture.Backbone.model_name': 'small', 'Architecture.Backbone.scale': 0.35}, None,
     {'last_conv.weight', 'out.weight', 'out.bias'}),
    ('clas_r18vd', R50, {'Architecture.Backbone.layers': 18}, dict(base_channels=4), {'fc.weight', 'fc.bias'}),
])
def test_paddleclas_backbone_into_db(io, caplog, name, config, overrides, backbone, classifier):
    _, model = _build(config, {**SMALL_DB, **overrides}, backbone)
    state = load_pdparams(REF / f'{name}.pdparams')
    with caplog.at_level(logging.INFO, logger='visioncraft'):
        conv = paddle_to_torch_state_dict(state, model)
    assert conv.layout == 'paddleclas' and set(conv.unused) == classifier
    assert all(v.startswith('backbone.') for v in conv.renamed.values())
    assert f'paddleclas weights: {len(state) - len(classifier)} used into the backbone' in caplog.text
    report = _load(model, REF / f'{name}.pdparams')
    assert not report.unexpected and not report.mismatched
    assert report.missing and all(k.startswith(('neck.', 'det_head.')) for k in report.missing)
    with torch.no_grad():
        feats = model.backbone(torch.from_numpy(io['x']))
    for i, f in enumerate(feats):
        np.testing.assert_allclose(f.numpy(), io[f'{name}_y{i}'], atol=1e-4, rtol=0)
