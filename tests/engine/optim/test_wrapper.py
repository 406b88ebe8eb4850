import contextlib
import copy

import pytest
import torch
from torch import nn

from visioncraft.engine.optim import AmpOptimWrapper, OptimWrapper
from visioncraft.registry import OPTIM_WRAPPERS


def _data(n=8, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, 5, generator=g, dtype=torch.float64), torch.randn(n, 1, generator=g, dtype=torch.float64)


def _model(seed=0):
    torch.manual_seed(seed)
    return nn.Linear(5, 1).double()


def _loss(model, x, y):
    return nn.functional.mse_loss(model(x), y)


def _params(model):
    return torch.cat([p.detach().flatten() for p in model.parameters()])


def test_accumulation_equals_one_big_batch():
    x, y = _data()
    acc, ref = _model(), _model()
    wrapper = OptimWrapper(torch.optim.SGD(acc.parameters(), lr=0.5), accumulative_counts=4)
    wrapper.initialize_count_status(cur_iter=0, max_iters=4)
    updates = []
    for i in range(4):
        with wrapper.optim_context(acc):
            loss = _loss(acc, x[2 * i:2 * i + 2], y[2 * i:2 * i + 2])
        wrapper.update_params(loss)
        updates.append(wrapper.should_update())
    assert updates == [False, False, False, True]
    ref_opt = torch.optim.SGD(ref.parameters(), lr=0.5)
    _loss(ref, x, y).backward()
    ref_opt.step()
    assert torch.allclose(_params(acc), _params(ref), atol=1e-6)
    assert all(p.grad is None for p in acc.parameters())  # zeroed after the step


def test_last_iterations_divided_by_remainder():
    x, y = _data(12)
    acc, ref = _model(), _model()
    wrapper = OptimWrapper(torch.optim.SGD(acc.parameters(), lr=0.5), accumulative_counts=4)
    wrapper.initialize_count_status(cur_iter=0, max_iters=6)  # 6 % 4 = 2: iterations 4, 5 are divided by 2
    updates = []
    for i in range(6):
        wrapper.update_params(_loss(acc, x[2 * i:2 * i + 2], y[2 * i:2 * i + 2]))
        updates.append(wrapper.should_update())
    assert updates == [False, False, False, True, False, True]
    ref_opt = torch.optim.SGD(ref.parameters(), lr=0.5)
    for lo, hi in ((0, 8), (8, 12)):
        ref_opt.zero_grad()
        _loss(ref, x[lo:hi], y[lo:hi]).backward()
        ref_opt.step()
    assert torch.allclose(_params(acc), _params(ref), atol=1e-6)


def test_resume_continues_count():
    wrapper = OptimWrapper(torch.optim.SGD(_model().parameters(), lr=0.1), accumulative_counts=4)
    wrapper.initialize_count_status(cur_iter=4, max_iters=6)
    assert wrapper.inner_count == 4
    assert wrapper._loss_divisor() == 2
    assert not wrapper.should_sync()
    wrapper._inner_count = 5
    assert wrapper.should_sync()


class _FakeDDP(nn.Module):
    def __init__(self, module):
        super().__init__()
        self.module = module
        self.in_no_sync = False

    @contextlib.contextmanager
    def no_sync(self):
        self.in_no_sync = True
        try:
            yield
        finally:
            self.in_no_sync = False

    def forward(self, x):
        return self.module(x)


def test_optim_context_skips_sync_on_accumulating_iterations():
    x, y = _data()
    model = _FakeDDP(_model())
    wrapper = OptimWrapper(torch.optim.SGD(model.parameters(), lr=0.1), accumulative_counts=2)
    wrapper.initialize_count_status(cur_iter=0, max_iters=5)
    seen = []
    for i in range(5):
        with wrapper.optim_context(model):
            seen.append(model.in_no_sync)
            loss = _loss(model, x[i:i + 1], y[i:i + 1])
        wrapper.update_params(loss, model=model)
    assert seen == [True, False, True, False, False]  # the last iteration always syncs and updates


