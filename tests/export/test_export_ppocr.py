"""Export of the PP-OCRv4 detector and recogniser with the official weights: ``visioncraft import-weights`` then
``visioncraft export configs/ppocr/<model>.py CKPT --work-dir DIR``; the exported directories (ONNX Runtime and
TorchScript) give the eager model's outputs (the config's test pipeline and ``model.predict`` through the inference
API) on real photos (scikit-image's page and text), and the exported graph computes the official ONNX graph's
function. Tolerances as in test_export_textdet.py / test_export_textrecog.py: maps and probabilities within 1e-4,
polygons within 1 px, detection scores within 1e-3, texts equal and reading scores within 1e-4."""
from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
import torch

from conftest import REPO

pytest.importorskip('rapidocr_onnxruntime', reason='test extra: pip install --no-deps rapidocr-onnxruntime==1.4.4')
skdata = pytest.importorskip('skimage.data', reason='test extra: scikit-image (its page() and text() photos)')
ort = pytest.importorskip('onnxruntime', reason='test extra: onnxruntime')

from visioncraft.apis.ppocr_weights import PPOCR_MODELS, rapidocr_model_path  # noqa: E402

DET_CFG = str(REPO / 'configs/ppocr/ppocrv4_mobile_det_deploy_icdar2015.py')
REC_CFG = str(REPO / 'configs/ppocr/ppocrv4_mobile_rec.py')
CLS_CFG = str(REPO / 'configs/_base_/models/ppocr_mobile_v2.0_cls.py')
_OFFICIAL = dict(det='ppocrv4_mobile_det', rec='ppocrv4_mobile_rec', cls='ppocr_mobile_v2.0_cls')


@pytest.fixture(scope='module')
def photos() -> dict[str, np.ndarray]:
    """Real photos of text (BGR): the 191 x 384 book page, the same page 1.7 times larger (another input size and
    scale factor) and the 172 x 448 photo of slanted handwriting (where the detector finds no line)."""
    page = cv2.cvtColor(skdata.page(), cv2.COLOR_GRAY2BGR)
    return dict(page=page, page_x17=cv2.resize(page, None, fx=1.7, fy=1.7, interpolation=cv2.INTER_CUBIC),
                text=cv2.cvtColor(skdata.text(), cv2.COLOR_GRAY2BGR))


@pytest.fixture(scope='module')
def exported(tmp_path_factory):
    from visioncraft.cli.main import main
    tmp = tmp_path_factory.mktemp('ppocr_export')
    out = {}
    for key, cfg, fmt in (('det', DET_CFG, ['onnx', 'torchscript']), ('rec', REC_CFG, ['onnx', 'torchscript']),
                          ('cls', CLS_CFG, ['onnx', 'torchscript'])):
        ckpt = tmp / f'{key}.pth'
        main(['import-weights', str(rapidocr_model_path(PPOCR_MODELS[_OFFICIAL[key]].onnx_file)),
              '--out', str(ckpt)])
        written = main(['export', cfg, str(ckpt), '--work-dir', str(tmp / key), '--format', *fmt])
        assert {'onnx', 'torchscript', 'inference.json'} <= set(written)
        out[key] = (cfg, ckpt, tmp / key)
    return out


def test_exported_detector_equals_eager(exported, photos):
    from visioncraft.apis import inference_detector, init_detector
    from visioncraft.export import TextDetPredictor
    cfg, ckpt, model_dir = exported['det']
    info = json.loads((model_dir / 'inference.json').read_text())
    assert info['task'] == 'textdet' and info['preprocess']['resize']['type'] == 'DetResizeForTest'
    model = init_detector(cfg, str(ckpt), device='cpu')
    predictors = [TextDetPredictor(model_dir, backend=b) for b in ('onnxruntime', 'torchscript')]
    official = ort.InferenceSession(str(rapidocr_model_path('ch_PP-OCRv4_det_infer.onnx')),
                                    providers=['CPUExecutionProvider'])
    for name, img in photos.items():
        ref = inference_detector(model, img).pred_instances
        ref_polys = [np.asarray(p, np.float64).reshape(-1, 2) for p in ref.polygons]
        if name.startswith('page'):
            assert len(ref_polys) >= 3, f'{name}: the official detector finds text lines ({len(ref_polys)})'
        batch, meta = predictors[0].preprocess(img)
        with torch.no_grad():
            eager_map = model(batch, mode='tensor').numpy()
        # the exported graph is the official model's function, and each backend gives the eager map
        theirs = official.run(None, {official.get_inputs()[0].name: batch.numpy()})[0][:, 0]
        assert np.abs(eager_map - theirs).max() < 1e-4, name
        for p in predictors:
            assert np.abs(p.forward(batch).numpy() - eager_map).max() < 1e-4, (name, p.backend)
            polys, scores = p(img)
            assert len(polys) == len(ref_polys), (name, p.backend)
            for got, want in zip(polys, ref_polys):
                assert np.abs(np.asarray(got, np.float64).reshape(-1, 2) - want).max() <= 1.0, (name, p.backend)
            np.testing.assert_allclose(scores, ref.scores.numpy(), atol=1e-3)


