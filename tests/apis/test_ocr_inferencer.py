"""End-to-end OCR (:class:`OCRInferencer`, ``visioncraft ocr``) with a tiny DBNet and a tiny CRNN whose trained
weights are saved in tests/data/weights (tests/data/make_test_weights.py trains them on the data generated here):
the texts are the recogniser's own readings of the crops, exported models give the config + checkpoint results,
the command writes JSON + pictures and evaluates, and mistakes are one-line errors.

The guards on how much text the detector finds (>= 4 regions on the 3 validation scenes) hold on every CPU and
thread count: nothing is trained here, the saved weights find 10 regions, and the count stays 10 with every weight
perturbed by 1e-4 relative noise (100x the difference two CPUs' kernels make; see make_test_weights.py). The
scenes use Pillow's bundled font only (``fonts='default'``), so they are the same bytes on every machine.
"""
from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest

from conftest import TINY_CRNN as REC_MODEL
from conftest import TINY_DBNET as DET_MODEL
from conftest import TINY_DBNET_TEST_PIPELINE as DET_TEST_PIPELINE
from conftest import TINY_TEXTDET_DATA, TINY_TEXTRECOG_DATA, model_with_saved_weights

# every crop padded to 160: a crop's reading does not depend on the crops batched with it
REC_TEST_PIPELINE = [dict(type='LoadImageFromFile', color_type='grayscale'),
                     dict(type='RescaleToHeight', height=32, min_width=32, max_width=160, width_divisor=4),
                     dict(type='PadToWidth', width=160),
                     dict(type='LoadOCRAnnotations', with_text=True),
                     dict(type='PackTextRecogInputs',
                          meta_keys=('img_path', 'ori_shape', 'img_shape', 'valid_ratio'))]


def _config(model: dict, pipeline: list, root: Path, ann: str) -> dict:
    ds = dict(type='OCRDataset', data_root=str(root), ann_file=ann, test_mode=True, pipeline=pipeline)
    return dict(model=model, test_dataloader=dict(batch_size=1, num_workers=0, dataset=ds,
                                                  sampler=dict(type='DefaultSampler', shuffle=False)))


@pytest.fixture(scope='module')
def models(tmp_path_factory):
    """Config files, checkpoints and export directories of the tiny DBNet and the tiny CRNN (saved weights; see the
    module docstring), and the 3 validation scenes."""
    from visioncraft.config import Config
    from visioncraft.data.synthetic.text import generate_text_det
    from visioncraft.data.synthetic.words import generate_text_recog
    from visioncraft.engine.checkpoint import save_checkpoint
    from visioncraft.export import export_model
    tmp = tmp_path_factory.mktemp('ocr')
    det_root = generate_text_det(tmp / 'scenes', **TINY_TEXTDET_DATA)
    rec_root = generate_text_recog(tmp / 'words', **TINY_TEXTRECOG_DATA)
    det = model_with_saved_weights(DET_MODEL, 'tiny_dbnet')
    rec = model_with_saved_weights(REC_MODEL, 'tiny_crnn')
    out = dict(root=det_root, tmp=tmp)
    for name, model, cfg in (('det', det, _config(DET_MODEL, DET_TEST_PIPELINE, det_root, 'textdet_val.json')),
                             ('rec', rec, _config(REC_MODEL, REC_TEST_PIPELINE, rec_root, 'textrecog_val.json'))):
        ckpt = tmp / f'{name}.pth'
        save_checkpoint(dict(state_dict=model.state_dict(), meta=dict(dataset_meta=dict(classes=('text',)))), ckpt)
        Config(cfg).dump(tmp / f'{name}.py')
        export_model(str(tmp / f'{name}.py'), str(ckpt), tmp / f'{name}_export')
        out.update({f'{name}_cfg': tmp / f'{name}.py', f'{name}_ckpt': ckpt, f'{name}_dir': tmp / f'{name}_export'})
    out['images'] = sorted((det_root / 'imgs' / 'val').glob('*.jpg'))
    return out


@pytest.fixture(scope='module')
def config_ocr(models):
    from visioncraft.apis import OCRInferencer
    return OCRInferencer(models['det_cfg'], models['rec_cfg'], det_weights=models['det_ckpt'],
                         rec_weights=models['rec_ckpt'], batch_size=3)


