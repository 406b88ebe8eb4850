"""MMOCR 1.x's ``TextDetInferencer`` / ``TextRecInferencer`` on the one inference layer, with a tiny DBNet and a tiny
CRNN whose trained weights are saved in tests/data/weights (conftest's TINY_DBNET / TINY_CRNN): each image's JSON is
the model's ``test_step`` output on that image; a folder gives one JSON file and one drawing per image; a PaddleOCR
YAML, a built model with its pipeline and an exported directory run too; mistakes are clear errors."""
from __future__ import annotations

import copy
import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from conftest import REPO
from conftest import TINY_CRNN as REC_MODEL
from conftest import TINY_DBNET as DET_MODEL
from conftest import TINY_DBNET_TEST_PIPELINE as DET_TEST_PIPELINE
from conftest import model_with_saved_weights
from visioncraft.apis import TextDetInferencer, TextRecInferencer
from visioncraft.data.collate import pseudo_collate
from visioncraft.data.transforms import Compose

# every word padded to 160: a word's reading does not depend on the words batched with it
REC_TEST_PIPELINE = [dict(type='LoadImageFromFile', color_type='grayscale'),
                     dict(type='RescaleToHeight', height=32, min_width=32, max_width=160, width_divisor=4),
                     dict(type='PadToWidth', width=160),
                     dict(type='LoadOCRAnnotations', with_text=True),
                     dict(type='PackTextRecogInputs', meta_keys=('img_path', 'ori_shape', 'img_shape', 'valid_ratio'))]


def _config(model: dict, pipeline: list) -> dict:
    ds = dict(type='OCRDataset', data_root='.', ann_file='unused.json', test_mode=True, pipeline=pipeline)
    return dict(model=model, test_dataloader=dict(batch_size=1, num_workers=0, dataset=ds,
                                                  sampler=dict(type='DefaultSampler', shuffle=False)))


@pytest.fixture(scope='module')
def assets(tmp_path_factory):
    """Config files and checkpoints of the tiny DBNet and CRNN, the models themselves, 2 scenes and 3 words."""
    from visioncraft.config import Config
    from visioncraft.data.synthetic.text import generate_text_det
    from visioncraft.data.synthetic.words import generate_text_recog
    from visioncraft.engine.checkpoint import save_checkpoint
    tmp = tmp_path_factory.mktemp('text_inferencers')
    scenes = generate_text_det(tmp / 'scenes', num_train=1, num_val=2, size=(128, 128), seed=0, fonts='default')
    words = generate_text_recog(tmp / 'words', num_train=1, num_val=3, seed=0, max_len=6, word_ratio=0.5,
                                charset='abcdefghijklmnopqrstuvwxyz0123456789', fonts='default')
    out = dict(tmp=tmp, scenes=scenes / 'imgs' / 'val', words=words / 'imgs' / 'val')
    for name, cfg, pipeline, weights in (('det', DET_MODEL, DET_TEST_PIPELINE, 'tiny_dbnet'),
                                         ('rec', REC_MODEL, REC_TEST_PIPELINE, 'tiny_crnn')):
        model = model_with_saved_weights(cfg, weights)
        save_checkpoint(dict(state_dict=model.state_dict()), tmp / f'{name}.pth')
        Config(_config(cfg, pipeline)).dump(tmp / f'{name}.py')
        out.update({f'{name}_model': model, f'{name}_cfg': tmp / f'{name}.py', f'{name}_ckpt': tmp / f'{name}.pth',
                    f'{name}_pipeline': pipeline})
    return out


def _test_step(model, pipeline: list, path: Path):
    """What ``visioncraft test`` computes for one image: the test pipeline from the file, then ``test_step``."""
    steps = [s for s in pipeline if s['type'] != 'LoadOCRAnnotations']
    with torch.no_grad():
        return model.test_step(pseudo_collate([Compose(copy.deepcopy(steps))(dict(img_path=str(path)))]))[0]


def _det_doc(sample) -> dict:
    inst = sample.pred_instances
    return dict(polygons=[np.asarray(p, np.float32).reshape(-1).tolist() for p in inst.polygons],
                scores=inst.scores.float().tolist())


