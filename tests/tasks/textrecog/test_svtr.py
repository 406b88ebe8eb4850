"""SVTREncoder: shapes, the local-mixing window, variable widths, and that it learns."""
import pytest
import torch

from conftest import assert_gradient_step_lowers_loss, saved_state_dict
from visioncraft.tasks.textrecog.models.svtr import SVTREncoder, local_mixing_mask

TINY = dict(img_size=(32, 64), embed_dims=(16, 24, 32), depth=(1, 1, 1), num_heads=(2, 2, 2),
            out_channels=24, drop_path_rate=0.0)


def test_local_mixing_mask_is_the_window():
    m = local_mixing_mask(3, 5, (3, 3))
    # token (1, 2) (index 7) sees rows 0-2 x cols 1-3, nothing else
    seen = {(k // 5, k % 5) for k in torch.nonzero(m[7] == 0).flatten().tolist()}
    assert seen == {(r, c) for r in range(3) for c in range(1, 4)}
    # token (0, 0) sees (0..1) x (0..1)
    assert {(k // 5, k % 5) for k in torch.nonzero(m[0] == 0).flatten().tolist()} == {(0, 0), (0, 1), (1, 0), (1, 1)}
    assert torch.isinf(m).sum() == m.numel() - (m == 0).sum()


def test_svtr_shapes_and_variable_width():
    torch.manual_seed(0)
    enc = SVTREncoder(**TINY).eval()
    assert enc(torch.randn(2, 3, 32, 64)).shape == (2, 16, 24) and enc.out_channels == [24]  # W / 4 columns
    assert enc(torch.randn(1, 3, 32, 100)).shape == (1, 25, 24)  # pos embedding resized
    with pytest.raises(ValueError, match='height must be a multiple of 16'):
        enc(torch.randn(1, 3, 24, 64))
    with pytest.raises(ValueError, match='mixer_types needs 3 entries'):
        SVTREncoder(**dict(TINY, mixer_types=['Local']))


def test_local_mixing_only_sees_the_window():
    """With only local mixing and one stage, a change far away in the image cannot reach a column."""
    torch.manual_seed(0)
    enc = SVTREncoder(img_size=(16, 128), embed_dims=(16,), depth=(1,), num_heads=(2,), mixer_types=['Local'],
                      window_size=(3, 3), out_channels=8, drop_path_rate=0.0).eval()
    x = torch.randn(1, 3, 16, 128)
    y = x.clone()
    y[..., 100:] += 5.0  # columns >= 25 (tokens) change; patch embed has a receptive field of 7 px
    a, b = enc(x), enc(y)
    # token column j sees columns j-1..j+1 and the stride-4 patch embed sees pixels up to 4j+4+3
    assert torch.allclose(a[0, :22], b[0, :22], atol=1e-5)
    assert not torch.allclose(a[0, 26:], b[0, 26:])


def ctc_toy_problem() -> tuple[torch.Tensor, torch.Tensor]:
    """4 fixed 2-character 'words' made of bar patterns: images (4 x 3 x 32 x 64) and labels (4 x 2, classes 1-4)."""
    imgs = torch.zeros(4, 3, 32, 64)
    labels = torch.tensor([[1, 2], [2, 3], [3, 4], [4, 1]])
    for i, lab in enumerate(labels):
        for j, c in enumerate(lab):
            imgs[i, :, 8 * c.item() - 8:8 * c.item(), 32 * j + 4:32 * j + 28] = 1.0
    return imgs, labels


def svtr_ctc_toy_model() -> torch.nn.ModuleDict:
    """The encoder (TINY) and a linear 5-class CTC head, ``torch.manual_seed(0)`` first."""
    torch.manual_seed(0)
    return torch.nn.ModuleDict(dict(enc=SVTREncoder(**TINY), head=torch.nn.Linear(24, 5)))


def ctc_toy_loss(model: torch.nn.ModuleDict, imgs: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    logp = model['head'](model['enc'](imgs)).log_softmax(-1).transpose(0, 1)  # T x N x C
    return torch.nn.CTCLoss(blank=0, zero_infinity=True)(logp, labels, torch.full((4,), logp.shape[0]),
                                                         torch.full((4,), 2))


def test_svtr_fits_a_ctc_toy_problem():
    """Encoder + linear CTC head learn to read 4 fixed 2-character 'words' made of bar patterns: a gradient step
    lowers the CTC loss by its first-order amount (see ``conftest.gradient_step``), and the weights 300 AdamW
    steps give (saved, see tests/data/make_test_weights.py) read all four. Neither depends on a training
    trajectory, so both hold on every CPU and thread count."""
    imgs, labels = ctc_toy_problem()
    model = svtr_ctc_toy_model()
    assert_gradient_step_lowers_loss(model, lambda: ctc_toy_loss(model, imgs, labels))
    model.load_state_dict(saved_state_dict('svtr_ctc_toy'))
    model.eval()
    with torch.no_grad():
        loss = ctc_toy_loss(model, imgs, labels)
        best = model['head'](model['enc'](imgs)).argmax(-1)
    decoded = [[c for k, c in enumerate(row.tolist()) if c != 0 and (k == 0 or row[k - 1] != c)] for row in best]
    assert decoded == labels.tolist(), (loss.item(), decoded)


def test_svtr_recognizer_from_the_config_trains_and_predicts():
    """configs/textrecog/svtr builds MMOCR's SVTR-Tiny (STN ~2 M + encoder ~4 M parameters, as published); a
    narrowed copy runs loss + predict on MMOCR's 64 x 256 input."""
    from conftest import REPO
    from visioncraft.config import Config
    from visioncraft.registry import MODELS
    from visioncraft.structures import DataSample
    cfg = Config.fromfile(REPO / 'configs/textrecog/svtr/svtr-tiny_20e_st_mj.py')
    full = MODELS.build(cfg.model)
    assert type(full.preprocessor).__name__ == 'STN'
    assert 3.5e6 < sum(p.numel() for p in full.encoder.parameters()) < 4.5e6
    cfg.model.encoder.update(TINY, img_size=(32, 100), mixer_types=['Local', 'Local', 'Global'])
    cfg.model.decoder.in_channels = TINY['out_channels']
    model = MODELS.build(cfg.model)
    samples = [DataSample(metainfo=dict(img_shape=(64, 256), valid_ratio=1.0), gt_text=t) for t in ('ab', 'c9')]
    losses = model(torch.randn(2, 3, 64, 256), samples, mode='loss')
    losses['loss_ctc'].backward()
    assert torch.isfinite(losses['loss_ctc']) and model.encoder.absolute_pos_embed.grad is not None
    assert model.preprocessor.stn_fc2.weight.grad is not None  # the rectifier learns through the TPS sampling
    model.eval()
    out = model(torch.randn(2, 3, 64, 256), samples, mode='predict')
    assert all(isinstance(s.pred_text, str) and 0.0 <= s.pred_score <= 1.0 for s in out)