def test_exported_recogniser_equals_eager(exported, photos):
    from visioncraft.apis import inference_detector, init_detector
    from visioncraft.export import TextRecogPredictor
    cfg, ckpt, model_dir = exported['rec']
    info = json.loads((model_dir / 'inference.json').read_text())
    assert info['task'] == 'textrecog' and info['postprocess']['num_classes'] == 6625
    model = init_detector(cfg, str(ckpt), device='cpu')
    page = photos['page']
    crops = [page[2:40, :300], page[44:70, :384], page[62:90, :384], photos['page_x17'][190:260, :],
             photos['text'][100:172, 60:400]]
    refs = [inference_detector(model, c) for c in crops]  # one at a time, the config's test pipeline
    assert refs[0].pred_text == 'Region-based segmentation'
    for backend in ('onnxruntime', 'torchscript'):
        rec = TextRecogPredictor(model_dir, backend=backend)
        for crop, ref in zip(crops, refs):
            text, score, _ = rec(crop)
            assert text == ref.pred_text and abs(score - ref.pred_score) <= 1e-4, (backend, text, ref.pred_text)
        batch, _ = rec.preprocess(crops)
        with torch.no_grad():
            want = model(batch, mode='tensor').numpy()
        assert np.abs(rec.forward(batch).numpy() - want).max() < 1e-4, backend


def test_exported_classifier_equals_eager_and_the_official_graph(exported, photos):
    from visioncraft.apis import init_detector
    from visioncraft.apis.ppocr_system import _resize_norm
    from visioncraft.export import TextClsPredictor, load_predictor
    cfg, ckpt, model_dir = exported['cls']
    info = json.loads((model_dir / 'inference.json').read_text())
    assert info['task'] == 'textcls' and info['postprocess'] == dict(type='TextCls', labels=['0', '180'])
    model = init_detector(cfg, str(ckpt), device='cpu')
    page = photos['page']
    crops = [page[2:40, :170], np.ascontiguousarray(page[2:40, :170][::-1, ::-1]), page[44:70, :384],
             np.random.default_rng(0).integers(0, 256, (40, 90, 3), dtype=np.uint8)]
    mean = torch.full((3, 1, 1), 127.5)
    batch = torch.stack([_resize_norm(c, 48, 192, 192, mean, mean) for c in crops])
    with torch.no_grad():
        want = model(batch, mode='tensor').numpy()
    official = ort.InferenceSession(str(rapidocr_model_path('ch_ppocr_mobile_v2.0_cls_infer.onnx')),
                                    providers=['CPUExecutionProvider'])
    assert np.abs(official.run(None, {official.get_inputs()[0].name: batch.numpy()})[0] - want).max() < 1e-5
    assert isinstance(load_predictor(model_dir), TextClsPredictor)
    for backend in ('onnxruntime', 'torchscript'):
        cls = TextClsPredictor(model_dir, backend=backend)
        assert np.abs(cls.forward(batch).numpy() - want).max() < 1e-5, backend
        got = cls(crops)
        assert [g[0] for g in got[:2]] == ['0', '180']
        assert np.abs(np.array([g[1] for g in got]) - want.max(1)).max() < 1e-5, backend


def test_exported_ppocr_system_reads_what_the_eager_one_reads(exported, photos):
    """det + rec + cls exports in PPOCRSystem (ONNX Runtime) against the eager system on the same weights: the
    same quads, texts and angles, scores within 1e-4; upside down too."""
    from visioncraft.apis import PPOCRSystem, init_detector
    from visioncraft.export.ppocr import load_exported_ppocr
    eager = PPOCRSystem(*(init_detector(exported[k][0], str(exported[k][1]), device='cpu')
                          for k in ('det', 'rec', 'cls')), use_angle_cls=True)
    ours = load_exported_ppocr(exported['det'][2], exported['rec'][2], exported['cls'][2], num_threads=1)
    assert ours.use_angle_cls
    page = photos['page']
    assert ours(page)[0].text == 'Region-based segmentation'
    for img in (page, np.ascontiguousarray(page[::-1, ::-1])):
        want, got = eager(img), ours(img)
        assert [g.text for g in got] == [w.text for w in want] and len(want) >= 2
        for g, w in zip(got, want):
            assert np.array_equal(g.quad, w.quad) and g.angle == w.angle
            assert abs(g.score - w.score) < 1e-4 and abs(g.angle_score - w.angle_score) < 1e-4