def test_clip_grad_norm_records_norm_before_clipping():
    x, y = _data()
    model = _model()
    wrapper = OptimWrapper(torch.optim.SGD(model.parameters(), lr=0.1), clip_grad=dict(max_norm=0.01, norm_type=2))
    wrapper.backward(100 * _loss(model, x, y))
    before = torch.linalg.vector_norm(torch.cat([p.grad.flatten() for p in model.parameters()])).item()
    assert before > 0.01
    wrapper.step()
    after = torch.linalg.vector_norm(torch.cat([p.grad.flatten() for p in model.parameters()])).item()
    assert after == pytest.approx(0.01, rel=1e-3)
    assert wrapper.last_grad_norm == pytest.approx(before)

    wrapper.update_params(100 * _loss(model, x, y))  # the train-step path records it too
    assert isinstance(wrapper.last_grad_norm, float) and wrapper.last_grad_norm > 0.01


def test_clip_grad_value():
    x, y = _data()
    model = _model()
    wrapper = OptimWrapper(torch.optim.SGD(model.parameters(), lr=0.1), clip_grad=dict(type='value', clip_value=1e-3))
    wrapper.backward(100 * _loss(model, x, y))
    wrapper.step()
    assert max(p.grad.abs().max().item() for p in model.parameters()) <= 1e-3
    assert wrapper.last_grad_norm > 1e-3


@pytest.mark.parametrize('bad', [dict(norm_type=2), dict(max_norm=1, clip=2), dict(type='other', max_norm=1)])
def test_clip_grad_config_errors(bad):
    with pytest.raises(ValueError):
        OptimWrapper(torch.optim.SGD(_model().parameters(), lr=0.1), clip_grad=bad)


def test_lr_and_momentum_views():
    sgd = OptimWrapper(torch.optim.SGD(_model().parameters(), lr=0.1, momentum=0.9))
    assert sgd.get_lr() == {'lr': [0.1]} and sgd.get_momentum() == {'momentum': [0.9]}
    adam = OPTIM_WRAPPERS.build(dict(type='OptimWrapper',
                                     optimizer=torch.optim.AdamW(_model().parameters(), betas=(0.8, 0.99))))
    assert adam.get_momentum() == {'momentum': [0.8]}
    assert adam.param_groups is adam.optimizer.param_groups


def _train(model, wrapper, batches):
    for x, y in batches:
        with wrapper.optim_context(model):
            loss = _loss(model, x, y)
        wrapper.update_params(loss)


def test_state_dict_round_trip_continues_identically():
    x, y = _data(16)
    batches = [(x[i:i + 2], y[i:i + 2]) for i in range(0, 16, 2)]
    model = _model()
    wrapper = OptimWrapper(torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9), accumulative_counts=2)
    wrapper.initialize_count_status(cur_iter=0, max_iters=8)
    _train(model, wrapper, batches[:4])
    model_state, wrapper_state = copy.deepcopy(model.state_dict()), copy.deepcopy(wrapper.state_dict())
    assert wrapper_state['inner_count'] == 4 and 'optimizer' in wrapper_state

    model2 = _model(seed=1)
    model2.load_state_dict(model_state)
    wrapper2 = OptimWrapper(torch.optim.SGD(model2.parameters(), lr=0.1, momentum=0.9), accumulative_counts=2)
    wrapper2.load_state_dict(wrapper_state)
    wrapper2.initialize_count_status(cur_iter=4, max_iters=8)
    assert wrapper2.inner_count == 4
    _train(model, wrapper, batches[4:])
    _train(model2, wrapper2, batches[4:])
    assert torch.equal(_params(model), _params(model2))

    # a bare torch optimizer state dict (as other toolboxes save it) loads too
    wrapper3 = OptimWrapper(torch.optim.SGD(_model().parameters(), lr=0.1, momentum=0.9))
    wrapper3.load_state_dict(wrapper.optimizer.state_dict())
    assert wrapper3.optimizer.state_dict()['state'].keys() == wrapper.optimizer.state_dict()['state'].keys()


def test_amp_on_cpu_uses_bfloat16_autocast():
    torch.manual_seed(0)
    model = nn.Linear(5, 3)
    before = _params(model).clone()
    wrapper = AmpOptimWrapper(torch.optim.SGD(model.parameters(), lr=0.1), clip_grad=dict(max_norm=1.0),
                              accumulative_counts=2, cpu_bf16='force')  # 'auto' depends on the CPU (below)
    assert (wrapper.device_type, wrapper.dtype, wrapper.loss_scaler) == ('cpu', torch.bfloat16, None)
    wrapper.initialize_count_status(cur_iter=0, max_iters=2)
    x = torch.randn(4, 5)
    for _ in range(2):
        with wrapper.optim_context(model):
            out = model(x)
            assert out.dtype == torch.bfloat16
            loss = out.float().pow(2).mean()
        wrapper.update_params(loss)
    assert all(p.dtype == torch.float32 for p in model.parameters())
    assert not torch.equal(_params(model), before)
    assert wrapper.last_grad_norm is not None
    state = wrapper.state_dict()
    assert state['loss_scaler'] == {}
    wrapper.load_state_dict(state)


