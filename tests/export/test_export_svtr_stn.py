"""Export of SVTR with its STN (thin-plate-spline) rectifier: ONNX Runtime gives PyTorch's rectified images and
class probabilities within 1e-4, and the same texts, including when the predicted control points lie outside the
image (the sampling grid is clamped to the border, as MMOCR clamps it).

Why this needed care (see stn.py): the rectified image moves with the sampling grid by ~255 pixels per unit of the
grid, so a grid that differs by 1e-6 between two runtimes moves sharp edges by 1e-3 of their height. Two things did
that before: the TPS products ``target_coordinate_repr @ (inverse_kernel @ points)`` cancel large radial weights in
float32 (~3e-6 apart between PyTorch's and ONNX Runtime's matrix kernels; the spline is now folded into one
well-conditioned matrix in float64), and ONNX Runtime's ``Resize`` rounds the ``align_corners`` source coordinates
otherwise than ``F.interpolate`` (~7e-5 on the localisation network's input; the export writes the resize with
PyTorch's indices and weights). ``GridSample`` itself, at the clamped border included, agrees to ~5e-7.

The model is a tiny SVTR with weights drawn from a seeded generator (parity holds for any weights); the STN's last
layer gets a random weight (so the points depend on the image) and a stand-in bias that puts the control points
outside the image on three sides (asserted: part of the grid is clamped, part is not).
"""
from __future__ import annotations


import cv2
import numpy as np
import pytest
import torch
from recog_export_lib import export_tiny_recognizer, neutral_seeded_state

DICTIONARY = dict(type='Dictionary', builtin='lower_english_digits', with_padding=True, with_unknown=True)
STN_CFG = dict(type='STN', in_channels=3, resized_image_size=(32, 64), output_image_size=(32, 64),
               num_control_points=20, margins=[0.05, 0.05])
MODEL = dict(
    type='SVTR',
    preprocessor=STN_CFG,
    encoder=dict(type='SVTREncoder', img_size=[32, 64], in_channels=3, out_channels=24, embed_dims=[16, 24, 32],
                 depth=[1, 1, 1], num_heads=[2, 2, 2], mixer_types=['Local', 'Global', 'Global'],
                 window_size=[[7, 11], [7, 11], [7, 11]], merging_types='Conv', prenorm=False, max_seq_len=16),
    decoder=dict(type='SVTRDecoder', in_channels=24, module_loss=dict(type='CTCModuleLoss', letter_case='lower'),
                 postprocessor=dict(type='CTCPostProcessor'), dictionary=DICTIONARY),
    data_preprocessor=dict(type='TextRecogDataPreprocessor', mean=[127.5], std=[127.5]))
TEST_PIPELINE = [dict(type='LoadImageFromFile'),
                 dict(type='Resize', scale=(128, 32), keep_ratio=False),
                 dict(type='LoadOCRAnnotations', with_text=True),
                 dict(type='PackTextRecogInputs', meta_keys=('img_path', 'ori_shape', 'img_shape', 'valid_ratio'))]


def outside_points() -> torch.Tensor:
    """20 x 2 stand-in control points (x, y in [0, 1] of the image): the top row from x = -0.2 to 1.15 at y = -0.15,
    the bottom row from x = 0.1 to 0.9 at y = 0.9, so the grid leaves the image on the left, right and top."""
    xs_top, xs_bottom = torch.linspace(-0.2, 1.15, 10), torch.linspace(0.1, 0.9, 10)
    return torch.cat([torch.stack([xs_top, torch.full((10,), -0.15)], 1),
                      torch.stack([xs_bottom, torch.full((10,), 0.9)], 1)])


def seeded_weights(model: torch.nn.Module, seed: int = 0) -> dict[str, torch.Tensor]:
    """Weights N(0, 1 / fan_in), norms near neutral, BatchNorm statistics varied; the STN's built TPS buffers and
    SVTR's window masks kept; ``stn_fc2``: weight N(0, 0.05^2) (the points move ~0.05 with the image), bias
    :func:`outside_points`."""
    g = torch.Generator().manual_seed(seed + 1000)
    state = neutral_seeded_state(model, seed, keep=lambda name: '.tps.' in name or name.endswith('mask'))
    state['preprocessor.stn_fc2.weight'] = torch.randn(40, 512, generator=g) * 0.05
    state['preprocessor.stn_fc2.bias'] = outside_points().reshape(-1)
    state['decoder.decoder.weight'] *= 4.0  # peaked probabilities: the best class leads by far more than 1e-4
    return state


