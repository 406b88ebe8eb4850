"""Export of an attention text recogniser (NRTR: modality transform -> transformer encoder -> NRTRDecoder) and the
config-free :class:`AttentionRecogPredictor`: the encoder and the decoder's memory and step graphs, run by the
decoder's own greedy / beam-search loop, read the same texts with the same character scores as the checkpoint
through the config's test pipeline and ``model.predict``, on crops of several widths, one at a time and as one
right-padded batch (the encoder's self-attention and the cross attention masked by each crop's ``valid_ratio``: the
encoder graph takes the crops' valid fractions), on ONNX Runtime and TorchScript.

Tolerance: texts equal; character scores (softmax probabilities) within 1e-5. The model is a tiny NRTR with weights
drawn from a seeded generator (parity holds for any weights), the classifier scaled so that each step's best token
leads the next by far more than the backends' ~1e-6 differences (the closest call on these crops: 0.07), the
padding and unknown tokens' biases lowered and the end token's raised so that the texts end at different lengths
(asserted), not all at ``max_seq_len``.
"""
from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
import torch
from recog_export_lib import export_tiny_recognizer, neutral_seeded_state

MAX_SEQ_LEN = 8
DICTIONARY = dict(type='Dictionary', builtin='lower_english_digits', with_start=True, with_end=True,
                  same_start_end=True, with_padding=True, with_unknown=True)
MODEL = dict(
    type='NRTR',
    data_preprocessor=dict(type='TextRecogDataPreprocessor', mean=[127.5] * 3, std=[64.0] * 3),
    backbone=dict(type='NRTRModalityTransform', in_channels=3, input_height=32, out_channels=32),
    encoder=dict(type='NRTREncoder', n_layers=1, n_head=2, d_k=16, d_v=16, d_model=32, d_inner=32),
    decoder=dict(type='NRTRDecoder', n_layers=2, d_embedding=32, n_head=2, d_k=16, d_v=16, d_model=32, d_inner=32,
                 n_position=16, codec=dict(type='AttentionCodec', dictionary=DICTIONARY, max_seq_len=MAX_SEQ_LEN)))
# no PadToWidth: crops keep their widths, a batch is padded on the right by the data preprocessor
TEST_PIPELINE = [dict(type='LoadImageFromFile'),
                 dict(type='RescaleToHeight', height=32, min_width=16, max_width=128, width_divisor=4),
                 dict(type='LoadOCRAnnotations', with_text=True),
                 dict(type='PackTextRecogInputs', meta_keys=('img_path', 'ori_shape', 'img_shape', 'valid_ratio'))]
SIZES = [(32, 40), (30, 90), (40, 160), (24, 64), (32, 128), (28, 50)]  # (h, w) of the crops


def seeded_weights(model: torch.nn.Module, seed: int = 0) -> dict[str, torch.Tensor]:
    """:func:`neutral_seeded_state`, the classifier x4 and the end token's bias +2 (see the module docstring)."""
    state = neutral_seeded_state(model, seed)
    state['decoder.classifier.weight'] *= 4.0
    codec = model.decoder.codec
    bias = state['decoder.classifier.bias']
    bias[codec.end_idx] += 3.35  # the crops' texts then end after 0, 3, 5 characters or not at all
    bias[codec.pad_idx] -= 4.0
    bias[codec.dictionary.unknown_idx] -= 4.0
    return state


def crops() -> list[np.ndarray]:
    """Word-crop-sized BGR pictures: a colour of their own with blurred noise over it."""
    rng = np.random.default_rng(5)
    out = []
    for h, w in SIZES:
        img = rng.integers(0, 256, 3)[None, None] * 0.7 + rng.integers(0, 256, (h, w, 3)) * 0.3
        out.append(np.clip(cv2.GaussianBlur(img.astype(np.float32), (0, 0), 1.0), 0, 255).astype(np.uint8))
    return out


@pytest.fixture(scope='module')
def exported(tmp_path_factory):
    from visioncraft.registry import MODELS
    tmp = tmp_path_factory.mktemp('export_attn')
    out = export_tiny_recognizer(tmp, 'tiny_nrtr', MODEL, TEST_PIPELINE, seeded_weights(MODELS.build(MODEL)))
    return dict(out, crops=crops())


