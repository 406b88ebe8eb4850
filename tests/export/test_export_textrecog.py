"""Export of a CTC text recogniser and the config-free :class:`TextRecogPredictor`: the exported model
(TorchScript and ONNX) reads the same texts with the same scores as the checkpoint through the config's test
pipeline and ``model.predict`` (the inference API), on word images of several widths, one at a time and as one
right-padded batch; ``visioncraft predict`` works on a recogniser directory.

Tolerance: texts equal, scores (means of character probabilities) within 1e-4, probabilities within 1e-4. The
backends run the same graph with different kernels (TorchScript freezing folds BatchNorm into the convolutions,
onnxruntime fuses its own), so probabilities differ by ~1e-6; only a near-tie between two classes of one frame
could change a text, and the trained model's frames are far from ties on these images.

The model is the tiny CRNN with the trained weights saved in tests/data/weights (nothing is trained here): the
guard on how well it reads (>= 2 of 10 training words) holds on every CPU and thread count, since the saved
weights read 5 of them and still do with every weight perturbed by 1e-4 relative noise, 100x the difference two
CPUs' kernels make (tests/data/make_test_weights.py prints these).
"""
from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from conftest import TINY_CRNN as MODEL  # noqa: E402
from conftest import TINY_TEXTRECOG_DATA, model_with_saved_weights  # noqa: E402

# no PadToWidth: crops keep their own widths, so a batch is padded by the data preprocessor (valid_ratio < 1)
TEST_PIPELINE = [dict(type='LoadImageFromFile', color_type='grayscale'),
                 dict(type='RescaleToHeight', height=32, min_width=32, max_width=160, width_divisor=4),
                 dict(type='LoadOCRAnnotations', with_text=True),
                 dict(type='PackTextRecogInputs', meta_keys=('img_path', 'ori_shape', 'img_shape', 'valid_ratio'))]


def recog_config(data_root: Path) -> dict:
    ds = dict(type='OCRDataset', data_root=str(data_root), ann_file='textrecog_train.json', test_mode=True,
              pipeline=TEST_PIPELINE)
    return dict(model=MODEL, test_dataloader=dict(batch_size=1, num_workers=0, dataset=ds,
                                                  sampler=dict(type='DefaultSampler', shuffle=False)))


def tiny_crnn_and_words(data_root: Path) -> tuple[torch.nn.Module, list[np.ndarray], list[str]]:
    """The tiny CRNN with its saved trained weights (eval mode), the training word images (BGR) of ``data_root``
    and their labels."""
    model = model_with_saved_weights(MODEL, 'tiny_crnn')
    data = json.loads((data_root / 'textrecog_train.json').read_text())['data_list']
    images = [cv2.imread(str(data_root / d['img_path'])) for d in data]
    return model, images, [d['instances'][0]['text'] for d in data]


@pytest.fixture(scope='module')
def exported(tmp_path_factory):
    from visioncraft.config import Config
    from visioncraft.data.synthetic.words import generate_text_recog
    from visioncraft.engine.checkpoint import save_checkpoint
    from visioncraft.export import export_model
    tmp = tmp_path_factory.mktemp('export_recog')
    root = generate_text_recog(tmp / 'words', **TINY_TEXTRECOG_DATA)
    model, images, labels = tiny_crnn_and_words(root)
    ckpt = tmp / 'tiny_crnn.pth'
    save_checkpoint(dict(state_dict=model.state_dict(), meta=dict(dataset_meta=dict(classes=('text',)))), ckpt)
    cfg_file = tmp / 'tiny_crnn.py'
    Config(recog_config(root)).dump(cfg_file)
    written = export_model(str(cfg_file), str(ckpt), tmp / 'inference')
    img_dir = tmp / 'crops'
    img_dir.mkdir()
    for i in range(6):
        cv2.imwrite(str(img_dir / f'word_{i}.png'), images[i])
    return dict(cfg=cfg_file, ckpt=ckpt, model_dir=tmp / 'inference', images=images, labels=labels,
                written=written, img_dir=img_dir)


def test_export_directory(exported):
    import onnx
    d = exported['model_dir']
    assert set(exported['written']) == {'torchscript', 'onnx', 'inference.json', 'dictionary.txt'}
    info = json.loads((d / 'inference.json').read_text())
    assert info['task'] == 'textrecog' and info['model_type'] == 'CRNN'
    assert [s['type'] for s in info['preprocess']['pipeline']] == ['LoadImageFromNDArray', 'RescaleToHeight',
                                                                   'PackTextRecogInputs']
    assert info['preprocess']['pipeline'][0]['color_type'] == 'grayscale'
    assert info['preprocess']['data_preprocessor'] == dict(type='TextRecogDataPreprocessor', mean=[127.5],
                                                           std=[127.5], bgr_to_rgb=False, pad_size_divisor=1,
                                                           pad_value=0.0)
    post = info['postprocess']
    assert post['type'] == 'CTCCodec' and post['blank'] == 'first' and post['blank_idx'] == 0 and \
        post['num_classes'] == 37 and post['beam_width'] == 1
    assert post['dictionary']['characters'] == list('0123456789abcdefghijklmnopqrstuvwxyz')
    assert post['dictionary']['case'] == 'lower' and post['dictionary']['dict_file'] == 'dictionary.txt'
    assert (d / 'dictionary.txt').read_text().split('\n')[:-1] == post['dictionary']['characters']
    graph = onnx.load(str(d / 'model.onnx'))
    dims = [x.dim_param or x.dim_value for x in graph.graph.input[0].type.tensor_type.shape.dim]
    assert dims == ['batch', 1, 32, 'width']