def word_images() -> list[np.ndarray]:
    """BGR word pictures of several sizes: dark text on a light background (sharp, anti-aliased edges), light text
    on dark, and blurred noise."""
    rng = np.random.default_rng(3)
    out = []
    for (h, w), text, fg, bg in (((40, 150), 'stn42', 20, 235), ((32, 128), 'grid', 240, 30),
                                 ((48, 200), 'border', 60, 200)):
        img = np.full((h, w, 3), bg, np.uint8)
        cv2.putText(img, text, (4, h - 10), cv2.FONT_HERSHEY_SIMPLEX, h / 40, (fg, fg, fg), 2, cv2.LINE_AA)
        out.append(img)
    noise = rng.integers(0, 256, (36, 120, 3)).astype(np.float32)
    out.append(np.clip(cv2.GaussianBlur(noise, (0, 0), 1.0), 0, 255).astype(np.uint8))
    return out


@pytest.fixture(scope='module')
def exported(tmp_path_factory):
    from visioncraft.registry import MODELS
    tmp = tmp_path_factory.mktemp('export_svtr_stn')
    return export_tiny_recognizer(tmp, 'tiny_svtr_stn', MODEL, TEST_PIPELINE, seeded_weights(MODELS.build(MODEL)),
                                  formats=('onnx',))


def test_svtr_with_stn_onnx_equals_checkpoint(exported):
    from visioncraft.apis import inference_detector, init_detector
    from visioncraft.export import TextRecogPredictor
    model = init_detector(str(exported['cfg']), str(exported['ckpt']), device='cpu')
    predictor = TextRecogPredictor(exported['model_dir'], backend='onnxruntime')
    images = word_images()
    batch, samples = predictor.preprocess(images)
    with torch.no_grad():
        want = model(batch, samples, mode='tensor')
        grid = model.preprocessor.tps.grid_weights @ model.preprocessor.stn_fc2.bias.view(20, 2)
    clamped = ((grid < 0) | (grid > 1)).float().mean().item()
    assert 0.05 < clamped < 0.95, f'the stand-in points should put part of the grid outside the image ({clamped})'
    got = predictor.forward(batch)
    np.testing.assert_allclose(got, want, atol=1e-4, rtol=0)
    texts = [text for text, _, _ in predictor(images)]
    refs = [inference_detector(model, img).pred_text for img in images]
    assert texts == refs and len(set(refs)) > 1, (texts, refs)


def test_stn_rectified_image_onnx_equals_pytorch(exported, tmp_path):
    """The rectified image itself (the part that amplifies any grid difference), exported alone with a dynamic
    width, on the word pictures as the recogniser sees them, at the graph's traced size and at other widths."""
    import onnxruntime as ort
    from visioncraft.apis import init_detector
    from visioncraft.export import TextRecogPredictor
    from visioncraft.export.core import export_onnx
    model = init_detector(str(exported['cfg']), str(exported['ckpt']), device='cpu')
    stn = model.preprocessor.eval()
    predictor = TextRecogPredictor(exported['model_dir'], backend='onnxruntime')
    batch, _ = predictor.preprocess(word_images())
    path = tmp_path / 'stn.onnx'
    export_onnx(stn, batch[:1], path, input_names=('input',), output_names=('rectified',),
                dynamic_axes={'input': {0: 'batch', 3: 'width'}, 'rectified': {0: 'batch'}}, opset=17)
    sess = ort.InferenceSession(str(path), providers=['CPUExecutionProvider'])
    wide = torch.nn.functional.interpolate(batch, (32, 200), mode='bilinear', align_corners=False)
    for x in (batch, wide, batch[..., :96]):
        with torch.no_grad():
            want = stn(x).numpy()
        got = sess.run(None, {'input': x.numpy()})[0]
        np.testing.assert_allclose(got, want, atol=1e-4, rtol=0)


def test_folded_spline_is_mmocrs_two_products_and_follows_loaded_buffers():
    """The folded map equals MMOCR's ``target_coordinate_repr @ (inverse_kernel @ [points; padding])`` (in float64:
    the float32 products are what disagreed), is not in the state dict, and is refolded when a state dict with other
    TPS buffers loads."""
    from visioncraft.tasks.textrecog.models.stn import TPSTransform
    tps, other = TPSTransform((8, 16), 6, (0.05, 0.05)), TPSTransform((8, 16), 6, (0.2, 0.1))
    assert not any(k.startswith('grid_') for k in tps.state_dict())
    points = outside_points()[[0, 4, 9, 10, 14, 19]][None]

    def two_products(t):
        rhs = torch.cat([points.double(), t.padding_matrix.double()[None]], 1)
        return (t.target_coordinate_repr.double() @ (t.inverse_kernel.double() @ rhs))[0]

    assert torch.allclose(tps.grid_weights @ points[0], two_products(tps).float(), atol=1e-6)
    tps.load_state_dict(other.state_dict())
    assert torch.allclose(tps.grid_weights @ points[0], two_products(other).float(), atol=1e-6)
    assert not torch.allclose(two_products(tps), two_products(TPSTransform((8, 16), 6, (0.05, 0.05))), atol=1e-3)
