"""The PP-OCR commands: ``visioncraft ocr IMG`` with no model runs PP-OCRv4 (named models, official weights converted
once from rapidocr_onnxruntime's ONNX files and cached) and prints the lines PaddleOCR's pipeline reads (the
reference: rapidocr's ONNX Runtime port at PaddleOCR's settings, :class:`visioncraft.apis.ppocr_reference.
ReferencePPOCR`); ``--cls`` turns upside-down lines; ``visioncraft import-weights`` tells the three official files
apart and writes checkpoints their configs load; every mistake is one ``error:`` line."""
from __future__ import annotations

import importlib.util
import json

import cv2
import numpy as np
import pytest
import torch

from conftest import REPO
from visioncraft.cli.main import main, run_cli

pytest.importorskip('rapidocr_onnxruntime', reason='test extra: pip install --no-deps rapidocr-onnxruntime==1.4.4')
skdata = pytest.importorskip('skimage.data', reason='test extra: scikit-image (its page() photo)')

from visioncraft.apis.ppocr_reference import ReferencePPOCR  # noqa: E402
from visioncraft.apis.ppocr_weights import rapidocr_model_path  # noqa: E402

DET_CFG = str(REPO / 'configs/quickstart/textdet_synth.py')


@pytest.fixture(scope='module')
def page() -> np.ndarray:
    return cv2.cvtColor(skdata.page(), cv2.COLOR_GRAY2BGR)


def _one_error_line(argv, capsys) -> str:
    with pytest.raises(SystemExit) as exc:
        run_cli(main, argv)
    err = capsys.readouterr().err.strip().splitlines()
    assert exc.value.code == 2 and len(err) == 1 and err[0].startswith('error: '), err
    return err[0]


def test_ocr_with_no_model_prints_the_lines_paddleocrs_pipeline_reads(page, tmp_path, capsys):
    img = tmp_path / 'page.png'
    cv2.imwrite(str(img), page)
    cache, out = tmp_path / 'cache', tmp_path / 'out'
    main(['ocr', str(img), '--cache-dir', str(cache), '--out-dir', str(out), '--device', 'cpu'])
    printed = capsys.readouterr().out.splitlines()
    reference = ReferencePPOCR()(page)
    assert len(reference) == 4 and reference[0][1] == 'Region-based segmentation'
    assert printed[0] == f'{img}: 4 text lines'
    assert printed[1:5] == [f'  {text}' for _, text, _ in reference]
    doc = json.loads((out / 'page.json').read_text())
    assert [r['text'] for r in doc['results']] == [text for _, text, _ in reference]
    for r, (quad, _, score) in zip(doc['results'], reference):
        assert np.array_equal(np.reshape(r['polygon'], (4, 2)), quad)  # the same whole-pixel quads
        assert abs(r['rec_score'] - score) < 1e-4
    assert cv2.imread(str(out / 'page_ocr.jpg')).shape == (191, 768, 3)
    assert sorted(p.name.split('-')[0] for p in (cache / 'ppocr').glob('*.pth')) == ['ppocrv4_mobile_det',
                                                                                    'ppocrv4_mobile_rec']

    # a folder holding the page's top upside down, with --cls: the direction classifier turns the lines round
    (tmp_path / 'page.png').unlink()
    cv2.imwrite(str(tmp_path / 'upside_down.png'), cv2.rotate(page[:72], cv2.ROTATE_180))
    main(['ocr', str(tmp_path), '--cls', '--cache-dir', str(cache), '--out-dir', str(out)])
    doc = json.loads((out / 'upside_down.json').read_text())
    ref = ReferencePPOCR(use_angle_cls=True)(cv2.rotate(page[:72], cv2.ROTATE_180))
    assert [r['text'] for r in doc['results']] == [text for _, text, _ in ref] and len(ref) == 2
    assert all(r['angle'] == '180' and r['angle_score'] > 0.9 for r in doc['results'])


def test_cached_weights_are_used_and_a_torn_entry_is_converted_again(tmp_path, monkeypatch):
    from visioncraft.apis import ppocr_models
    model = ppocr_models.load_ppocr_model('ppocr_mobile_v2.0_cls', cache_dir=tmp_path)
    entry, = (tmp_path / 'ppocr').glob('ppocr_mobile_v2.0_cls-*.pth')
    meta = torch.load(entry, weights_only=True)['meta']
    assert meta['config'] == 'configs/_base_/models/ppocr_mobile_v2.0_cls.py' and meta['layers'] == 89
    calls = []
    real = ppocr_models.import_ppocr_weights
    monkeypatch.setattr(ppocr_models, 'import_ppocr_weights', lambda *a, **k: calls.append(a) or real(*a, **k))
    again = ppocr_models.load_ppocr_model('ppocr_mobile_v2.0_cls', cache_dir=tmp_path)
    assert not calls and all(torch.equal(a, b) for a, b in zip(model.state_dict().values(),
                                                              again.state_dict().values()))
    entry.write_bytes(entry.read_bytes()[:100])  # torn: converted again, and the entry rewritten whole
    ppocr_models.load_ppocr_model('ppocr_mobile_v2.0_cls', cache_dir=tmp_path)
    assert len(calls) == 1 and torch.load(entry, weights_only=True)['meta']['layers'] == 89


