"""PP-OCRv4 mobile detector (width-reduced: PPLCNetV3 det x0.125, RSEFPN 16, DBHead) from Paddle's own files,
compared with Paddle's outputs on the same input (tests/reference/make_paddle_reference.py wrote them with
paddlepaddle 2.6): the .pdparams checkpoint through every loader (load_checkpoint_file + load_model_weights, the
path Global.pretrained_model / load_from / init_detector take), into the training and the folded form, and the
inference model (.pdmodel + .pdiparams) layer by layer."""
from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pytest
import torch

import visioncraft.tasks.textdet  # noqa: F401
from visioncraft.fileio.checkpoint import extract_state_dict, load_checkpoint_file, load_model_weights
from visioncraft.fileio.paddle import load_pdparams, paddle_to_torch_state_dict
from visioncraft.models.paddle_weights import load_paddle_inference_weights
from visioncraft.registry import MODELS

REF = Path(__file__).resolve().parents[2] / 'data' / 'reference' / 'paddle'


def _det(deploy: bool = False):
    return MODELS.build(dict(type='DBNet', backbone=dict(type='PPLCNetV3', scale=0.125, det=True, deploy=deploy),
                             neck=dict(type='RSEFPN', out_channels=16), det_head=dict(type='DBHead'))).eval()


def _logits(model, x):
    with torch.no_grad():
        feat = model.neck(model.backbone(x))[0]
        return model.det_head.binarize[:-1](feat)  # before the sigmoid, as saved


@pytest.fixture(scope='module')
def io():
    data = np.load(REF / 'det_io.npz')
    return torch.from_numpy(data['x']), data['y']


@pytest.mark.parametrize('deploy', [False, True])
def test_pdparams_parity(io, deploy):
    x, want = io
    model = _det(deploy)
    ckpt = load_checkpoint_file(REF / 'det')  # PaddleOCR's suffix-less name finds det.pdparams
    report = load_model_weights(model, extract_state_dict(ckpt), logger=logging.getLogger('test'))
    assert report.clean, str(report)
    np.testing.assert_allclose(_logits(model, x).numpy(), want, atol=1e-4, rtol=0)


def test_pdparams_names_all_used():
    conv = paddle_to_torch_state_dict(load_pdparams(REF / 'det.pdparams'), _det())
    assert conv.unused == []
    assert conv.renamed['head.binarize.conv_bn1._mean'] == 'det_head.binarize.1.running_mean'
    assert conv.renamed['head.thresh.conv3.weight'] == 'det_head.threshold.6.weight'


def test_inference_model_parity(io):
    """The inference model holds the folded form (as PaddleOCR exports it): it loads into deploy=True."""
    x, want = io
    model = _det(deploy=True)
    report = load_paddle_inference_weights(model, REF / 'det_infer.pdmodel', (x,),
                                           run=lambda m, inp: m.det_head(m.neck(m.backbone(inp))))
    # the inference program has no threshold branch (eval runs the probability map only)
    assert {k.split('.')[1] for k in report.not_in_graph} == {'threshold'}
    np.testing.assert_allclose(_logits(model, x).numpy(), want, atol=1e-4, rtol=0)


def test_inference_model_wrong_model(io):
    x, _ = io
    wrong = MODELS.build(dict(type='DBNet', backbone=dict(type='PPLCNetV3', scale=0.125, det=True),
                              neck=dict(type='RSEFPN', out_channels=16), det_head=dict(type='DBHead'))).eval()
    with pytest.raises(ValueError, match=r'det_infer\.pdmodel|Paddle'):
        load_paddle_inference_weights(wrong, REF / 'det_infer.pdmodel', (x,),
                                      run=lambda m, inp: m.det_head(m.neck(m.backbone(inp))))
