"""ResNet31OCR (MMOCR's ResNet-31 for SAR / NRTR): MMOCR's parameter names and shapes, the output size and strides of
NRTR's two R31 layouts, out_indices, and a tiny NRTR on it that trains and predicts."""
from __future__ import annotations

import pytest
import torch

import visioncraft  # noqa: F401
from visioncraft.registry import MODELS
from visioncraft.structures import DataSample

NRTR_R31 = dict(type='ResNet31OCR', layers=[1, 2, 5, 3], channels=[32, 64, 128, 256, 512, 512],
                stage4_pool_cfg=dict(kernel_size=(2, 1), stride=(2, 1)), last_stage_pool=True)


def mmocr_names(layers, channels, base_channels=3) -> dict[str, tuple]:
    """The state dict MMOCR's ResNet31OCR has (names -> shapes), written out from its layout: conv1_1 / conv1_2 and
    the per-stage conv{i} are biased 3x3 convs with bn*; block{i}.{j} are BasicBlocks (conv1, bn1, conv2, bn2 without
    bias) whose first block has downsample.0 (1x1 conv) / downsample.1 (BN) when the channels change."""
    out: dict[str, tuple] = {}

    def conv(name, cin, cout, k, bias=True):
        out[f'{name}.weight'] = (cout, cin, k, k)
        if bias:
            out[f'{name}.bias'] = (cout,)

    def bn(name, c):
        for p in ('weight', 'bias', 'running_mean', 'running_var'):
            out[f'{name}.{p}'] = (c,)
        out[f'{name}.num_batches_tracked'] = ()

    conv('conv1_1', base_channels, channels[0], 3)
    bn('bn1_1', channels[0])
    conv('conv1_2', channels[0], channels[1], 3)
    bn('bn1_2', channels[1])
    cin = channels[1]
    for i in range(2, 6):
        cout = channels[i]
        for j in range(layers[i - 2]):
            conv(f'block{i}.{j}.conv1', cin, cout, 3, bias=False)
            bn(f'block{i}.{j}.bn1', cout)
            conv(f'block{i}.{j}.conv2', cout, cout, 3, bias=False)
            bn(f'block{i}.{j}.bn2', cout)
            if cin != cout:
                conv(f'block{i}.{j}.downsample.0', cin, cout, 1, bias=False)
                bn(f'block{i}.{j}.downsample.1', cout)
            cin = cout
        conv(f'conv{i}', cout, cout, 3)
        bn(f'bn{i}', cout)
    return out


# NRTR's channels / MMOCR's default channels, scaled down by 16 (which stages change width, and so have a
# downsample, is what matters for the names)
@pytest.mark.parametrize('layers,channels', [([1, 2, 5, 3], [2, 4, 8, 16, 32, 32]),
                                             ([1, 2, 5, 3], [4, 8, 16, 16, 32, 32, 32])])
def test_state_dict_has_mmocr_names_and_shapes(layers, channels):
    m = MODELS.build(dict(type='ResNet31OCR', layers=layers, channels=channels))
    got = {k: tuple(v.shape) for k, v in m.state_dict().items()}
    assert got == mmocr_names(layers, channels)


