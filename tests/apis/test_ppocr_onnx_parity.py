"""The official PP-OCR weights (ONNX files of rapidocr-onnxruntime 1.4.4, a test extra) imported into our PP-OCRv4
detector / recogniser and the mobile v2.0 direction classifier: our PyTorch outputs match ONNX Runtime's on a real
scanned page (scikit-image's ``page()``, also a test extra)."""
from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch

from conftest import run_ppocr_onnx

pytest.importorskip('rapidocr_onnxruntime', reason='test extra: pip install --no-deps rapidocr-onnxruntime==1.4.4')
skdata = pytest.importorskip('skimage.data', reason='test extra: scikit-image (its page() photo)')
ort = pytest.importorskip('onnxruntime', reason='test extra: onnxruntime')

from visioncraft.apis.ppocr_weights import PPOCR_MODELS, import_ppocr_weights, rapidocr_model_path  # noqa: E402


@pytest.fixture(scope='module')
def page_bgr() -> np.ndarray:
    """191 x 384 BGR scan of a book page; its first line reads 'Region-based segmentation'."""
    return cv2.cvtColor(skdata.page(), cv2.COLOR_GRAY2BGR)


def _normalise(img_bgr: np.ndarray, mean, std) -> torch.Tensor:
    x = (img_bgr.astype(np.float32) - np.float32(mean)) / np.float32(std)
    return torch.from_numpy(np.ascontiguousarray(x.transpose(2, 0, 1)[None]))


def test_detector_probability_map_matches_onnxruntime(page_bgr):
    model, report = import_ppocr_weights('ppocrv4_mobile_det')
    # every layer of the graph was used; only the training-only threshold branch has no counterpart
    assert report.layers == 119 and report.not_in_graph and all(
        k.startswith('det_head.threshold.') for k in report.not_in_graph)
    x = _normalise(page_bgr[:96, :128], [123.675, 116.28, 103.53], [58.395, 57.12, 57.375])  # 1 x 3 x 96 x 128
    with torch.no_grad():
        ours = model(x, mode='tensor').numpy()
    ref = run_ppocr_onnx('ppocrv4_mobile_det', x)[:, 0]
    assert ours.shape == ref.shape == (1, 96, 128)
    assert np.abs(ours - ref).max() < 1e-4
    assert ref.max() > 0.9 and ref.min() < 0.1  # a real text / background map, not a constant


def test_recogniser_probabilities_match_onnxruntime_and_read_the_title(page_bgr):
    model, report = import_ppocr_weights('ppocrv4_mobile_rec')
    assert report.layers == 114 and not report.not_in_graph
    crop = cv2.resize(page_bgr[2:40, :300], (320, 48), interpolation=cv2.INTER_LINEAR)  # the title line
    x = _normalise(crop, [127.5] * 3, [127.5] * 3)
    with torch.no_grad():
        ours = model(x, mode='tensor').numpy()  # N x T x 6625 softmax, as the ONNX graph's output
        pred = model(x, mode='predict')[0]
    ref = run_ppocr_onnx('ppocrv4_mobile_rec', x)
    assert ours.shape == ref.shape == (1, 40, 6625)
    assert np.abs(ours - ref).max() < 1e-4
    assert pred.pred_text == 'Region-based segmentation' and pred.pred_score > 0.95


def test_direction_classifier_scores_match_onnxruntime(page_bgr):
    model, report = import_ppocr_weights('ppocr_mobile_v2.0_cls')
    assert report.layers == 89 and not report.not_in_graph
    upright = cv2.resize(page_bgr[2:40, :170], (192, 48), interpolation=cv2.INTER_LINEAR)
    noise = np.random.default_rng(0).integers(0, 256, (48, 192, 3), dtype=np.uint8)  # unsure: ~0.64 / 0.36
    x = torch.cat([_normalise(img, [127.5] * 3, [127.5] * 3)
                   for img in (upright, np.ascontiguousarray(upright[::-1, ::-1]), noise)])  # 3 x 3 x 48 x 192
    with torch.no_grad():
        ours = model(x, mode='tensor').numpy()
        preds = model(x, mode='predict')
    ref = run_ppocr_onnx('ppocr_mobile_v2.0_cls', x)
    assert ours.shape == ref.shape == (3, 2)
    assert np.abs(ours - ref).max() < 1e-5
    assert 0.1 < ref[2, 0] < 0.9  # a score that is not saturated, so the comparison sees the logits
    assert [p.pred_label_name for p in preds[:2]] == ['0', '180']


def test_import_refuses_a_model_of_another_shape_naming_the_layer(tmp_path):
    from visioncraft.models.onnx_weights import load_onnx_weights
    from visioncraft.registry import MODELS

    # the x0.75 detector graph into an x0.5 backbone: the first conv already differs (16 vs 16 ok, then 32 vs 16)
    model = MODELS.build(dict(type='DBNet', backbone=dict(type='PPLCNetV3', scale=0.5, det=True, deploy=True),
                              neck=dict(type='RSEFPN', out_channels=96), det_head=dict(type='DBHead')))
    with pytest.raises(ValueError, match=r'layer \d+ .*shape'):
        load_onnx_weights(model, rapidocr_model_path(PPOCR_MODELS['ppocrv4_mobile_det'].onnx_file),
                          (torch.zeros(1, 3, 64, 64),))


def test_saved_checkpoint_loads_into_the_deploy_config(tmp_path):
    from visioncraft.apis.ppocr_weights import build_ppocr_model
    from visioncraft.fileio.checkpoint import extract_state_dict, load_checkpoint_file

    model, _ = import_ppocr_weights('ppocr_mobile_v2.0_cls', out_file=tmp_path / 'cls.pth')
    again = build_ppocr_model('ppocr_mobile_v2.0_cls')
    ckpt = load_checkpoint_file(tmp_path / 'cls.pth')
    assert ckpt['meta']['model'] == 'ppocr_mobile_v2.0_cls'
    again.load_state_dict(extract_state_dict(ckpt))
    x = torch.randn(1, 3, 48, 96)
    again.eval()
    with torch.no_grad():
        assert torch.equal(again(x), model(x))