def test_texts_are_the_recognisers_readings_of_the_crops(models, config_ocr):
    from visioncraft.apis import inference_detector, init_detector
    from visioncraft.tasks.textrecog.utils import crop_text_region
    det = init_detector(str(models['det_cfg']), str(models['det_ckpt']), device='cpu')
    rec = init_detector(str(models['rec_cfg']), str(models['rec_ckpt']), device='cpu')
    results = config_ocr([str(p) for p in models['images']])
    assert len(results) == 3 and sum(len(r) for r in results) >= 4, 'the tiny detector found too little text'
    for path, res in zip(models['images'], results):
        img = cv2.imread(str(path))
        pred = inference_detector(det, img).pred_instances
        assert len(res) == len(pred.polygons)
        for r, poly, score in zip(res, pred.polygons, pred.scores.tolist()):
            assert set(r) == {'polygon', 'det_score', 'text', 'rec_score'}
            np.testing.assert_allclose(r['polygon'], np.asarray(poly).reshape(-1), atol=0.01)
            assert abs(r['det_score'] - score) < 1e-6
            want = inference_detector(rec, crop_text_region(img, poly))  # one crop at a time
            assert r['text'] == want.pred_text and abs(r['rec_score'] - want.pred_score) < 1e-5
    # an array gives what its file gives; batching (batch_size 3 over 3 images' crops) changed nothing
    again = config_ocr(cv2.imread(str(models['images'][0])))
    assert [r['text'] for r in again] == [r['text'] for r in results[0]]
    assert [r['polygon'] for r in again] == [r['polygon'] for r in results[0]]
    assert set(config_ocr.timings) == {'det_pre', 'det_model', 'det_post', 'crop', 'rec'}
    assert config_ocr.timings['det_model'] > 0 and config_ocr.timings['rec'] > 0


def test_recognition_batches_are_sorted_by_width(config_ocr, monkeypatch):
    seen = []
    original = config_ocr.recognizer

    def spy(crops):
        seen.append([c.shape[1] / c.shape[0] for c in crops])
        return original(crops)

    monkeypatch.setattr(config_ocr, 'recognizer', spy)
    rng = np.random.default_rng(0)
    crops = [rng.integers(0, 255, (20, w, 3), dtype=np.uint8) for w in (90, 20, 60, 40, 120, 30, 70)]
    out = config_ocr.recognize(crops)
    assert [len(b) for b in seen] == [3, 3, 1]
    flat = [r for b in seen for r in b]
    assert flat == sorted(flat)
    alone = [original([c])[0] for c in crops]  # back in input order (scores: float noise of batched BLAS)
    assert [o[0] for o in out] == [a[0] for a in alone]
    np.testing.assert_allclose([o[1] for o in out], [a[1] for a in alone], atol=1e-5)


def test_exported_models_give_the_config_results(models, config_ocr):
    from visioncraft.apis import OCRInferencer
    want = config_ocr([str(p) for p in models['images']])
    compared = 0
    for backend in ('onnxruntime', 'torchscript'):
        exported = OCRInferencer(models['det_dir'], models['rec_dir'], batch_size=3, backend=backend)
        got = exported([str(p) for p in models['images']])
        for g_img, w_img in zip(got, want):
            assert len(g_img) == len(w_img), backend
            for g, w in zip(g_img, w_img):
                # same polygons (a contour pixel on the threshold could move a vertex by 1 px, see
                # tests/export/test_export_textdet.py), then the same readings of the same crops
                assert np.abs(np.subtract(g['polygon'], w['polygon'])).max() <= 1.0
                assert abs(g['det_score'] - w['det_score']) <= 1e-3
                if np.allclose(g['polygon'], w['polygon']):
                    assert g['text'] == w['text'] and abs(g['rec_score'] - w['rec_score']) <= 1e-4, backend
                    compared += 1
    assert compared >= 8, f'only {compared} regions had identical polygons on both paths'
    # mixed: exported detector, config recogniser
    mixed = OCRInferencer(models['det_dir'], models['rec_cfg'], rec_weights=models['rec_ckpt'])
    assert [[r['text'] for r in res] for res in mixed([str(p) for p in models['images']])] == \
        [[r['text'] for r in res] for res in want]