def test_textdet_folder_writes_test_step_json_and_drawings(assets, tmp_path, capsys):
    images = sorted(assets['scenes'].glob('*.jpg'))
    inferencer = TextDetInferencer(str(assets['det_cfg']), str(assets['det_ckpt']), device='cpu',
                                   show_progress=False)
    out = inferencer(str(assets['scenes']), out_dir=tmp_path, no_save_pred=False, return_vis=True,
                     print_result=True)
    want = [_det_doc(_test_step(assets['det_model'], assets['det_pipeline'], p)) for p in images]
    assert sum(len(w['polygons']) for w in want) >= 3, 'the tiny detector found too little text'
    assert out['predictions'] == want
    assert sorted(p.name for p in (tmp_path / 'preds').iterdir()) == [f'{p.stem}.json' for p in images]
    assert sorted(p.name for p in (tmp_path / 'vis').iterdir()) == [p.name for p in images]
    for img, doc, drawn in zip(images, want, out['visualization']):
        assert json.loads((tmp_path / 'preds' / f'{img.stem}.json').read_text()) == doc
        assert drawn.shape == (128, 128, 3) and drawn.dtype == np.uint8
        assert cv2.imread(str(tmp_path / 'vis' / img.name)).shape == (128, 128, 3)
    printed = capsys.readouterr().out
    assert all(f'{p.name}: ' in printed for p in images)
    # an array gives the file's result (the colour pipeline reads both the same); data samples on request
    samples = inferencer(cv2.imread(str(images[0])), return_datasamples=True)['predictions']
    assert _det_doc(samples[0]) == want[0] and samples[0].img_path is None


def test_textrec_json_is_test_step_per_image_and_batches_read_the_same(assets, tmp_path):
    words = sorted(assets['words'].glob('*.jpg'))
    inferencer = TextRecInferencer(str(assets['rec_cfg']), str(assets['rec_ckpt']), device='cpu',
                                   show_progress=False)
    out = inferencer([str(p) for p in words], out_dir=tmp_path, no_save_pred=False, return_datasamples=True)
    for path, sample in zip(words, out['predictions']):
        want = _test_step(assets['rec_model'], assets['rec_pipeline'], path)
        assert (sample.pred_text, sample.pred_score) == (want.pred_text, want.pred_score)
        assert sample.img_path == str(path)
        doc = json.loads((tmp_path / 'preds' / f'{path.stem}.json').read_text())
        assert doc == dict(text=want.pred_text, scores=want.pred_score)
        assert (tmp_path / 'vis' / path.name).is_file()
    assert any(s.pred_text for s in out['predictions']), 'the tiny recogniser read nothing'
    batched = inferencer([str(p) for p in words], batch_size=3)['predictions']
    assert [b['text'] for b in batched] == [s.pred_text for s in out['predictions']]
    np.testing.assert_allclose([b['scores'] for b in batched], [s.pred_score for s in out['predictions']],
                               atol=1e-5)  # float noise of batched BLAS


def test_built_model_and_pipeline_give_the_config_results(assets):
    scene = sorted(assets['scenes'].glob('*.jpg'))[0]
    from_cfg = TextDetInferencer(str(assets['det_cfg']), str(assets['det_ckpt']), device='cpu',
                                 show_progress=False)(str(scene))
    built = TextDetInferencer(assets['det_model'], pipeline=assets['det_pipeline'], show_progress=False)
    assert built.device == 'cpu'  # a built model stays where it is
    assert built(str(scene)) == from_cfg
    with pytest.raises(ValueError, match='needs pipeline='):
        TextDetInferencer(assets['det_model'])
    with pytest.raises(ValueError, match='load them into it first'):
        TextRecInferencer(assets['rec_model'], assets['rec_ckpt'], pipeline=assets['rec_pipeline'])
    with pytest.raises(ValueError, match=r'not a text recogniser \(no decoder\)'):
        TextRecInferencer(assets['det_model'], pipeline=assets['det_pipeline'])


