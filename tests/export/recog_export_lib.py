"""Shared by the recogniser export tests: seeded stand-in weights and a tiny recogniser exported from a config."""
from __future__ import annotations

import math
from pathlib import Path
from typing import Callable

import torch


@torch.no_grad()
def neutral_seeded_state(model: torch.nn.Module, seed: int = 0,
                         keep: Callable[[str], bool] = lambda name: False) -> dict[str, torch.Tensor]:
    """Weights N(0, 1 / fan_in), biases near 0 and norm weights near 1, BatchNorm statistics varied; integer
    tensors and the names ``keep`` picks keep their built values. The tests then sharpen their own layers."""
    g = torch.Generator().manual_seed(seed)
    state = {}
    for name, t in model.state_dict().items():
        if not t.is_floating_point() or keep(name):
            state[name] = t.clone()
        elif name.endswith('running_var'):
            state[name] = torch.rand(t.shape, generator=g) + 0.5
        elif name.endswith('running_mean'):
            state[name] = torch.randn(t.shape, generator=g) * 0.1
        elif t.dim() >= 2:
            state[name] = torch.randn(t.shape, generator=g) / math.sqrt(t[0].numel())
        else:
            norm = name.endswith('.weight') and ('norm' in name or '.bn' in name)  # LayerNorm / BatchNorm
            state[name] = float(norm) + torch.randn(t.shape, generator=g) * 0.1
    return state


def export_tiny_recognizer(tmp: Path, name: str, model_cfg: dict, pipeline: list, state: dict,
                           **export_kw) -> dict:
    """Save ``state`` as ``tmp/<name>.pth``, a config of ``model_cfg`` with a test pipeline as ``tmp/<name>.py``,
    and export them to ``tmp/inference``. Returns the paths and what :func:`export_model` wrote."""
    from visioncraft.config import Config
    from visioncraft.export import export_model
    ckpt = tmp / f'{name}.pth'
    torch.save({'state_dict': state}, ckpt)
    ds = dict(type='OCRDataset', data_root=str(tmp), ann_file='none.json', test_mode=True, pipeline=pipeline)
    cfg_file = tmp / f'{name}.py'
    Config(dict(model=model_cfg, test_dataloader=dict(batch_size=1, dataset=ds))).dump(cfg_file)
    written = export_model(str(cfg_file), str(ckpt), tmp / 'inference', **export_kw)
    return dict(cfg=cfg_file, ckpt=ckpt, model_dir=tmp / 'inference', written=written, tmp=tmp)
