"""ResNet's folded-norm and channels-last paths and FPN's broadcast top-down add give the plain results."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from visioncraft.models import FPN, ResNet
from visioncraft.models.necks.fpn import _add_upsampled


def _pair(depth: int, norm: str, dtype=torch.float32, **kw) -> tuple[ResNet, ResNet]:
    """(plain, fast) ResNets with equal, non-trivial norm parameters and statistics."""
    torch.manual_seed(0)
    plain = ResNet(depth=depth, norm_cfg=dict(type=norm), fold_bn=False, channels_last=False, **kw)
    g = torch.Generator().manual_seed(1)
    for m in plain.modules():
        if hasattr(m, 'running_var'):
            m.running_var.uniform_(0.5, 2.0, generator=g)
            m.running_mean.uniform_(-0.2, 0.2, generator=g)
            m.weight.data.uniform_(0.5, 1.5, generator=g)
            m.bias.data.uniform_(-0.2, 0.2, generator=g)
    fast = ResNet(depth=depth, norm_cfg=dict(type=norm), fold_bn=True, **kw)
    report = fast.load_state_dict(plain.state_dict())
    assert not report.missing_keys and not report.unexpected_keys
    return plain.to(dtype), fast.to(dtype)


@pytest.mark.parametrize('depth', [18, 50])
@pytest.mark.parametrize('norm', ['FrozenBN', 'BN'])
def test_folded_outputs_equal_unfolded(depth, norm):
    plain, fast = _pair(depth, norm, frozen_stages=1)
    x = torch.rand(2, 3, 64, 96)
    for mode in ('eval', 'train'):  # norm_eval: BN uses running statistics in both
        getattr(plain, mode)(), getattr(fast, mode)()
        with torch.no_grad():
            ref, got = plain(x), fast(x)
        for a, b in zip(ref, got):
            assert b.is_contiguous(memory_format=torch.channels_last)  # default on CPU
            assert ((a - b).abs().max() / a.abs().max()).item() < 1e-5


@pytest.mark.parametrize('norm', ['FrozenBN', 'BN'])
def test_folded_gradients_equal_unfolded(norm):
    """Training with frozen norms (FrozenBN, or BN with norm_eval and trainable affine parameters): every
    gradient equals the unfolded model's (float64, so rounding does not hide a wrong formula)."""
    plain, fast = _pair(50, norm, dtype=torch.float64, frozen_stages=1)
    plain.train(), fast.train()
    x = torch.rand(2, 3, 32, 64, dtype=torch.float64)
    for model in (plain, fast):
        sum((o * torch.linspace(-1, 1, o.shape[-1], dtype=o.dtype)).sum() for o in model(x)).backward()
    grads = 0
    for (name, p), q in zip(plain.named_parameters(), fast.parameters()):
        if not p.requires_grad:
            assert q.grad is None and p.grad is None, name  # frozen stem / stage 1 stay frozen
            continue
        # float64: differences are rounding only (~1e-15 of the largest entry); a wrong formula is >> 1e-10
        assert (q.grad - p.grad).abs().max() <= 1e-10 * p.grad.abs().max(), name
        grads += 1
    assert grads > 0
    if norm == 'BN':  # the affine parameters of norm_eval BN layers train through the folded weights
        assert fast.layer2[0].bn1.weight.grad is not None and fast.layer2[0].bn1.weight.grad.abs().sum() > 0


def test_default_folds_frozen_bn_only():
    """FrozenBN models take the fast path by default; BN models run torchvision's exact operations."""
    assert ResNet(depth=18, norm_cfg=dict(type='FrozenBN')).fold_bn
    assert not ResNet(depth=18).fold_bn
    x = torch.rand(1, 3, 32, 32)
    with torch.no_grad():
        assert ResNet(depth=18, norm_cfg=dict(type='FrozenBN')).eval()(x)[0].is_contiguous(
            memory_format=torch.channels_last)
        assert ResNet(depth=18).eval()(x)[0].is_contiguous()
        assert ResNet(depth=18, fold_bn=True, channels_last=False).eval()(x)[0].is_contiguous()


def test_training_bn_is_not_folded():
    """BatchNorm that updates its statistics (norm_eval=False, train mode) runs as itself."""
    plain, fast = _pair(18, 'BN', norm_eval=False)
    plain.train(), fast.train()
    x = torch.rand(2, 3, 64, 64)
    for a, b in zip(plain(x), fast(x)):  # channels-last batch statistics: float rounding only (~1e-5)
        assert ((a - b).abs().max() / a.abs().max()).item() < 5e-5
    torch.testing.assert_close(fast.layer3[0].bn1.running_mean, plain.layer3[0].bn1.running_mean)
    assert fast.layer3[0].bn1.num_batches_tracked.item() == 1


