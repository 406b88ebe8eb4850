"""PP-OCRv4 mobile recogniser (width-reduced: PPLCNetV3 rec x0.125 -> MultiHead's CTC branch: SVTR neck 32 ->
CTCHead, 37 classes) from Paddle's .pdparams, compared with Paddle's logits on the same input
(tests/reference/make_paddle_reference.py). The Paddle names (head.ctc_encoder.encoder.*, head.ctc_head.fc) map
onto our CTC recogniser; Paddle's [in, out] linear weights are transposed (qkv is not square, proj is)."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

import visioncraft.tasks.textrecog  # noqa: F401
from visioncraft.fileio.checkpoint import extract_state_dict, load_checkpoint_file, load_model_weights
from visioncraft.fileio.paddle import load_pdparams, paddle_to_torch_state_dict
from visioncraft.registry import MODELS

REF = Path(__file__).resolve().parents[2] / 'data' / 'reference' / 'paddle'


def _rec():
    return MODELS.build(dict(
        type='EncoderDecoderRecognizer', backbone=dict(type='PPLCNetV3', scale=0.125, det=False),
        encoder=dict(type='EncoderWithSVTR', dims=32, depth=2, hidden_dims=32, num_heads=8, mlp_ratio=2.0,
                     kernel_size=(1, 3)),
        decoder=dict(type='CTCHead', codec=dict(type='CTCCodec', blank='first',
                                                dictionary=dict(type='Dictionary', builtin='lower_english_digits'))),
    )).eval()


def test_pdparams_parity():
    data = np.load(REF / 'rec_io.npz')
    model = _rec()
    report = load_model_weights(model, extract_state_dict(load_checkpoint_file(REF / 'rec.pdparams')))
    assert report.clean, str(report)
    with torch.no_grad():
        logits = model.decoder(model.encoder(model.backbone(torch.from_numpy(data['x']))))
    assert logits.shape == data['y'].shape
    np.testing.assert_allclose(logits.numpy(), data['y'], atol=1e-4, rtol=0)


def test_names():
    conv = paddle_to_torch_state_dict(load_pdparams(REF / 'rec.pdparams'), _rec())
    assert conv.unused == []
    assert conv.renamed['head.ctc_head.fc.weight'] == 'decoder.classifier.weight'
    assert conv.renamed['head.ctc_encoder.encoder.conv1.norm._variance'] == 'encoder.conv1.bn.running_var'
    assert conv.renamed['head.ctc_encoder.encoder.svtr_block.0.mlp.fc1.weight'] == 'encoder.svtr_block.0.fc1.weight'
    assert 'encoder.svtr_block.1.mixer.proj.weight' in conv.transposed