def test_paddleocr_yaml_takes_its_weights_and_eval_transforms(assets, tmp_path):
    from visioncraft.config import load_paddleocr_config
    from visioncraft.engine.checkpoint import save_checkpoint
    from visioncraft.registry import MODELS
    yml = str(REPO / 'configs/rec/rec_tiny_synth.yml')
    cfg = load_paddleocr_config(yml)
    torch.manual_seed(0)
    model = MODELS.build(cfg.model.to_dict()).eval()
    save_checkpoint(dict(state_dict=model.state_dict()), tmp_path / 'rec.pth')
    word = sorted(assets['words'].glob('*.jpg'))[0]
    # the weights from -o Global.pretrained_model, as PaddleOCR's tools/infer_rec.py takes them
    inferencer = TextRecInferencer(yml, device='cpu', show_progress=False,
                                   cfg_options={'Global.pretrained_model': str(tmp_path / 'rec.pth')})
    want = _test_step(model, list(cfg['paddleocr']['inference_pipeline']), word)
    assert inferencer(str(word))['predictions'] == [dict(text=want.pred_text, scores=want.pred_score)]
    with pytest.raises(ValueError, match="model_type is 'rec'; a text detector has 'det'"):
        TextDetInferencer(yml, str(tmp_path / 'rec.pth'), device='cpu')


def test_exported_directories_give_the_config_results(assets):
    from visioncraft.export import export_model
    scenes, words = sorted(assets['scenes'].glob('*.jpg')), sorted(assets['words'].glob('*.jpg'))
    for name in ('det', 'rec'):
        export_model(str(assets[f'{name}_cfg']), str(assets[f'{name}_ckpt']), assets['tmp'] / f'{name}_export',
                     formats=('onnx',))
    det = TextDetInferencer(str(assets['tmp'] / 'det_export'), device='cpu', show_progress=False)
    got = det([str(p) for p in scenes])['predictions']
    want = [_det_doc(_test_step(assets['det_model'], assets['det_pipeline'], p)) for p in scenes]
    for g, w in zip(got, want):
        # the export preprocesses from memory, and a contour pixel on the threshold can move a vertex by 1 px
        assert len(g['polygons']) == len(w['polygons'])
        for gp, wp in zip(g['polygons'], w['polygons']):
            assert np.abs(np.subtract(gp, wp)).max() <= 1.0
        np.testing.assert_allclose(g['scores'], w['scores'], atol=1e-2)
    rec = TextRecInferencer(str(assets['tmp'] / 'rec_export'), device='cpu', show_progress=False)
    config_rec = TextRecInferencer(str(assets['rec_cfg']), str(assets['rec_ckpt']), device='cpu',
                                   show_progress=False)
    arrays = [cv2.imread(str(p)) for p in words]  # both read the same decoded pixels
    got, want = rec(arrays)['predictions'], config_rec(arrays)['predictions']
    assert [g['text'] for g in got] == [w['text'] for w in want]
    np.testing.assert_allclose([g['scores'] for g in got], [w['scores'] for w in want], atol=1e-4)
    with pytest.raises(ValueError, match='an export holds its own weights'):
        TextDetInferencer(str(assets['tmp'] / 'det_export'), str(assets['det_ckpt']))
    with pytest.raises(ValueError, match='exported textdet model, not a text recogniser'):
        TextRecInferencer(str(assets['tmp'] / 'det_export'), device='cpu')


def test_mistakes_are_clear_errors(assets, tmp_path):
    with pytest.raises(FileNotFoundError, match='no such config file or exported model directory'):
        TextDetInferencer(str(tmp_path / 'nope.py'))
    with pytest.raises(FileNotFoundError, match='checkpoint file not found'):
        TextDetInferencer(str(assets['det_cfg']), str(tmp_path / 'nope.pth'))
    with pytest.raises(ValueError, match=r'not a text detector \(no det_head\)'):
        TextDetInferencer(str(assets['rec_cfg']), str(assets['rec_ckpt']), device='cpu')
    with pytest.raises(ValueError, match='give model='):
        TextRecInferencer()