def test_cli_writes_json_and_pictures(models, tmp_path):
    from visioncraft.cli.main import main
    img_dir = models['root'] / 'imgs' / 'val'
    out = main(['ocr', str(img_dir), '--det', str(models['det_dir']), '--rec', str(models['rec_cfg']),
                '--rec-weights', str(models['rec_ckpt']), '--out-dir', str(tmp_path / 'o'), '--batch-size', '2'])
    for p in models['images']:
        doc = json.loads((tmp_path / 'o' / f'{p.stem}.json').read_text())
        assert doc['img_path'] == str(p) and (doc['height'], doc['width']) == (128, 128)
        assert doc['results'] == out[p.name]
        pic = cv2.imread(str(tmp_path / 'o' / f'{p.stem}_ocr.jpg'))
        assert pic.shape == (128, 256, 3)
    assert sum(len(v) for v in out.values()) >= 4


def test_cli_eval(models, tmp_path, capsys):
    from visioncraft.cli.main import main
    metrics = main(['ocr', str(models['root']), '--eval', str(models['root'] / 'textdet_val.json'), '--det',
                    str(models['det_dir']), '--rec', str(models['rec_dir']), '--out-dir', str(tmp_path / 'e'),
                    '--no-draw'])
    saved = json.loads((tmp_path / 'e' / 'eval.json').read_text())
    assert saved['e2e/hmean'] == metrics['e2e/hmean'] and saved['num_images'] == 3
    # (the tiny detector is too coarse for IoU > 0.5: the scores themselves are checked in the next test)
    assert 0 <= metrics['e2e/hmean'] <= metrics['icdar/hmean'] <= 1
    gt = [i for d in json.loads((models['root'] / 'textdet_val.json').read_text())['data_list']
          for i in d['instances'] if not i['ignore']]
    assert metrics['num_gt'] == len(gt) and metrics['stage_seconds']['det_post'] > 0
    assert len(list((tmp_path / 'e').glob('img_*.json'))) == 3 and not list((tmp_path / 'e').glob('*.jpg'))
    assert 'e2e/hmean' in capsys.readouterr().out


def test_evaluate_ocr_scores_texts(models, config_ocr, monkeypatch):
    """With the ground-truth polygons as detections, the e2e hmean is 1 when the texts are the ground truth's
    (case-folded, as the recogniser would read them) and 0 when they are wrong; detection hmean is 1 both times.
    The scenes' words with symbols ('7-11', '$9') are counted as outside the 36-character dictionary."""
    from visioncraft.apis import evaluate_ocr
    data = {d['img_path']: d for d in json.loads((models['root'] / 'textdet_val.json').read_text())['data_list']}
    order = list(data)
    calls = iter(range(len(order)))

    def fake(texts_right):
        def predict(images):
            entry = data[order[next(calls)]]
            return [[dict(polygon=i['polygon'], det_score=0.9, rec_score=1.0,
                          text=i['text'].lower() if texts_right else 'zz') for i in entry['instances']
                     if not i['ignore']]]
        return predict

    monkeypatch.setattr(config_ocr, 'predict', fake(True))
    right = evaluate_ocr(config_ocr, models['root'] / 'textdet_val.json')
    assert right['icdar/hmean'] == 1.0 and right['e2e/hmean'] == 1.0 and right['word_accuracy_matched'] == 1.0
    calls = iter(range(len(order)))
    monkeypatch.setattr(config_ocr, 'predict', fake(False))
    wrong = evaluate_ocr(config_ocr, models['root'] / 'textdet_val.json')
    assert wrong['icdar/hmean'] == 1.0 and wrong['e2e/hmean'] == 0.0 and wrong['word_accuracy_matched'] == 0.0
    gt = [i['text'] for d in data.values() for i in d['instances'] if not i['ignore']]
    assert right['num_gt'] == len(gt)
    assert right['num_gt_outside_dictionary'] == sum(any(not c.isalnum() for c in t) for t in gt)