def test_export_directory(exported):
    import onnx
    d = exported['model_dir']
    assert set(exported['written']) == {'torchscript', 'onnx', 'inference.json', 'dictionary.txt',
                                        'decoder_memory.pt', 'decoder_memory.onnx', 'decoder_step.pt',
                                        'decoder_step.onnx'}
    info = json.loads((d / 'inference.json').read_text())
    assert info['task'] == 'textrecog' and info['model_type'] == 'NRTR' and info['outputs'] == ['feat']
    assert info['inputs'] == ['input', 'valid_fracs']  # NRTREncoder masks the padding: the graph takes the fractions
    encoder = onnx.load(str(d / 'model.onnx'))
    assert [i.name for i in encoder.graph.input] == ['input', 'valid_fracs']
    assert encoder.graph.input[1].type.tensor_type.elem_type == onnx.TensorProto.DOUBLE
    post = info['postprocess']
    assert post['type'] == 'AttentionCodec' and post['max_seq_len'] == MAX_SEQ_LEN
    assert post['num_classes'] == 36 + 3 and post['start_idx'] == post['end_idx'] == 36
    assert post['decoder']['num_layers'] == 2
    assert post['decoder']['files']['step'] == {'torchscript': 'decoder_step.pt', 'onnx': 'decoder_step.onnx'}
    assert (d / 'dictionary.txt').read_text().split('\n')[:-1] == post['dictionary']['characters']
    step = onnx.load(str(d / 'decoder_step.onnx'))
    assert [i.name for i in step.graph.input] == ['tokens', 'pos', 'cache_k', 'cache_v', 'mem_k', 'mem_v',
                                                  'mem_mask']
    dims = [x.dim_param or x.dim_value for x in step.graph.input[2].type.tensor_type.shape.dim]
    assert dims == [2, 'batch', 2, 'steps', 16]


def test_exported_equals_checkpoint(exported):
    from visioncraft.apis import inference_detector, init_detector
    from visioncraft.export import AttentionRecogPredictor, load_predictor
    model = init_detector(str(exported['cfg']), str(exported['ckpt']), device='cpu')
    predictors = [AttentionRecogPredictor(exported['model_dir'], backend='onnxruntime'),
                  AttentionRecogPredictor(exported['model_dir'], backend='torchscript')]
    assert isinstance(load_predictor(exported['model_dir'], backend='torchscript'), AttentionRecogPredictor)
    images = exported['crops']
    refs = [inference_detector(model, img) for img in images]
    assert len({int(r.metainfo['img_shape'][1]) for r in refs}) >= 4
    lengths = {len(r.pred_char_scores) for r in refs}
    assert len(lengths) >= 2 and min(lengths) < MAX_SEQ_LEN - 1, f'want texts of several lengths, got {lengths}'
    for predictor in predictors:
        for img, ref in zip(images, refs):  # one crop at a time
            text, score, chars = predictor(img)
            assert text == ref.pred_text, f'{predictor.backend}: {text!r} vs {ref.pred_text!r}'
            np.testing.assert_allclose(chars, ref.pred_char_scores, atol=1e-5, rtol=0)
            assert abs(score - ref.pred_score) <= 1e-5
    # all six as one batch padded to the widest: the checkpoint's predict on the same batch and samples
    batch, samples = predictors[0].preprocess(images)
    fracs = model.valid_fractions(batch, samples)
    assert batch.shape[0] == len(images) and min(fracs) < 0.5
    with torch.no_grad():
        want = model(batch, samples, mode='predict')
        feat = model.extract_feat(batch, fracs)
        unmasked = model.extract_feat(batch)
    # the padding mask changes the encoder output of the padded crops (by far more than the backends differ)
    assert (feat - unmasked).abs().amax(dim=(1, 2)).min() == 0 and (feat - unmasked).abs().max() > 1e-2
    for predictor in predictors:
        np.testing.assert_allclose(predictor.forward(batch, fracs), feat, atol=1e-5, rtol=0)
        for (text, score, chars), ref in zip(predictor(images), want):
            assert text == ref.pred_text, predictor.backend
            np.testing.assert_allclose(chars, ref.pred_char_scores, atol=1e-5, rtol=0)


