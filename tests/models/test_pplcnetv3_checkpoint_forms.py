"""PPLCNetV3 checkpoints across its two forms: a training-form checkpoint loads into the deploy form (folded while
it loads, the same function), and a folded checkpoint (the imported PP-OCR weights' form) is refused by the
training form with a message saying to build deploy=True, on every loading path (plain load_state_dict and the
engine's non-strict load_model_weights)."""
from __future__ import annotations

import pytest
import torch

from visioncraft.fileio.checkpoint import CheckpointMismatchError, load_model_weights
from visioncraft.models.backbones.pplcnetv3 import PPLCNetV3


def _randomised(det: bool, deploy: bool, seed: int = 0) -> PPLCNetV3:
    torch.manual_seed(seed)
    net = PPLCNetV3(scale=0.5, det=det, conv_kxk_num=2, deploy=deploy)
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, torch.nn.BatchNorm2d):  # non-trivial statistics, so a wrong fold shows
                m.running_mean.copy_(torch.randn(m.num_features, generator=g) * 0.1)
                m.running_var.copy_(torch.rand(m.num_features, generator=g) + 0.5)
                m.weight.copy_(torch.rand(m.num_features, generator=g) + 0.5)
                m.bias.copy_(torch.randn(m.num_features, generator=g) * 0.1)
    return net.eval()


@pytest.mark.parametrize('det,shape', [(True, (1, 3, 64, 96)), (False, (1, 3, 48, 64))])
def test_training_form_checkpoint_loads_folded_into_the_deploy_form(det, shape):
    train = _randomised(det, deploy=False)
    deploy = PPLCNetV3(scale=0.5, det=det, conv_kxk_num=2, deploy=True).eval()
    result = deploy.load_state_dict(train.state_dict())  # strict: every key consumed, none missing
    assert not result.missing_keys and not result.unexpected_keys
    x = torch.randn(*shape)
    with torch.no_grad():
        ref, out = train(x), deploy(x)
        folded = dict(train.reparameterize().state_dict())
    for r, o in zip(ref, out):
        assert torch.allclose(r, o, rtol=1e-4, atol=1e-5 * float(r.abs().max())), float((r - o).abs().max())
    # the same tensors reparameterize() computes
    for k, v in deploy.state_dict().items():
        assert torch.allclose(v, folded[k], atol=1e-6), k


def test_folded_checkpoint_is_refused_by_the_training_form():
    folded = PPLCNetV3(scale=0.5, det=True, conv_kxk_num=2, deploy=True).state_dict()
    train = PPLCNetV3(scale=0.5, det=True, conv_kxk_num=2, deploy=False)
    with pytest.raises(CheckpointMismatchError, match=r'folded \(deploy\) form .*model.backbone.deploy=True'):
        train.load_state_dict(folded)

    class Wrapper(torch.nn.Module):  # the engine's path: non-strict, under a 'backbone.' prefix
        def __init__(self):
            super().__init__()
            self.backbone = train
            self.head = torch.nn.Conv2d(3, 3, 1)

    sd = {f'backbone.{k}': v for k, v in folded.items()}
    with pytest.raises(CheckpointMismatchError, match=r'Architecture.Backbone.deploy=True'):
        load_model_weights(Wrapper(), sd)


def test_inference_fast_path_is_the_same_function():
    """Without autograd a deploy-form layer folds its LAB into the conv on the fly; with autograd, or with a hook
    on one of its modules (the ONNX import records the layer order that way), it runs its modules one by one."""
    from visioncraft.models.backbones.pplcnetv3 import LearnableRepLayer
    net = _randomised(det=False, deploy=False)
    with torch.no_grad():
        for m in net.modules():
            if type(m).__name__ == 'LearnableAffineBlock':  # LABs away from (1, 0), so a wrong fold shows
                m.scale.fill_(1.3)
                m.bias.fill_(-0.2)
    net.reparameterize()
    x = torch.randn(2, 3, 48, 64)
    slow = net(x)[0].detach()  # autograd on: module by module
    with torch.no_grad():
        fast = net(x)[0]
        seen = []
        layers = [m for m in net.modules() if isinstance(m, LearnableRepLayer)]
        handles = [m.reparam_conv.register_forward_hook(lambda *a: seen.append(1)) for m in layers]
        hooked = net(x)[0]
        for h in handles:
            h.remove()
    assert len(seen) == len(layers) and torch.equal(hooked, slow)
    assert torch.allclose(fast, slow, rtol=1e-5, atol=1e-5 * float(slow.abs().max()))