def test_amp_fp16_on_cpu_warns_and_falls_back():
    model = nn.Linear(2, 2)
    with pytest.warns(UserWarning, match='bfloat16'):
        wrapper = OPTIM_WRAPPERS.build(dict(type='AmpOptimWrapper', dtype='float16', loss_scale=512.0,
                                            optimizer=torch.optim.SGD(model.parameters(), lr=0.1),
                                            cpu_bf16='force'))
    assert wrapper.dtype == torch.bfloat16 and wrapper.loss_scaler is None
    with pytest.raises(ValueError, match='dtype'):
        AmpOptimWrapper(torch.optim.SGD(model.parameters(), lr=0.1), dtype='float64')
    with pytest.raises(ValueError, match='loss_scale'):
        AmpOptimWrapper(torch.optim.SGD(model.parameters(), lr=0.1), loss_scale='static')


@pytest.mark.skipif(not torch.cuda.is_available(), reason='needs CUDA')
@pytest.mark.parametrize('loss_scale', ['dynamic', 1024.0])
def test_amp_fp16_on_cuda(loss_scale):
    torch.manual_seed(0)
    model = nn.Linear(5, 3).cuda()
    before = _params(model).clone()
    wrapper = AmpOptimWrapper(torch.optim.SGD(model.parameters(), lr=0.1), loss_scale=loss_scale,
                              clip_grad=dict(max_norm=1.0))
    assert (wrapper.device_type, wrapper.dtype) == ('cuda', torch.float16)
    assert wrapper.loss_scaler is not None
    for _ in range(3):
        with wrapper.optim_context(model):
            out = model(torch.randn(4, 5, device='cuda'))
            assert out.dtype == torch.float16
            loss = out.float().pow(2).mean()
        wrapper.update_params(loss)
    assert all(p.dtype == torch.float32 for p in model.parameters())
    assert not torch.equal(_params(model), before)
    assert wrapper.last_grad_norm < 1e3  # measured on unscaled gradients
    if loss_scale != 'dynamic':
        assert wrapper.loss_scaler.get_scale() == loss_scale
    state = wrapper.state_dict()
    assert state['loss_scaler']
    wrapper.load_state_dict(state)

    bf16 = AmpOptimWrapper(torch.optim.SGD(model.parameters(), lr=0.1), dtype='bfloat16')
    assert bf16.dtype == torch.bfloat16 and bf16.loss_scaler is None


@pytest.mark.parametrize('native', [False, True])
def test_cpu_amp_falls_back_to_float32_where_bfloat16_is_emulated(native, monkeypatch):
    """--amp on a CPU without native bfloat16 (AVX512-BF16 / AMX) trains in float32 and says so: emulated
    bfloat16 ran one DBNet iteration 10x slower (benchmarks/cpu_amp.py)."""
    import visioncraft.engine.optim.wrapper as wrapper_module
    monkeypatch.setattr(wrapper_module, 'cpu_has_native_bf16', lambda: native)
    model = nn.Linear(5, 3)
    if native:
        wrapper = AmpOptimWrapper(torch.optim.SGD(model.parameters(), lr=0.1))
    else:
        with pytest.warns(UserWarning, match='mixed precision is off on the CPU: training in float32 .*no native '
                                             'bfloat16'):
            wrapper = AmpOptimWrapper(torch.optim.SGD(model.parameters(), lr=0.1))
    assert wrapper.enabled is native
    assert wrapper.dtype == (torch.bfloat16 if native else torch.float32)
    with wrapper.optim_context(model):
        out = model(torch.randn(2, 5))
    assert out.dtype == (torch.bfloat16 if native else torch.float32)
    with pytest.warns(UserWarning, match="cpu_bf16='off'"):
        assert AmpOptimWrapper(torch.optim.SGD(model.parameters(), lr=0.1), cpu_bf16='off').enabled is False
    with pytest.raises(ValueError, match="cpu_bf16 must be 'auto', 'force' or 'off'"):
        AmpOptimWrapper(torch.optim.SGD(model.parameters(), lr=0.1), cpu_bf16='yes')