def test_encoder_without_padding_mask_has_one_input(exported, tmp_path):
    """A recogniser whose encoder does not mask the padding (here: none, the decoder reads the backbone's columns)
    exports an encoder graph of one input, as before valid_fracs; the predictor reads it like the checkpoint."""
    from visioncraft.apis import init_detector
    from visioncraft.config import Config
    from visioncraft.export import AttentionRecogPredictor, export_model
    cfg = Config.fromfile(str(exported['cfg']))
    cfg.model.type, cfg.model.encoder = 'EncoderDecoderRecognizer', None  # NRTR would fill in its default encoder
    model = init_detector(cfg, None, device='cpu')
    state = seeded_weights(model, seed=1)
    model.load_state_dict(state)
    ckpt = tmp_path / 'no_encoder.pth'
    torch.save({'state_dict': state}, ckpt)
    export_model(cfg, str(ckpt), tmp_path / 'no_encoder', formats=('onnx',))
    assert json.loads((tmp_path / 'no_encoder' / 'inference.json').read_text())['inputs'] == ['input']
    predictor = AttentionRecogPredictor(tmp_path / 'no_encoder', backend='onnxruntime')
    batch, samples = predictor.preprocess(exported['crops'])
    with torch.no_grad():
        want = model(batch, samples, mode='predict')
    for (text, score, chars), ref in zip(predictor(exported['crops']), want):
        assert text == ref.pred_text
        np.testing.assert_allclose(chars, ref.pred_char_scores, atol=1e-5, rtol=0)


def test_beam_search_and_cli(exported, tmp_path):
    from visioncraft.apis import init_detector
    from visioncraft.cli.main import main
    from visioncraft.export import AttentionRecogPredictor, export_model
    # beam search with these weights prefers the empty text (one likely token beats eight); with the end token's
    # bias lowered the texts run to max_seq_len and the beams compete over characters
    model = init_detector(str(exported['cfg']), None, device='cpu')
    state = seeded_weights(model)
    state['decoder.classifier.bias'][model.decoder.codec.end_idx] -= 10.0
    model.load_state_dict(state)
    ckpt = tmp_path / 'no_end.pth'
    torch.save({'state_dict': state}, ckpt)
    export_model(str(exported['cfg']), str(ckpt), tmp_path / 'no_end', formats=('onnx',))
    model.decoder.beam_width = 3
    predictor = AttentionRecogPredictor(tmp_path / 'no_end', backend='onnxruntime', beam_width=3)
    greedy = AttentionRecogPredictor(tmp_path / 'no_end', backend='onnxruntime')
    images = exported['crops']
    differ = 0
    for img in images:
        batch, samples = predictor.preprocess([img])
        with torch.no_grad():
            want = model(batch, samples, mode='predict')[0]
        text, score, chars = predictor(img)
        assert text == want.pred_text
        np.testing.assert_allclose(chars, want.pred_char_scores, atol=1e-5, rtol=0)
        differ += text != greedy(img)[0]
    assert differ >= 1, 'beam search read every crop as greedy decoding does: the test would not tell them apart'
    # `visioncraft predict` on an attention-recogniser directory reads each image as one word
    images = images[:3]
    img_dir = tmp_path / 'crops'
    img_dir.mkdir()
    for i, img in enumerate(images):
        cv2.imwrite(str(img_dir / f'w{i}.png'), img)
    results = main(['predict', str(img_dir), '--model-dir', str(exported['model_dir']), '--backend',
                    'torchscript', '--out-dir', str(tmp_path / 'out'), '--batch-size', '1'])
    greedy = AttentionRecogPredictor(exported['model_dir'], backend='torchscript')
    assert {k: v[0] for k, v in results.items()} == {f'w{i}.png': greedy(img)[0] for i, img in enumerate(images)}
    assert (tmp_path / 'out' / 'rec_results.txt').read_text().count('\n') == 3