def test_exported_equals_checkpoint(exported):
    from visioncraft.apis import inference_detector, init_detector
    from visioncraft.data.collate import pseudo_collate
    from visioncraft.export import TextRecogPredictor
    model = init_detector(str(exported['cfg']), str(exported['ckpt']), device='cpu')
    ort = TextRecogPredictor(exported['model_dir'], backend='onnxruntime')
    ts = TextRecogPredictor(exported['model_dir'], backend='torchscript')
    images, labels = exported['images'][:10], exported['labels'][:10]
    refs = [inference_detector(model, img) for img in images]
    widths = {int(r.metainfo['img_shape'][1]) for r in refs}
    assert len(widths) >= 4, f'want crops of several widths, got {widths}'
    right = sum(r.pred_text == lab.lower() for r, lab in zip(refs, labels))
    assert right >= 2, f'the tiny model reads {right} of 10 training words; the comparison would prove little'
    for predictor in (ort, ts):
        for img, ref in zip(images, refs):  # one crop at a time
            text, score, chars = predictor(img)
            assert text == ref.pred_text, f'{predictor.backend}: {text!r} vs {ref.pred_text!r}'
            assert abs(score - ref.pred_score) <= 1e-4
            np.testing.assert_allclose(chars, ref.pred_char_scores, atol=1e-4)
    # one batch of all ten, padded on the right to the widest: the checkpoint's test_step on the same batch
    batch, samples = ort.preprocess(images)
    assert batch.shape[0] == 10 and batch.shape[-1] == max(widths)
    with torch.no_grad():
        want_probs = model(batch, mode='tensor')
        packed = [inference_pipeline_sample(model, img) for img in images]
        want = model.test_step(pseudo_collate(packed))
    for predictor in (ort, ts):
        np.testing.assert_allclose(predictor.forward(batch).numpy(), want_probs.numpy(), atol=1e-4)
        got = predictor(images)
        assert [g[0] for g in got] == [w.pred_text for w in want], predictor.backend
        np.testing.assert_allclose([g[1] for g in got], [w.pred_score for w in want], atol=1e-4)


def inference_pipeline_sample(model, img: np.ndarray) -> dict:
    """``img`` through the model config's test pipeline (in memory), packed, not batched."""
    from visioncraft.apis.inference_pipeline import build_inference_pipeline as _test_pipeline
    return _test_pipeline(model.cfg, True)(dict(img=img))


def test_predict_command_on_recogniser(exported, tmp_path, capsys):
    from visioncraft.cli.main import main
    from visioncraft.export import TextRecogPredictor
    main(['predict', str(exported['img_dir']), '--model-dir', str(exported['model_dir']), '--out-dir',
          str(tmp_path / 'out')])
    lines = (tmp_path / 'out' / 'rec_results.txt').read_text().splitlines()
    assert len(lines) == 6
    # the six crops run as one batch (--batch-size 8): the same batch through the predictor
    names = sorted(p.name for p in exported['img_dir'].iterdir())
    want = TextRecogPredictor(exported['model_dir'])([cv2.imread(str(exported['img_dir'] / n)) for n in names])
    for line, n, (text, score, _) in zip(lines, names, want):
        assert line.split('\t')[0] == n and line.split('\t')[1] == text
        assert abs(float(line.split('\t')[2]) - score) < 1e-3


def test_beam_width_override_and_errors(exported, tmp_path):
    from visioncraft.export import TextDetPredictor, TextRecogPredictor, load_predictor
    img = exported['images'][0]
    greedy = TextRecogPredictor(exported['model_dir'])(img)
    beam = TextRecogPredictor(exported['model_dir'], beam_width=4)
    assert beam.codec.beam_width == 4 and isinstance(beam(img)[0], str)
    assert greedy[0] == TextRecogPredictor(exported['model_dir'], beam_width=1)(img)[0]
    assert isinstance(load_predictor(exported['model_dir']), TextRecogPredictor)
    with pytest.raises(ValueError, match="task is 'textrecog', TextDetPredictor needs a text-detection export"):
        TextDetPredictor(exported['model_dir'])
    broken = tmp_path / 'broken'
    broken.mkdir()
    for f in ('inference.json', 'model.onnx'):
        (broken / f).write_bytes((exported['model_dir'] / f).read_bytes())
    with pytest.raises(FileNotFoundError, match='dictionary.txt not found'):
        TextRecogPredictor(broken)
