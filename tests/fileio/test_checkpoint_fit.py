"""The checkpoint fit policy (visioncraft/fileio/checkpoint.py): at inference and test time a checkpoint that fits
the model badly (a shape mismatch, or more missing weights than 1% of the model's) is an error naming the file, the
counts and the first keys; fine-tuning (``partial=True``, training's ``load_from``) only refuses a checkpoint of which
nothing fits; ``$VISIONCRAFT_ALLOW_PARTIAL_WEIGHTS`` opts out. ``--resume`` refuses a weights-only (model-zoo) file."""
from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch
from torch import nn

from visioncraft.cli.common import check_checkpoint_fits
from visioncraft.engine.runner import ResumeError, Runner
from visioncraft.fileio.checkpoint import (PARTIAL_WEIGHTS_ENV, CheckpointFitError, CheckpointMismatchError,
                                           check_weights_fit, fit_problem, weights_fit_report)


def _net(n_layers: int = 3) -> nn.Module:
    return nn.Sequential(*[nn.Sequential(nn.Linear(4, 4), nn.BatchNorm1d(4)) for _ in range(n_layers)])


def test_a_full_fit_passes_and_num_batches_tracked_is_optional():
    net = _net()
    state = {k: v for k, v in net.state_dict().items() if not k.endswith('num_batches_tracked')}
    report = weights_fit_report(net, state)
    assert report.num_model_tensors == len(net.state_dict()) and report.mismatched == []
    assert fit_problem(report) is None
    check_weights_fit(net, state, 'ok.pth', partial=False)
    # extra weights the model has no place for (an EMA copy) are no bad fit
    check_weights_fit(net, dict(state, **{'ema.0.weight': torch.zeros(1)}), 'ema.pth', partial=False)


def test_a_shape_mismatch_or_missing_weights_are_errors_at_inference():
    net = _net()
    state = dict(net.state_dict())
    state['0.0.weight'] = torch.zeros(5, 4)
    with pytest.raises(CheckpointFitError, match=r'checkpoint bad\.pth fits the model Sequential badly: 1 weight\(s\) '
                                                 r'of another shape \(0\.0\.weight: checkpoint \(5, 4\) vs model '
                                                 r'\(4, 4\)\)') as err:
        check_weights_fit(net, state, 'bad.pth', partial=False)
    assert PARTIAL_WEIGHTS_ENV in str(err.value)
    check_weights_fit(net, state, 'bad.pth', partial=True)  # fine-tuning: what fits is loaded
    half = {k: v for k, v in net.state_dict().items() if k.startswith('0.')}
    with pytest.raises(CheckpointFitError, match=r"12 of the model's 21 weights missing \(1\.0\.weight, "):
        check_weights_fit(net, half, 'half.pth', partial=False)
    with pytest.raises(CheckpointMismatchError, match='none of its'):  # nothing fits: an error even when partial
        check_weights_fit(net, {'x.weight': torch.zeros(1)}, 'other.pth', partial=True)


def test_one_percent_of_a_large_model_may_be_missing():
    net = nn.Sequential(*[nn.Linear(1, 1, bias=False) for _ in range(300)])  # 300 tensors: 3 may be missing
    state = dict(net.state_dict())
    for k in ('0.weight', '1.weight', '2.weight'):
        state.pop(k)
    check_weights_fit(net, state, 'few.pth', partial=False)
    state.pop('3.weight')
    with pytest.raises(CheckpointFitError, match="4 of the model's 300 weights missing"):
        check_weights_fit(net, state, 'more.pth', partial=False)


def test_check_checkpoint_fits_is_strict_unless_partial_or_the_environment_says(tmp_path, monkeypatch):
    monkeypatch.delenv(PARTIAL_WEIGHTS_ENV, raising=False)
    net = _net()
    path = tmp_path / 'part.pth'
    torch.save({'state_dict': {k: v for k, v in net.state_dict().items() if k.startswith('0.')}}, path)
    with pytest.raises(CheckpointFitError, match=str(path)):
        check_checkpoint_fits(net, str(path))  # test / eval
    check_checkpoint_fits(net, str(path), partial=True)  # training's load_from
    monkeypatch.setenv(PARTIAL_WEIGHTS_ENV, '1')
    check_checkpoint_fits(net, str(path))


def test_resume_refuses_a_weights_only_checkpoint(tmp_path):
    zoo = tmp_path / 'faster_rcnn_r50_fpn_1x_coco_20200130-047c8118.pth'
    torch.save({'state_dict': _net().state_dict(), 'meta': {'epoch': 12, 'iter': 87960}}, zoo)
    with pytest.raises(ResumeError, match=rf'--resume {zoo}: the file holds model weights only .* use '
                                          rf'--cfg-options load_from={zoo}'):
        Runner.resume(SimpleNamespace(), str(zoo))  # refused before the runner's state is touched


@pytest.mark.parametrize('extra', ['on_input', 'on_output', False])
def test_old_visioncraft_fpn_names_load_into_fpn_convs(extra):
    """Checkpoints written before the FPN took MMDetection's layout (``output_convs.i``, ``extra_convs.j``) load
    exactly: ``extra_convs.j`` lands on ``fpn_convs.(number of output convs + j)``."""
    from visioncraft.fileio.checkpoint import load_model_weights
    from visioncraft.models.necks.fpn import FPN

    def net():
        m = nn.Module()
        m.neck = FPN([4, 8, 16], 8, num_outs=5, add_extra_convs=extra)
        return m
    torch.manual_seed(0)
    src = net()
    used = src.neck.num_used
    old = {}
    for k, v in src.state_dict().items():
        i = int(k.split('.')[2]) if '.fpn_convs.' in k else None
        if i is None:
            old[k] = v
        else:
            rest = k.split('.', 3)[3]
            old[f'neck.output_convs.{i}.{rest}' if i < used else f'neck.extra_convs.{i - used}.{rest}'] = v
    assert any('extra_convs' in k for k in old) == bool(extra)
    dst = net()
    load_model_weights(dst, old, source='old.pth')
    for k, v in src.state_dict().items():
        assert torch.equal(dst.state_dict()[k], v), k
    check_weights_fit(dst, old, 'old.pth', partial=False)