@pytest.mark.parametrize('last_stage_pool,hw,stride', [(True, (2, 20), 8), (False, (4, 40), 4)])
def test_nrtr_layouts_output_size_and_stride(last_stage_pool, hw, stride):
    # NRTR's R31 configs: 1/16 x 1/8 with the last pool, 1/8 x 1/4 without; 32 x 160 word images
    m = MODELS.build(dict(NRTR_R31, channels=[4, 8, 8, 8, 16, 16], last_stage_pool=last_stage_pool)).eval()
    with torch.no_grad():
        y = m(torch.rand(2, 3, 32, 160))
    assert tuple(y.shape) == (2, 16, *hw)
    assert m.out_channels == [16] and m.strides == [stride]
    with torch.no_grad():  # ceil_mode pools: an odd width rounds up
        assert m(torch.rand(1, 3, 32, 100)).shape[-1] == -(-100 // stride)


def test_out_indices_return_the_stage_maps():
    m = MODELS.build(dict(type='ResNet31OCR', layers=[1, 1, 1, 1], channels=[4, 8, 8, 12, 16, 16],
                          out_indices=[0, 1, 2, 3])).eval()
    with torch.no_grad():
        outs = m(torch.rand(1, 3, 32, 64))
    assert [tuple(o.shape[1:]) for o in outs] == [(8, 16, 32), (12, 8, 16), (16, 4, 16), (16, 4, 16)]
    assert m.out_channels == [8, 12, 16, 16] and m.strides == [2, 4, 4, 4]


@pytest.mark.parametrize('bad,match', [(dict(layers=[1, 2]), 'layers'), (dict(channels=[8, 8, 8]), 'channels'),
                                       (dict(out_indices=[4]), 'out_indices'),
                                       (dict(stage4_pool_cfg=dict(kernel_size=2, padding=1)), 'stage4_pool_cfg')])
def test_bad_arguments_are_named(bad, match):
    with pytest.raises(ValueError, match=match):
        MODELS.build(dict(type='ResNet31OCR', **bad))
    with pytest.raises(ValueError, match='base_channels=3'):
        m = MODELS.build(dict(type='ResNet31OCR', channels=[4, 4, 4, 4, 4, 4], layers=[1, 1, 1, 1]))
        m(torch.rand(1, 1, 32, 32))


def test_tiny_nrtr_on_resnet31_trains_and_predicts():
    dictionary = dict(type='Dictionary', builtin='lower_english_digits', with_start=True, with_end=True,
                      same_start_end=True, with_padding=True, with_unknown=True)
    model = MODELS.build(dict(
        type='NRTR', backbone=dict(NRTR_R31, layers=[1, 1, 1, 1], channels=[4, 8, 8, 8, 16, 16]),
        encoder=dict(type='NRTREncoder', n_layers=1, n_head=2, d_k=8, d_v=8, d_model=16, d_inner=16),
        decoder=dict(type='NRTRDecoder', n_layers=1, d_embedding=16, n_head=2, d_k=8, d_v=8, d_model=16, d_inner=16,
                     max_seq_len=6, module_loss=dict(type='CEModuleLoss', ignore_first_char=True, flatten=True),
                     postprocessor=dict(type='AttentionPostprocessor'), dictionary=dictionary),
        data_preprocessor=dict(type='TextRecogDataPreprocessor', mean=[127.5] * 3, std=[64.0] * 3)))
    samples = []
    for text, ratio in (('ab1', 1.0), ('c', 0.5)):
        s = DataSample(metainfo=dict(img_shape=(32, 64), valid_ratio=ratio))
        s.gt_text = text
        samples.append(s)
    batch = dict(inputs=[torch.randint(0, 255, (3, 32, 64), dtype=torch.uint8) for _ in samples], data_samples=samples)
    data = model.data_preprocessor(batch, training=True)
    losses = model(**data, mode='loss')
    total = sum(losses.values())
    assert torch.isfinite(total)
    total.backward()
    assert model.backbone.conv1_1.weight.grad is not None
    model.eval()
    with torch.no_grad():
        out = model(**model.data_preprocessor(batch), mode='predict')
    assert len(out) == 2 and all(isinstance(o.pred_text, str) for o in out)


def test_nrtr_encoder_masks_a_multi_row_map_as_mmocr_does():
    # R31's maps have 2 or 4 rows; MMOCR's NRTREncoder flattens them row by row and keeps the first
    # ceil(valid_ratio * H * W) positions (its checkpoints were trained so): those positions' outputs are the
    # encoder's output on them alone
    enc = MODELS.build(dict(type='NRTREncoder', in_channels=16, n_layers=2, n_head=2, d_k=8, d_v=8, d_model=16,
                            d_inner=16)).eval()
    feat = torch.randn(1, 16, 2, 10)
    with torch.no_grad():
        masked = enc(feat, [0.3])                                    # ceil(0.3 * 20) = 6 positions, all of row 0
        alone = enc(feat.flatten(2).transpose(1, 2)[:, :6])
    assert masked.shape == (1, 20, 16)
    assert torch.allclose(masked[:, :6], alone, atol=1e-5)