@pytest.mark.parametrize('argv, message', [
    (['IMGS', '--det', 'DET_CFG', '--rec', 'REC_DIR'], '--det DET_CFG is a config file: give its checkpoint with '
                                                      '--det-weights'),
    (['IMGS', '--det', 'nowhere', '--rec', 'REC_DIR'], '--det nowhere: no such config file or exported model'),
    (['IMGS', '--det', 'EMPTY', '--rec', 'REC_DIR'], 'not an exported model directory (no inference.json'),
    (['IMGS', '--det', 'REC_DIR', '--rec', 'REC_DIR'], 'the export is a textrecog model, --det needs a textdet one'),
    (['IMGS', '--det', 'DET_DIR', '--rec', 'DET_CFG', '--rec-weights', 'DET_CKPT'], 'is not a text recogniser'),
    (['IMGS', '--det', 'DET_DIR', '--det-weights', 'DET_CKPT', '--rec', 'REC_DIR'], 'an export holds its own'),
    (['IMGS', '--det', 'DET_CFG', '--det-weights', 'missing.pth', '--rec', 'REC_DIR'],
     'checkpoint file not found: missing.pth'),
    (['nothing.jpg', '--det', 'DET_DIR', '--rec', 'REC_DIR'], 'image file or folder not found: nothing.jpg'),
    (['IMGS', '--det', 'DET_DIR', '--rec', 'REC_DIR', '--eval', 'no_ann.json'],
     'annotation file not found: no_ann.json'),
])
def test_clear_errors(models, tmp_path, capsys, argv, message):
    from visioncraft.cli.main import main, run_cli
    (tmp_path / 'EMPTY').mkdir()
    subs = dict(IMGS=str(models['root'] / 'imgs' / 'val'), DET_CFG=str(models['det_cfg']),
                DET_CKPT=str(models['det_ckpt']), DET_DIR=str(models['det_dir']), REC_DIR=str(models['rec_dir']),
                EMPTY=str(tmp_path / 'EMPTY'))
    if '--eval' in argv:
        subs['IMGS'] = str(models['root'])
    argv = ['ocr'] + [subs.get(a, a) for a in argv]
    message = message.replace('DET_CFG', str(models['det_cfg']))
    with pytest.raises(SystemExit) as exc:
        run_cli(main, argv)
    err = capsys.readouterr().err + (exc.value.code if isinstance(exc.value.code, str) else '')
    assert message in err and 'Traceback' not in err, err
    assert len(err.strip().splitlines()) == 1


def test_crop_margin(models, config_ocr, monkeypatch):
    from visioncraft.apis import OCRInferencer
    from visioncraft.tasks.textrecog.utils import expand_text_quad
    quad = [10, 20, 50, 20, 50, 40, 10, 40]  # 40 x 20, TL TR BR BL
    np.testing.assert_allclose(expand_text_quad(quad, 0.25), [[5, 15], [55, 15], [55, 45], [5, 45]], atol=1e-5)
    np.testing.assert_allclose(expand_text_quad(quad, 0.0), np.reshape(quad, (4, 2)))
    c, s = np.cos(0.5), np.sin(0.5)  # rotated quad: grows along its own axes
    rot = np.array([[0, 0], [40, 0], [40, 20], [0, 20]]) @ np.array([[c, s], [-s, c]])
    grown = expand_text_quad(rot.reshape(-1), 0.25)
    assert abs(np.linalg.norm(grown[1] - grown[0]) - 50) < 1e-4 and abs(np.linalg.norm(grown[3] - grown[0]) - 30) < 1e-4
    # the inferencer cuts the grown quads: its crops are 1 + 2 * margin times as high
    seen = []
    wide = OCRInferencer(models['det_dir'], models['rec_dir'], crop_margin=0.5)
    monkeypatch.setattr(wide, 'recognize', lambda crops: seen.extend(crops) or [('', 0.0)] * len(crops))
    tight = OCRInferencer(models['det_dir'], models['rec_dir'])
    tight_seen = []
    monkeypatch.setattr(tight, 'recognize', lambda crops: tight_seen.extend(crops) or [('', 0.0)] * len(crops))
    img = cv2.imread(str(models['images'][0]))
    wide(img)
    tight(img)
    assert len(seen) == len(tight_seen) >= 1
    assert all(a.shape[0] > b.shape[0] for a, b in zip(seen, tight_seen))
    with pytest.raises(ValueError, match='crop_margin must be in'):
        OCRInferencer(models['det_dir'], models['rec_dir'], crop_margin=-1)