def test_state_dict_keys_unchanged():
    plain, fast = _pair(50, 'FrozenBN')
    assert list(fast.state_dict()) == list(plain.state_dict())
    assert 'layer1.0.bn1.running_var' in fast.state_dict() and 'bn1.weight' in fast.state_dict()


def test_channels_last_equals_contiguous():
    torch.manual_seed(0)
    a = ResNet(depth=18, channels_last=False).eval()
    b = ResNet(depth=18, channels_last=True).eval()
    b.load_state_dict(a.state_dict())
    x = torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        for u, v in zip(a(x), b(x)):
            assert u.is_contiguous() and v.is_contiguous(memory_format=torch.channels_last)
            torch.testing.assert_close(v, u, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize('channels_last', [False, True])
def test_fpn_broadcast_add_equals_interpolate(channels_last):
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    fine = torch.randn(2, 4, 6, 10).contiguous(memory_format=fmt)
    coarse = torch.randn(2, 4, 3, 5).contiguous(memory_format=fmt)
    ref = fine + F.interpolate(coarse, size=(6, 10), mode='nearest')
    with torch.no_grad():  # in place
        out = _add_upsampled(fine.clone(), coarse)
    assert torch.equal(out, ref)
    f1, c1 = fine.clone().requires_grad_(), coarse.clone().requires_grad_()
    f2, c2 = fine.clone().requires_grad_(), coarse.clone().requires_grad_()
    out = _add_upsampled(f1, c1)
    assert torch.equal(out, ref) and out.shape == ref.shape
    g = torch.randn_like(ref)
    out.backward(g)
    (f2 + F.interpolate(c2, size=(6, 10), mode='nearest')).backward(g)
    assert torch.equal(f1.grad, f2.grad)
    torch.testing.assert_close(c1.grad, c2.grad)
    # not exactly 2x: the interpolate path
    odd = torch.randn(1, 4, 7, 9)
    torch.testing.assert_close(_add_upsampled(odd, coarse[:1]), odd + F.interpolate(coarse[:1], size=(7, 9)))


def test_fpn_on_odd_sizes_matches_interpolation():
    torch.manual_seed(0)
    fpn = FPN([8, 16, 32], 8, num_outs=3).eval()
    feats = [torch.rand(1, 8, 13, 11), torch.rand(1, 16, 7, 6), torch.rand(1, 32, 4, 3)]
    with torch.no_grad():
        got = fpn(feats)
        lat = [c(x) for c, x in zip(fpn.lateral_convs, feats)]
        for i in (2, 1):
            lat[i - 1] = lat[i - 1] + F.interpolate(lat[i], size=lat[i - 1].shape[-2:], mode='nearest')
        ref = [c(x) for c, x in zip(fpn.fpn_convs, lat)]
    for a, b in zip(got, ref):
        assert torch.equal(a, b)


def test_custom_block_falls_back_to_its_forward():
    """A stage whose blocks are not torchvision's Bottleneck/BasicBlock runs their own forward."""
    net = ResNet(depth=18, num_stages=2, out_indices=(1,)).eval()
    net.layer2 = nn.Sequential(nn.Conv2d(64, 128, 3, stride=2, padding=1))
    with torch.no_grad():
        out = net(torch.rand(1, 3, 32, 32))
    assert out[0].shape == (1, 128, 4, 4)


def test_folded_training_under_autocast():
    """The folded conv's backward runs in the dtype autocast chose (bf16 on CPU) and returns fp32 gradients
    close to the fp32 ones."""
    plain, fast = _pair(18, 'FrozenBN', frozen_stages=1)
    plain.train(), fast.train()
    x = torch.rand(1, 3, 32, 32)
    sum(o.float().mean() for o in plain(x)).backward()
    with torch.autocast('cpu', dtype=torch.bfloat16):
        out = fast(x)
    assert out[0].dtype == torch.bfloat16
    sum(o.float().mean() for o in out).backward()
    p, q = plain.layer2[0].conv1.weight, fast.layer2[0].conv1.weight
    assert q.grad.dtype == torch.float32
    assert ((q.grad - p.grad).norm() / p.grad.norm()).item() < 0.05
