"""``visioncraft import-weights X.pdparams | X.pdmodel`` (visioncraft/cli/import_weights.py): PaddleOCR's own files
into our checkpoint, without PaddlePaddle."""
from __future__ import annotations

import pickle
import re
from pathlib import Path

import numpy as np
import pytest
import torch

from visioncraft.apis.ppocr_weights import build_ppocr_model
from visioncraft.cli.import_weights import _guess_paddle_model, _paddle_source, main
from visioncraft.errors import UserError

REF = Path(__file__).resolve().parents[1] / 'data' / 'reference' / 'paddle'

# our DBHead's Sequential indices -> PaddleOCR's Head layer names
_HEAD = {'0': 'conv1', '1': 'conv_bn1', '3': 'conv2', '4': 'conv_bn2', '6': 'conv3'}


def _to_paddle_names(model) -> dict:
    """Our training-form model's state dict under PaddleOCR's names and layouts (the inverse of the import)."""
    out = {}
    linear = {f'{n}.weight' for n, m in model.named_modules() if isinstance(m, torch.nn.Linear)}
    for k, v in model.state_dict().items():
        if k in linear:
            v = v.t()
        if k.endswith('num_batches_tracked'):
            continue
        m = re.match(r'det_head\.(binarize|threshold)\.(\d)\.(.*)', k)
        if m:
            k = f'head.{"thresh" if m.group(1) == "threshold" else "binarize"}.{_HEAD[m.group(2)]}.{m.group(3)}'
        k = k.replace('.running_mean', '._mean').replace('.running_var', '._variance')
        out[k] = v.numpy()
    return out


@pytest.mark.parametrize('name, shape', [('ppocrv4_mobile_det', (1, 3, 64, 64)),
                                         ('ppocr_mobile_v2.0_cls', (2, 3, 48, 192))])
def test_import_pdparams_round_trip(tmp_path, name, shape):
    """A full-size PP-OCRv4 mobile detector / v2.0 direction classifier checkpoint under Paddle's names (pickled as
    paddle.save does) imports into the folded model, which computes what the training-form model computes."""
    torch.manual_seed(0)
    ours = build_ppocr_model(name, deploy=False).eval()
    with torch.no_grad():  # non-trivial BatchNorm statistics, so that a wrong mapping shows
        for mod in ours.modules():
            if isinstance(mod, torch.nn.BatchNorm2d):
                mod.running_mean.uniform_(-0.1, 0.1)
                mod.running_var.uniform_(0.5, 1.5)
    src = tmp_path / 'best_accuracy.pdparams'
    src.write_bytes(pickle.dumps(_to_paddle_names(ours), protocol=4))
    out = tmp_path / 'out.pth'
    result = main([str(tmp_path / 'best_accuracy'), '--out', str(out)])  # PaddleOCR's suffix-less name
    assert result['model'] == name
    folded = build_ppocr_model(name, deploy=True).eval()
    folded.load_state_dict(torch.load(out, weights_only=True)['state_dict'])
    x = torch.rand(*shape)
    with torch.no_grad():
        if name == 'ppocrv4_mobile_det':
            a, b = (m.det_head(m.neck(m.backbone(x))) for m in (ours, folded))
        else:
            a, b = (m.head(m.backbone(x)) for m in (ours, folded))  # the classifier's logits
    torch.testing.assert_close(a, b, atol=1e-4, rtol=0)


def test_import_wrong_size_is_a_clear_error(tmp_path):
    with pytest.raises(UserError, match=r'det\.pdparams does not fit ppocrv4_mobile_det'):
        main([str(REF / 'det.pdparams'), '--out', str(tmp_path / 'x.pth')])
    assert not (tmp_path / 'x.pth').exists()


def test_guess_and_source(tmp_path):
    assert _guess_paddle_model(['head.binarize.conv1.weight'], [(1,)]) == 'ppocrv4_mobile_det'
    assert _guess_paddle_model(['head.ctc_head.fc.weight'], [(120, 6625)]) == 'ppocrv4_mobile_rec'
    assert _guess_paddle_model(['conv2d_0.w_0', 'linear_0.w_0'], [(8, 3, 3, 3), (200, 2)]) == 'ppocr_mobile_v2.0_cls'
    assert _paddle_source(REF) is None or _paddle_source(REF).suffix == '.pdmodel'
    assert _paddle_source(tmp_path / 'model.onnx') is None
    (tmp_path / 'inference.pdmodel').write_bytes(b'')
    (tmp_path / 'other.pdmodel').write_bytes(b'')
    assert _paddle_source(tmp_path) == tmp_path / 'inference.pdmodel'