def test_ocr_without_rapidocr_says_what_to_install(page, tmp_path, capsys, monkeypatch):
    import visioncraft.apis.ppocr_weights as weights
    real = importlib.util.find_spec
    monkeypatch.setattr(weights.importlib.util, 'find_spec',
                        lambda name, *a: None if name == 'rapidocr_onnxruntime' else real(name, *a))
    cv2.imwrite(str(tmp_path / 'page.png'), page)
    line = _one_error_line(['ocr', str(tmp_path / 'page.png'), '--cache-dir', str(tmp_path)], capsys)
    assert 'rapidocr_onnxruntime package is not installed' in line
    assert 'pip install --no-deps rapidocr-onnxruntime==1.4.4' in line


@pytest.mark.parametrize('args, message', [
    (['--det', 'PP-OCRv4', '--rec', DET_CFG], '--det PP-OCRv4 is a named model but --rec'),
    (['--det', 'PP-OCRv9'], '--det PP-OCRv9: no such config file or exported model directory, and not a named '
                            'model (named: PP-OCRv4)'),
    (['--det', DET_CFG], '--rec is needed with --det'),
    (['--det', 'PP-OCRv4', '--det-weights', 'x.pth'], 'given with the named model PP-OCRv4'),
    (['--det', DET_CFG, '--det-weights', 'x.pth', '--rec', DET_CFG, '--cls'], '--cls runs PaddleOCR'),
    (['--crop-margin', '0.1'], '--crop-margin: the named system PP-OCRv4'),
])
def test_ocr_named_model_mistakes_are_one_line(page, tmp_path, capsys, args, message):
    cv2.imwrite(str(tmp_path / 'page.png'), page)
    line = _one_error_line(['ocr', str(tmp_path / 'page.png'), '--cache-dir', str(tmp_path), *args], capsys)
    assert message in line, line


def test_import_weights_tells_the_files_apart_and_the_configs_load_them(tmp_path, capsys):
    from visioncraft.apis import init_detector
    from visioncraft.apis.ppocr_weights import build_ppocr_model, import_ppocr_weights
    expected = {'ch_ppocr_mobile_v2.0_cls_infer.onnx': ('ppocr_mobile_v2.0_cls', 89,
                                                        'configs/_base_/models/ppocr_mobile_v2.0_cls.py'),
                'ch_PP-OCRv4_rec_infer.onnx': ('ppocrv4_mobile_rec', 114, 'configs/ppocr/ppocrv4_mobile_rec.py')}
    for onnx_file, (name, layers, config) in expected.items():
        out = tmp_path / f'{name}.pth'
        res = main(['import-weights', str(rapidocr_model_path(onnx_file)), '--out', str(out)])  # no --model
        assert (res['model'], res['layers'], res['config']) == (name, layers, config)
        ckpt = torch.load(out, weights_only=True)
        assert ckpt['meta']['model'] == name and ckpt['meta']['config'] == config and ckpt['meta']['deploy']
        # the config named in the checkpoint builds the model and loads every weight, equal to the import
        model = init_detector(str(REPO / config), str(out), device='cpu')
        direct, _ = import_ppocr_weights(name)
        assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), direct.state_dict().values()))
    assert 'fine-tune: visioncraft train configs/ppocr/ppocrv4_mobile_rec.py --cfg-options load_from=' in \
        capsys.readouterr().out
    assert build_ppocr_model('ppocrv4_mobile_rec') is not None


@pytest.mark.parametrize('src, extra, message', [
    ('inference.pdmodel', [], 'inference.pdiparams are missing'),  # Paddle's files: read (tests/fileio/test_paddle*)
    ('model.pdparams', [], 'model.pdparams: not a readable .pdparams pickle'),
    ('paddle_dir', [], 'inference.pdmodel is missing'),
    ('REC_ONNX', ['--model', 'ppocrv4_det'], 'does not fit ppocrv4_mobile_det: DBNet runs 119 parameterised layers'),
    ('missing.onnx', [], 'missing.onnx: no such file'),
])
def test_import_weights_mistakes_are_one_line(tmp_path, capsys, src, extra, message):
    (tmp_path / 'inference.pdmodel').write_bytes(b'\x00')
    (tmp_path / 'model.pdparams').write_bytes(b'\x00')
    (tmp_path / 'paddle_dir').mkdir()
    (tmp_path / 'paddle_dir' / 'inference.pdiparams').write_bytes(b'\x00')
    path = str(rapidocr_model_path('ch_PP-OCRv4_rec_infer.onnx')) if src == 'REC_ONNX' else str(tmp_path / src)
    line = _one_error_line(['import-weights', path, '--out', str(tmp_path / 'o.pth'), *extra], capsys)
    assert message in line, line
    assert not (tmp_path / 'o.pth').exists()
